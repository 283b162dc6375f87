//! The report of a real repository: the human report has one block per distinct secret, however
//! many commits carry it, says whether it is still at HEAD, and gives numbered steps; JSON carries
//! the same steps as data (issue 4).

use serde_json::Value;

use crate::util::cmd::Keysweep;
use crate::util::repo::{token, TestRepo};

/// A repository where `kept` is committed, then its file edited twice (the secret stays), and
/// `gone` is committed and deleted again.
fn repo_with_kept_and_deleted_secret() -> (TestRepo, String, String) {
    let (kept, gone) = (token(401), token(402));
    let mut repo = TestRepo::new();
    repo.commit(
        "add config",
        &[("app/config.py", &format!("TOKEN = '{kept}'\nA = 1\n"))],
    );
    repo.commit(
        "edit config",
        &[("app/config.py", &format!("TOKEN = '{kept}'\nA = 2\n"))],
    );
    repo.commit(
        "edit again",
        &[("app/config.py", &format!("TOKEN = '{kept}'\nA = 3\n"))],
    );
    repo.commit("add old", &[("old.env", &format!("GH={gone}\n"))]);
    repo.remove_and_commit("drop old", &["old.env"]);
    (repo, kept, gone)
}

#[test]
fn human_report_has_one_block_per_secret_with_head_status_and_steps() {
    let (repo, kept, gone) = repo_with_kept_and_deleted_secret();
    let run = Keysweep::new(repo.path())
        .args(["scan", "."])
        .run()
        .expect_code(1);
    let out = &run.stdout;
    let blocks: Vec<&str> = out
        .split("\n\n")
        .filter(|b| b.trim_start().starts_with('['))
        .collect();
    assert_eq!(blocks.len(), 2, "one block per secret:\n{out}");
    assert!(
        !out.contains(&kept) && !out.contains(&gone),
        "secrets are masked:\n{out}"
    );
    let kept_block = blocks
        .iter()
        .find(|b| b.contains("app/config.py"))
        .expect("kept secret");
    assert!(kept_block.contains("still at HEAD: yes"), "{kept_block}");
    let gone_block = blocks
        .iter()
        .find(|b| b.contains("old.env"))
        .expect("deleted secret");
    assert!(gone_block.contains("still at HEAD: no"), "{gone_block}");
    for block in &blocks {
        let steps: Vec<&str> = block
            .lines()
            .map(str::trim_start)
            .filter(|l| l.len() > 2 && l.as_bytes()[0].is_ascii_digit() && &l[1..3] == ". ")
            .collect();
        assert_eq!(steps.len(), 4, "rotate, env, purge, verify:\n{block}");
        assert!(steps[0].starts_with("1. Rotate"), "{block}");
        assert!(steps[2].starts_with("3. Purge"), "{block}");
        assert!(steps[3].starts_with("4. Verify"), "{block}");
    }
}

#[test]
fn json_carries_structured_steps_and_head_status() {
    let (repo, kept, gone) = repo_with_kept_and_deleted_secret();
    let findings = Keysweep::new(repo.path())
        .args(["scan", ".", "-f", "json"])
        .run()
        .expect_code(1)
        .json();
    let find = |s: &str| -> &Value {
        findings
            .iter()
            .find(|f| f["secret"] == s)
            .unwrap_or_else(|| panic!("{s} in {findings:#?}"))
    };
    assert_eq!(findings.len(), 2, "{findings:#?}");
    assert_eq!(find(&kept)["at_head"], true);
    assert_eq!(find(&gone)["at_head"], false);
    for f in &findings {
        let kinds: Vec<&str> = f["remediation_steps"]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .map(|s| s["kind"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            kinds,
            ["rotate", "move-to-env", "purge-history", "verify"],
            "{f:#}"
        );
        assert_eq!(f["remediation_steps"]["purge_needed"], true);
    }
}
