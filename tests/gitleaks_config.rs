//! `--config FILE.toml`: a gitleaks configuration, written here in gitleaks' documented format,
//! translated into keysweep rules and allow lists, through the real binary.

use std::fs;
use std::path::Path;

use crate::util::cmd::Keysweep;

const CONFIG: &str = r#"
title = "acme secret scanning"

[allowlist]
description = "global allow list"
paths = ['''(^|/)vendor/''']
stopwords = ["notsecret"]

[[rules]]
id = "acme-internal-token"
description = "Acme internal API token"
regex = '''\b(acme_[a-z0-9]{32})\b'''
secretGroup = 1
entropy = 3.0
keywords = ["acme_"]
tags = ["internal"]

  [[rules.allowlists]]
  description = "the all-zero token of the docs"
  regexes = ['''^acme_0{32}$''']
  paths = ['''^fixtures/''']

[[rules]]
id = "AcmeDeployKey"
description = "Acme deploy key"
regex = '''(?i)deploy_key\s*=\s*["']([A-Z0-9]{24})["']'''
keywords = ["deploy_key"]
path = '''\.cfg$'''
severity = "high"
"#;

const TOKEN: &str = "acme_k3v9w2q8z7m1x4p0t6y5u3r2e8w9q1a4";
const DEPLOY: &str = "K3V9W2Q8Z7M1X4P0T6Y5U3R2";

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
    fs::write(p, text).expect("write");
}

/// `keysweep scan tree --config gitleaks.toml --format json` plus `extra`, expecting findings.
fn scan_with_config(dir: &Path, extra: &[&str]) -> crate::util::cmd::Run {
    Keysweep::new(dir)
        .args([
            "scan",
            "tree",
            "--config",
            "gitleaks.toml",
            "--format",
            "json",
        ])
        .args(extra)
        .run()
        .expect_code(1)
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "gitleaks.toml", CONFIG);
    let tokens = format!(
        "a = {TOKEN}\nb = acme_00000000000000000000000000000000\nc = acme_notsecretnotsecretnotsecretnotse\n"
    );
    write(dir.path(), "tree/app.py", &tokens);
    write(dir.path(), "tree/fixtures/app.py", &tokens);
    write(dir.path(), "tree/vendor/lib.py", &tokens);
    write(
        dir.path(),
        "tree/deploy.cfg",
        &format!("deploy_key = \"{DEPLOY}\"\n"),
    );
    write(
        dir.path(),
        "tree/deploy.py",
        &format!("deploy_key = \"{DEPLOY}\"\n"),
    );
    dir
}

#[test]
fn gitleaks_rules_and_allow_lists_are_translated() {
    let dir = setup();
    let run = scan_with_config(dir.path(), &["--no-default-rules"]);
    let mut got: Vec<(String, String, String)> = run
        .json()
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap_or_default().to_string(),
                f["path"].as_str().unwrap_or_default().to_string(),
                f["secret"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    got.sort();
    // The zero token (rule regex), the stop word, fixtures/ (rule path), vendor/ (global path)
    // and the .py deploy key (the rule's `path` is .cfg only) are not reported.
    assert_eq!(
        got,
        [
            (
                "gitleaks.acme-internal-token".to_string(),
                "app.py".to_string(),
                TOKEN.to_string()
            ),
            (
                "gitleaks.acmedeploykey".to_string(),
                "deploy.cfg".to_string(),
                DEPLOY.to_string()
            ),
        ],
        "{}",
        run.describe
    );
    // The rule name is gitleaks' description; the unknown key is named on stderr.
    assert!(
        run.stdout.contains("Acme internal API token"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("warning:")
            && run.stderr.contains("AcmeDeployKey")
            && run.stderr.contains("unknown key `severity`"),
        "{}",
        run.stderr
    );
}

#[test]
fn gitleaks_rules_run_beside_the_builtin_rules() {
    let dir = setup();
    write(
        dir.path(),
        "tree/more.py",
        "GITHUB_TOKEN = \"ghp_Z8y7X6w5V4u3T2s1R0q9P8o7N6m5L4k3J2i1\"\n",
    );
    let run = scan_with_config(dir.path(), &[]);
    let rules: Vec<String> = run
        .json()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        rules.iter().any(|r| r.starts_with("github.pat")),
        "{rules:?}"
    );
    assert!(
        rules.iter().any(|r| r == "gitleaks.acme-internal-token"),
        "{rules:?}"
    );
}

#[test]
fn a_broken_gitleaks_config_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "bad.toml", "[[rules]\nid = \"x\"\n");
    write(dir.path(), "tree/a.txt", "nothing\n");
    let run = Keysweep::new(dir.path())
        .args(["scan", "tree", "--config", "bad.toml"])
        .run()
        .expect_code(2);
    assert!(run.stderr.contains("bad.toml"), "{}", run.stderr);
    write(
        dir.path(),
        "bad-regex.toml",
        "[[rules]]\nid = \"x\"\nregex = '''(unclosed'''\n",
    );
    let run = Keysweep::new(dir.path())
        .args(["scan", "tree", "--config", "bad-regex.toml"])
        .run()
        .expect_code(2);
    assert!(run.stderr.contains("gitleaks.x"), "{}", run.stderr);
}
