//! `keysweep merge`: per-repository JSON reports joined into one, deduplicated by fingerprint,
//! with per-repository counts (issue 8: the last job of an organisation sweep).

use serde_json::Value;

use crate::util::cmd::Keysweep;
use crate::util::repo::{token, TestRepo};

/// A repository holding `tokens`, one file each, scanned to `<dir>/<name>.json`.
fn report(dir: &std::path::Path, name: &str, tokens: &[u32]) -> std::path::PathBuf {
    let mut repo = TestRepo::new();
    let files: Vec<(String, String)> = tokens
        .iter()
        .map(|n| (format!("conf/{n}.env"), format!("T={}\n", token(*n))))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    repo.commit("add", &refs);
    let run = repo.scan().run().expect_code(1);
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, &run.stdout).expect("write report");
    path
}

#[test]
fn overlapping_secret_is_counted_once_with_both_repositories() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = report(dir.path(), "api", &[950, 951]);
    let b = report(dir.path(), "web", &[950, 952]);
    let run = Keysweep::new(dir.path())
        .args([
            "merge".into(),
            format!("octo/api={}", a.display()),
            b.display().to_string(),
        ])
        .run()
        .expect_code(1);
    let merged: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(merged["totals"]["secrets"], 3, "{merged:#}");
    assert_eq!(merged["totals"]["findings"], 4);
    assert_eq!(merged["totals"]["repositories"], 2);
    let shared: Vec<&Value> = merged["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .filter(|s| s["repositories"].as_array().is_some_and(|r| r.len() == 2))
        .collect();
    assert_eq!(shared.len(), 1, "{merged:#}");
    assert_eq!(
        shared[0]["repositories"],
        serde_json::json!(["octo/api", "web"])
    );
    assert_eq!(shared[0]["findings"], 2);
    assert_eq!(shared[0]["locations"].as_array().map(Vec::len), Some(2));
    for r in merged["repositories"].as_array().expect("repositories") {
        assert_eq!(r["secrets"], 2, "{r:#}");
        assert_eq!(r["findings"], 2);
        assert_eq!(r["by_severity"]["high"], 2);
    }
    for n in [950, 951, 952] {
        assert!(!run.stdout.contains(&token(n)), "merge masks secrets");
    }

    let md = Keysweep::new(dir.path())
        .args(["merge", "--format", "markdown"])
        .args([&a, &b])
        .run()
        .expect_code(1)
        .stdout;
    assert!(
        md.contains("**3** distinct secret(s) in **4** finding(s) across **2** repositories"),
        "{md}"
    );
    assert!(md.contains("| api, web |"), "{md}");
}

#[test]
fn merge_of_clean_reports_exits_0_and_a_bad_report_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clean = dir.path().join("clean.json");
    std::fs::write(&clean, "[]\n").expect("write");
    let run = Keysweep::new(dir.path())
        .args(["merge"])
        .args([&clean])
        .run()
        .expect_code(0);
    let merged: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(merged["totals"]["repositories"], 1);
    assert_eq!(merged["totals"]["secrets"], 0);

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "[{\"rule_id\": \"x\"}]\n").expect("write");
    let run = Keysweep::new(dir.path())
        .args(["merge"])
        .args([&clean, &bad])
        .run()
        .expect_code(2);
    assert!(
        run.stderr.contains("bad.json") && run.stderr.contains("fingerprint"),
        "{}",
        run.stderr
    );
}
