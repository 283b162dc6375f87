//! The human report (issue 10): one compact block per distinct secret, true about the files on
//! disk, steps once per remediation kind, a summary; colour only when asked or on a terminal;
//! everything from the scanned input escaped (issue 13, item 11). Snapshots are taken on a fixed
//! repository (fixed authors and dates, so commit ids are stable).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::cmd::Keysweep;
use crate::util::repo::{token, TestRepo};

/// Rules of these tests: a token after `GH=`, a `TOKEN = '…'` assignment (the same value in two
/// files is found by two rules), and a key block with a remediation of its own.
const RULES: &str = r#"
rules:
- id: t.gh
  name: Test token
  keywords: [ghp_]
  pattern: '\bGH=(?P<secret>ghp_[A-Za-z0-9]{36})\b'
  severity: high
  confidence: high
  remediation: t
  examples: ['GH=ghp_Z8y7X6w5V4u3T2s1R0q9P8o7N6m5L4k3J2i1']
  negative_examples: ['ghp_short']
- id: t.assign
  name: Token assignment
  keywords: [TOKEN]
  pattern: "TOKEN = '(?P<secret>[^'\\n]{20,})'"
  severity: medium
  confidence: medium
  remediation: t
  examples: ["TOKEN = 'abcdefghijklmnopqrstuvwxyz'"]
  negative_examples: ["TOKEN = 'short'"]
- id: t.key
  name: Test private key
  keywords: ['-----BEGIN TEST PRIVATE KEY-----']
  pattern: '(?P<secret>-----BEGIN TEST PRIVATE KEY-----[A-Za-z0-9+/=\s]+-----END TEST PRIVATE KEY-----)'
  severity: critical
  confidence: high
  remediation: k
  examples: ["-----BEGIN TEST PRIVATE KEY-----\nQUJDREVGR0g=\n-----END TEST PRIVATE KEY-----"]
  negative_examples: ['-----BEGIN TEST PRIVATE KEY-----']
remediations:
- id: t
  summary: Revoke it.
  unlocks: The test service.
  rotate: [{step: Revoke it in the console.}]
  breaks: [Test clients.]
  env: {var: TEST_TOKEN}
- id: k
  summary: Replace the key pair.
  unlocks: Logging in as the deploy user.
  rotate: [{step: Make a new key pair and remove the old public key.}]
  breaks: [Deploys with the old key.]
  env: {var: DEPLOY_KEY}
"#;

const KEY: &str = "-----BEGIN TEST PRIVATE KEY-----\nTUlJRXZRSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NCS2N3Z2dTakFnRUFBb0lCQVFD\nN2xYbU9aZ3FwS3Z0b2tlbg==\n-----END TEST PRIVATE KEY-----\n";

/// A fixed repository: `kept` is committed in `app/config.py` (found by `t.assign`), which is then
/// moved to `app/settings.py` (still tracked), and in `deploy/ci.env` (found by `t.gh`); `gone` is committed in `old.env`, which is then deleted; a
/// key block stays in `deploy/key.pem`; `loose` is only in an untracked file.
fn fixed_repo() -> (TestRepo, PathBuf) {
    let mut repo = TestRepo::new();
    let rules = repo
        .path()
        .parent()
        .expect("temp dir")
        .join("report-rules.yaml");
    std::fs::write(&rules, RULES).expect("write rules");
    repo.commit(
        "add config",
        &[
            (
                "app/config.py",
                &format!("DEBUG = False\nTOKEN = '{}'\n", token(501)),
            ),
            ("old.env", &format!("GH={}\n", token(502))),
            ("deploy/ci.env", &format!("GH={}\n", token(501))),
            ("deploy/key.pem", KEY),
        ],
    );
    repo.git(&["mv", "app/config.py", "app/settings.py"]);
    std::fs::remove_file(repo.path().join("old.env")).expect("rm old.env");
    repo.commit_staged_all("move config, drop old.env");
    repo.write("notes.txt", format!("GH={}\n", token(503)));
    (repo, rules)
}

fn scan(repo: &TestRepo, rules: &Path, extra: &[&str]) -> Keysweep {
    let mut args: Vec<std::ffi::OsString> = vec![
        "scan".into(),
        ".".into(),
        "--no-default-rules".into(),
        "--rules".into(),
        rules.into(),
    ];
    args.extend(extra.iter().map(Into::into));
    Keysweep::new(repo.path()).args(args)
}

/// The report with the one varying figure (the time) replaced.
fn stable(report: &str) -> String {
    let re = regex::Regex::new(r"in \d+\.\d\ds\.").expect("regex");
    re.replace_all(report, "in <time>.").into_owned()
}

/// Blocks of the report that describe one secret (they start with `[n]`).
fn secret_blocks(report: &str) -> Vec<&str> {
    report
        .split("\n\n")
        .filter(|b| b.starts_with('['))
        .collect()
}

/// The block that mentions `needle`.
fn block_with<'a>(blocks: &[&'a str], needle: &str) -> &'a str {
    blocks
        .iter()
        .find(|b| b.contains(needle))
        .unwrap_or_else(|| panic!("no block mentions {needle}: {blocks:#?}"))
}

const EXPECTED_PLAIN: &str = include_str!("report_expected/plain.txt");
const EXPECTED_COLOR: &str = include_str!("report_expected/color.txt");

#[test]
fn human_report_snapshot_not_a_terminal() {
    let (repo, rules) = fixed_repo();
    let run = scan(&repo, &rules, &[]).run().expect_code(1);
    let got = stable(&run.stdout);
    if std::env::var_os("KEYSWEEP_BLESS").is_some() {
        // Rewrites the expected file (review the diff); the comparison runs on the next build.
        std::fs::write("tests/report_expected/plain.txt", &got).expect("bless");
        return;
    }
    assert_eq!(got, EXPECTED_PLAIN, "--- got\n{got}");
    assert!(!run.stdout.contains('\u{1b}'), "no colour into a pipe");
    assert!(
        run.stderr.is_empty(),
        "the summary is in the report: {}",
        run.stderr
    );
}

#[test]
fn human_report_snapshot_with_colour_forced() {
    let (repo, rules) = fixed_repo();
    let run = scan(&repo, &rules, &["--color", "always"])
        .run()
        .expect_code(1);
    let got = stable(&run.stdout);
    if std::env::var_os("KEYSWEEP_BLESS").is_some() {
        // Rewrites the expected file (review the diff); the comparison runs on the next build.
        std::fs::write("tests/report_expected/color.txt", &got).expect("bless");
        return;
    }
    assert_eq!(got, EXPECTED_COLOR, "--- got\n{got}");
    // The same text once the styles are stripped.
    let strip = regex::Regex::new("\u{1b}\\[[0-9;]*m").expect("regex");
    assert_eq!(strip.replace_all(&got, ""), EXPECTED_PLAIN);
    let never = scan(&repo, &rules, &["--color", "never"])
        .run()
        .expect_code(1);
    assert!(!never.stdout.contains('\u{1b}'));
    let no_color = scan(&repo, &rules, &[])
        .env("NO_COLOR", "1")
        .run()
        .expect_code(1);
    assert!(!no_color.stdout.contains('\u{1b}'));
}

#[test]
fn blocks_agree_with_the_files_on_disk() {
    let (repo, rules) = fixed_repo();
    let run = scan(&repo, &rules, &[]).run().expect_code(1);
    let out = &run.stdout;
    let blocks = secret_blocks(out);
    assert_eq!(
        blocks.len(),
        4,
        "one block per secret (two rules, one block):\n{out}"
    );
    for block in &blocks {
        assert!(
            !(block.contains("not at HEAD") && block.contains("still")),
            "contradiction:\n{block}"
        );
    }
    let moved = block_with(&blocks, "app/settings.py");
    assert!(moved.contains("still at HEAD, tracked by git"), "{moved}");
    assert!(
        moved.contains("app/config.py:2:10"),
        "introduced there:\n{moved}"
    );
    assert!(
        moved.contains("(rule t.gh;"),
        "named by the more severe rule:\n{moved}"
    );
    assert!(moved.contains("also matched by t.assign"), "{moved}");
    let gone = block_with(&blocks, "old.env");
    assert!(gone.contains("only in history, not at HEAD"), "{gone}");
    let loose = block_with(&blocks, "notes.txt");
    assert!(loose.contains("not tracked by git"), "{loose}");
    let key = block_with(&blocks, "key.pem");
    assert!(key.contains("[TEST PRIVATE KEY sha256:"), "{key}");
    assert!(
        !out.contains("-----BEGIN") && !out.contains("TUlJ"),
        "armour or body shown:\n{out}"
    );
    // "Replace it in …" names the current place, never the path it was introduced at.
    assert!(out.contains("still in app/settings.py:2"), "{out}");
    assert!(!out.contains("still in app/config.py"), "{out}");
    // Steps once per remediation kind, naming the secrets.
    assert_eq!(out.matches("\nSteps ").count(), 2, "{out}");
    assert_eq!(out.matches("1. Rotate").count(), 2, "{out}");
}

#[test]
fn report_length_per_secret_stays_small() {
    let (repo, rules) = fixed_repo();
    let out = scan(&repo, &rules, &[]).run().expect_code(1).stdout;
    for block in secret_blocks(&out) {
        assert!(block.lines().count() <= 6, "block too long:\n{block}");
    }
}

#[test]
fn json_keeps_one_record_per_finding_with_secret_group_steps_and_head_status() {
    let (repo, rules) = fixed_repo();
    let findings = scan(&repo, &rules, &["-f", "json"])
        .run()
        .expect_code(1)
        .json();
    let kept = token(501);
    let of = |s: &str| -> Vec<&Value> { findings.iter().filter(|f| f["secret"] == s).collect() };
    let kept_records = of(&kept);
    let rules_found: std::collections::BTreeSet<&str> = kept_records
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(rules_found, ["t.assign", "t.gh"].into(), "{findings:#?}");
    let groups: std::collections::BTreeSet<&str> = kept_records
        .iter()
        .map(|f| f["secret_group"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(groups.len(), 1, "one group: {kept_records:#?}");
    let all_groups: std::collections::BTreeSet<&str> = findings
        .iter()
        .map(|f| f["secret_group"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(all_groups.len(), 4, "four secrets");
    assert!(kept_records.iter().all(|f| f["at_head"] == true));
    assert!(of(&token(502)).iter().all(|f| f["at_head"] == false));
    for f in &findings {
        for key in [
            "rule_id",
            "secret",
            "path",
            "line",
            "fingerprint",
            "remediation",
        ] {
            assert!(f.get(key).is_some(), "{key} missing in {f:#}");
        }
        let kinds: Vec<&str> = f["remediation_steps"]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .map(|s| s["kind"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(kinds.first(), Some(&"rotate"), "{f:#}");
        assert_eq!(kinds.last(), Some(&"verify"), "{f:#}");
    }
    // With --redact, masks may look alike; the groups stay apart.
    let redacted = scan(&repo, &rules, &["-f", "json", "--redact"])
        .run()
        .expect_code(1)
        .json();
    let redacted_groups: std::collections::BTreeSet<&str> = redacted
        .iter()
        .map(|f| f["secret_group"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(redacted_groups, all_groups);
    assert!(!redacted.iter().any(|f| f["secret"] == kept.as_str()));
}

#[test]
fn explain_prints_the_steps_of_one_rule() {
    let (repo, rules) = fixed_repo();
    let run = Keysweep::new(repo.path())
        .args(["explain", "t.key", "--no-default-rules", "--rules"])
        .args([&rules])
        .run()
        .expect_code(0);
    assert!(
        run.stdout.starts_with("Test private key (t.key)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1. Rotate"), "{}", run.stdout);
    assert!(run.stdout.contains("Make a new key pair"), "{}", run.stdout);
    let scoped = scan(&repo, &rules, &["--explain", "t.key"])
        .run()
        .expect_code(1);
    assert_eq!(secret_blocks(&scoped.stdout).len(), 1, "{}", scoped.stdout);
    assert!(
        scoped.stdout.contains("Make a new key pair"),
        "{}",
        scoped.stdout
    );
    assert!(
        !scoped.stdout.contains("Revoke it in the console"),
        "{}",
        scoped.stdout
    );
    Keysweep::new(repo.path())
        .args(["explain", "no.such-rule"])
        .run()
        .expect_code(2);
}

/// Regression test for issue 13, item 11: file names and secrets with terminal escapes and
/// newlines are shown escaped, in the report and on stderr; JSON keeps non-UTF-8 paths exactly.
#[test]
fn r13_control_characters_from_the_input_are_escaped() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, RULES).expect("rules");
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).expect("mkdir");
    let evil = "evil\u{1b}[2J\u{1b}]0;title\u{7}\n[9] CRITICAL forged line.env";
    std::fs::write(tree.join(evil), format!("GH={}\n", token(511))).expect("evil file");
    std::fs::write(
        tree.join("esc.py"),
        "TOKEN = '\u{1b}[31mred-and-long-enough-secret\u{1b}]0;x\u{7}'\n",
    )
    .expect("esc file");
    let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9.env");
    std::fs::write(tree.join(latin1), format!("GH={}\n", token(512))).expect("latin1 file");
    let run_with = |extra: &[&str]| {
        let mut args: Vec<std::ffi::OsString> = vec![
            "scan".into(),
            "tree".into(),
            "--no-default-rules".into(),
            "--rules".into(),
        ];
        args.push(rules.clone().into());
        args.extend(extra.iter().map(Into::into));
        Keysweep::new(dir.path()).args(args).run()
    };
    let styles = regex::Regex::new("\u{1b}\\[[0-9;]*m").expect("regex");
    for extra in [&[][..], &["--show-secrets"][..], &["--color", "always"][..]] {
        let run = run_with(extra).expect_code(1);
        let plain = styles.replace_all(&run.stdout, "");
        assert!(
            !plain.contains('\u{1b}') && !plain.contains('\u{7}'),
            "{extra:?}:\n{plain}"
        );
        assert!(
            !plain.lines().any(|l| l.starts_with("[9] CRITICAL forged")),
            "forged line:\n{plain}"
        );
        assert!(
            plain.contains("evil\\e[2J\\e]0;title\\x07\\n[9] CRITICAL forged line.env:1:4"),
            "{plain}"
        );
        assert!(plain.contains("caf\\xe9.env:1:4"), "{plain}");
        if extra == ["--show-secrets"] {
            assert!(
                plain.contains("\\e[31mred-and-long-enough-secret\\e]0;x\\x07"),
                "{plain}"
            );
        }
    }
    // A warning naming such a file is escaped too.
    let big = "big\u{1b}[2J\n.txt";
    std::fs::write(tree.join(big), "x".repeat(2048)).expect("big file");
    let run = run_with(&["--max-file-size", "1K"]).expect_code(1);
    assert!(run.stderr.contains("big\\e[2J\\n.txt"), "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);
    // JSON escapes by itself, and keeps the exact bytes of a non-UTF-8 path.
    let findings = run_with(&["-f", "json"]).expect_code(1).json();
    let f = findings
        .iter()
        .find(|f| f["secret"] == token(512).as_str())
        .expect("latin1 finding");
    let bytes: Vec<u8> = f["path_bytes"]
        .as_array()
        .expect("path_bytes")
        .iter()
        .map(|b| b.as_u64().unwrap_or(0) as u8)
        .collect();
    assert_eq!(bytes, b"caf\xe9.env");
    let utf8 = findings
        .iter()
        .find(|f| f["secret"] == token(511).as_str())
        .expect("evil finding");
    assert_eq!(utf8["path"], evil);
    assert!(utf8.get("path_bytes").is_none());
}

#[test]
fn a_bare_repository_is_judged_by_heads_tree() {
    let (repo, rules) = fixed_repo();
    let bare = repo.path().parent().expect("temp dir").join("bare.git");
    repo.git(&[
        "clone",
        "-q",
        "--bare",
        ".",
        bare.to_str().expect("utf-8 temp path"),
    ]);
    let run = Keysweep::new(repo.path())
        .args([
            "scan".as_ref(),
            bare.as_os_str(),
            "--no-default-rules".as_ref(),
        ])
        .args(["--rules".as_ref(), rules.as_os_str()])
        .run()
        .expect_code(1);
    let blocks = secret_blocks(&run.stdout);
    let moved = block_with(&blocks, "app/settings.py");
    assert!(moved.contains("still at HEAD, tracked by git"), "{moved}");
    let gone = block_with(&blocks, "old.env");
    assert!(gone.contains("only in history, not at HEAD"), "{gone}");
    assert!(
        !run.stdout.contains("notes.txt"),
        "untracked files are not in a clone"
    );
}
