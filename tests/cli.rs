//! The command line end to end: the real binary on real temp directories. Engine behaviour is tested
//! with a small rule file of the test's own, so these tests do not move when shipped rules change.

use std::fs;
use std::path::Path;

use crate::util::cmd::{path_secrets, Keysweep};

/// A synthetic token in GitHub's classic PAT format (not a real credential).
const TOKEN: &str = "ghp_Z8y7X6w5V4u3T2s1R0q9P8o7N6m5L4k3J2i1";
const TOKEN2: &str = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";

use crate::util::TEST_RULES as RULES;

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
    fs::write(p, bytes).expect("write");
}

/// A temp dir holding `rules.yaml` and a `tree/` to scan.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "rules.yaml", RULES.as_bytes());
    fs::create_dir_all(dir.path().join("tree")).expect("mkdir");
    dir
}

/// `keysweep scan tree` with the test's own rules only, plus `extra` arguments.
fn scan_tree(dir: &Path, extra: &[&str]) -> Keysweep {
    Keysweep::new(dir)
        .args([
            "scan",
            "tree",
            "--rules",
            "rules.yaml",
            "--no-default-rules",
        ])
        .args(extra)
}

fn scan_json(dir: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    scan_tree(dir, &["--format", "json"])
        .args(extra)
        .run()
        .json()
}

#[test]
fn finding_record_has_the_contract_keys_and_exit_code_1() {
    let dir = setup();
    write(
        dir.path(),
        "tree/app/config.py",
        format!("x = 1\nTOKEN = '{TOKEN}'\n").as_bytes(),
    );
    let run = scan_tree(dir.path(), &["-f", "json"]).run().expect_code(1);
    let findings = run.json();
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    let f = &findings[0];
    for key in [
        "rule_id",
        "rule_name",
        "severity",
        "confidence",
        "secret",
        "match",
        "path",
        "line",
        "column",
        "commit",
        "author",
        "date",
        "blob_id",
        "fingerprint",
        "remediation",
    ] {
        assert!(f.get(key).is_some(), "missing key {key} in {f}");
    }
    assert_eq!(f["rule_id"], "t.gh");
    assert_eq!(f["secret"], TOKEN);
    assert_eq!(f["path"], "app/config.py");
    assert_eq!(f["line"], 2);
    assert_eq!(f["column"], 10);
    assert_eq!(f["commit"], serde_json::Value::Null);
    assert_eq!(f["remediation"], "Revoke it.");
    // The blob id is git's: `git hash-object` of the file content.
    let expected = std::process::Command::new("git")
        .args(["hash-object", "tree/app/config.py"])
        .current_dir(dir.path())
        .output()
        .expect("git runs");
    assert_eq!(
        f["blob_id"],
        String::from_utf8_lossy(&expected.stdout).trim()
    );
}

#[test]
fn clean_tree_exits_0_and_jsonl_prints_one_record_per_line() {
    let dir = setup();
    write(dir.path(), "tree/a.txt", b"nothing here\n");
    scan_tree(dir.path(), &[]).run().expect_code(0);
    write(
        dir.path(),
        "tree/b.txt",
        format!("{TOKEN}\n{TOKEN2}\n").as_bytes(),
    );
    let run = scan_tree(dir.path(), &["-f", "jsonl"]).run().expect_code(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
        assert_eq!(v["path"], "b.txt");
    }
}

#[test]
fn human_output_masks_secrets_unless_asked() {
    let dir = setup();
    write(
        dir.path(),
        "tree/a.env",
        format!("TOKEN={TOKEN}\n").as_bytes(),
    );
    let run = scan_tree(dir.path(), &[]).run().expect_code(1);
    assert!(run.stdout.contains("a.env:1:7"), "{}", run.stdout);
    assert!(run.stdout.contains("t.gh"), "{}", run.stdout);
    assert!(
        !run.stdout.contains(TOKEN),
        "secret shown in full:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("Revoke it."), "{}", run.stdout);
    let run = scan_tree(dir.path(), &["--show-secrets"])
        .run()
        .expect_code(1);
    assert!(run.stdout.contains(TOKEN), "{}", run.stdout);
    let run = scan_tree(dir.path(), &["-f", "json", "--redact"])
        .run()
        .expect_code(1);
    assert!(!run.stdout.contains(TOKEN), "{}", run.stdout);
}

#[test]
fn binary_files_are_skipped_and_counted_invalid_utf8_and_crlf_are_scanned() {
    let dir = setup();
    write(
        dir.path(),
        "tree/blob.bin",
        format!("\x7fELF\0\0\0{TOKEN}").as_bytes(),
    );
    let mut latin1 = b"caf\xe9 \xff\xfe TOKEN=".to_vec();
    latin1.extend_from_slice(TOKEN.as_bytes());
    latin1.extend_from_slice(b"\r\n");
    write(dir.path(), "tree/latin1.txt", &latin1);
    write(
        dir.path(),
        "tree/crlf.txt",
        format!("a\r\nb\r\nkey: {TOKEN2}\r\n").as_bytes(),
    );
    let run = scan_tree(dir.path(), &["-f", "json"]).run().expect_code(1);
    let found = path_secrets(&run.json());
    assert_eq!(
        found,
        vec![
            ("crlf.txt".into(), TOKEN2.into()),
            ("latin1.txt".into(), TOKEN.into())
        ],
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("1 binary skipped"), "{}", run.stderr);
    let crlf = run
        .json()
        .into_iter()
        .find(|f| f["path"] == "crlf.txt")
        .expect("crlf finding");
    assert_eq!(crlf["line"], 3);
}

#[test]
fn huge_lines_and_multi_megabyte_files_are_scanned() {
    let dir = setup();
    let mut big = "var a=1;".repeat(600_000); // ~4.8 MB on one line
    big.push_str(&format!("var t=\"{TOKEN}\";"));
    big.push_str(&"b=2;".repeat(10_000));
    write(dir.path(), "tree/bundle.min.js", big.as_bytes());
    let found = path_secrets(&scan_json(dir.path(), &[]));
    assert_eq!(found, vec![("bundle.min.js".into(), TOKEN.into())]);
}

#[test]
fn files_over_max_file_size_are_skipped_with_a_warning() {
    let dir = setup();
    write(
        dir.path(),
        "tree/big.txt",
        format!("{}{TOKEN}\n", "x".repeat(5000)).as_bytes(),
    );
    let run = scan_tree(dir.path(), &["--max-file-size", "4K"])
        .run()
        .expect_code(0);
    assert!(
        run.stderr.contains("big.txt") && run.stderr.contains("max-file-size"),
        "{}",
        run.stderr
    );
}

#[test]
fn gitignore_is_respected_unless_no_ignore() {
    let dir = setup();
    write(dir.path(), "tree/.gitignore", b"secret.txt\n");
    write(dir.path(), "tree/secret.txt", TOKEN.as_bytes());
    write(dir.path(), "tree/.env", format!("T={TOKEN2}\n").as_bytes());
    let found = path_secrets(&scan_json(dir.path(), &[]));
    assert_eq!(
        found,
        vec![(".env".into(), TOKEN2.into())],
        "hidden files are scanned, ignored ones not"
    );
    let found = path_secrets(&scan_json(dir.path(), &["--no-ignore"]));
    assert_eq!(
        found,
        vec![
            (".env".into(), TOKEN2.into()),
            ("secret.txt".into(), TOKEN.into())
        ]
    );
}

#[test]
fn stdin_is_scanned_with_dash() {
    let dir = setup();
    let run = Keysweep::new(dir.path())
        .args([
            "scan",
            "-",
            "--rules",
            "rules.yaml",
            "--no-default-rules",
            "-f",
            "json",
        ])
        .stdin(format!("export T={TOKEN}\n").as_bytes())
        .run()
        .expect_code(1);
    assert_eq!(path_secrets(&run.json()), vec![("-".into(), TOKEN.into())]);
}

#[test]
fn missing_path_is_a_clear_error_with_exit_code_2() {
    let dir = setup();
    let run = Keysweep::new(dir.path())
        .args(["scan", "does/not/exist"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr.contains("does/not/exist") && run.stderr.contains("No such file"),
        "{}",
        run.stderr
    );
}

#[test]
fn unreadable_file_is_reported_and_the_scan_goes_on_with_exit_code_2() {
    // /proc/self/mem is a regular file whose read at offset 0 fails (EIO), even for root, so this
    // exercises the read-error path on any Linux machine.
    let dir = setup();
    let run = Keysweep::new(dir.path())
        .args([
            "scan",
            "/proc/self/mem",
            "--rules",
            "rules.yaml",
            "--no-default-rules",
        ])
        .run()
        .expect_code(2);
    assert!(
        run.stderr.contains("error:") && run.stderr.contains("mem"),
        "{}",
        run.stderr
    );
}

#[test]
fn broken_rule_file_is_an_error_naming_the_file() {
    let dir = setup();
    write(
        dir.path(),
        "bad.yaml",
        b"rules:\n- id: x\n  name: [unclosed\n",
    );
    let run = Keysweep::new(dir.path())
        .args(["scan", "tree", "--rules", "bad.yaml", "--no-default-rules"])
        .run()
        .expect_code(2);
    assert!(run.stderr.contains("bad.yaml"), "{}", run.stderr);
    write(
        dir.path(),
        "typo.yaml",
        RULES.replace("severity: high", "severty: high").as_bytes(),
    );
    let run = Keysweep::new(dir.path())
        .args(["rules", "check", "typo.yaml"])
        .run()
        .expect_code(1);
    assert!(
        run.stdout.contains("typo.yaml") && run.stdout.contains("severty"),
        "{}",
        run.stdout
    );
    let run = Keysweep::new(dir.path())
        .args(["scan", "tree", "--rules", "missing.yaml"])
        .run()
        .expect_code(2);
    assert!(run.stderr.contains("missing.yaml"), "{}", run.stderr);
}

#[test]
fn rules_check_lists_every_problem() {
    let dir = setup();
    let broken = RULES
        .replace(
            "'ghp_short'",
            "'x ghp_Z8y7X6w5V4u3T2s1R0q9P8o7N6m5L4k3J2i1'",
        )
        .replace("remediation: t\n", "remediation: nope\n");
    write(dir.path(), "r.yaml", broken.as_bytes());
    let run = Keysweep::new(dir.path())
        .args(["rules", "check", "r.yaml"])
        .run()
        .expect_code(1);
    assert!(
        run.stdout.contains("negative_examples[0] is found"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("remediation \"nope\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("2 problem(s)"), "{}", run.stdout);
}

#[test]
fn config_file_disables_rules_and_allowlists_paths_and_secrets() {
    let dir = setup();
    write(
        dir.path(),
        "tree/a.py",
        format!("A = '{TOKEN}'\n").as_bytes(),
    );
    write(
        dir.path(),
        "tree/fixtures/b.py",
        format!("B = '{TOKEN2}'\n").as_bytes(),
    );
    write(
        dir.path(),
        "tree/.keysweep.yaml",
        b"allowlist:\n  paths: ['^fixtures/']\n",
    );
    assert_eq!(
        path_secrets(&scan_json(dir.path(), &[])),
        vec![("a.py".into(), TOKEN.into())]
    );
    write(
        dir.path(),
        "tree/.keysweep.yaml",
        b"allowlist:\n  secrets: ['^ghp_Z8y7']\n",
    );
    assert_eq!(
        path_secrets(&scan_json(dir.path(), &[])),
        vec![("fixtures/b.py".into(), TOKEN2.into())]
    );
    write(
        dir.path(),
        "tree/.keysweep.yaml",
        b"disable_rules: [t.gh]\n",
    );
    scan_tree(dir.path(), &[]).run().expect_code(0);
    write(dir.path(), "tree/.keysweep.yaml", b"disable_rule: [t.gh]\n");
    let run = scan_tree(dir.path(), &[]).run().expect_code(2);
    assert!(
        run.stderr.contains(".keysweep.yaml") && run.stderr.contains("disable_rule"),
        "{}",
        run.stderr
    );
}

#[test]
fn inline_allow_comment_and_baseline_suppress_findings() {
    let dir = setup();
    write(
        dir.path(),
        "tree/a.py",
        format!("A = '{TOKEN}'  # keysweep:allow\nB = '{TOKEN2}'\n").as_bytes(),
    );
    let run = scan_tree(dir.path(), &["-f", "json"]).run().expect_code(1);
    assert_eq!(
        path_secrets(&run.json()),
        vec![("a.py".into(), TOKEN2.into())]
    );
    write(dir.path(), "baseline.json", run.stdout.as_bytes());
    scan_tree(dir.path(), &["--baseline", "baseline.json"])
        .run()
        .expect_code(0);
}

#[test]
fn same_content_at_two_paths_is_reported_at_both() {
    let dir = setup();
    write(dir.path(), "tree/a.env", format!("T={TOKEN}\n").as_bytes());
    write(
        dir.path(),
        "tree/copy/a.env",
        format!("T={TOKEN}\n").as_bytes(),
    );
    let run = scan_tree(dir.path(), &["-f", "json"]).run().expect_code(1);
    assert_eq!(
        path_secrets(&run.json()),
        vec![
            ("a.env".into(), TOKEN.into()),
            ("copy/a.env".into(), TOKEN.into())
        ]
    );
    assert!(
        run.stderr.contains("1 blobs"),
        "the content is matched once: {}",
        run.stderr
    );
}
