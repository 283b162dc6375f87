//! The git hooks end to end: real work repositories and bare remotes in temp dirs, real
//! `git push` / `git commit` running the hooks `keysweep hook install` wrote (pointing at the
//! test binary), and a bare server repository with its own pre-receive or update hook pushed
//! to over the local file protocol.

use std::path::Path;
use std::process::Command;

use crate::util::cmd::Keysweep;
use crate::util::repo::{token, TestRepo};

/// A GitHub-style token the shipped rules find (not a credential).
fn secret(n: u32) -> String {
    format!("GITHUB_TOKEN={}\n", token(n))
}

/// Runs `git args` in `repo` and returns (success, stdout + stderr).
fn git_try(repo: &TestRepo, args: &[&str]) -> (bool, String) {
    let out = repo.git_command(args).output().expect("git runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A work repository with one clean commit on `main`, pushed to the bare remote `origin`, and
/// keysweep's pre-push hook installed.
struct Setup {
    work: TestRepo,
    remote: TestRepo,
}

impl Setup {
    fn new() -> Setup {
        let remote = TestRepo::bare();
        let mut work = TestRepo::new();
        work.commit("init", &[("README.md", "hello\n")]);
        let url = remote.path().to_str().expect("utf-8 path").to_string();
        work.git(&["remote", "add", "origin", &url]);
        work.git(&["push", "-q", "origin", "main"]);
        Keysweep::new(work.path())
            .args(["hook", "install"])
            .run()
            .expect_code(0);
        Setup { work, remote }
    }

    fn push(&self, args: &[&str]) -> (bool, String) {
        let mut all = vec!["push", "origin"];
        all.extend_from_slice(args);
        git_try(&self.work, &all)
    }

    fn remote_has(&self, rev: &str) -> bool {
        git_try(&self.remote, &["rev-parse", "--verify", "-q", rev]).0
    }
}

fn assert_refused(ok: bool, out: &str, path: &str) {
    assert!(!ok, "push should be refused:\n{out}");
    assert!(out.contains(path), "the refusal names {path}:\n{out}");
    assert!(
        out.contains("git push --no-verify"),
        "guidance shown:\n{out}"
    );
}

#[test]
fn new_branch_with_a_secret_three_commits_deep_is_refused_and_names_the_file() {
    let mut s = Setup::new();
    s.work.git(&["checkout", "-q", "-b", "feature"]);
    s.work
        .commit("add settings", &[("app/settings.py", &secret(1))]);
    s.work.commit("two", &[("a.txt", "a\n")]);
    s.work.commit("three", &[("b.txt", "b\n")]);
    let (ok, out) = s.push(&["feature"]);
    assert_refused(ok, &out, "app/settings.py");
    assert!(out.contains("git rebase -i"), "{out}");
    assert!(!s.remote_has("refs/heads/feature"));
}

#[test]
fn clean_push_goes_through_and_deleting_a_branch_goes_through() {
    let mut s = Setup::new();
    s.work.commit("clean", &[("src/lib.py", "x = 1\n")]);
    let (ok, out) = s.push(&["main", "main:refs/heads/other"]);
    assert!(ok, "{out}");
    let (ok, out) = s.push(&["--delete", "other"]);
    assert!(ok, "{out}");
    assert!(!s.remote_has("refs/heads/other"));
}

#[test]
fn push_of_two_refs_where_only_the_second_carries_a_secret_is_refused() {
    let mut s = Setup::new();
    s.work.commit("clean", &[("ok.txt", "fine\n")]);
    s.work.git(&["checkout", "-q", "-b", "leaky"]);
    s.work.commit("leak", &[("deploy/.env", &secret(2))]);
    let (ok, out) = s.push(&["main", "leaky"]);
    assert_refused(ok, &out, "deploy/.env");
}

#[test]
fn force_push_is_scanned_against_the_old_tip() {
    let mut s = Setup::new();
    // On the remote: a file that already holds a secret (pushed with --no-verify).
    s.work.commit("old", &[("old.env", &secret(3))]);
    let (ok, out) = s.push(&["--no-verify", "main"]);
    assert!(ok, "{out}");
    // Rewrite: drop that commit and add another secret.
    s.work.git(&["reset", "-q", "--hard", "HEAD~1"]);
    s.work.commit("rewritten", &[("new.env", &secret(4))]);
    let (ok, out) = s.push(&["--force", "main"]);
    assert_refused(ok, &out, "new.env");
    assert!(
        !out.contains("old.env"),
        "only the rewrite is scanned:\n{out}"
    );
    // A rewrite that only removes the secret goes through.
    s.work.git(&["reset", "-q", "--hard", "HEAD~1"]);
    s.work.commit("clean rewrite", &[("c.txt", "c\n")]);
    let (ok, out) = s.push(&["--force", "main"]);
    assert!(ok, "{out}");
}

#[test]
fn annotated_tag_push_is_scanned() {
    let mut s = Setup::new();
    s.work.git(&["checkout", "-q", "--detach"]);
    s.work
        .commit("release with key", &[("release/key.txt", &secret(5))]);
    s.work.git(&["tag", "-a", "-m", "v1", "v1.0"]);
    s.work.git(&["checkout", "-q", "main"]);
    let (ok, out) = s.push(&["v1.0"]);
    assert_refused(ok, &out, "release/key.txt");
    s.work.git(&["tag", "-d", "v1.0"]);
    s.work.git(&["tag", "-a", "-m", "v0", "v0.9", "main"]);
    let (ok, out) = s.push(&["v0.9"]);
    assert!(ok, "{out}");
}

#[test]
fn secret_introduced_only_by_a_merge_commit_is_caught() {
    let mut s = Setup::new();
    s.work.git(&["checkout", "-q", "-b", "side"]);
    s.work.commit("side", &[("side.txt", "side\n")]);
    s.work.git(&["checkout", "-q", "main"]);
    s.work.commit("main", &[("main.txt", "main\n")]);
    s.work
        .git_commit(&["merge", "-q", "--no-ff", "--no-commit", "side"]);
    s.work.write("merged.env", secret(6));
    s.work.git(&["add", "merged.env"]);
    let merge = s.work.git_commit(&["commit", "-q", "-m", "merge side"]);
    let (ok, out) = s.push(&["main"]);
    assert_refused(ok, &out, "merged.env");
    assert!(out.contains(&merge[..12]), "names the merge commit:\n{out}");
}

#[test]
fn allowlisted_secrets_do_not_block() {
    let mut s = Setup::new();
    // Inline markers of keysweep, gitleaks and detect-secrets.
    let inline = format!(
        "A={} # keysweep:allow\nB={} # gitleaks:allow\nC={}  # pragma: allowlist secret\n",
        token(7),
        token(8),
        token(9)
    );
    s.work.commit("inline", &[("inline.py", &inline)]);
    let (ok, out) = s.push(&["main"]);
    assert!(ok, "{out}");

    // .keysweepignore: the fingerprint the refusal printed.
    s.work
        .commit("fixture", &[("tests/fixture.env", &secret(10))]);
    let (ok, out) = s.push(&["main"]);
    assert_refused(ok, &out, "tests/fixture.env");
    let fp = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("keysweep ignore "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the guidance prints a keysweep ignore command")
        .to_string();
    Keysweep::new(s.work.path())
        .args([
            "ignore",
            &fp,
            "--reason",
            "test fixture",
            "--path",
            "tests/**",
        ])
        .run()
        .expect_code(0);
    let (ok, out) = s.push(&["main"]);
    assert!(ok, "{out}");

    // A baseline of today's findings: the known secret moved to another line and file of a
    // squashed commit is not new; a different secret is.
    s.work.commit("known", &[("conf/known.env", &secret(11))]);
    Keysweep::new(s.work.path())
        .args(["baseline", "create"])
        .run()
        .expect_code(0);
    let baseline = std::fs::read_to_string(s.work.path().join(".keysweep-baseline.json"))
        .expect("baseline written");
    assert!(!baseline.contains(&token(11)), "no secret in the baseline");
    s.work
        .write("conf/moved.env", format!("# moved\n\n{}", secret(11)));
    s.work.commit("move", &[]);
    let (ok, out) = s.push(&["main"]);
    assert!(ok, "{out}");
    s.work.commit("new", &[("conf/new.env", &secret(12))]);
    let (ok, out) = s.push(&["main"]);
    assert_refused(ok, &out, "conf/new.env");
}

#[test]
fn an_existing_hook_still_runs_its_failure_still_blocks_and_uninstall_restores_it() {
    let mut work = TestRepo::new();
    let remote = TestRepo::bare();
    work.commit("init", &[("a.txt", "a\n")]);
    let url = remote.path().to_str().expect("utf-8").to_string();
    work.git(&["remote", "add", "origin", &url]);
    let hooks = work.path().join(".git/hooks");
    std::fs::create_dir_all(&hooks).expect("hooks dir");
    let user_hook = "#!/bin/sh\nwhile read l; do echo \"user hook saw: $l\"; done\n[ ! -e \"$(git rev-parse --show-toplevel)/block\" ]\n";
    let hook = hooks.join("pre-push");
    std::fs::write(&hook, user_hook).expect("write hook");
    make_executable(&hook);
    Keysweep::new(work.path())
        .args(["hook", "install"])
        .run()
        .expect_code(0);
    let (ok, out) = git_try(&work, &["push", "origin", "main"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("user hook saw: refs/heads/main"),
        "user hook ran with stdin:\n{out}"
    );
    work.commit("block", &[("block", "x\n")]);
    let (ok, out) = git_try(&work, &["push", "origin", "main"]);
    assert!(!ok, "the user hook's failure blocks:\n{out}");
    Keysweep::new(work.path())
        .args(["hook", "uninstall"])
        .run()
        .expect_code(0);
    assert_eq!(std::fs::read_to_string(&hook).expect("restored"), user_hook);
    assert!(!hooks.join("pre-push.keysweep-chained").exists());
}

#[test]
fn install_honours_core_hooks_path_and_linked_worktrees() {
    let mut work = TestRepo::new();
    work.commit("init", &[("a.txt", "a\n")]);
    work.git(&["config", "core.hooksPath", "myhooks"]);
    Keysweep::new(work.path())
        .args(["hook", "install", "--both"])
        .run()
        .expect_code(0);
    assert!(work.path().join("myhooks/pre-push").is_file());
    assert!(work.path().join("myhooks/pre-commit").is_file());
    work.git(&["config", "--unset", "core.hooksPath"]);
    let wt = work.path().parent().expect("parent").join("linked");
    let wt_str = wt.to_str().expect("utf-8");
    work.git(&["worktree", "add", "-q", wt_str]);
    Keysweep::new(&wt)
        .args(["hook", "install", "--pre-commit"])
        .run()
        .expect_code(0);
    // Hooks are shared by all worktrees: they live in the common git dir.
    assert!(work.path().join(".git/hooks/pre-commit").is_file());
}

#[test]
fn hook_without_its_binary_says_what_to_do() {
    let mut s = Setup::new();
    let hook = s.work.path().join(".git/hooks/pre-push");
    let text = std::fs::read_to_string(&hook).expect("hook");
    let text = text.replace(env!("CARGO_BIN_EXE_keysweep"), "/nonexistent/keysweep");
    std::fs::write(&hook, text).expect("write");
    s.work.commit("c", &[("c.txt", "c\n")]);
    let out = s
        .work
        .git_command(&["push", "origin", "main"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("git runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot find keysweep"), "{err}");
    assert!(err.contains("keysweep hook uninstall"), "{err}");
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A bare server repository with keysweep as its `hook` (pre-receive or update), and a client
/// that pushes to it over the file protocol.
fn server_setup(hook: &str) -> (TestRepo, TestRepo) {
    let server = TestRepo::bare();
    let hooks = server.path().join("hooks");
    std::fs::create_dir_all(&hooks).expect("hooks dir");
    let exe = env!("CARGO_BIN_EXE_keysweep");
    if hook == "pre-receive" {
        Keysweep::new(server.path())
            .args(["hook", "install", "--pre-receive"])
            .run()
            .expect_code(0);
    } else {
        let script = format!("#!/bin/sh\nexec '{exe}' hook update \"$@\"\n");
        std::fs::write(hooks.join("update"), script).expect("write hook");
        make_executable(&hooks.join("update"));
    }
    let mut client = TestRepo::new();
    client.commit("init", &[("README.md", "hi\n")]);
    let url = format!("file://{}", server.path().display());
    client.git(&["remote", "add", "origin", &url]);
    let (ok, out) = git_try(&client, &["push", "origin", "main"]);
    assert!(ok, "{out}");
    (server, client)
}

#[test]
fn pre_receive_refuses_a_push_carrying_a_secret_and_tells_the_pusher() {
    let (server, mut client) = server_setup("pre-receive");
    client.commit("clean", &[("ok.txt", "ok\n")]);
    let (ok, out) = git_try(&client, &["push", "origin", "main"]);
    assert!(ok, "{out}");
    client.git(&["checkout", "-q", "-b", "topic"]);
    client.commit("leak", &[("svc/creds.env", &secret(20))]);
    client.commit("more", &[("more.txt", "m\n")]);
    let (ok, out) = git_try(&client, &["push", "origin", "main", "topic"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("remote:") && out.contains("svc/creds.env"),
        "{out}"
    );
    assert!(out.contains("push rejected by the server"), "{out}");
    assert!(
        !git_try(
            &server,
            &["rev-parse", "-q", "--verify", "refs/heads/topic"]
        )
        .0
    );
    // Deleting a branch and a clean tag go through.
    let (ok, out) = git_try(&client, &["push", "origin", "main:refs/heads/gone"]);
    assert!(ok, "{out}");
    let (ok, out) = git_try(&client, &["push", "origin", "--delete", "gone"]);
    assert!(ok, "{out}");
    client.git(&["tag", "-a", "-m", "t", "v1", "main"]);
    let (ok, out) = git_try(&client, &["push", "origin", "v1"]);
    assert!(ok, "{out}");
    // Inline allow works on the server too.
    client.git(&["checkout", "-q", "main"]);
    client.commit(
        "allowed",
        &[("doc.md", &format!("{} # keysweep:allow\n", token(21)))],
    );
    let (ok, out) = git_try(&client, &["push", "origin", "main"]);
    assert!(ok, "{out}");
}

#[test]
fn update_hook_refuses_a_force_push_and_merge_that_carry_a_secret() {
    let (_server, mut client) = server_setup("update");
    client.git(&["checkout", "-q", "-b", "side"]);
    client.commit("side", &[("s.txt", "s\n")]);
    client.git(&["checkout", "-q", "main"]);
    client.commit("m", &[("m.txt", "m\n")]);
    client.git_commit(&["merge", "-q", "--no-ff", "--no-commit", "side"]);
    client.write("merge.env", secret(22));
    client.git(&["add", "merge.env"]);
    client.git_commit(&["commit", "-q", "-m", "merge"]);
    let (ok, out) = git_try(&client, &["push", "origin", "main"]);
    assert!(!ok && out.contains("merge.env"), "{out}");
    client.git(&["reset", "-q", "--hard", "origin/main"]);
    client.commit("rewrite", &[("r.txt", "r\n")]);
    let (ok, out) = git_try(&client, &["push", "--force", "origin", "main"]);
    assert!(ok, "{out}");
}

#[test]
fn pre_commit_hook_scans_the_staged_version_and_refuses_a_staged_secret() {
    let mut repo = TestRepo::new();
    repo.commit("init", &[("app.py", "x = 1\n")]);
    Keysweep::new(repo.path())
        .args(["hook", "install", "--pre-commit"])
        .run()
        .expect_code(0);
    // Staged secret: refused, with the path and the line as it will be committed.
    repo.write("app.py", format!("x = 1\n\n{}", secret(30)));
    repo.git(&["add", "app.py"]);
    let (ok, out) = git_try(&repo, &["commit", "-q", "-m", "leak"]);
    assert!(!ok, "{out}");
    assert!(out.contains("app.py:3"), "{out}");
    assert!(out.contains("git commit --no-verify"), "{out}");
    // Partially staged: the working copy has the secret, the index does not.
    repo.write("app.py", "x = 2\n");
    repo.git(&["add", "app.py"]);
    repo.write("app.py", format!("x = 2\n{}", secret(31)));
    let (ok, out) = git_try(&repo, &["commit", "-q", "-m", "clean staged"]);
    assert!(ok, "{out}");
    // And the other way round: `scan --staged` reports the staged version only.
    repo.write("cfg.env", secret(32));
    repo.git(&["add", "cfg.env"]);
    repo.write("cfg.env", "nothing here\n");
    let run = Keysweep::new(repo.path())
        .args(["scan", "--staged", "--format", "json"])
        .run()
        .expect_code(1);
    let found = run.json();
    assert_eq!(found.len(), 1, "{}", run.stdout);
    assert_eq!(found[0]["path"], "cfg.env");
    assert_eq!(found[0]["line"], 1);
    // `git commit -a` commits through a temporary index: the hook reads that one.
    repo.git(&["reset", "-q"]);
    std::fs::remove_file(repo.path().join("cfg.env")).expect("rm");
    repo.write("app.py", format!("y = 3\n{}", secret(33)));
    let (ok, out) = git_try(&repo, &["commit", "-q", "-a", "-m", "all"]);
    assert!(!ok && out.contains("app.py:2"), "{out}");
}

#[test]
fn scan_staged_says_when_nothing_is_staged() {
    let mut repo = TestRepo::new();
    repo.commit("init", &[("a.txt", "a\n")]);
    let run = Keysweep::new(repo.path())
        .args(["scan", "--staged"])
        .run()
        .expect_code(0);
    assert!(run.stderr.contains("nothing staged"), "{}", run.stderr);
}

#[test]
fn baseline_ignores_and_report_unused_key_on_fingerprints_not_lines() {
    let mut repo = TestRepo::new();
    repo.commit("keys", &[("a.env", &secret(40)), ("b.env", &secret(41))]);
    Keysweep::new(repo.path())
        .args(["baseline", "create", "base.json"])
        .run()
        .expect_code(0);
    let text = std::fs::read_to_string(repo.path().join("base.json")).expect("written");
    assert!(!text.contains(&token(40)) && !text.contains(&token(41)));
    // Squash-like rewrite: the same secrets on other lines in one new commit.
    repo.git(&["checkout", "-q", "--orphan", "squashed"]);
    repo.git(&["rm", "-q", "-rf", "."]);
    repo.commit(
        "squashed",
        &[("moved/a.env", &format!("\n\n{}", secret(40)))],
    );
    repo.git(&["branch", "-D", "main"]);
    repo.git(&["reflog", "expire", "--expire=now", "--all"]);
    repo.git(&["gc", "-q", "--prune=now"]);
    let run = Keysweep::new(repo.path())
        .args(["scan", "--baseline", "base.json", "--report-unused"])
        .run()
        .expect_code(0);
    assert!(
        run.stderr.contains("unused suppression: base.json"),
        "{}",
        run.stderr
    );
    // A JSON report still works as a baseline.
    let report = Keysweep::new(repo.path())
        .args(["scan", "--format", "json", "-o", "report.json"])
        .run()
        .expect_code(1);
    drop(report);
    Keysweep::new(repo.path())
        .args(["scan", "--baseline", "report.json"])
        .run()
        .expect_code(0);
    // A malformed .keysweepignore is an error naming the file and line.
    repo.write(".keysweepignore", "# ok\nnot a fingerprint at all\n");
    let run = Keysweep::new(repo.path())
        .args(["scan"])
        .run()
        .expect_code(2);
    assert!(run.stderr.contains(".keysweepignore:2"), "{}", run.stderr);
}

#[test]
fn config_init_writes_a_starter_that_parses_and_unknown_keys_are_errors() {
    let repo = TestRepo::new();
    Keysweep::new(repo.path())
        .args(["config", "init"])
        .run()
        .expect_code(0);
    let text = std::fs::read_to_string(repo.path().join(".keysweep.yaml")).expect("written");
    assert!(text.contains("# "), "commented");
    Keysweep::new(repo.path())
        .args(["scan"])
        .run()
        .expect_code(0);
    Keysweep::new(repo.path())
        .args(["config", "init"])
        .run()
        .expect_code(2);
    std::fs::write(
        repo.path().join(".keysweep.yaml"),
        format!("{text}\nallowlists: {{}}\n"),
    )
    .expect("write");
    let run = Keysweep::new(repo.path())
        .args(["scan"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr.contains(".keysweep.yaml") && run.stderr.contains("allowlists"),
        "{}",
        run.stderr
    );
}

/// The `pre-commit` executable from PyPI (tests/requirements.txt), or `None` after printing why;
/// with `KEYSWEEP_REQUIRE_PYTHON=1` a missing one fails the test.
fn pre_commit_exe() -> Option<std::path::PathBuf> {
    let candidates = crate::fix::python_bin()
        .map(|b| b.join("pre-commit"))
        .into_iter()
        .chain(std::env::var_os("PATH").into_iter().flat_map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("pre-commit"))
                .collect::<Vec<_>>()
        }));
    for c in candidates {
        if Command::new(&c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(c);
        }
    }
    assert!(
        std::env::var_os("KEYSWEEP_REQUIRE_PYTHON").is_none_or(|v| v != "1"),
        "KEYSWEEP_REQUIRE_PYTHON=1 but the pre-commit package is not installed"
    );
    eprintln!("SKIPPED: pre-commit (PyPI) is not installed");
    None
}

#[test]
fn pre_commit_framework_try_repo_refuses_a_staged_secret_in_both_stages() {
    let Some(pre_commit) = pre_commit_exe() else {
        return;
    };
    let this_repo = env!("CARGO_MANIFEST_DIR");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_keysweep"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let home = tempfile::tempdir().expect("temp dir");
    let mut project = TestRepo::new();
    project.commit("init", &[("app.py", "x = 1\n")]);
    let remote = TestRepo::bare();
    let url = remote.path().to_str().expect("utf-8").to_string();
    project.git(&["remote", "add", "origin", &url]);
    project.git(&["push", "-q", "origin", "main"]);
    let run = |args: &[&str]| {
        let out = Command::new(&pre_commit)
            .args(args)
            .current_dir(project.path())
            .env("PATH", &path)
            .env("PRE_COMMIT_HOME", home.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "A")
            .env("GIT_AUTHOR_EMAIL", "a@example.com")
            .env("GIT_COMMITTER_NAME", "A")
            .env("GIT_COMMITTER_EMAIL", "a@example.com")
            .output()
            .expect("pre-commit runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    // pre-commit stage: the staged secret is refused.
    project.write("app.py", format!("x = 1\n{}", secret(50)));
    project.git(&["add", "app.py"]);
    let (ok, out) = run(&[
        "try-repo",
        this_repo,
        "keysweep",
        "--hook-stage",
        "pre-commit",
    ]);
    assert!(!ok, "{out}");
    assert!(out.contains("app.py:2"), "{out}");
    // pre-push stage: the range comes in PRE_COMMIT_FROM_REF / PRE_COMMIT_TO_REF.
    project.git(&["commit", "-q", "-m", "leak"]);
    let from = project.git(&["rev-parse", "origin/main"]);
    let to = project.head();
    let pre_push = |to: &str| {
        run(&[
            "try-repo",
            this_repo,
            "keysweep-pre-push",
            "--hook-stage",
            "pre-push",
            "--from-ref",
            &from,
            "--to-ref",
            to,
        ])
    };
    let (ok, out) = pre_push(&to);
    assert!(!ok, "{out}");
    assert!(out.contains("app.py"), "{out}");
    // A clean range passes.
    let (ok, out) = pre_push(&from);
    assert!(ok, "{out}");
}

#[test]
fn range_walk_stops_at_the_boundary_even_with_a_skewed_committer_date() {
    let mut repo = TestRepo::new();
    repo.commit("root", &[("README.md", "r\n")]);
    let base = repo.commit("base", &[("f.env", &secret(60))]);
    // An excluded tip dated long before its parent (clock skew): the walk must still paint the
    // base uninteresting, or the base's secret would be reported as new in the range.
    repo.write("old.txt", "o\n");
    repo.git(&["add", "old.txt"]);
    let out = repo
        .git_command(&["commit", "-q", "-m", "skewed"])
        .env("GIT_COMMITTER_DATE", "1000000000 +0000")
        .output()
        .expect("git runs");
    assert!(out.status.success());
    let skewed = repo.head();
    repo.git(&["checkout", "-q", &base]);
    let tip = repo.commit("tip", &[("new.txt", "n\n")]);
    let range = format!("{skewed}..{tip}");
    let run = Keysweep::new(repo.path())
        .args([
            "scan",
            "--history-only",
            "--format",
            "json",
            "--range",
            &range,
        ])
        .run()
        .expect_code(0);
    assert_eq!(run.json().len(), 0, "{}", run.stdout);
}
