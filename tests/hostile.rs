//! Hostile input (https://github.com/keysweep/keysweep/issues/13): keyword-dense and repeated
//! text, special files, corrupt repositories, absurd limits. Every test runs the real binary under
//! a generous kill timeout, so a hang is a failure rather than a stuck suite; nothing asserts on
//! time otherwise.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::repo::{token, TestRepo};

/// Far above what any of these inputs needs even in a debug build; only a hang reaches it.
const TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) struct Outcome {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    describe: String,
}

impl Outcome {
    pub(crate) fn expect_code(self, code: i32) -> Outcome {
        assert_eq!(
            self.code, code,
            "{}\nexit code {} (expected {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.describe, self.code, self.stdout, self.stderr
        );
        self
    }

    pub(crate) fn stderr_has(&self, needle: &str) -> &Outcome {
        assert!(
            self.stderr.contains(needle),
            "{}\nstderr lacks {needle:?}\n--- stderr\n{}",
            self.describe,
            self.stderr
        );
        self
    }

    pub(crate) fn secrets(&self) -> Vec<String> {
        let v: Vec<serde_json::Value> = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}):\n{}", self.describe, self.stdout));
        let mut s: Vec<String> = v
            .iter()
            .filter_map(|f| f["secret"].as_str().map(str::to_string))
            .collect();
        s.sort();
        s.dedup();
        s
    }
}

/// Runs `keysweep args` in `cwd`, killing it after [`TIMEOUT`].
pub(crate) fn keysweep(cwd: &Path, args: &[&str]) -> Outcome {
    let describe = format!("keysweep {} (in {})", args.join(" "), cwd.display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_keysweep"))
        .args(args)
        .current_dir(cwd)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the keysweep binary starts");
    // Drain the pipes on threads so a large report cannot block the child.
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut b).map(|_| b)
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut b).map(|_| b)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for keysweep") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{describe}: still running after {TIMEOUT:?} (a hang)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = |h: std::thread::JoinHandle<std::io::Result<Vec<u8>>>| {
        String::from_utf8_lossy(&h.join().expect("reader").expect("read")).into_owned()
    };
    Outcome {
        code: status.code().unwrap_or(-1),
        stdout: text(out),
        stderr: text(err),
        describe,
    }
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(ok.success(), "mkfifo {}", path.display());
}

/// A repository with one committed token and one in the working tree only.
fn repo_with_tokens() -> (TestRepo, String, String) {
    let mut repo = TestRepo::new();
    let (a, b) = (token(1301), token(1302));
    repo.commit("one", &[("app/config.env", &format!("TOKEN={a}\n"))]);
    repo.commit("two", &[("app/other.env", &format!("TOKEN={b}\n"))]);
    (repo, a, b)
}

// https://github.com/keysweep/keysweep/issues/13 (item 1): keyword-dense long lines and
// repeated lines were quadratic (1 MB of minified keyword soup took 5 s, 8 MB over 100 s).
#[test]
fn r13_keyword_dense_and_repeated_text_is_scanned_and_secrets_still_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = token(1310);
    let minified: String = (0..40_000)
        .map(|i| format!(r#"var t{i}={{token:"",secret:"",password:"",apiKey:""}};"#))
        .collect();
    let shapes: Vec<(&str, Vec<u8>)> = vec![
        ("minified.js", minified.into_bytes()),
        ("secret-key.py", b"SECRET_KEY = '".repeat(80_000)),
        ("ghp.txt", b"ghp_".repeat(500_000)),
        (
            "lines.py",
            format!("password = '{}'\n", "a".repeat(25))
                .repeat(50_000)
                .into_bytes(),
        ),
    ];
    for (name, mut bytes) in shapes {
        bytes.extend_from_slice(format!("\nGITHUB_TOKEN={secret}\n").as_bytes());
        std::fs::write(dir.path().join(name), bytes).expect("write");
    }
    let run = keysweep(
        dir.path(),
        &["scan", ".", "--no-history", "--format", "json", "--quiet"],
    )
    .expect_code(1);
    let v: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).expect("json");
    let mut paths: Vec<&str> = v
        .iter()
        .filter(|f| f["secret"] == secret.as_str())
        .filter_map(|f| f["path"].as_str())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        ["ghp.txt", "lines.py", "minified.js", "secret-key.py"],
        "{}",
        run.stdout
    );
}

// https://github.com/keysweep/keysweep/issues/13 (item 2): FIFOs named like ignore files hung
// the walker, which opened them.
#[test]
fn r13_fifo_ignore_files_are_never_opened() {
    let (repo, a, b) = repo_with_tokens();
    let root = repo.path();
    std::fs::create_dir_all(root.join("sub")).expect("mkdir");
    for p in [
        ".gitignore",
        "sub/.gitignore",
        ".ignore",
        ".git/info/exclude",
    ] {
        let _ = std::fs::remove_file(root.join(p));
        mkfifo(&root.join(p));
    }
    mkfifo(&root.join("app/pipe.env"));
    let run = keysweep(root, &["scan", ".", "--format", "json"]).expect_code(1);
    run.stderr_has("sub/.gitignore: not a regular file")
        .stderr_has(".git/info/exclude: not a regular file")
        .stderr_has("app/pipe.env: skipped: not a regular file");
    assert_eq!(run.secrets(), {
        let mut v = vec![a, b];
        v.sort();
        v
    });
}

// https://github.com/keysweep/keysweep/issues/13 (item 3): --threads 100000 hung.
#[test]
fn r13_thread_count_is_capped_with_a_warning() {
    let (repo, _, _) = repo_with_tokens();
    let out = keysweep(
        repo.path(),
        &["scan", ".", "--threads", "100000", "--format", "json"],
    )
    .expect_code(1);
    let warning = "--threads 100000 is more than 4 per core";
    out.stderr_has(warning);
    assert_eq!(out.stderr.matches(warning).count(), 1, "{}", out.stderr);
    keysweep(repo.path(), &["scan", ".", "--threads", "-3"]).expect_code(2);
}

// https://github.com/keysweep/keysweep/issues/13 (item 5): a pack without its .idx was skipped
// with no message and exit 0. It is now indexed for the scan (secrets found, with their commits)
// and still reported, exit 2.
#[test]
fn r13_pack_without_index_is_scanned_and_an_error_naming_the_pack() {
    let (repo, a, b) = repo_with_tokens();
    repo.git(&["gc", "-q"]);
    let pack_dir = repo.path().join(".git/objects/pack");
    let mut pack = None;
    for e in std::fs::read_dir(&pack_dir).expect("pack dir").flatten() {
        let p = e.path();
        match p.extension().and_then(|e| e.to_str()) {
            Some("idx") => std::fs::remove_file(&p).expect("rm idx"),
            Some("pack") => pack = p.file_name().map(|n| n.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    let pack = pack.expect("gc wrote a pack");
    let out = keysweep(
        repo.path(),
        &["scan", ".", "--history-only", "--format", "json"],
    )
    .expect_code(2);
    out.stderr_has(&pack).stderr_has("pack has no index");
    assert_eq!(
        out.secrets(),
        sorted(vec![a.clone(), b.clone()]),
        "{}",
        out.stdout
    );
    // The commits live only in that pack: provenance found them too.
    let head = repo.git(&["rev-parse", "HEAD"]);
    assert!(out.stdout.contains(&head), "{}", out.stdout);
    // The repository was not written to: git still cannot read the pack.
    assert!(!std::fs::read_dir(&pack_dir)
        .expect("pack dir")
        .flatten()
        .any(|e| e.path().extension().is_some_and(|x| x == "idx")));
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

// https://github.com/keysweep/keysweep/issues/13 (item 6): a blob deleted from a loose store,
// named by a tree, was silent (exit 1 with the other findings).
#[test]
fn r13_missing_blob_named_by_a_tree_is_an_error() {
    let (mut repo, a, b) = repo_with_tokens();
    repo.commit("three", &[("README.md", "plain text\n")]);
    let readme = repo.git(&["rev-parse", "HEAD:README.md"]);
    std::fs::remove_file(object_path(&repo, &readme)).expect("rm blob");
    for args in [
        &["scan", ".", "--history-only", "--format", "json"][..],
        &[
            "scan",
            ".",
            "--history-only",
            "--format",
            "json",
            "--branch",
            "main",
        ][..],
    ] {
        let out = keysweep(repo.path(), args).expect_code(2);
        out.stderr_has("error:").stderr_has(&readme);
        assert_eq!(
            out.secrets(),
            sorted(vec![a.clone(), b.clone()]),
            "{}",
            out.stdout
        );
    }
}

// The same in a pack: the trees are noted as the pack traversal decodes them, on several threads,
// and a blob missing under many trees is reported once, always naming the least of those trees.
#[test]
fn r13_missing_blob_named_by_packed_trees_is_reported_once_with_the_least_tree() {
    let (mut repo, a, b) = repo_with_tokens();
    repo.commit("three", &[("README.md", "plain text\n")]);
    for i in 0..12 {
        repo.commit(
            &format!("more {i}"),
            &[(&format!("notes/{i}.txt"), "note\n")],
        );
    }
    let readme = repo.git(&["rev-parse", "HEAD:README.md"]);
    let mut trees: Vec<String> = repo
        .git(&["rev-list", "--all"])
        .lines()
        .filter(|c| repo.git(&["ls-tree", c, "README.md"]).contains(&readme))
        .map(|c| repo.git(&["rev-parse", &format!("{c}^{{tree}}")]))
        .collect();
    trees.sort();
    assert!(trees.len() > 10, "{trees:?}");
    // Every object but the README's blob, in one pack; no loose objects left.
    let all = repo.git(&[
        "cat-file",
        "--batch-all-objects",
        "--batch-check=%(objectname)",
    ]);
    let kept: Vec<&str> = all.lines().filter(|id| *id != readme).collect();
    repo.pack_objects(&kept);
    repo.git(&["prune-packed"]);
    std::fs::remove_file(object_path(&repo, &readme)).expect("rm blob");
    let counts = repo.git(&["count-objects", "-v"]);
    assert!(counts.lines().any(|l| l == "count: 0"), "{counts}");
    for _ in 0..3 {
        let out = keysweep(
            repo.path(),
            &[
                "scan",
                ".",
                "--history-only",
                "--no-cache",
                "--format",
                "json",
            ],
        )
        .expect_code(2);
        let about: Vec<&str> = out.stderr.lines().filter(|l| l.contains(&readme)).collect();
        assert_eq!(about.len(), 1, "{}", out.stderr);
        assert!(
            about[0].contains(&format!("tree {} names it as \"README.md\"", trees[0])),
            "{} (trees {trees:?})",
            about[0]
        );
        assert_eq!(out.secrets(), sorted(vec![a.clone(), b.clone()]));
    }
}

// https://github.com/keysweep/keysweep/issues/13 (item 6): a packed ref to a missing object.
#[test]
fn r13_packed_ref_to_a_missing_object_is_an_error() {
    let (repo, a, b) = repo_with_tokens();
    repo.git(&["pack-refs", "--all"]);
    let ghost = "0123456789abcdef0123456789abcdef01234567";
    let packed = repo.path().join(".git/packed-refs");
    let mut text = std::fs::read_to_string(&packed).expect("packed-refs");
    text.push_str(&format!("{ghost} refs/tags/ghost\n"));
    std::fs::write(&packed, text).expect("packed-refs");
    let out = keysweep(
        repo.path(),
        &["scan", ".", "--history-only", "--format", "json"],
    )
    .expect_code(2);
    out.stderr_has("refs/tags/ghost").stderr_has(ghost);
    assert_eq!(out.secrets(), sorted(vec![a, b]), "{}", out.stdout);
}

fn object_path(repo: &TestRepo, id: &str) -> std::path::PathBuf {
    repo.path()
        .join(".git/objects")
        .join(&id[..2])
        .join(&id[2..])
}

// https://github.com/keysweep/keysweep/issues/13 (item 6): a missing parent commit credited both
// secrets to HEAD with no error.
#[test]
fn r13_missing_parent_commit_is_an_error() {
    let (repo, _, _) = repo_with_tokens();
    let parent = repo.git(&["rev-parse", "HEAD~1"]);
    std::fs::remove_file(object_path(&repo, &parent)).expect("rm parent commit");
    keysweep(repo.path(), &["scan", ".", "--format", "json"])
        .expect_code(2)
        .stderr_has(&format!("commit {parent} is missing"));
}

// https://github.com/keysweep/keysweep/issues/13 (item 6): HEAD's commit replaced by a blob, and
// a ref to a missing object, were silent.
#[test]
fn r13_branch_naming_a_blob_or_a_missing_object_is_an_error() {
    let (repo, _, _) = repo_with_tokens();
    let blob = repo.git(&["rev-parse", "HEAD:app/config.env"]);
    std::fs::write(
        repo.path().join(".git/refs/heads/main"),
        format!("{blob}\n"),
    )
    .expect("ref");
    keysweep(repo.path(), &["scan", ".", "--format", "json"])
        .expect_code(2)
        .stderr_has(&format!("reference refs/heads/main points to blob {blob}"));

    let (repo, _, _) = repo_with_tokens();
    let ghost = "0123456789abcdef0123456789abcdef01234567";
    std::fs::write(
        repo.path().join(".git/refs/heads/ghost"),
        format!("{ghost}\n"),
    )
    .expect("ref");
    keysweep(repo.path(), &["scan", ".", "--format", "json"])
        .expect_code(2)
        .stderr_has("refs/heads/ghost")
        .stderr_has(ghost);
}

// https://github.com/keysweep/keysweep/issues/13 (item 7): --max-file-size 17179869184G overflowed
// to 0 and skipped everything with exit 0.
#[test]
fn r13_sizes_that_overflow_or_are_zero_are_rejected() {
    let (repo, _, _) = repo_with_tokens();
    for size in ["17179869184G", "0", "0M"] {
        keysweep(repo.path(), &["scan", ".", "--max-file-size", size])
            .expect_code(2)
            .stderr_has(size);
    }
}

// https://github.com/keysweep/keysweep/issues/13 (item 8): a garbage packed-refs aborted the scan
// with no report and the working tree unscanned.
#[test]
fn r13_garbage_packed_refs_degrades_to_what_can_be_read() {
    let (repo, a, b) = repo_with_tokens();
    let extra = token(1380);
    repo.write("uncommitted.env", format!("TOKEN={extra}\n"));
    std::fs::write(
        repo.path().join(".git/packed-refs"),
        b"\x00\xffnot refs at all\n",
    )
    .expect("packed-refs");
    let run = keysweep(repo.path(), &["scan", ".", "--format", "json"]).expect_code(2);
    run.stderr_has("packed-refs");
    let mut want = vec![a, b, extra];
    want.sort();
    assert_eq!(run.secrets(), want, "{}", run.stderr);
}

// https://github.com/keysweep/keysweep/issues/13 (item 8): a `.git` file naming a missing gitdir
// aborted the scan; an alternates file pointing back at the repository too.
#[test]
fn r13_broken_gitfile_and_self_alternates_degrade() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = token(1381);
    std::fs::write(
        dir.path().join(".git"),
        "gitdir: /nonexistent/keysweep-gitdir\n",
    )
    .expect(".git");
    std::fs::write(dir.path().join("app.env"), format!("TOKEN={secret}\n")).expect("file");
    let run = keysweep(dir.path(), &["scan", ".", "--format", "json"]).expect_code(2);
    run.stderr_has("scanning the files on disk only");
    assert_eq!(run.secrets(), vec![secret]);

    let (repo, a, b) = repo_with_tokens();
    let objects = repo.path().join(".git/objects");
    std::fs::write(
        objects.join("info/alternates"),
        format!("{}\n", objects.display()),
    )
    .expect("alternates");
    let run = keysweep(repo.path(), &["scan", ".", "--format", "json"]);
    assert!(
        run.code == 1 || run.code == 2,
        "{}: {}",
        run.describe,
        run.stderr
    );
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(run.secrets(), want, "{}", run.stderr);
}

// https://github.com/keysweep/keysweep/issues/13 (item 9): `scan /dev/zero` and `scan pipe.txt`
// said "scanned 0 files" with exit 0.
#[test]
fn r13_special_file_as_scan_path_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    mkfifo(&dir.path().join("pipe.txt"));
    for path in ["pipe.txt", "/dev/zero"] {
        keysweep(dir.path(), &["scan", path])
            .expect_code(2)
            .stderr_has("not a regular file or directory");
    }
}

// https://github.com/keysweep/keysweep/issues/13 (item 10): shallow clones were swept without a
// word that history is truncated.
#[test]
fn r13_shallow_clone_warns_that_history_is_truncated() {
    let (repo, _, b) = repo_with_tokens();
    let clone = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", repo.path().display());
    repo.git(&[
        "clone",
        "-q",
        "--depth",
        "1",
        &url,
        &clone.path().join("c").to_string_lossy(),
    ]);
    let run = keysweep(&clone.path().join("c"), &["scan", ".", "--format", "json"]).expect_code(1);
    run.stderr_has("shallow clone")
        .stderr_has("git fetch --unshallow");
    assert!(run.secrets().contains(&b));
}

// https://github.com/keysweep/keysweep/issues/13 (item 12): `-o FILE` was written 0644, and `-o`
// into a directory failed only after the scan.
#[test]
fn r13_report_file_is_private_and_a_directory_fails_first() {
    use std::os::unix::fs::PermissionsExt;
    let (repo, _, _) = repo_with_tokens();
    let out = tempfile::tempdir().expect("tempdir");
    let file = out.path().join("report.json");
    std::fs::write(&file, "old").expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let f = file.to_string_lossy().into_owned();
    keysweep(repo.path(), &["scan", ".", "--format", "json", "-o", &f]).expect_code(1);
    let mode = std::fs::metadata(&file)
        .expect("report")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(std::fs::read_to_string(&file)
        .expect("read")
        .contains("ghp_"));

    let d = out.path().to_string_lossy().into_owned();
    let run = keysweep(repo.path(), &["scan", ".", "-o", &d]).expect_code(2);
    run.stderr_has("is a directory");
    assert!(!run.stderr.contains("scanned"), "{}", run.stderr);
}

// https://github.com/keysweep/keysweep/issues/13 (item 13): fingerprints of weak secrets are
// keyed (PBKDF2), and stay the same between clones, so baselines keep working.
#[test]
fn r13_weak_secret_fingerprints_are_stable_across_clones_and_baselines_work() {
    let mut repo = TestRepo::new();
    repo.commit(
        "db",
        &[(
            "settings.py",
            "DATABASES = {'default': {'PASSWORD': 'Hunter2-pw'}}\n",
        )],
    );
    let first = keysweep(repo.path(), &["scan", ".", "--format", "json"]).expect_code(1);
    let clone = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", repo.path().display());
    let target = clone.path().join("c");
    repo.git(&["clone", "-q", &url, &target.to_string_lossy()]);
    let second = keysweep(&target, &["scan", ".", "--format", "json"]).expect_code(1);
    let fps = |o: &Outcome| -> Vec<String> {
        let v: Vec<serde_json::Value> = serde_json::from_str(&o.stdout).expect("json");
        v.iter()
            .filter_map(|f| f["fingerprint"].as_str().map(str::to_string))
            .collect()
    };
    assert!(!fps(&first).is_empty(), "{}", first.stdout);
    assert_eq!(fps(&first), fps(&second));
    let baseline = clone.path().join("baseline.json");
    std::fs::write(&baseline, &first.stdout).expect("baseline");
    keysweep(
        &target,
        &[
            "scan",
            ".",
            "--format",
            "json",
            "--baseline",
            &baseline.to_string_lossy(),
        ],
    )
    .expect_code(0);
}
