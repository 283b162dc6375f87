//! The git history sweep end to end (issue 3): real repositories built with the git CLI, scanned by
//! the real binary. Each test plants synthetic tokens where a diff-walker would miss them and checks
//! the finding and its provenance (introducing commit, author, date, path) against git itself.

use serde_json::Value;

use crate::util::repo::{token, TestRepo};

/// Findings of a history-only sweep, expecting exit code `code`.
fn history(repo: &TestRepo, extra: &[&str], code: i32) -> Vec<Value> {
    repo.scan()
        .args(["--history-only"])
        .args(extra)
        .run()
        .expect_code(code)
        .json()
}

/// The findings' secrets, sorted.
fn secrets(findings: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = findings
        .iter()
        .map(|f| f["secret"].as_str().unwrap_or_default().to_string())
        .collect();
    v.sort();
    v
}

fn sorted<const N: usize>(mut v: [String; N]) -> Vec<String> {
    v.sort();
    v.to_vec()
}

/// The one finding whose secret is `secret`.
fn finding<'a>(findings: &'a [Value], secret: &str) -> &'a Value {
    let hits: Vec<&Value> = findings.iter().filter(|f| f["secret"] == secret).collect();
    assert_eq!(
        hits.len(),
        1,
        "expected one finding of {secret} in {findings:#?}"
    );
    hits[0]
}

/// Asserts that `f` names `commit` and `path`, with the author and date git reports for it.
fn assert_introduced(repo: &TestRepo, f: &Value, commit: &str, path: &str) {
    assert_eq!(f["commit"], commit, "introducing commit of {f:#}");
    assert_eq!(f["path"], path, "path of {f:#}");
    let author = repo.git(&["show", "-s", "--format=%an <%ae>", commit]);
    let date = repo.git(&["show", "-s", "--format=%aI", commit]);
    assert_eq!(f["author"], author.as_str(), "author of {f:#}");
    assert_eq!(f["date"], date.as_str(), "date of {f:#}");
}

#[test]
fn secret_added_then_deleted_is_found_with_its_introducing_commit() {
    let mut repo = TestRepo::new();
    repo.commit("readme", &[("README.md", "hello\n")]);
    let added = repo.commit(
        "add config",
        &[("app/.env", &format!("DEBUG=1\nTOKEN={}\n", token(1)))],
    );
    repo.remove_and_commit("drop config", &["app/.env"]);
    let findings = history(&repo, &[], 1);
    assert_eq!(secrets(&findings), [token(1)]);
    let f = finding(&findings, &token(1));
    assert_introduced(&repo, f, &added, "app/.env");
    assert_eq!(f["line"], 2);
    assert_eq!(f["column"], 7);
    assert_eq!(f["occurrences"], 1);
    // The default scan (history and working tree) finds it too, though no file holds it now.
    let all = repo.scan().run().expect_code(1).json();
    assert_eq!(secrets(&all), [token(1)]);
}

#[test]
fn secret_only_on_a_side_branch_is_found() {
    let mut repo = TestRepo::new();
    repo.commit("base", &[("a.txt", "a\n")]);
    repo.git(&["checkout", "-q", "-b", "side"]);
    let side = repo.commit(
        "side work",
        &[("side.py", &format!("KEY = '{}'\n", token(2)))],
    );
    repo.git(&["checkout", "-q", "main"]);
    repo.commit("main work", &[("b.txt", "b\n")]);
    let findings = history(&repo, &["--all-provenance"], 1);
    let f = finding(&findings, &token(2));
    assert_introduced(&repo, f, &side, "side.py");
    assert_eq!(f["refs"], serde_json::json!(["refs/heads/side"]));
    // Scoped to main, the side branch is out of sight.
    assert_eq!(
        history(&repo, &["--branch", "main"], 0),
        Vec::<Value>::new()
    );
}

#[test]
fn secret_only_in_a_tag_is_found() {
    let mut repo = TestRepo::new();
    repo.commit("base", &[("a.txt", "a\n")]);
    repo.git(&["checkout", "-q", "-b", "release"]);
    let tagged = repo.commit(
        "release config",
        &[("deploy.cfg", &format!("token={}\n", token(3)))],
    );
    repo.git_commit(&["tag", "-a", "-m", "v1", "v1.0"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["branch", "-q", "-D", "release"]);
    let findings = history(&repo, &["--all-provenance"], 1);
    let f = finding(&findings, &token(3));
    assert_introduced(&repo, f, &tagged, "deploy.cfg");
    assert_eq!(f["refs"], serde_json::json!(["refs/tags/v1.0"]));
}

#[test]
fn secret_only_in_a_merge_resolution_is_found() {
    let mut repo = TestRepo::new();
    repo.commit("base", &[("settings.py", "VALUE = 'base'\n")]);
    repo.git(&["checkout", "-q", "-b", "topic"]);
    repo.commit("topic", &[("settings.py", "VALUE = 'topic'\n")]);
    repo.git(&["checkout", "-q", "main"]);
    repo.commit("main", &[("settings.py", "VALUE = 'main'\n")]);
    // The merge conflicts; the resolution holds content that neither side had.
    let merge = repo
        .git_command(&["merge", "-q", "topic"])
        .output()
        .expect("git merge runs");
    assert!(
        !merge.status.success(),
        "the merge was expected to conflict"
    );
    repo.write(
        "settings.py",
        format!("VALUE = 'both'\nTOKEN = '{}'\n", token(4)),
    );
    let merged = repo.commit_staged_all("merge topic");
    let findings = history(&repo, &[], 1);
    let f = finding(&findings, &token(4));
    assert_introduced(&repo, f, &merged, "settings.py");
    assert_eq!(f["line"], 2);
    // A range holding only the merge still sees it: merges are diffed against every parent.
    let ranged = history(&repo, &["--range", "HEAD^1..HEAD"], 1);
    assert_eq!(secrets(&ranged), [token(4)]);
}

#[test]
fn secret_is_found_loose_and_after_gc_with_deep_delta_chains() {
    let mut repo = TestRepo::new();
    // Each version edits one more line of the previous one: git deltas each against its
    // neighbour, which makes long chains.
    let mut lines: Vec<String> = (0..200)
        .map(|j| format!("line {j:03} of a file that changes a little each time\n"))
        .collect();
    let mut planted = String::new();
    for i in 0..40 {
        lines[i * 5] = format!(
            "LINE {:03} OF A FILE THAT CHANGES A LITTLE EACH TIME\n",
            i * 5
        );
        let mut text = lines.concat();
        if i == 7 {
            text.push_str(&format!("SECRET = '{}'\n", token(5)));
        }
        let sha = repo.commit(&format!("edit {i}"), &[("big/data.py", &text)]);
        if i == 7 {
            planted = sha;
        }
    }
    let loose = history(&repo, &[], 1);
    assert_eq!(secrets(&loose), [token(5)]);
    assert_introduced(&repo, finding(&loose, &token(5)), &planted, "big/data.py");

    repo.git(&[
        "repack",
        "-a",
        "-d",
        "-f",
        "-q",
        "--depth=50",
        "--window=250",
    ]);
    repo.git(&["prune-packed"]);
    let counts = repo.git(&["count-objects", "-v"]);
    assert!(
        counts.contains("count: 0"),
        "objects are all packed: {counts}"
    );
    let verify = repo.git(&["verify-pack", "-v", &pack_index(&repo)]);
    let deepest = verify
        .lines()
        .filter_map(|l| l.strip_prefix("chain length = "))
        .filter_map(|l| l.split(':').next()?.trim().parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    assert!(
        deepest >= 8,
        "delta chains are only {deepest} deep:\n{verify}"
    );
    let packed = history(&repo, &[], 1);
    assert_eq!(packed, loose, "packed and loose sweeps agree");
}

fn pack_index(repo: &TestRepo) -> String {
    let dir = repo.path().join(".git/objects/pack");
    let idx = std::fs::read_dir(&dir)
        .expect("a pack directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "idx"))
        .expect("a pack index");
    idx.to_string_lossy().into_owned()
}

// Issue 12, item 4: the introducing commit of a (secret, path) is the first commit whose tree
// holds the secret at that path, so a rename introduces it at the new path.
#[test]
fn r12_renamed_file_is_introduced_at_its_new_path_by_the_rename_commit() {
    let mut repo = TestRepo::new();
    let first = repo.commit("add", &[("conf/old.ini", &format!("key={}\n", token(6)))]);
    repo.git(&["mv", "conf/old.ini", "conf/new.ini"]);
    let renamed = repo.commit_staged_all("rename");
    // A later edit of the renamed file keeps the secret: it is not where it came in.
    repo.commit(
        "edit",
        &[("conf/new.ini", &format!("key={}\nmode=1\n", token(6)))],
    );
    let findings = history(&repo, &[], 1);
    let mut at: Vec<(String, String)> = findings
        .iter()
        .filter(|f| f["secret"] == token(6).as_str())
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["commit"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    at.sort();
    assert_eq!(
        at,
        [
            ("conf/new.ini".to_string(), renamed.clone()),
            ("conf/old.ini".to_string(), first.clone())
        ],
        "{findings:#?}"
    );
    let old = findings
        .iter()
        .find(|f| f["path"] == "conf/old.ini")
        .unwrap();
    assert_introduced(&repo, old, &first, "conf/old.ini");
    let new = findings
        .iter()
        .find(|f| f["path"] == "conf/new.ini" && f["commit"] == renamed.as_str())
        .unwrap();
    assert_introduced(&repo, new, &renamed, "conf/new.ini");
    // Two commits carry the first blob, each at one path.
    assert_eq!(old["occurrences"], 2);
}

#[test]
fn secret_in_a_file_over_one_megabyte_is_found() {
    let mut repo = TestRepo::new();
    let mut text = String::with_capacity(3 << 20);
    let mut line = 0;
    while text.len() < (3 << 19) {
        text.push_str("padding padding padding padding padding padding padding padding\n");
        line += 1;
    }
    text.push_str(&format!("token = \"{}\"\n", token(7)));
    let secret_line = line + 1;
    while text.len() < (2 << 20) {
        text.push_str("more padding more padding more padding more padding more pad\n");
    }
    let sha = repo.commit("big", &[("dump.sql", &text)]);
    let findings = history(&repo, &[], 1);
    let f = finding(&findings, &token(7));
    assert_introduced(&repo, f, &sha, "dump.sql");
    assert_eq!(f["line"], secret_line);
    // Under a smaller --max-blob-size it is skipped (and counted), not scanned.
    assert_eq!(
        history(&repo, &["--max-blob-size", "1M"], 0),
        Vec::<Value>::new()
    );
}

#[test]
fn range_reports_exactly_the_secrets_introduced_in_it() {
    let mut repo = TestRepo::new();
    let mut settings = format!("A = '{}'\n", token(10));
    let c1 = repo.commit("one", &[("settings.py", &settings)]);
    settings.push_str(&format!("B = '{}'\n", token(11)));
    let c2 = repo.commit("two", &[("settings.py", &settings)]);
    let c3 = repo.commit("three", &[("other.env", &format!("C={}\n", token(12)))]);
    settings.push_str(&format!("D = '{}'\n", token(13)));
    let c4 = repo.commit("four", &[("settings.py", &settings)]);

    let findings = history(&repo, &["--range", &format!("{c1}..{c3}")], 1);
    assert_eq!(secrets(&findings), sorted([token(11), token(12)]));
    assert_introduced(&repo, finding(&findings, &token(11)), &c2, "settings.py");
    assert_introduced(&repo, finding(&findings, &token(12)), &c3, "other.env");

    let findings = history(&repo, &["--range", &format!("{c2}..{c4}")], 1);
    assert_eq!(secrets(&findings), sorted([token(12), token(13)]));
    assert_introduced(&repo, finding(&findings, &token(13)), &c4, "settings.py");

    let findings = history(&repo, &["--since-commit", &c3], 1);
    assert_eq!(secrets(&findings), [token(13)]);
    let findings = history(&repo, &["--range", &format!("{c4}..{c4}")], 0);
    assert_eq!(findings, Vec::<Value>::new());
    // A wide range (over a thousand blobs) takes the pack-traversal path: same answer.
    repo.git(&["gc", "-q"]);
    let files: Vec<(String, String)> = (0..1200)
        .map(|i| (format!("many/f{i:04}.txt"), format!("file {i}\n")))
        .collect();
    let mut files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let leak = format!("E={}\n", token(14));
    files.push(("many/leak.txt", &leak));
    let c5 = repo.commit("many files", &files);
    let findings = history(&repo, &["--range", &format!("{c4}..{c5}")], 1);
    assert_eq!(secrets(&findings), [token(14)]);
    assert_introduced(&repo, finding(&findings, &token(14)), &c5, "many/leak.txt");
    let findings = history(&repo, &["--range", &format!("{c1}..{c5}")], 1);
    assert_eq!(
        secrets(&findings),
        sorted([token(11), token(12), token(13), token(14)])
    );

    // The whole history has all of them, each once, with the commit that added it.
    let all = history(&repo, &[], 1);
    assert_eq!(
        secrets(&all),
        sorted([token(10), token(11), token(12), token(13), token(14)])
    );
    assert_introduced(&repo, finding(&all, &token(10)), &c1, "settings.py");
    assert_introduced(&repo, finding(&all, &token(11)), &c2, "settings.py");
}

#[test]
fn one_thread_and_default_threads_give_the_same_findings() {
    let mut repo = TestRepo::new();
    for i in 0..12u32 {
        repo.commit(
            &format!("c{i}"),
            &[(
                &format!("d{}/f{i}.txt", i % 3),
                &format!("v{i}\nT={}\n", token(20 + i)),
            )],
        );
        if i == 5 {
            repo.git(&["gc", "-q"]);
        }
    }
    repo.git(&["checkout", "-q", "-b", "b2", "HEAD~4"]);
    repo.commit("side", &[("side.txt", &format!("T={}\n", token(40)))]);
    let one = history(&repo, &["--threads", "1"], 1);
    let many = history(&repo, &["--threads", "4"], 1);
    let default = history(&repo, &[], 1);
    assert_eq!(one.len(), 13);
    assert_eq!(one, many);
    assert_eq!(one, default);
}

#[test]
fn corrupt_object_is_reported_and_the_scan_goes_on_and_exits_2() {
    let mut repo = TestRepo::new();
    let broken = format!("X={}\n", token(50));
    repo.commit("a", &[("a.txt", &broken)]);
    repo.remove_and_commit("drop a", &["a.txt"]);
    repo.commit("b", &[("b.txt", &format!("Y={}\n", token(51)))]);
    let id = repo.blob_id(&broken);
    let path = repo
        .path()
        .join(".git/objects")
        .join(&id[..2])
        .join(&id[2..]);
    let mut perms = std::fs::metadata(&path)
        .expect("a loose object")
        .permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).expect("chmod");
    std::fs::write(&path, b"this is not zlib data at all").expect("corrupt the object");

    let run = repo.scan().args(["--history-only"]).run().expect_code(2);
    assert!(
        run.stderr.contains(&id),
        "stderr names the object:\n{}",
        run.stderr
    );
    assert_eq!(secrets(&run.json()), [token(51)]);
}

#[test]
fn corrupt_packed_object_is_reported_and_the_other_blobs_are_still_found() {
    let mut repo = TestRepo::new();
    let broken = format!("X={}\n", token(52));
    repo.commit("a", &[("a.txt", &broken)]);
    repo.commit("b", &[("b.txt", &format!("Y={}\n", token(53)))]);
    repo.commit("c", &[("c.txt", &format!("Z={}\n", token(54)))]);
    repo.git(&["gc", "-q"]);
    let id = repo.blob_id(&broken);
    // `verify-pack -v` lines: sha type size size-in-pack offset [depth base]
    let verify = repo.git(&["verify-pack", "-v", &pack_index(&repo)]);
    let entry: Vec<u64> = verify
        .lines()
        .find(|l| l.starts_with(&id))
        .expect("the blob is packed")
        .split_whitespace()
        .skip(3)
        .take(2)
        .map(|n| n.parse().expect("a number"))
        .collect();
    let pack = pack_index(&repo).replace(".idx", ".pack");
    let mut bytes = std::fs::read(&pack).expect("read the pack");
    // Garble the compressed data (past the entry's 1-2 header bytes).
    for b in &mut bytes[entry[1] as usize + 2..(entry[1] + entry[0]) as usize] {
        *b ^= 0x5a;
    }
    let mut perms = std::fs::metadata(&pack).expect("the pack").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&pack, perms).expect("chmod");
    std::fs::write(&pack, bytes).expect("corrupt the pack");

    let run = repo.scan().args(["--history-only"]).run().expect_code(2);
    assert!(
        run.stderr.contains(&id),
        "stderr names the object:\n{}",
        run.stderr
    );
    assert_eq!(secrets(&run.json()), sorted([token(53), token(54)]));
}

#[test]
fn bare_repository_is_swept() {
    let mut repo = TestRepo::new();
    let sha = repo.commit("add", &[("k.env", &format!("K={}\n", token(60)))]);
    repo.remove_and_commit("drop", &["k.env"]);
    let bare = TestRepo::bare();
    bare.git(&["fetch", "-q", &repo.path().to_string_lossy(), "main:main"]);
    let findings = bare.scan().run().expect_code(1).json();
    assert_eq!(secrets(&findings), [token(60)]);
    assert_introduced(&repo, finding(&findings, &token(60)), &sha, "k.env");
}

#[test]
fn linked_worktree_and_shallow_clone_are_swept() {
    let mut repo = TestRepo::new();
    repo.commit("old", &[("old.env", &format!("O={}\n", token(61)))]);
    let sha = repo.commit("new", &[("new.env", &format!("N={}\n", token(62)))]);
    // A linked worktree shares the main repository's object database.
    let wt = repo.path().with_file_name("wt");
    repo.git(&["worktree", "add", "-q", &wt.to_string_lossy(), "-b", "wt"]);
    let findings = crate::util::cmd::Keysweep::new(&wt)
        .args([
            "scan",
            ".",
            "--history-only",
            "--format=json",
            "--no-default-rules",
            "--rules",
        ])
        .args([repo.path().with_file_name("rules.yaml")])
        .run()
        .expect_code(1)
        .json();
    assert_eq!(secrets(&findings), sorted([token(61), token(62)]));
    // A shallow clone has only the last commit: its blobs are found, the walk stops at the
    // boundary, and the introducing commit is the boundary commit.
    let shallow = TestRepo::new();
    let url = format!("file://{}", repo.path().display());
    shallow.git(&["fetch", "-q", "--depth=1", &url, "main:shallow"]);
    let findings = history(&shallow, &[], 1);
    assert_eq!(secrets(&findings), sorted([token(61), token(62)]));
    assert_eq!(finding(&findings, &token(62))["commit"], sha.as_str());
    assert_eq!(finding(&findings, &token(61))["commit"], sha.as_str());
}

#[test]
fn empty_repository_scans_clean() {
    let repo = TestRepo::new();
    assert_eq!(history(&repo, &[], 0), Vec::<Value>::new());
    let run = repo.scan().run().expect_code(0);
    assert_eq!(run.json(), Vec::<Value>::new());
}

#[test]
fn submodule_gitlink_does_not_break_the_sweep() {
    let mut repo = TestRepo::new();
    repo.commit("base", &[("a.txt", "a\n")]);
    // A gitlink to a commit of another repository, which this object database does not hold.
    repo.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        "160000,1234567890123456789012345678901234567890,vendor/lib",
    ]);
    repo.write(
        ".gitmodules",
        "[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = ../lib\n",
    );
    let sha = repo.commit(
        "add submodule and secret",
        &[("s.env", &format!("S={}\n", token(70)))],
    );
    let run = repo.scan().args(["--history-only"]).run().expect_code(1);
    assert!(!run.stderr.contains("error"), "no errors:\n{}", run.stderr);
    let findings = run.json();
    assert_eq!(secrets(&findings), [token(70)]);
    assert_introduced(&repo, finding(&findings, &token(70)), &sha, "s.env");
}

#[test]
fn secret_only_in_the_stash_is_found() {
    let mut repo = TestRepo::new();
    repo.commit("base", &[("app.py", "x = 1\n")]);
    repo.write("app.py", format!("x = 1\nTOKEN = '{}'\n", token(80)));
    repo.git_commit(&["stash", "-q"]);
    let stash = repo.git(&["rev-parse", "refs/stash"]);
    let findings = history(&repo, &["--all-provenance"], 1);
    // The stash's work-tree commit holds the unstaged change (its index commit does not).
    assert_introduced(&repo, finding(&findings, &token(80)), &stash, "app.py");
    let f = finding(&findings, &token(80));
    assert_eq!(f["refs"], serde_json::json!(["refs/stash"]));
}

#[test]
fn unreachable_blob_is_found_without_a_commit_and_with_a_note() {
    let mut repo = TestRepo::new();
    repo.commit("base", &[("a.txt", "a\n")]);
    repo.write("loose.txt", format!("L={}\n", token(90)));
    repo.git(&["hash-object", "-w", "loose.txt"]);
    std::fs::remove_file(repo.path().join("loose.txt")).expect("remove");
    let findings = history(&repo, &[], 1);
    let f = finding(&findings, &token(90));
    assert_eq!(f["commit"], Value::Null);
    assert!(
        f["note"]
            .as_str()
            .is_some_and(|n| n.contains("unreachable")),
        "{f:#}"
    );
}
