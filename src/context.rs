//! Context labels: whether a finding sits in test code, documentation or an example, told from its
//! path (`tests/`, `test_*.py`, `docs/`, `*.md`, `examples/`, `.env.example`, ...) and from the
//! secret itself (values published in providers' documentation, expired JWTs, passwords of URLs to
//! a local host). A labelled finding is still reported, at most at `low` severity and after the
//! unlabelled ones: a test fixture's key may be a real key someone pasted, but it is rarely the
//! first thing to rotate. This module only classifies; `finding` applies the label.

use std::sync::LazyLock;

use base64::Engine;
use regex::Regex;
use serde::Serialize;

/// Where a finding appears to come from, when that is not production code or configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Context {
    /// Test code, fixtures, test data; also local-development values (a password for `localhost`)
    /// and expired tokens.
    Test,
    /// Documentation: `docs/`, Markdown, reStructuredText, AsciiDoc, man pages.
    Docs,
    /// Examples, samples and templates (`examples/`, `.env.example`, `*.sample`), and values a
    /// provider publishes in its own documentation.
    Example,
}

impl Context {
    /// The lowercase label used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Test => "test",
            Context::Docs => "docs",
            Context::Example => "example",
        }
    }
}

/// The context of a finding: from its content first (a documented example value is an example
/// wherever it is), then from its path.
pub fn classify(path: Option<&str>, secret: &str, matched: &str) -> Option<Context> {
    from_content(secret, matched).or_else(|| path.and_then(from_path_cached))
}

/// [`from_path`], remembered for the last path seen on this thread: the findings of one file
/// come one after another, so a file with 80,000 findings runs the path patterns once, not
/// 80,000 times.
fn from_path_cached(path: &str) -> Option<Context> {
    thread_local! {
        static LAST: std::cell::RefCell<(String, Option<Context>)> =
            const { std::cell::RefCell::new((String::new(), None)) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != path || last.0.is_empty() {
            let context = from_path(path);
            last.0.clear();
            last.0.push_str(path);
            last.1 = context;
        }
        last.1
    })
}

/// File names that are tests, docs or examples whatever directory they are in.
static FILE_NAME: LazyLock<[(Context, Regex); 3]> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(p).expect("the context file-name patterns are valid regexes");
    [
        (
            Context::Test,
            re(
                r"(?i)^(?:test_.*\.py|tests?\.py|.*_tests?\.(?:py|go|rb|rs|exs?|php)|.*[._-](?:test|spec)s?\.[a-z]+|conftest\.py|.*Tests?\.(?:java|kt|cs|swift|scala|php)|t[0-9]{4}-.*\.sh)$",
            ),
        ),
        (
            Context::Docs,
            re(
                r"(?i)^(?:.*\.(?:md|mdx|markdown|rst|adoc|asciidoc|[1-9])|(?:readme|changelog|changes|news|history|authors|contributing)(?:\.[a-z]+)?)$",
            ),
        ),
        (
            Context::Example,
            re(
                r"(?i)^(?:.*[._-](?:example|sample|dist|template|tmpl|tpl)(?:\.[a-z0-9]+)?|example[^/]*|sample[^/]*)$",
            ),
        ),
    ]
});

/// Directory names, matched against every directory component of the path.
static DIRECTORY: LazyLock<[(Context, Regex); 3]> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(p).expect("the context directory patterns are valid regexes");
    [
        (
            Context::Test,
            re(
                r"(?i)^(?:tests?|testing|__tests__|spec|specs|testdata|test[-_]?data|fixtures?|__fixtures__|mocks?|__mocks__|t|testsuite|test[-_]?suite|e2e|unittests?|integration[-_]tests?)$",
            ),
        ),
        (
            Context::Docs,
            re(r"(?i)^(?:docs?|documentation|man|manual|wiki|site-docs|_docs)$"),
        ),
        (
            Context::Example,
            re(r"(?i)^(?:examples?|samples?|demos?|tutorials?|quickstart|playground|sandbox)$"),
        ),
    ]
});

/// The context a path implies, if any: its file name first (`test_views.py` in `app/` is a test),
/// then its directories from the innermost out (`docs/examples/x.py` is an example).
pub fn from_path(path: &str) -> Option<Context> {
    let path = path.replace('\\', "/");
    let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let name = parts.pop()?;
    if let Some((c, _)) = FILE_NAME.iter().find(|(_, re)| re.is_match(name)) {
        return Some(*c);
    }
    parts.iter().rev().find_map(|dir| {
        DIRECTORY
            .iter()
            .find(|(_, re)| re.is_match(dir))
            .map(|(c, _)| *c)
    })
}

/// Secrets that providers and standards publish in their own documentation: anyone who copies
/// them has a documentation value, not a credential. Literal values, so each is one entry.
const DOCUMENTED_VALUES: &[&str] = &[
    // AWS: the example access key pair of the IAM and CLI documentation.
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AKIAI44QH8DHBEXAMPLE",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    // Stripe: the test keys of Stripe's API reference and samples.
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
    "sk_test_26PHem9AhJZvU623DfE1x4sd",
    // jwt.io's default token (HS256, secret "your-256-bit-secret").
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    // RFC 6749 / RFC 6750 example tokens.
    "2YotnFZFEjr1zCsicMWpAA",
    "tGzv3JOkF0XG5Qx2TlKWIA",
    "mF_9.B5f-4.1JqM",
];

/// Words that mark a value as an example when they are part of the secret itself
/// (`AKIA...EXAMPLE`, `sk_test_...`-style dummies); rules that keep such values (placeholder
/// filtering off) still report them, labelled.
static EXAMPLE_WORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)example|dummy|sample|fake|placeholder|redacted")
        .expect("the example-word pattern is a valid regex")
});

/// A URL whose host is the local machine: its password is a development credential.
static LOCAL_URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)://[^\s/@]*@(?:localhost|127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}|0\.0\.0\.0|\[::1\]|host\.docker\.internal)(?:[:/?#'`\s]|$)",
    )
    .expect("the local-URL pattern is a valid regex")
});

/// A URL to a documentation host (RFC 2606 / RFC 6761 names, or a host literally named `host`):
/// whatever its password, the URL was written as an example.
static DOCS_URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)://(?:[^\s/]*@)?(?:(?:[a-z0-9-]+\.)*(?:example\.(?:com|org|net)|example|invalid|test|localhost\.localdomain)|host|hostname|your[-_]?host(?:name)?|db[-_]?host)(?:[:/?#;'`\s]|$)",
    )
    .expect("the documentation-URL pattern is a valid regex")
});

/// The context the secret and its match imply, if any.
pub fn from_content(secret: &str, matched: &str) -> Option<Context> {
    // Both URL patterns start with `://`: a match without one needs neither regex run.
    let has_url = matched.contains("://");
    if DOCUMENTED_VALUES.iter().any(|v| secret.contains(v))
        || EXAMPLE_WORD.is_match(secret)
        || (has_url && DOCS_URL.is_match(matched))
    {
        return Some(Context::Example);
    }
    if has_url && LOCAL_URL.is_match(matched) {
        return Some(Context::Test);
    }
    if is_expired_jwt(secret, now_unix()) {
        return Some(Context::Test);
    }
    None
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Whether `s` is a JWT (`header.payload.signature`, the header a JSON object with `alg`) whose
/// `exp` claim is before `now` (seconds since the epoch). A token without `exp` never expires and
/// is not labelled.
pub fn is_expired_jwt(s: &str, now: i64) -> bool {
    let mut parts = s.trim().split('.');
    let (Some(header), Some(payload), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let decode = |part: &str| -> Option<serde_json::Value> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    let Some(header) = decode(header) else {
        return false;
    };
    if header.get("alg").is_none() {
        return false;
    }
    decode(payload)
        .and_then(|p| p.get("exp").and_then(serde_json::Value::as_f64))
        .is_some_and(|exp| exp < now as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified() {
        for (path, want) in [
            ("tests/test_views.py", Some(Context::Test)),
            ("app/test_views.py", Some(Context::Test)),
            ("django/contrib/csrf/tests.py", Some(Context::Test)),
            ("pkg/handler_test.go", Some(Context::Test)),
            ("src/components/Button.spec.tsx", Some(Context::Test)),
            ("t/t5551-http-fetch-smart.sh", Some(Context::Test)),
            ("spec/fixtures/config.yml", Some(Context::Test)),
            ("docs/topics/settings.txt", Some(Context::Docs)),
            ("Documentation/git-credential.txt", Some(Context::Docs)),
            ("README.md", Some(Context::Docs)),
            ("guide/install.rst", Some(Context::Docs)),
            ("examples/tutorial/app.py", Some(Context::Example)),
            ("docs/examples/app.py", Some(Context::Example)),
            (".env.example", Some(Context::Example)),
            ("config/settings.py.sample", Some(Context::Example)),
            ("myproject/settings.py", None),
            ("src/attestation.rs", None),
            (".env", None),
            ("contest/main.py", None),
        ] {
            assert_eq!(from_path(path), want, "{path}");
        }
    }

    fn jwt(payload: &str) -> String {
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk",
            e(r#"{"alg":"HS256","typ":"JWT"}"#),
            e(payload)
        )
    }

    #[test]
    fn expired_jwts_are_recognised() {
        assert!(is_expired_jwt(
            &jwt(r#"{"sub":"u1","exp":1500000000}"#),
            1_700_000_000
        ));
        assert!(!is_expired_jwt(
            &jwt(r#"{"sub":"u1","exp":1800000000}"#),
            1_700_000_000
        ));
        assert!(!is_expired_jwt(&jwt(r#"{"sub":"u1"}"#), 1_700_000_000));
        assert!(!is_expired_jwt("not.a.jwt", 1_700_000_000));
    }

    #[test]
    fn content_labels_documented_values_and_local_urls() {
        assert_eq!(
            from_content("AKIAIOSFODNN7EXAMPLE", "key = AKIAIOSFODNN7EXAMPLE"),
            Some(Context::Example)
        );
        assert_eq!(
            from_content(
                "Zr8kq2LmPw7x",
                "postgres://app:Zr8kq2LmPw7x@localhost:5432/app"
            ),
            Some(Context::Test)
        );
        assert_eq!(
            from_content(
                "Zr8kq2LmPw7x",
                "postgres://app:Zr8kq2LmPw7x@db.acme.io:5432/app"
            ),
            None
        );
        assert_eq!(
            from_content(
                "Zr8kq2LmPw7x",
                "postgres://app:Zr8kq2LmPw7x@localhost.acme.io/app"
            ),
            None
        );
        for url in [
            "mysql://scott:Zr8kq2LmPw7x@db.example.com/app",
            "redis://:Zr8k@q2LmPw7x@cache.test:6379",
            "postgres://app:Zr8kq2LmPw7x@host/app",
            "jdbc:mysql://db.example.org:3306/shop?user=shop&password=Zr8kq2LmPw7x",
        ] {
            assert_eq!(
                from_content("Zr8kq2LmPw7x", url),
                Some(Context::Example),
                "{url}"
            );
        }
        assert_eq!(
            from_content(
                "Zr8kq2LmPw7x",
                "postgres://app:Zr8kq2LmPw7x@hostdb.acme.io/app"
            ),
            None
        );
    }
}
