//! The serde mirror of every YAML file keysweep reads: rule files (`patterns/*.yaml`) and the
//! per-repository `.keysweep.yaml`. This is the only module that calls the YAML parser. Unknown keys
//! are errors, so a misspelled field fails loudly instead of being ignored. Validation beyond the
//! shape lives in `rules` and in `rules_check`.

use serde::Deserialize;

use super::remediation::RemediationSpec;
use super::{Category, Confidence, Severity};

/// One YAML rule file: rules and the remediation entries they refer to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFileSyntax {
    /// The rules in this file.
    #[serde(default)]
    pub rules: Vec<RuleSyntax>,
    /// Remediation entries; ids are global across all files.
    #[serde(default)]
    pub remediations: Vec<RemediationSpec>,
}

/// A rule as written in YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSyntax {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub ignore_case: bool,
    pub pattern: String,
    #[serde(default)]
    pub concat: bool,
    #[serde(default)]
    pub entropy: Option<EntropySyntax>,
    #[serde(default)]
    pub min_distinct: Option<usize>,
    #[serde(default = "default_true")]
    pub placeholders: bool,
    /// Percent-decode the secret before the allow, placeholder, distinct-character and entropy
    /// checks (URL passwords); the reported secret stays as written.
    #[serde(default)]
    pub percent_decode: bool,
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub allow_match: Vec<String>,
    #[serde(default)]
    pub downgrade: Vec<String>,
    pub severity: Severity,
    pub confidence: Confidence,
    #[serde(default)]
    pub categories: Vec<Category>,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub remediation: Option<String>,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub negative_examples: Vec<String>,
}

/// `text` (a rule file in the layout of `patterns/*.yaml`) without its rules' `examples` and
/// `negative_examples` block lists: a scan never reads them, and they are about half of the
/// shipped rule text, so dropping them before parsing keeps start-up time flat as rules are added.
/// Only block lists (`  examples:` followed by `  - ...` items and their more-indented
/// continuation lines) are removed; anything else (an inline `[...]` list, an unexpected layout) is
/// kept as it is, so the result always parses to the same rules minus those lists.
pub fn strip_examples(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end();
        if skipping {
            let item = bare.starts_with("  - ") || bare == "  -";
            let comment = bare.trim_start().starts_with('#');
            if bare.is_empty() || item || comment || line.starts_with("    ") {
                continue;
            }
            skipping = false;
        }
        if bare == "  examples:" || bare == "  negative_examples:" {
            skipping = true;
            continue;
        }
        out.push_str(line);
    }
    out
}

fn default_true() -> bool {
    true
}

/// `entropy: 3.5` or `entropy: {hex: 3.0, base64: 4.2, other: 3.5}`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum EntropySyntax {
    /// One minimum for every alphabet.
    Min(f64),
    /// A minimum per alphabet; a missing alphabet is not checked.
    PerAlphabet(EntropyThresholdsSyntax),
}

/// Per-alphabet entropy minimums, in bits per character.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntropyThresholdsSyntax {
    #[serde(default)]
    pub hex: Option<f64>,
    #[serde(default)]
    pub base64: Option<f64>,
    #[serde(default)]
    pub other: Option<f64>,
}

/// `.keysweep.yaml`: extra rules, rules to disable, allow lists.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFileSyntax {
    /// Additional rules, in the rule file syntax.
    #[serde(default)]
    pub rules: Vec<RuleSyntax>,
    /// Additional remediation entries.
    #[serde(default)]
    pub remediations: Vec<RemediationSpec>,
    /// Ids of rules not to run.
    #[serde(default)]
    pub disable_rules: Vec<String>,
    /// What not to report.
    #[serde(default)]
    pub allowlist: AllowlistSyntax,
}

/// `allowlist:` in `.keysweep.yaml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowlistSyntax {
    /// Regexes matched against a finding's path.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Regexes matched against a finding's secret.
    #[serde(default)]
    pub secrets: Vec<String>,
}

/// Parses a rule file.
pub fn parse_rule_file(text: &str) -> Result<RuleFileSyntax, serde_yaml::Error> {
    serde_yaml::from_str(text)
}

/// Parses a `.keysweep.yaml`; an empty file is an empty configuration.
pub fn parse_config(text: &str) -> Result<ConfigFileSyntax, serde_yaml::Error> {
    if text.trim().is_empty() {
        return Ok(ConfigFileSyntax::default());
    }
    serde_yaml::from_str(text)
}
