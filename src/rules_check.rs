//! `rules check`: validates rule files and runs every rule's examples through the real matcher
//! (prefilter included), returning every problem rather than stopping at the first. A command
//! module: it uses both `rules` and `matcher`, so it sits above them.

use std::path::PathBuf;

use crate::matcher::Matcher;
use crate::rules::{RuleSet, RuleSetBuilder};

/// Checks rule files given as `(path, contents)`: syntax, unique well-formed ids, patterns that
/// compile and have a `secret` group, known remediation, at least one example and one negative
/// example, every example containing a keyword and found by its rule, no negative example found.
pub fn check_files(files: &[(PathBuf, String)]) -> CheckReport {
    let mut builder = RuleSetBuilder::default();
    for (path, text) in files {
        builder.add_file(path, text);
    }
    let (set, mut problems) = builder.build_lenient();
    // Shipped remediation entries must be complete (unlocks, rotate, breaks, env); user rule files
    // loaded for a scan are not held to this.
    problems.extend(set.remediations().flat_map(|r| r.problems()));
    problems.extend(check_examples(&set));
    CheckReport {
        rules: set.rules().len(),
        problems,
    }
}

/// What `check_files` found.
#[derive(Debug)]
pub struct CheckReport {
    /// Rules that compiled (and whose examples were run).
    pub rules: usize,
    /// Every problem; empty when the files are good.
    pub problems: Vec<String>,
}

/// Runs each rule's examples and negative examples through a matcher holding only that rule, so a
/// more specific rule elsewhere cannot hide a generic rule's result.
pub fn check_examples(set: &RuleSet) -> Vec<String> {
    let mut problems = Vec::new();
    for rule in set.rules() {
        let single = set.filtered(|r| r.id == rule.id);
        let matcher = Matcher::new(&single);
        let at = |what: String| format!("{}: rule {}: {what}", rule.source.display(), rule.id);
        if rule.examples.is_empty() {
            problems.push(at("no examples".into()));
        }
        if rule.negative_examples.is_empty() {
            problems.push(at("no negative_examples".into()));
        }
        for (i, ex) in rule.examples.iter().enumerate() {
            let has_keyword = rule.has_keyword_in(ex.as_bytes());
            if !has_keyword {
                problems.push(at(format!("examples[{i}] contains no keyword: {ex:?}")));
            }
            if matcher.scan(ex.as_bytes()).is_empty() {
                problems.push(at(format!("examples[{i}] is not found: {ex:?}")));
            }
        }
        for (i, ex) in rule.negative_examples.iter().enumerate() {
            if let Some(m) = matcher.scan(ex.as_bytes()).first() {
                problems.push(at(format!(
                    "negative_examples[{i}] is found (secret {:?}): {ex:?}",
                    m.secret
                )));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Vec<(PathBuf, String)> {
        vec![(PathBuf::from("t.yaml"), text.to_string())]
    }

    const GOOD: &str = r#"
rules:
- id: t.token
  name: Test token
  keywords: [tok_]
  pattern: '\b(?P<secret>tok_[a-z0-9]{12})\b'
  severity: high
  confidence: high
  remediation: t
  examples: ['x = tok_a1b2c3d4e5f6']
  negative_examples: ['x = tok_short']
remediations:
- id: t
  summary: Revoke it.
  unlocks: The test service.
  rotate: [{step: Revoke it in the console.}]
  breaks: [Test clients.]
  env: {var: TEST_TOKEN}
"#;

    #[test]
    fn a_good_file_has_no_problems() {
        assert_eq!(check_files(&file(GOOD)).problems, Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_reported() {
        let bad = GOOD
            .replace("'x = tok_short'", "'x = tok_a1b2c3d4e5f7'")
            .replace(
                "'x = tok_a1b2c3d4e5f6'",
                "'x = tok_a1b2', 'no keyword here'",
            )
            .replace("remediation: t", "remediation: missing");
        let problems = check_files(&file(&bad)).problems;
        assert!(
            problems
                .iter()
                .any(|p| p.contains("remediation \"missing\"")),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("examples[0] is not found")),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("examples[1] contains no keyword")),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("negative_examples[0] is found")),
            "{problems:#?}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_patterns_are_named() {
        let typo = GOOD.replace("severity: high", "severity: high\n  sevrity: low");
        let problems = check_files(&file(&typo)).problems;
        assert!(
            problems
                .iter()
                .any(|p| p.contains("t.yaml") && p.contains("sevrity")),
            "{problems:#?}"
        );
        let broken = GOOD.replace(r"(?P<secret>tok_", r"(?P<secret>tok_(");
        let problems = check_files(&file(&broken)).problems;
        assert!(
            problems
                .iter()
                .any(|p| p.contains("rule t.token: pattern does not compile")),
            "{problems:#?}"
        );
    }
}
