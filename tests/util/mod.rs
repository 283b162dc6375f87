//! Helpers shared by the integration tests: running the real binary (`cmd`).

pub mod cmd;
pub mod repo;

/// A rule file of the tests' own (written outside any scanned tree), so engine and history tests
/// do not move when the shipped rules change.
pub const TEST_RULES: &str = r#"
rules:
- id: t.gh
  name: Test token
  keywords: [ghp_]
  pattern: '\b(?P<secret>ghp_[A-Za-z0-9]{36})\b'
  severity: high
  confidence: high
  remediation: t
  examples: ['GITHUB_TOKEN=ghp_Z8y7X6w5V4u3T2s1R0q9P8o7N6m5L4k3J2i1']
  negative_examples: ['ghp_short']
remediations:
- id: t
  summary: Revoke it.
  unlocks: The test service.
  rotate: [{step: Revoke it in the console.}]
  breaks: [Test clients.]
  env: {var: TEST_TOKEN}
"#;

/// An external tool a test needs (SARIF Multitool, check-jsonschema, shellcheck) is missing:
/// fails the test when `KEYSWEEP_REQUIRE_TOOLS=1` (`.ci/run` sets it and installs them), else
/// prints why and lets the caller skip.
pub fn tool_missing(what: &str, why: &str) {
    assert!(
        std::env::var_os("KEYSWEEP_REQUIRE_TOOLS").is_none_or(|v| v != "1"),
        "KEYSWEEP_REQUIRE_TOOLS=1 but {what} is missing: {why}"
    );
    eprintln!("SKIPPED: {what} is not installed ({why})");
}

/// The first of `candidates` that runs `args` successfully (e.g. `--version`).
pub fn find_program(
    candidates: &[std::path::PathBuf],
    args: &[&str],
) -> Option<std::path::PathBuf> {
    candidates.iter().find_map(|c| {
        std::process::Command::new(c)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|_| c.clone())
    })
}
