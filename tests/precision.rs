//! Precision and recall of the shipped rules as a whole, through the real binary.
//!
//! `tests/fixtures/precision/` is a tree of realistic files that hold no secret: lock files with
//! integrity hashes and checksums, minified bundles, CSS with base64 data URIs, a Django migration,
//! settings that read everything from the environment, placeholders in a README and `.env.example`,
//! `${{ secrets.X }}` in a workflow, Helm values, SHA/UUID constants, public keys and certificates,
//! SOPS-encrypted values. Every finding there is a false positive.
//!
//! The recall test plants generated random secrets under secret-like names in many file types and
//! requires each one to be reported by some rule.

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::cmd::Keysweep;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/precision")
}

/// Every regular file under `dir`, as paths relative to it, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("fixture directory is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).expect("under dir").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// A deterministic generator (splitmix64), so every run plants the same secrets.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize] as char)
            .collect()
    }

    fn base62(&mut self, n: usize) -> String {
        self.pick(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            n,
        )
    }

    fn hex(&mut self, n: usize) -> String {
        self.pick(b"0123456789abcdef", n)
    }

    /// Standard base64 of `n` bytes, with padding.
    fn base64(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let chars = n.div_ceil(3) * 4;
        let pad = (3 - n % 3) % 3;
        let mut s = self.pick(A, chars - pad);
        s.push_str(&"=".repeat(pad));
        s
    }

    /// A generated password: starts with a letter, mixes letters, digits and symbols that need no
    /// quoting in YAML, .env, XML or shell.
    fn password(&mut self, n: usize) -> String {
        let mut s = self.pick(b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz", 1);
        s.push_str(&self.pick(
            b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789!%*+-.=?@^_~",
            n - 1,
        ));
        s
    }
}

/// What to plant: a generated value of one shape.
#[derive(Clone, Copy)]
enum Shape {
    Base62(usize),
    Hex(usize),
    Base64(usize),
    Password(usize),
}

/// `(file, line template, shape)`: `{S}` is replaced by a generated value. Lines for the same file
/// are joined in order. Covers Python, JS, TS, Go, Ruby, Java, PHP, shell, .env, YAML, JSON, TOML,
/// INI, XML, Java properties, Dockerfile and docker-compose.
const PLANTS: &[(&str, &str, Shape)] = &[
    (
        "shop/settings/local.py",
        "PAYMENTS_API_KEY = \"{S}\"",
        Shape::Base62(32),
    ),
    (
        "shop/settings/local.py",
        "conn = connect(host=\"db\", password=\"{S}\")",
        Shape::Password(18),
    ),
    (
        "web/src/client.js",
        "const stripeWebhookSecret = '{S}';",
        Shape::Base62(43),
    ),
    (
        "web/src/api.ts",
        "export const MAPS_TOKEN: string = \"{S}\";",
        Shape::Base62(40),
    ),
    (
        "services/payments/main.go",
        "\tauthToken := \"{S}\"",
        Shape::Hex(40),
    ),
    (
        "services/billing/config.rb",
        "config.api_secret = '{S}'",
        Shape::Base62(32),
    ),
    (
        "backend/src/App.java",
        "  static final String CLIENT_SECRET = \"{S}\";",
        Shape::Base62(40),
    ),
    (
        "scripts/deploy.sh",
        "export REGISTRY_TOKEN=\"{S}\"",
        Shape::Base62(36),
    ),
    (".env", "SENDGRID_API_KEY={S}", Shape::Base62(32)),
    (".env", "DB_PASSWORD={S}", Shape::Password(16)),
    (
        "config/app.yaml",
        "crypto:\n  encryption_key: {S}",
        Shape::Base64(32),
    ),
    (
        "config/app.yaml",
        "database:\n  password: \"{S}\"",
        Shape::Password(14),
    ),
    (
        "config/settings.json",
        "{\"access_token\": \"{S}\", \"debug\": false}",
        Shape::Base62(40),
    ),
    (
        "config/app.toml",
        "[auth]\napi_secret = \"{S}\"",
        Shape::Hex(64),
    ),
    (
        "config/app.ini",
        "[slack]\nsecret_token = {S}",
        Shape::Base62(32),
    ),
    (
        "deploy/web.config",
        "<add key=\"StorageAccountKey\" value=\"{S}\" />",
        Shape::Base64(64),
    ),
    (
        "backend/application.properties",
        "app.jwt.secret={S}",
        Shape::Base62(48),
    ),
    ("Dockerfile", "ENV ALGOLIA_ADMIN_KEY {S}", Shape::Hex(40)),
    (
        "docker-compose.yml",
        "services:\n  web:\n    environment:\n      - WEBHOOK_SECRET={S}",
        Shape::Base62(32),
    ),
    (
        "backend/settings.xml",
        "<server><id>releases</id><password>{S}</password></server>",
        Shape::Password(16),
    ),
    (
        "public/index.php",
        "$config['app_key'] = '{S}';",
        Shape::Base62(32),
    ),
];

/// `(relative path, text)`: a file's content, or a secret planted in that file.
type PathText = (String, String);

/// The planted tree: the files to write, and each planted secret with its file.
fn planted_tree(g: &mut Gen) -> (Vec<PathText>, Vec<PathText>) {
    let mut files: Vec<PathText> = Vec::new();
    let mut secrets = Vec::new();
    for &(path, template, shape) in PLANTS {
        let secret = match shape {
            Shape::Base62(n) => g.base62(n),
            Shape::Hex(n) => g.hex(n),
            Shape::Base64(n) => g.base64(n),
            Shape::Password(n) => g.password(n),
        };
        let line = format!("{}\n", template.replace("{S}", &secret));
        match files.iter_mut().find(|(p, _)| p == path) {
            Some((_, text)) => text.push_str(&line),
            None => files.push((path.to_string(), line)),
        }
        secrets.push((path.to_string(), secret));
    }
    (files, secrets)
}

#[test]
fn precision_fixtures_have_no_findings() {
    let dir = fixtures();
    let run = Keysweep::new(&dir)
        .args(["scan", ".", "--no-history", "--format", "json"])
        .run();
    let findings = run.json();
    let listed: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{}:{} {} {:?}",
                f["path"].as_str().unwrap_or("?"),
                f["line"],
                f["rule_id"].as_str().unwrap_or("?"),
                f["secret"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert!(
        listed.is_empty(),
        "{}\nfalse positives in tests/fixtures/precision:\n{}",
        run.describe,
        listed.join("\n")
    );
    run.expect_code(0);
}

/// Every fixture file with a generated secret appended gives exactly that one finding: proves the
/// scan reads every fixture (hidden files, lock files and bundles included) and that the decoys
/// around the secret add nothing.
#[test]
fn precision_fixtures_are_scanned_and_only_planted_secrets_are_found() {
    let src = fixtures();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut g = Gen(0x6b65_7973_7765_6570);
    let mut expected = Vec::new();
    for rel in files_under(&src) {
        let mut bytes = fs::read(src.join(&rel)).expect("fixture is readable");
        let secret = g.base62(40);
        bytes.extend_from_slice(format!("\nINTERNAL_API_SECRET = \"{secret}\"\n").as_bytes());
        let dest = tmp.path().join(&rel);
        fs::create_dir_all(dest.parent().expect("a parent")).expect("mkdir");
        fs::write(&dest, bytes).expect("write");
        expected.push((rel.to_string_lossy().replace('\\', "/"), secret));
    }
    assert!(expected.len() >= 30, "fixture tree shrank: {expected:?}");
    let run = Keysweep::new(tmp.path())
        .args(["scan", ".", "--no-history", "--format", "json"])
        .run();
    let mut found: Vec<(String, String)> = run
        .json()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or("?").to_string(),
                f["secret"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    found.sort();
    expected.sort();
    assert_eq!(found, expected, "{}\n{}", run.describe, run.stderr);
}

#[test]
fn generated_secrets_under_secret_like_names_are_found_in_every_file_type() {
    let mut g = Gen(20_261_123);
    let mut missing = Vec::new();
    let mut planted = 0;
    for round in 0..4 {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (files, secrets) = planted_tree(&mut g);
        for (rel, text) in &files {
            let dest = tmp.path().join(rel);
            fs::create_dir_all(dest.parent().expect("a parent")).expect("mkdir");
            fs::write(dest, text).expect("write");
        }
        let run = Keysweep::new(tmp.path())
            .args(["scan", ".", "--no-history", "--format", "json"])
            .run();
        let findings = run.json();
        for (rel, secret) in &secrets {
            planted += 1;
            let hit = findings.iter().any(|f| {
                f["path"].as_str() == Some(rel.as_str()) && f["secret"].as_str() == Some(secret)
            });
            if !hit {
                missing.push(format!("round {round}: {rel}: {secret}"));
            }
        }
    }
    assert!(planted >= 80, "only {planted} secrets planted");
    assert!(
        missing.is_empty(),
        "{} of {planted} planted secrets not found:\n{}",
        missing.len(),
        missing.join("\n")
    );
}
