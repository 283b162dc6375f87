//! `keysweep purge-plan` end to end: a repository whose history holds secrets (one still at
//! HEAD, two only in older commits), the plan, the printed commands run as printed (real
//! git-filter-repo), and a fresh clone of the rewritten remote in which `keysweep scan` finds
//! nothing.

use std::fs;
use std::path::{Path, PathBuf};

use crate::fix::{clean_command, ok, python_bin};
use crate::util::cmd::Keysweep;

/// `n` characters from `alphabet`, deterministic in `seed` (synthetic, not a credential).
pub fn synthetic(seed: u64, n: usize, alphabet: &[u8]) -> String {
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            alphabet[(x % alphabet.len() as u64) as usize] as char
        })
        .collect()
}

pub const BASE62: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
pub const DJANGO: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789!@#%^&*(-_=+)";

fn git(dir: &Path, args: &[&str]) -> String {
    ok(clean_command(Path::new("git"), dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.org")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.org")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .args(args))
}

/// A PEM RSA block of `lines` synthetic base64 lines seeded from `seed` on, and those lines.
fn synthetic_pem(seed: u64, lines: u64) -> (String, Vec<String>) {
    let body: Vec<String> = (0..lines)
        .map(|i| synthetic(seed + i, 64, BASE64))
        .collect();
    let pem = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
        body.join("\n")
    );
    (pem, body)
}

/// A bare `origin.git` in `top` and its clone `work`, returned.
fn origin_and_clone(top: &Path) -> PathBuf {
    git(top, &["init", "-q", "--bare", "origin.git"]);
    git(top, &["clone", "-q", "origin.git", "work"]);
    top.join("work")
}

#[test]
fn purge_plan_commands_leave_a_history_without_secrets() {
    let Some(py) = python_bin() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let top = dir.path();
    let django_key = synthetic(1, 50, DJANGO);
    let token = format!("ghp_{}", synthetic(2, 36, BASE62));
    let (pem, pem_body) = synthetic_pem(10, 6);

    let work = origin_and_clone(top);
    fs::create_dir_all(work.join("app")).expect("mkdir");
    fs::write(
        work.join("app/settings.py"),
        format!("DEBUG = False\nSECRET_KEY = '{django_key}'\n"),
    )
    .expect("write");
    fs::write(
        work.join("deploy.sh"),
        format!("export GITHUB_TOKEN={token}\n"),
    )
    .expect("write");
    fs::write(work.join("id_rsa"), &pem).expect("write");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "first"]);
    fs::remove_file(work.join("deploy.sh")).expect("rm");
    fs::remove_file(work.join("id_rsa")).expect("rm");
    fs::write(work.join("README"), "docs\n").expect("write");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "second"]);
    git(&work, &["push", "-q", "origin", "HEAD"]);

    let before = Keysweep::new(top)
        .args(["scan", "--format", "json", "work"])
        .run()
        .expect_code(1)
        .json();
    for secret in [&django_key, &token] {
        assert!(
            before
                .iter()
                .any(|f| f["secret"] == secret.as_str() && !f["commit"].is_null()),
            "history scan misses {secret}: {before:#?}"
        );
    }

    let plan = Keysweep::new(top).args(["purge-plan", "work"]).run();
    assert!(
        plan.code == 1,
        "purge-plan exit {}: {}",
        plan.code,
        plan.stderr
    );
    let expressions_path = work.join(".git/keysweep-purge.txt");
    let expressions = fs::read_to_string(&expressions_path).expect("expressions file written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(&expressions_path)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        expressions.contains(&format!("literal:{django_key}==>***REMOVED***\n")),
        "{expressions}"
    );
    assert!(
        expressions.contains(&format!("literal:{token}==>***REMOVED***\n")),
        "{expressions}"
    );
    assert!(plan.stdout.contains("Rotate"), "{}", plan.stdout);
    assert!(plan.stdout.contains("force"), "{}", plan.stdout);

    // Run the printed commands, as printed, from an empty directory.
    run_printed_commands(&plan.stdout, py, &top.join("run"), true);

    // --no-local: what a network clone gets (reachable objects only); a local clone would
    // hard-link the remote's unreachable old objects too, until the remote runs gc.
    git(top, &["clone", "-q", "--no-local", "origin.git", "check"]);
    let log = git(&top.join("check"), &["log", "--all", "-p"]);
    for secret in [django_key.as_str(), token.as_str(), pem_body[0].as_str()] {
        assert!(!log.contains(secret), "{secret} survived the rewrite");
    }
    assert!(log.contains("***REMOVED***"), "{log}");
    Keysweep::new(top)
        .args(["scan", "check"])
        .run()
        .expect_code(0);
    // The old clone still has everything: why rotation comes first.
    Keysweep::new(top)
        .args(["scan", "--history-only", "work"])
        .run()
        .expect_code(1);
}

/// Runs the `$ ` lines of purge-plan's output with `sh -e` in a new directory `run_dir`, with
/// keysweep and the Python tools on PATH; `push`: the force push too.
fn run_printed_commands(stdout: &str, py: &Path, run_dir: &Path, push: bool) {
    let script: String = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("$ "))
        .filter(|l| push || !l.starts_with("git push"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(script.contains("git filter-repo"), "{stdout}");
    fs::create_dir(run_dir).expect("mkdir");
    let keysweep_dir = Path::new(env!("CARGO_BIN_EXE_keysweep"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = format!(
        "{}:{}:/usr/local/bin:/usr/bin:/bin",
        keysweep_dir.display(),
        py.display()
    );
    ok(clean_command(Path::new("sh"), run_dir)
        .env("PATH", path)
        .args(["-e", "-x", "-c", &script]));
}

/// Whether `needle` occurs in `hay`.
fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

// issue 9 items 6, 7: a SECRET_KEY inside a committed `__pycache__/*.pyc` (binary, which
// `--replace-text` skips) and a PEM key. After the printed plan runs on a fresh mirror clone, no
// object in the mirror's database holds any part of either (checked with git itself), and
// keysweep's own verification in the plan agrees.
#[test]
fn r9_purge_plan_removes_secrets_from_pyc_files_and_pem_blocks() {
    let Some(py) = python_bin() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let top = dir.path();
    let django_key = format!("django-insecure-{}", synthetic(21, 50, DJANGO));
    let (pem, pem_body) = synthetic_pem(30, 5);
    let work = origin_and_clone(top);
    fs::create_dir_all(work.join("app")).expect("mkdir");
    fs::write(
        work.join("app/settings.py"),
        format!("DEBUG = False\nSECRET_KEY = '{django_key}'\n"),
    )
    .expect("write");
    ok(clean_command(&crate::fix::python(py), &work).args([
        "-c",
        "import py_compile; py_compile.compile('app/settings.py', cfile='app/__pycache__/settings.cpython-311.pyc', doraise=True)",
    ]));
    let pyc = fs::read(work.join("app/__pycache__/settings.cpython-311.pyc")).expect("pyc");
    assert!(pyc.contains(&0), "a .pyc is binary");
    assert!(contains_bytes(&pyc, django_key.as_bytes()));
    fs::write(work.join("deploy_key"), &pem).expect("write");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "first"]);
    fs::remove_file(work.join("deploy_key")).expect("rm");
    fs::remove_dir_all(work.join("app/__pycache__")).expect("rm");
    fs::write(
        work.join("app/settings.py"),
        "import os\nDEBUG = False\nSECRET_KEY = os.environ['DJANGO_SECRET_KEY']\n",
    )
    .expect("write");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "second"]);
    git(&work, &["push", "-q", "origin", "HEAD"]);

    let found = Keysweep::new(top)
        .args(["scan", "--history-only", "--format", "json", "work"])
        .run()
        .expect_code(1)
        .json();
    assert!(
        found.iter().any(|f| f["binary"] == true
            && f["path"] == "app/__pycache__/settings.cpython-311.pyc"
            && f["secret"]
                .as_str()
                .is_some_and(|s| s.starts_with(django_key.as_str()))),
        "the secret in the .pyc is not reported: {found:#?}"
    );

    let plan = Keysweep::new(top)
        .args(["purge-plan", "work"])
        .run()
        .expect_code(1);
    assert!(
        plan.stdout.contains("--path-glob '*.pyc' --invert-paths"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("app/__pycache__/settings.cpython-311.pyc"),
        "{}",
        plan.stdout
    );
    // `keysweep scan .` is in the commands: `sh -e` fails unless keysweep finds nothing.
    let run_dir = top.join("run");
    run_printed_commands(&plan.stdout, py, &run_dir, false);

    let mirror = fs::read_dir(&run_dir)
        .expect("readdir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.to_string_lossy().ends_with("-purge.git"))
        .expect("the mirror clone");
    let out = clean_command(Path::new("git"), &mirror)
        .args(["cat-file", "--batch-all-objects", "--batch"])
        .output()
        .expect("git cat-file runs");
    assert!(out.status.success());
    let objects = out.stdout;
    assert!(
        contains_bytes(&objects, b"***REMOVED***"),
        "nothing was replaced"
    );
    let mut pieces: Vec<&[u8]> = vec![
        django_key.as_bytes(),
        b"BEGIN RSA PRIVATE KEY",
        b"END RSA PRIVATE KEY",
    ];
    pieces.extend(pem_body.iter().map(|l| l.as_bytes()));
    for piece in pieces {
        assert!(
            !contains_bytes(&objects, piece),
            "{} survived in the mirror's object database",
            String::from_utf8_lossy(piece)
        );
    }
}
