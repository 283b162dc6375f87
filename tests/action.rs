//! The GitHub Action end to end (issue 8): its entry script `scripts/action-entry.sh scan` runs the
//! real binary under a simulated runner (`GITHUB_EVENT_NAME`, a webhook payload of GitHub's
//! documented shape at `GITHUB_EVENT_PATH`, `GITHUB_WORKSPACE`, `GITHUB_OUTPUT`,
//! `GITHUB_STEP_SUMMARY`, `RUNNER_TEMP`) in a clone of a real bare "origin" (so
//! `refs/remotes/origin/*` exist, as after `actions/checkout` with `fetch-depth: 0`), after real
//! `git push`es. Findings are told apart by the file each secret was put in: the Action masks
//! secrets everywhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::util::repo::{token, TestRepo};
use crate::util::TEST_RULES;

const ZERO: &str = "0000000000000000000000000000000000000000";

/// A bare origin and a developer clone that pushes to it.
pub struct Remote {
    pub origin: TestRepo,
    pub dev: TestRepo,
}

impl Remote {
    /// An origin whose `main` holds one clean commit, pushed from `dev`.
    pub fn new() -> Remote {
        let origin = TestRepo::bare();
        let mut dev = TestRepo::new();
        dev.commit("readme", &[("README.md", "hello\n")]);
        dev.git(&[
            "remote",
            "add",
            "origin",
            &origin.path().display().to_string(),
        ]);
        dev.git(&["push", "-q", "origin", "main"]);
        Remote { origin, dev }
    }

    /// `git push origin args...` from the developer clone.
    pub fn push(&self, args: &[&str]) {
        let mut full = vec!["push", "-q", "origin"];
        full.extend_from_slice(args);
        self.dev.git(&full);
    }

    /// What actions/checkout with `fetch-depth: 0` leaves: a clone of origin with every branch
    /// as `refs/remotes/origin/*`, tags, and `branch` checked out at its tip.
    pub fn checkout(&self, branch: &str) -> Checkout {
        self.checkout_with(branch, &[])
    }

    /// A checkout with extra `git clone` options (e.g. `--depth 1`).
    pub fn checkout_with(&self, branch: &str, clone_args: &[&str]) -> Checkout {
        let dir = tempfile::tempdir().expect("a temp dir");
        let work = dir.path().join("workspace");
        let url = format!("file://{}", self.origin.path().display());
        let mut args = vec!["clone", "-q", "--no-checkout"];
        args.extend_from_slice(clone_args);
        args.extend([url.as_str(), work.to_str().expect("utf-8 temp path")]);
        self.dev.git(&args);
        let checkout = Checkout { dir, work };
        checkout.git(&[
            "checkout",
            "-q",
            "-B",
            branch,
            &format!("refs/remotes/origin/{branch}"),
        ]);
        checkout
    }
}

/// The runner's checkout, its temp directory and files.
pub struct Checkout {
    dir: tempfile::TempDir,
    pub work: PathBuf,
}

impl Checkout {
    /// Runs git in the workspace.
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.work)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} in {}: {}",
            self.work.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs the Action's entry script for `event` with `payload` and the given inputs.
    pub fn run(&self, event: &str, payload: Option<Value>, inputs: &[(&str, &str)]) -> ActionRun {
        let tmp = self.dir.path();
        let runner_temp = tmp.join("runner-temp");
        std::fs::create_dir_all(&runner_temp).expect("mkdir");
        let rules = tmp.join("rules.yaml");
        std::fs::write(&rules, TEST_RULES).expect("write rules");
        let output = tmp.join("github-output");
        let summary = tmp.join("step-summary");
        std::fs::write(&output, "").expect("touch");
        std::fs::write(&summary, "").expect("touch");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/action-entry.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(&script)
            .arg("scan")
            .current_dir(tmp)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", tmp)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("KEYSWEEP_BIN", env!("CARGO_BIN_EXE_keysweep"))
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", event)
            .env("GITHUB_WORKSPACE", &self.work)
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_REPOSITORY", "octo-org/app")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("RUNNER_TEMP", &runner_temp)
            .env(
                "INPUT_ARGS",
                format!("--no-default-rules --rules {}", rules.display()),
            );
        if let Some(payload) = payload {
            let path = tmp.join("event.json");
            std::fs::write(&path, serde_json::to_vec_pretty(&payload).expect("json"))
                .expect("write event");
            cmd.env("GITHUB_EVENT_PATH", path);
        }
        for (k, v) in inputs {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("bash runs the entry script");
        let outputs: BTreeMap<String, String> = std::fs::read_to_string(&output)
            .expect("GITHUB_OUTPUT")
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ActionRun {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            summary: std::fs::read_to_string(&summary).expect("summary"),
            outputs,
        }
    }
}

/// What one run of the Action left.
pub struct ActionRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub summary: String,
    pub outputs: BTreeMap<String, String>,
}

impl ActionRun {
    /// Panics with everything the run printed unless it exited with `code`.
    pub fn expect_code(self, code: i32) -> ActionRun {
        assert_eq!(
            self.code, code,
            "exit code {} (expected {code})\n--- stdout\n{}\n--- stderr\n{}\n--- summary\n{}",
            self.code, self.stdout, self.stderr, self.summary
        );
        self
    }

    /// The `file=` of each error annotation, sorted.
    pub fn annotated_files(&self) -> Vec<String> {
        let mut files: Vec<String> = self
            .stdout
            .lines()
            .filter(|l| l.starts_with("::error "))
            .filter_map(|l| {
                l.split_once("file=")
                    .map(|(_, rest)| rest.split(',').next().unwrap_or("").to_string())
            })
            .collect();
        files.sort();
        files
    }

    /// The SARIF file named by the `sarif-file` output.
    pub fn sarif(&self) -> Value {
        let path = self
            .outputs
            .get("sarif-file")
            .unwrap_or_else(|| panic!("no sarif-file output: {:?}", self.outputs));
        serde_json::from_slice(&std::fs::read(path).expect("the SARIF file exists"))
            .expect("the SARIF file is JSON")
    }
}

/// A push payload as GitHub sends it (the fields of the documented `push` webhook).
pub fn push_payload(git_ref: &str, before: &str, after: &str, forced: bool) -> Value {
    json!({
        "ref": git_ref,
        "before": before,
        "after": after,
        "base_ref": null,
        "created": before == ZERO,
        "deleted": after == ZERO,
        "forced": forced,
        "compare": format!("https://github.com/octo-org/app/compare/{}...{}", &before[..12], &after[..12]),
        "commits": [],
        "head_commit": if after == ZERO { Value::Null } else { json!({ "id": after, "message": "change", "distinct": true }) },
        "repository": {
            "id": 1296269, "name": "app", "full_name": "octo-org/app", "private": false,
            "default_branch": "main", "owner": { "login": "octo-org", "type": "Organization" }
        },
        "pusher": { "name": "ada", "email": "ada@example.com" },
        "sender": { "login": "ada", "type": "User" }
    })
}

/// A pull_request payload as GitHub sends it (the fields of the documented webhook).
pub fn pull_request_payload(number: u64, head: (&str, &str), base: (&str, &str)) -> Value {
    let repo = json!({ "id": 1296269, "name": "app", "full_name": "octo-org/app" });
    json!({
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "state": "open",
            "title": "Add feature",
            "head": { "label": format!("octo-org:{}", head.0), "ref": head.0, "sha": head.1, "repo": repo },
            "base": { "label": format!("octo-org:{}", base.0), "ref": base.0, "sha": base.1, "repo": repo },
            "merged": false
        },
        "before": null,
        "after": head.1,
        "repository": repo,
        "sender": { "login": "ada", "type": "User" }
    })
}

fn secret_file(n: u32) -> String {
    format!("# settings\nDEBUG = False\nTOKEN = '{}'\n", token(n))
}

#[test]
fn push_adding_a_secret_fails_with_an_annotation_at_its_file_and_line() {
    let mut remote = Remote::new();
    let before = remote.dev.head();
    remote.dev.commit("docs", &[("docs/a.md", "text\n")]);
    let added = remote
        .dev
        .commit("settings", &[("app/settings.py", &secret_file(801))]);
    remote.push(&["main"]);
    let ci = remote.checkout("main");
    let run = ci
        .run(
            "push",
            Some(push_payload("refs/heads/main", &before, &added, false)),
            &[],
        )
        .expect_code(1);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("an error annotation:\n{}", run.stdout));
    assert!(
        line.starts_with(
            "::error file=app/settings.py,line=3,col=10,title=keysweep%3A Test token (t.gh)::"
        ),
        "{line}"
    );
    assert!(line.contains(&added), "the commit is named: {line}");
    for text in [&run.stdout, &run.stderr, &run.summary] {
        assert!(!text.contains(&token(801)), "secret leaked:\n{text}");
    }
    assert_eq!(run.outputs["findings"], "1");
    let sarif = run.sarif();
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "app/settings.py"
    );
    assert_eq!(result["properties"]["commit"], added.as_str());
    assert!(
        !serde_json::to_string(&sarif)
            .expect("json")
            .contains(&token(801)),
        "the SARIF file masks the secret"
    );
    assert!(
        run.summary.contains("| 1 | high | t.gh | `ghp_")
            && run.summary.contains("`app/settings.py`"),
        "summary row:\n{}",
        run.summary
    );
    assert!(
        run.summary.contains(&format!("`{}`", &added[..12])),
        "summary names the commit:\n{}",
        run.summary
    );
}

#[test]
fn clean_push_passes_although_the_branch_already_holds_a_secret() {
    let mut remote = Remote::new();
    remote
        .dev
        .commit("old", &[("legacy/settings.py", &secret_file(802))]);
    remote.push(&["main"]);
    let before = remote.dev.head();
    let after = remote.dev.commit("clean", &[("src/lib.py", "x = 1\n")]);
    remote.push(&["main"]);
    let ci = remote.checkout("main");
    let run = ci
        .run(
            "push",
            Some(push_payload("refs/heads/main", &before, &after, false)),
            &[],
        )
        .expect_code(0);
    assert_eq!(run.outputs["findings"], "0");
    assert!(run.annotated_files().is_empty(), "{}", run.stdout);
    assert!(run.summary.contains("No secrets found"), "{}", run.summary);
    assert_eq!(run.sarif()["runs"][0]["results"], json!([]));
}

#[test]
fn new_branch_push_scans_only_the_commits_no_other_branch_has() {
    let mut remote = Remote::new();
    remote
        .dev
        .commit("old", &[("legacy/old.py", &secret_file(803))]);
    remote.push(&["main"]);
    remote.dev.git(&["checkout", "-q", "-b", "feature"]);
    remote
        .dev
        .commit("one", &[("feature/one.py", &secret_file(804))]);
    let tip = remote
        .dev
        .commit("two", &[("feature/two.py", &secret_file(805))]);
    remote.push(&["feature"]);
    let ci = remote.checkout("feature");
    let run = ci
        .run(
            "push",
            Some(push_payload("refs/heads/feature", ZERO, &tip, false)),
            &[],
        )
        .expect_code(1);
    assert_eq!(
        run.annotated_files(),
        vec!["feature/one.py", "feature/two.py"]
    );
    assert_eq!(run.outputs["findings"], "2");
}

#[test]
fn new_branch_without_any_other_branch_scans_its_whole_history() {
    let mut remote = Remote::new();
    let tip = remote.dev.commit("one", &[("a.py", &secret_file(806))]);
    remote.dev.git(&["branch", "-q", "first"]);
    remote.push(&["first"]);
    // A checkout whose remote has only `first` (the origin's main is deleted first).
    remote
        .origin
        .git(&["symbolic-ref", "HEAD", "refs/heads/first"]);
    remote.push(&["--delete", "main"]);
    let ci = remote.checkout("first");
    let run = ci
        .run(
            "push",
            Some(push_payload("refs/heads/first", ZERO, &tip, false)),
            &[],
        )
        .expect_code(1);
    assert_eq!(run.annotated_files(), vec!["a.py"]);
}

#[test]
fn force_push_scans_what_is_new_whether_or_not_the_old_tip_is_still_there() {
    let mut remote = Remote::new();
    let base = remote.dev.head();
    remote.dev.git(&["checkout", "-q", "-b", "feature"]);
    let old = remote
        .dev
        .commit("old attempt", &[("attempt/old.py", &secret_file(807))]);
    remote.push(&["feature"]);
    // A runner that checked out before the force push still has the old tip.
    let early = remote.checkout("feature");
    remote.dev.git(&["reset", "-q", "--hard", &base]);
    let new = remote
        .dev
        .commit("new attempt", &[("attempt/new.py", &secret_file(808))]);
    remote.push(&["--force", "feature"]);
    let payload = push_payload("refs/heads/feature", &old, &new, true);

    // A fresh checkout, where the old tip can still be fetched from the remote: before..after.
    let fresh = remote.checkout("feature");
    let run = fresh.run("push", Some(payload.clone()), &[]).expect_code(1);
    assert_eq!(run.annotated_files(), vec!["attempt/new.py"]);
    assert!(run.stderr.contains("commits in"), "{}", run.stderr);

    // Once the remote has dropped the old tip: what no other branch has.
    remote
        .origin
        .git(&["reflog", "expire", "--expire=now", "--all"]);
    remote.origin.git(&["gc", "-q", "--prune=now"]);
    let fresh = remote.checkout("feature");
    let run = fresh.run("push", Some(payload.clone()), &[]).expect_code(1);
    assert_eq!(run.annotated_files(), vec!["attempt/new.py"]);
    assert!(run.stderr.contains("forced push"), "{}", run.stderr);

    // The old tip present: before..after.
    early.git(&["fetch", "-q", "--force", "origin"]);
    early.git(&[
        "checkout",
        "-q",
        "-B",
        "feature",
        "refs/remotes/origin/feature",
    ]);
    let run = early.run("push", Some(payload), &[]).expect_code(1);
    assert_eq!(run.annotated_files(), vec!["attempt/new.py"]);
}

#[test]
fn pull_request_is_scanned_from_the_merge_base_to_its_head() {
    let mut remote = Remote::new();
    remote
        .dev
        .commit("old", &[("legacy/old.py", &secret_file(809))]);
    remote.push(&["main"]);
    remote.dev.git(&["checkout", "-q", "-b", "feature"]);
    let head = remote
        .dev
        .commit("pr work", &[("pr/change.py", &secret_file(810))]);
    remote.push(&["feature"]);
    // main moves on after the branch point: its new commit is not the PR's.
    remote.dev.git(&["checkout", "-q", "main"]);
    let base = remote
        .dev
        .commit("main moves", &[("main/later.py", &secret_file(811))]);
    remote.push(&["main"]);
    let ci = remote.checkout("feature");
    for event in ["pull_request", "pull_request_target"] {
        let run = ci
            .run(
                event,
                Some(pull_request_payload(7, ("feature", &head), ("main", &base))),
                &[],
            )
            .expect_code(1);
        assert_eq!(run.annotated_files(), vec!["pr/change.py"], "{event}");
        assert!(run.summary.contains("merge-base.."), "{}", run.summary);
    }
}

#[test]
fn schedule_sweeps_the_whole_history_and_the_working_tree() {
    let mut remote = Remote::new();
    remote.dev.commit("add", &[("gone.py", &secret_file(812))]);
    remote.dev.remove_and_commit("remove", &["gone.py"]);
    remote.dev.commit("keep", &[("kept.py", &secret_file(813))]);
    remote.push(&["main"]);
    let ci = remote.checkout("main");
    std::fs::write(ci.work.join("local.py"), secret_file(814)).expect("write");
    for event in ["schedule", "workflow_dispatch"] {
        let run = ci.run(event, None, &[]).expect_code(1);
        assert_eq!(
            run.annotated_files(),
            vec!["gone.py", "kept.py", "local.py"],
            "{event}"
        );
        assert_eq!(run.outputs["findings"], "3");
        assert!(run.summary.contains("full sweep"), "{}", run.summary);
    }
}

#[test]
fn outputs_inputs_and_nothing_to_scan() {
    let mut remote = Remote::new();
    let before = remote.dev.head();
    let after = remote.dev.commit("add", &[("a.py", &secret_file(815))]);
    remote.push(&["main"]);
    let ci = remote.checkout("main");
    let payload = push_payload("refs/heads/main", &before, &after, false);
    let sarif = ci.dir.path().join("out/results.sarif");
    let report = ci.dir.path().join("out/keysweep.json");
    let run = ci
        .run(
            "push",
            Some(payload.clone()),
            &[
                ("INPUT_FAIL_ON_FINDINGS", "false"),
                ("INPUT_SARIF_FILE", sarif.to_str().expect("utf-8")),
                ("INPUT_JSON_FILE", report.to_str().expect("utf-8")),
            ],
        )
        .expect_code(0);
    assert_eq!(run.outputs["findings"], "1");
    assert_eq!(run.outputs["sarif-file"], sarif.display().to_string());
    assert_eq!(run.outputs["json-file"], report.display().to_string());
    let json: Vec<Value> =
        serde_json::from_slice(&std::fs::read(&report).expect("json report")).expect("json");
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["repository"], "octo-org/app");
    assert_ne!(json[0]["secret"], token(815).as_str(), "masked");

    // The default SARIF path is in RUNNER_TEMP.
    let run = ci.run("push", Some(payload), &[]).expect_code(1);
    assert!(
        run.outputs["sarif-file"].ends_with("runner-temp/keysweep.sarif"),
        "{:?}",
        run.outputs
    );

    // A push that moved nothing, and a deleted branch: exit 0, an empty but valid SARIF file.
    for payload in [
        push_payload("refs/heads/main", &after, &after, false),
        push_payload("refs/heads/gone", &after, ZERO, false),
    ] {
        let run = ci.run("push", Some(payload), &[]).expect_code(0);
        assert_eq!(run.outputs["findings"], "0");
        assert!(run.summary.contains("nothing"), "{}", run.summary);
        assert_eq!(run.sarif()["runs"][0]["results"], json!([]));
    }

    // A bad input is an error, not a pass.
    let run = ci
        .run(
            "push",
            Some(push_payload("refs/heads/main", &before, &after, false)),
            &[("INPUT_FAIL_ON_FINDINGS", "maybe")],
        )
        .expect_code(2);
    assert!(run.stderr.contains("maybe"), "{}", run.stderr);
}

#[test]
fn shallow_checkout_is_deepened_or_fails_naming_fetch_depth() {
    let mut remote = Remote::new();
    let before = remote.dev.head();
    remote.dev.commit("one", &[("one.py", "x = 1\n")]);
    let after = remote.dev.commit("two", &[("two.py", &secret_file(816))]);
    remote.push(&["main"]);
    let payload = push_payload("refs/heads/main", &before, &after, false);

    let ci = remote.checkout_with("main", &["--depth", "1"]);
    assert!(ci.work.join(".git/shallow").exists());
    let run = ci.run("push", Some(payload.clone()), &[]).expect_code(1);
    assert_eq!(run.annotated_files(), vec!["two.py"]);
    assert!(!ci.work.join(".git/shallow").exists(), "deepened");

    // No origin to deepen from.
    let ci = remote.checkout_with("main", &["--depth", "1"]);
    ci.git(&["remote", "set-url", "origin", "/nonexistent/origin.git"]);
    let run = ci.run("push", Some(payload), &[]).expect_code(2);
    assert!(run.stderr.contains("fetch-depth: 0"), "{}", run.stderr);
}

#[test]
fn scan_format_github_annotates_and_writes_the_job_summary() {
    let mut repo = TestRepo::new();
    repo.commit("add", &[("app/settings.py", &secret_file(817))]);
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = dir.path().join("summary.md");
    let run = repo
        .scan_as("github")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .run()
        .expect_code(1);
    assert!(
        run.stdout
            .starts_with("::error file=app/settings.py,line=3,col=10,"),
        "{}",
        run.stdout
    );
    let md = std::fs::read_to_string(&summary).expect("the summary is written");
    assert!(
        md.contains("`app/settings.py`") && md.contains("| high | 1 | 1 |"),
        "{md}"
    );
    for text in [&run.stdout, &md] {
        assert!(!text.contains(&token(817)), "masked:\n{text}");
    }
    // --show-secrets does not unmask workflow commands.
    let run = repo
        .scan_as("github")
        .args(["--show-secrets"])
        .env("GITHUB_STEP_SUMMARY", "")
        .run()
        .expect_code(1);
    assert!(!run.stdout.contains(&token(817)), "{}", run.stdout);
}
