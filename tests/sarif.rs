//! SARIF output checked by Microsoft's SARIF Multitool (`@microsoft/sarif-multitool` from npm,
//! `validate`, with its SARIF rules and with its GitHub ingestion rules `--rule-kind Gh`): zero
//! errors and zero warnings on a zero-finding scan, a working-tree scan, a full-history scan of a
//! real repository (keysweep's own, every shipped rule on) and the Action's SARIF; plus what code
//! scanning needs beyond validity (issue 8): stable fingerprints, a location and the commit for
//! every history finding, no unmasked secret.
//!
//! The Multitool is found at `$KEYSWEEP_SARIF_MULTITOOL`, else in npm's global modules (`.ci/run`
//! installs it there). Without it these tests skip, unless `KEYSWEEP_REQUIRE_TOOLS=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::cmd::Keysweep;
use crate::util::repo::{token, TestRepo};
use crate::util::{find_program, tool_missing};

fn multitool() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("KEYSWEEP_SARIF_MULTITOOL") {
        candidates.push(PathBuf::from(p));
    }
    if let Ok(out) = Command::new("npm").args(["root", "-g"]).output() {
        let root = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        candidates.push(root.join("@microsoft/sarif-multitool-linux/Sarif.Multitool"));
        candidates.push(root.join(
            "@microsoft/sarif-multitool/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool",
        ));
    }
    let found = find_program(&candidates, &["--version"]);
    if found.is_none() {
        tool_missing(
            "the SARIF Multitool (npm install -g @microsoft/sarif-multitool)",
            &format!("tried {candidates:?}"),
        );
    }
    found
}

/// `(level, rule, file)` of a problem the Multitool reports.
type Problem = (String, String, String);

/// `(level, rule, file)` of every problem the Multitool reports for `files` with `rule_kind`.
fn validate(tool: &Path, files: &[PathBuf], rule_kind: &str, out_dir: &Path) -> Vec<Problem> {
    let log = out_dir.join(format!("validation-{rule_kind}.sarif"));
    let out = Command::new(tool)
        .arg("validate")
        .args(files)
        .args([
            "--rule-kind",
            rule_kind,
            "--level",
            "Error;Warning",
            "--log",
            "ForceOverwrite",
            "-o",
        ])
        .arg(&log)
        .output()
        .expect("the Multitool runs");
    assert!(
        out.status.success(),
        "Multitool failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&log).expect("validation log"))
        .expect("the validation log is JSON");
    doc["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .flat_map(|run| run["results"].as_array().cloned().unwrap_or_default())
        .map(|r| {
            (
                r["level"].as_str().unwrap_or("warning").to_string(),
                r["ruleId"].as_str().unwrap_or_default().to_string(),
                r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

/// A history with a secret at HEAD, one in a deleted file, one in a commit no ref reaches any
/// more, and one in a blob no commit holds.
fn history_repo() -> TestRepo {
    let mut repo = TestRepo::new();
    repo.commit(
        "app",
        &[("app/settings.py", &format!("TOKEN = '{}'\n", token(901)))],
    );
    repo.commit("old", &[("old/.env", &format!("GH={}\n", token(902)))]);
    repo.remove_and_commit("drop old", &["old/.env"]);
    let keep = repo.head();
    repo.commit("oops", &[("oops.py", &format!("T = '{}'\n", token(903)))]);
    repo.git(&["reset", "-q", "--hard", &keep]);
    repo.git(&["reflog", "expire", "--expire=now", "--all"]);
    repo.write("loose.txt", format!("L={}\n", token(904)));
    repo.git(&["hash-object", "-w", "loose.txt"]);
    std::fs::remove_file(repo.path().join("loose.txt")).expect("remove");
    repo
}

fn sarif_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn sarif_passes_the_multitool_with_and_without_github_rules() {
    let Some(tool) = multitool() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    let mut save = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        files.push(p);
    };

    let mut clean = TestRepo::new();
    clean.commit("clean", &[("a.py", "x = 1\n")]);
    let run = clean.scan_as("sarif").run().expect_code(0);
    assert_eq!(
        sarif_of(&run.stdout)["runs"][0]["results"],
        Value::Array(vec![])
    );
    save("zero.sarif", &run.stdout);

    let tree = history_repo();
    let run = tree
        .scan_as("sarif")
        .args(["--no-history"])
        .run()
        .expect_code(1);
    save("worktree.sarif", &run.stdout);
    let history = tree.scan_as("sarif").run().expect_code(1);
    save("history.sarif", &history.stdout);

    // A real repository's full history with every shipped rule: keysweep's own (its allowlist
    // of synthetic test secrets replaced by an empty config).
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "{}\n").expect("write");
    let run = Keysweep::new(Path::new(env!("CARGO_MANIFEST_DIR")))
        .args(["scan", ".", "--format", "sarif", "--quiet", "--config"])
        .args([&empty])
        .run()
        .expect_code(1);
    let results = sarif_of(&run.stdout)["runs"][0]["results"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(
        results > 100,
        "keysweep's own history has many synthetic secrets: {results}"
    );
    save("real.sarif", &run.stdout);

    // A deliberately broken file proves the validator reports what it finds.
    let mut broken = sarif_of(&history.stdout);
    broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
        ["uri"] = "C:\\not a uri".into();
    broken["runs"][0]["tool"]["driver"]["rules"][0]
        .as_object_mut()
        .expect("a rule")
        .remove("shortDescription");
    save("broken.sarif", &broken.to_string());

    // Both rule sets at once: each run is mostly the tool's start-up.
    let runs: Vec<(&str, Vec<Problem>)> = std::thread::scope(|s| {
        let handles: Vec<_> = ["Sarif", "Gh"]
            .into_iter()
            .map(|kind| {
                let (tool, files, dir) = (&tool, &files, dir.path());
                s.spawn(move || (kind, validate(tool, files, kind, dir)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("the validation thread"))
            .collect()
    });
    for (kind, problems) in runs {
        let (control, ours): (Vec<_>, Vec<_>) = problems
            .into_iter()
            .partition(|(_, _, uri)| uri.ends_with("broken.sarif"));
        assert!(
            control.iter().any(|(level, _, _)| level == "error"),
            "{kind}: the broken control file must fail: {control:?}"
        );
        assert!(
            ours.is_empty(),
            "{kind}: keysweep's SARIF has problems: {ours:#?}"
        );
    }
}

#[test]
fn history_findings_have_a_location_and_their_commit_and_no_secret_is_unmasked() {
    let repo = history_repo();
    for extra in [&[][..], &["--show-secrets"][..]] {
        let run = repo.scan_as("sarif").args(extra).run().expect_code(1);
        for n in 901..=904 {
            assert!(
                !run.stdout.contains(&token(n)),
                "secret {n} unmasked with {extra:?}"
            );
        }
        let sarif = sarif_of(&run.stdout);
        let results = sarif["runs"][0]["results"].as_array().expect("results");
        assert_eq!(results.len(), 4, "{sarif:#}");
        for r in results {
            let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .expect("a uri");
            assert!(!uri.is_empty() && uri != "unknown", "{r:#}");
            assert!(
                r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64() >= Some(1)
            );
            let commit = &r["properties"]["commit"];
            if let Some(c) = commit.as_str() {
                assert!(
                    r["message"]["text"].as_str().expect("text").contains(c),
                    "{r:#}"
                );
            }
        }
        let uris: Vec<&str> = results
            .iter()
            .map(|r| {
                r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap_or("")
            })
            .collect();
        assert!(
            uris.contains(&"old/.env"),
            "deleted file keeps its path: {uris:?}"
        );
        let blob = repo.blob_id(&format!("L={}\n", token(904)));
        let loose = results
            .iter()
            .find(|r| r["properties"]["blob_id"] == blob.as_str())
            .expect("the loose blob's result");
        assert_eq!(
            loose["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            format!(".git/objects/{}/{}", &blob[..2], &blob[2..]).as_str()
        );
        assert!(loose["message"]["text"]
            .as_str()
            .expect("text")
            .contains(&blob));
    }
}

#[test]
fn the_same_scan_twice_gives_identical_fingerprints() {
    let repo = history_repo();
    let fingerprints = || -> Vec<Value> {
        let sarif = sarif_of(&repo.scan_as("sarif").run().expect_code(1).stdout);
        sarif["runs"][0]["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["partialFingerprints"].clone())
            .collect()
    };
    let first = fingerprints();
    assert_eq!(first.len(), 4);
    assert!(first
        .iter()
        .all(|f| f["keysweep/v1"].as_str().is_some_and(|s| s.len() == 32)));
    assert_eq!(first, fingerprints());
}

#[test]
fn blobs_no_ref_reaches_are_placed_by_a_dangling_commit_or_the_index() {
    let repo = history_repo();
    let lost = repo.git(&["rev-parse", "HEAD@{0}"]);
    assert!(!lost.is_empty());
    repo.write("staged.py", format!("S = '{}'\n", token(905)));
    repo.git(&["add", "staged.py"]);
    std::fs::remove_file(repo.path().join("staged.py")).expect("remove");
    // Loose, then every object in one pack (the dangling commit is then found by the packs'
    // header pass, its tree in the index of the packs' trees).
    unreachable_blobs_are_placed(&repo);
    let all = repo.git(&[
        "cat-file",
        "--batch-all-objects",
        "--batch-check=%(objectname)",
    ]);
    repo.pack_objects(&all.lines().collect::<Vec<_>>());
    repo.git(&["prune-packed"]);
    let counts = repo.git(&["count-objects", "-v"]);
    assert!(counts.lines().any(|l| l == "count: 0"), "{counts}");
    unreachable_blobs_are_placed(&repo);
}

fn unreachable_blobs_are_placed(repo: &TestRepo) {
    let findings = repo
        .scan()
        .args(["--history-only", "--no-cache"])
        .run()
        .expect_code(1)
        .json();
    let by_secret = |n: u32| {
        findings
            .iter()
            .find(|f| f["secret"] == token(n).as_str())
            .unwrap_or_else(|| panic!("finding of token {n} in {findings:#?}"))
    };
    // The commit that `git reset --hard` left behind (its reflog expired).
    let oops = by_secret(903);
    assert_eq!(oops["path"], "oops.py");
    let commit = oops["commit"].as_str().expect("the dangling commit");
    assert_eq!(repo.git(&["log", "-1", "--format=%s", commit]), "oops");
    assert!(
        oops["note"]
            .as_str()
            .is_some_and(|n| n.contains("no branch")),
        "{oops:#}"
    );
    // Staged, never committed.
    let staged = by_secret(905);
    assert_eq!(staged["path"], "staged.py");
    assert_eq!(staged["commit"], Value::Null);
    assert!(
        staged["note"].as_str().is_some_and(|n| n.contains("index")),
        "{staged:#}"
    );
    // Only in the object database: no path, a note.
    let loose = by_secret(904);
    assert_eq!(loose["path"], Value::Null);
    assert!(loose["note"]
        .as_str()
        .is_some_and(|n| n.contains("unreachable")));
}
