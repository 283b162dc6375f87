//! Context labels (`context`: test, docs, example or null) with the shipped rules through the real
//! binary: labels from the path and from the value, severity capped at low, labelled findings
//! listed after the others and never dropped; and the detection shapes that came with them
//! (percent-encoded URL passwords, paired credentials, two-line name/value pairs, Paystack keys).

use std::fs;
use std::path::Path;

use base64::Engine;
use serde_json::Value;

use crate::util::cmd::Keysweep;

/// A synthetic 32-character API key value (not a credential).
const KEY: &str = "3ZCrHEQqV0CxuD9Rvhhu1DSgnvNBkzOx";

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
    fs::write(p, text).expect("write");
}

/// `keysweep scan . --format json` with the shipped rules in `dir` (not a git repository).
fn scan(dir: &Path) -> Vec<Value> {
    Keysweep::new(dir)
        .args(["scan", ".", "--format", "json", "--quiet"])
        .run()
        .expect_code(1)
        .json()
}

/// `keysweep scan -` on `text` with the shipped rules.
fn scan_stdin(text: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = Keysweep::new(dir.path())
        .args(["scan", "-", "--format", "json", "--quiet"])
        .stdin(text.as_bytes())
        .run();
    match run.code {
        0 => Vec::new(),
        _ => run.expect_code(1).json(),
    }
}

/// One string field of every finding, in order.
fn field<'a>(findings: &'a [Value], key: &str) -> Vec<&'a str> {
    findings
        .iter()
        .map(|f| f[key].as_str().unwrap_or_default())
        .collect()
}

fn by_path<'a>(findings: &'a [Value], path: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no finding at {path}: {findings:#?}"))
}

#[test]
fn path_labels_cap_severity_and_come_last() {
    let dir = tempfile::tempdir().expect("tempdir");
    let line = format!("API_KEY = \"{KEY}\"\n");
    for rel in [
        "app/settings.py",
        "tests/test_api.py",
        "app/test_views.py",
        "docs/setup.md",
        "README.rst",
        "examples/client.py",
        ".env.example",
    ] {
        write(dir.path(), rel, &line);
    }
    let findings = scan(dir.path());
    assert_eq!(findings.len(), 7, "{findings:#?}");
    for (path, context) in [
        ("app/settings.py", Value::Null),
        ("tests/test_api.py", "test".into()),
        ("app/test_views.py", "test".into()),
        ("docs/setup.md", "docs".into()),
        ("README.rst", "docs".into()),
        ("examples/client.py", "example".into()),
        (".env.example", "example".into()),
    ] {
        let f = by_path(&findings, path);
        assert_eq!(f["context"], context, "{path}: {f:#?}");
        let want = if context.is_null() { "high" } else { "low" };
        assert_eq!(f["severity"], want, "{path}: {f:#?}");
    }
    // The unlabelled finding first, then the labelled ones (by path).
    assert_eq!(findings[0]["path"], "app/settings.py");
    assert!(findings[1..].iter().all(|f| !f["context"].is_null()));
}

#[test]
fn human_report_lists_labelled_findings_after_real_ones_with_their_label() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "a_tests/conftest.py",
        &format!("API_KEY = \"{KEY}\"\n"),
    );
    write(
        dir.path(),
        "z_app/config.py",
        "PASSWORD = \"1^YX0wzH4B45\"\n", // medium, no context
    );
    let run = Keysweep::new(dir.path())
        .args(["scan", ".", "--quiet"])
        .run()
        .expect_code(1);
    let real = run.stdout.find("generic.password.assignment");
    let labelled = run.stdout.find("LOW [test]");
    assert!(
        real.is_some() && labelled.is_some() && real < labelled,
        "{}",
        run.stdout
    );
}

fn jwt(payload: &str) -> String {
    let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.Qx7pRt2Lm9aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY",
        e(r#"{"alg":"HS256","typ":"JWT"}"#),
        e(payload)
    )
}

#[test]
fn content_labels_expired_jwts_documented_values_and_local_urls() {
    let expired = jwt(r#"{"sub":"svc-billing","exp":1500000000}"#);
    let live = jwt(r#"{"sub":"svc-billing","exp":4102444800}"#);
    let text = format!(
        "TOKEN_A = \"{expired}\"\nTOKEN_B = \"{live}\"\n\
         DATABASE_URL=postgres://app:Zr8kq2LmPw7x@localhost:5432/app\n\
         REPLICA_URL=postgres://app:Qm4vX9tLw2Rz@db.example.com:5432/app\n\
         PRIMARY_URL=postgres://app:Wn7rT2kPq9Xs@pg-primary.acme.io:5432/app\n"
    );
    let findings = scan_stdin(&text);
    let find = |secret: &str| {
        findings
            .iter()
            .find(|f| f["secret"] == secret)
            .unwrap_or_else(|| panic!("{secret} not found: {findings:#?}"))
    };
    assert_eq!(find(&expired)["context"], "test");
    assert_eq!(find(&expired)["severity"], "low");
    assert_eq!(find(&live)["context"], Value::Null);
    assert_eq!(find(&live)["severity"], "medium");
    assert_eq!(find("Zr8kq2LmPw7x")["context"], "test");
    // A random-looking password on a documentation host is reported (labelled), not dropped.
    assert_eq!(find("Qm4vX9tLw2Rz")["context"], "example");
    assert_eq!(find("Qm4vX9tLw2Rz")["severity"], "low");
    assert_eq!(find("Wn7rT2kPq9Xs")["context"], Value::Null);
    assert_eq!(find("Wn7rT2kPq9Xs")["severity"], "high");
    // Every finding carries the key, null or not.
    assert!(findings.iter().all(|f| f.get("context").is_some()));
}

#[test]
fn percent_encoded_url_passwords_are_decoded_for_the_checks_only() {
    let findings = scan_stdin(
        "A=postgres://app:h7%23Qp9%40vLx2@db.acme.io/app\n\
         B=postgres://app:pass%77ord@db.acme.io/app\n\
         C=mysql2://app:%24%7BDB_PASS%7D@db.acme.io/app\n\
         D=timescale://tsdb:Lk3wQ8zRm5Vt@ts.acme.io:5432/metrics\n",
    );
    let secrets = field(&findings, "secret");
    // Reported as written (what a purge must replace); "password" and "${DB_PASS}" are not.
    assert_eq!(
        secrets,
        ["h7%23Qp9%40vLx2", "Lk3wQ8zRm5Vt"],
        "{findings:#?}"
    );
}

#[test]
fn paired_credentials_are_one_finding_with_the_id_as_context() {
    let findings = scan_stdin(
        "AWS_ACCESS_KEY_ID=AKIA7AGYGTDVR5P72ZUO\n\
         AWS_SECRET_ACCESS_KEY=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\n\
         client = Client(\"SK5e55dde2c42ff9453a879fe9d8a27f8e\", \"b5dt1qzh2sPaGZHVcnBVHDebFOUQWNke\")\n",
    );
    let got: Vec<(&str, &str, &str)> = findings
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap_or_default(),
                f["secret"].as_str().unwrap_or_default(),
                f["paired_id"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "aws.access-key-pair",
                "aoI24NvoYhjfsbxB3zgsQYJjhMKOTigiow8eC1No",
                "AKIA7AGYGTDVR5P72ZUO"
            ),
            (
                "twilio.api-key-pair",
                "b5dt1qzh2sPaGZHVcnBVHDebFOUQWNke",
                "SK5e55dde2c42ff9453a879fe9d8a27f8e"
            ),
        ],
        "{findings:#?}"
    );
    // An id alone is still its own finding, without a pair.
    let alone = scan_stdin("AWS_ACCESS_KEY_ID=AKIA7AGYGTDVR5P72ZUO\n");
    assert_eq!(alone.len(), 1, "{alone:#?}");
    assert_eq!(alone[0]["rule_id"], "aws.access-key-id");
    assert_eq!(alone[0]["paired_id"], Value::Null);
}

#[test]
fn name_value_pairs_over_two_lines_are_found() {
    let findings = scan_stdin(&format!(
        "        env:\n        - name: INTERNAL_API_TOKEN\n          value: \"{KEY}\"\n\
         <key>ApiToken</key>\n<string>0zsaYfAQRglcjmvCP9bPpz1i8vOhNA9M</string>\n\
         buildConfigField \"String\", \"MAPS_API_KEY\", \"\\\"u1vnDFUwG98HKxJyMFVjN1a13kZvKPOr\\\"\"\n\
         - name: CACHE_KEY\n  value: zu1ED32tTTbhUskzl14pnnX5J2NOJrOE\n"
    ));
    let secrets = field(&findings, "secret");
    assert_eq!(
        secrets,
        [
            KEY,
            "0zsaYfAQRglcjmvCP9bPpz1i8vOhNA9M",
            "u1vnDFUwG98HKxJyMFVjN1a13kZvKPOr"
        ],
        "{findings:#?}"
    );
}

#[test]
fn paystack_keys_are_not_stripe_keys() {
    let findings = scan_stdin(
        "PAYSTACK_SECRET_KEY=sk_live_d109c913f1a63205cb3f46ee7045259c1a7e5a1b\n\
         STRIPE_SECRET_KEY=sk_live_j1RhVuX7T4pmsT2lbxgLQukN\n",
    );
    let rules = field(&findings, "rule_id");
    assert_eq!(
        rules,
        ["paystack.secret-key.live", "stripe.secret-key.live"],
        "{findings:#?}"
    );
    let steps = findings[0]["remediation_steps"].to_string();
    assert!(
        steps.contains("paystack") && !steps.contains("stripe"),
        "{steps}"
    );
}
