//! Secrets inside encoded text (https://github.com/keysweep/keysweep/issues/11, item 5), with the
//! shipped rules through the real binary: base64 in Kubernetes Secrets (also a
//! `.dockerconfigjson` holding docker `auth` values: two levels), `Authorization: Basic` headers,
//! percent-encoded and `\x` / `\u` escaped tokens. Each is reported at the encoded text, with the
//! decoded secret and what was decoded; random or harmless base64 gives nothing, and a large base64
//! blob is scanned in bounded time (a generous kill timeout, no timing assertion).

use std::fs;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use crate::hostile::keysweep;
use crate::util::repo::{token, TestRepo};

/// Synthetic AWS-format key pair and database password (not credentials).
const AWS_ID: &str = "AKIAQ3EGRT7VXM2PZK4N";
const AWS_SECRET: &str = "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";
const DB_PASSWORD: &str = "Xk9vQ2mL7pRt4sWz";

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

/// Scans `dir` (the shipped rules, JSON) and returns the findings; no findings is an empty list.
fn scan(dir: &Path) -> Vec<Value> {
    let out = keysweep(dir, &["scan", ".", "--format", "json", "--quiet"]);
    match out.code {
        0 => Vec::new(),
        _ => serde_json::from_str(&out.expect_code(1).stdout).expect("a JSON report"),
    }
}

fn write(dir: &Path, rel: &str, text: &str) {
    fs::write(dir.join(rel), text).expect("write");
}

/// `n` pseudo-random bytes (xorshift from `seed`).
fn random_bytes(mut x: u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn find<'a>(findings: &'a [Value], rule: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| f["rule_id"] == rule)
        .unwrap_or_else(|| panic!("no {rule} finding in {findings:#?}"))
}

fn decoded(f: &Value) -> Vec<&str> {
    f["decoded"]
        .as_array()
        .unwrap_or_else(|| panic!("no decoded list: {f:#?}"))
        .iter()
        .map(|v| v.as_str().expect("a string"))
        .collect()
}

#[test]
fn kubernetes_secret_data_is_decoded_and_reported_at_the_encoded_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gh = token(11);
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\ntype: Opaque\ndata:\n  GITHUB_TOKEN: {}\n  AWS_ACCESS_KEY_ID: {}\n  AWS_SECRET_ACCESS_KEY: {}\n  DATABASE_URL: {}\n",
        b64(&gh),
        b64(AWS_ID),
        b64(AWS_SECRET),
        b64(&format!("postgres://app:{DB_PASSWORD}@db.internal:5432/app")),
    );
    write(dir.path(), "secret.yaml", &manifest);
    let findings = scan(dir.path());
    let f = find(&findings, "github.pat.classic");
    assert_eq!(f["secret"], gh.as_str());
    assert_eq!(decoded(f), ["base64"]);
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(7), Some(17))
    );
    assert_eq!(
        f["match"],
        b64(&gh).as_str(),
        "the match is the encoded text"
    );
    let pair = find(&findings, "aws.access-key-pair");
    assert_eq!(pair["secret"], AWS_SECRET);
    assert_eq!(pair["paired_id"], AWS_ID);
    assert_eq!(decoded(pair), ["base64"]);
    let url = find(&findings, "url.password");
    assert_eq!(url["secret"], DB_PASSWORD);
    assert_eq!(url["line"], 10);
    // The base64 text itself is not reported again by a generic rule.
    assert!(
        findings.iter().all(|f| f["decoded"].is_array()),
        "{findings:#?}"
    );
}

#[test]
fn dockerconfigjson_inside_a_secret_is_decoded_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        r#"{{"auths":{{"registry.acme.io":{{"auth":"{}"}}}}}}"#,
        b64("ci-bot:Vq8Lm2Xr9Tz4Wp7Kn3")
    );
    write(
        dir.path(),
        "pull-secret.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
            b64(&config)
        ),
    );
    // The same config.json on its own: one level.
    write(dir.path(), "config.json", &config);
    let findings = scan(dir.path());
    let nested = findings
        .iter()
        .find(|f| f["path"] == "pull-secret.yaml")
        .expect("a finding in the manifest");
    assert_eq!(nested["rule_id"], "docker.config-auth");
    assert_eq!(nested["secret"], "Vq8Lm2Xr9Tz4Wp7Kn3");
    assert_eq!(nested["paired_id"], "ci-bot");
    assert_eq!(decoded(nested), ["base64", "base64"]);
    assert_eq!(nested["line"], 5);
    let plain = findings
        .iter()
        .find(|f| f["path"] == "config.json")
        .expect("a finding in config.json");
    assert_eq!(plain["secret"], "Vq8Lm2Xr9Tz4Wp7Kn3");
    assert_eq!(decoded(plain), ["base64"]);
    assert_eq!(
        nested["fingerprint"], plain["fingerprint"],
        "the fingerprint is the decoded secret's"
    );
}

#[test]
fn basic_auth_header_is_reported_as_its_password_and_placeholders_are_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "deploy.sh",
        &format!(
            "curl -H \"Authorization: Basic {}\" https://api.acme.io/\ncurl -H \"Authorization: Basic {}\" https://api.acme.io/\n",
            b64("deploy:Q8t2wYpLm3Rk9Vx"),
            b64("user:changeme"),
        ),
    );
    let findings = scan(dir.path());
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f["rule_id"], "generic.authorization-header");
    assert_eq!(f["secret"], "Q8t2wYpLm3Rk9Vx");
    assert_eq!(f["paired_id"], "deploy");
    assert_eq!(decoded(f), ["base64"]);
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(1), Some(31))
    );
}

#[test]
fn percent_encoded_and_escaped_tokens_are_found_where_they_are_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gh = token(12);
    let query = format!(
        "https://hooks.acme.io/notify?token={}&x=1\n",
        gh.replace('_', "%5F")
    );
    write(dir.path(), "hook.txt", &query);
    let hex: String = gh[..6].bytes().map(|b| format!("\\x{b:02x}")).collect();
    let uni: String = gh.bytes().map(|b| format!("\\u{b:04x}")).collect();
    write(
        dir.path(),
        "token.js",
        &format!("const a = \"{hex}{}\";\nconst b = '{uni}';\n", &gh[6..]),
    );
    let findings = scan(dir.path());
    let at = |path: &str, line: u64| {
        findings
            .iter()
            .find(|f| f["path"] == path && f["line"] == line)
            .unwrap_or_else(|| panic!("nothing at {path}:{line}: {findings:#?}"))
    };
    let p = at("hook.txt", 1);
    assert_eq!(
        (p["secret"].as_str(), decoded(p)),
        (Some(gh.as_str()), vec!["percent"])
    );
    assert_eq!(p["column"], 36);
    let x = at("token.js", 1);
    assert_eq!(
        (x["secret"].as_str(), decoded(x)),
        (Some(gh.as_str()), vec!["escape"])
    );
    assert_eq!(x["column"], 12);
    let u = at("token.js", 2);
    assert_eq!(
        (u["secret"].as_str(), decoded(u)),
        (Some(gh.as_str()), vec!["escape"])
    );
    assert_eq!(findings.len(), 3, "{findings:#?}");
}

#[test]
fn random_and_harmless_base64_gives_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Pseudo-random bytes, as in an embedded image.
    let image = random_bytes(0x2545_F491_4F6C_DD1D, 4000);
    write(
        dir.path(),
        "assets.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\ndata:\n  logo.png: {}\n  readme.txt: {}\n",
            STANDARD.encode(&image),
            b64("This is a harmless readme for the app; nothing secret here.")
        ),
    );
    write(
        dir.path(),
        "page.html",
        &format!(
            "<img src=\"data:image/png;base64,{}\">\n<p>100% sure: a%20b</p>\n",
            STANDARD.encode(&image)
        ),
    );
    assert_eq!(scan(dir.path()), Vec::<Value>::new());
}

#[test]
fn decoded_secret_in_history_is_purged_by_its_encoded_text() {
    let mut repo = TestRepo::new();
    let gh = token(13);
    let manifest = format!("kind: Secret\ndata:\n  token: {}\n", b64(&gh));
    repo.commit("add secret", &[("k8s/secret.yaml", &manifest)]);
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("expr.txt");
    let out = keysweep(
        repo.path(),
        &[
            "purge-plan",
            ".",
            "--out",
            plan.to_str().expect("a UTF-8 path"),
        ],
    );
    assert!(
        out.code == 1,
        "purge-plan exit {}: {}",
        out.code,
        out.stdout
    );
    let expressions = fs::read_to_string(&plan).expect("the expressions file");
    assert!(
        expressions.contains(&format!("literal:{}==>", b64(&gh))),
        "{expressions}"
    );
}

#[test]
fn large_base64_blobs_are_scanned_in_bounded_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = STANDARD.encode(random_bytes(0x9E37_79B9_7F4A_7C15, 6_000_000));
    write(dir.path(), "blob.b64", &text);
    write(
        dir.path(),
        "image-secret.yaml",
        &format!(
            "kind: Secret\ndata:\n  image.png: {text}\n  token: {}\n",
            b64(&token(14))
        ),
    );
    let out = keysweep(dir.path(), &["scan", ".", "--format", "json", "--quiet"]).expect_code(1);
    assert_eq!(out.secrets(), [token(14)]);
}

#[test]
fn decoding_past_the_cap_is_warned_about_and_what_came_before_is_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 1,200 harmless 1 KB values (1.2 MB decoded, past the 1 MiB cap), a token first.
    let filler = "harmless configuration text, nothing secret here. ".repeat(20);
    let mut manifest = format!("kind: Secret\ndata:\n  token: {}\n", b64(&token(15)));
    for i in 0..1200 {
        manifest.push_str(&format!("  note{i}: {}\n", b64(&filler)));
    }
    write(dir.path(), "notes-secret.yaml", &manifest);
    let out = keysweep(dir.path(), &["scan", ".", "--format", "json"]).expect_code(1);
    assert_eq!(out.secrets(), [token(15)]);
    out.stderr_has("decoding cap");

    // Under the cap, no such warning.
    let small = tempfile::tempdir().expect("tempdir");
    write(
        small.path(),
        "s.yaml",
        &format!("kind: Secret\ndata:\n  token: {}\n", b64(&token(15))),
    );
    let out = keysweep(small.path(), &["scan", ".", "--format", "json"]).expect_code(1);
    assert_eq!(out.secrets(), [token(15)]);
    assert!(!out.stderr.contains("decoding cap"), "{}", out.stderr);
}
