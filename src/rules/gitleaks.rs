//! Reads a gitleaks TOML configuration (`--config .gitleaks.toml`) and translates it into keysweep
//! rules and allow lists, so a team switching scanners keeps its custom rules. This is the only
//! module that calls the TOML parser.
//!
//! Translated: `[[rules]]` `id`, `description`, `regex`, `secretGroup`, `keywords`, `entropy`,
//! `path`, `tags` (ignored), and their allow lists (`[rules.allowlist]`, `[[rules.allowlists]]`:
//! `regexes` with `regexTarget` `secret` or `match`, `stopwords`, `paths`); the global
//! `[allowlist]` / `[[allowlists]]` (`paths`, `regexes`, `stopwords`, `targetRules`); `title`,
//! `description` and `minVersion` are accepted and ignored. Anything else (an unknown key, or a
//! gitleaks feature keysweep does not have: `commits`, `condition = "AND"`, `regexTarget = "line"`,
//! `[extend]`, `[[rules.required]]`, `skipReport`) is named in a warning, never silently ignored.
//!
//! Differences that remain: gitleaks regexes are Go RE2, which Rust's `regex` mostly accepts (a
//! pattern it rejects is an error naming the rule); a keysweep match must contain one of the
//! rule's keywords (gitleaks needs the keyword anywhere in the same file); with no `secretGroup`
//! the secret is the first group when the regex has groups (gitleaks takes the first non-empty
//! one), else the whole match.

use regex_syntax::ast::{self, Ast};
use toml::{Table, Value};

use super::syntax::{EntropySyntax, RuleSyntax};
use super::{Category, Confidence, Severity};
use crate::rules::remediation::RemediationSpec;

/// The remediation every imported rule points at.
const REMEDIATION_ID: &str = "gitleaks-rule";

const REMEDIATION_YAML: &str = "
id: gitleaks-rule
summary: Revoke or rotate the credential at its issuer, load it from the environment or a secret manager, then purge it from git history.
unlocks: Whatever the credential gives at its issuer (a rule imported from a gitleaks configuration).
rotate:
- step: Revoke or regenerate the credential at its issuer, then deploy the new value.
breaks:
- Everything configured with the old value, until it has the new one.
env:
  var: APP_SECRET
";

/// Path conditions of one imported rule, applied to its findings by the scan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RulePaths {
    /// The keysweep id of the rule.
    pub rule: String,
    /// The rule reports only in files whose path matches this (gitleaks `path`).
    pub only: Option<String>,
    /// The rule reports nothing in files whose path matches one of these (rule allow list `paths`).
    pub allow: Vec<String>,
}

/// What a gitleaks configuration contributes.
#[derive(Debug, Default)]
pub struct GitleaksImport {
    /// The translated rules.
    pub rules: Vec<RuleSyntax>,
    /// The remediation entry the rules refer to.
    pub remediations: Vec<RemediationSpec>,
    /// Global allow list: path regexes.
    pub allow_paths: Vec<String>,
    /// Global allow list: secret regexes (gitleaks `regexes` and `stopwords`).
    pub allow_secrets: Vec<String>,
    /// Per-rule path conditions.
    pub rule_paths: Vec<RulePaths>,
    /// Keys and features that were not translated, one sentence each.
    pub warnings: Vec<String>,
}

/// Whether `path` names a gitleaks TOML configuration rather than a `.keysweep.yaml`.
pub fn is_gitleaks_config(path: &std::path::Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

/// Parses and translates a gitleaks configuration. A TOML syntax error is an error; everything
/// that parses is translated or warned about.
pub fn translate(text: &str) -> Result<GitleaksImport, String> {
    let table: Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let mut out = GitleaksImport::default();
    let mut remediation: RemediationSpec =
        serde_yaml::from_str(REMEDIATION_YAML).map_err(|e| e.to_string())?;
    remediation.id = REMEDIATION_ID.to_string();
    out.remediations.push(remediation);
    // Rules first, so that global allow lists with `targetRules` find them.
    let rules_first = table
        .iter()
        .filter(|(k, _)| k.as_str() == "rules")
        .chain(table.iter().filter(|(k, _)| k.as_str() != "rules"));
    for (key, value) in rules_first {
        match key.as_str() {
            "title" | "description" | "minVersion" => {}
            "rules" => match value.as_array() {
                Some(rules) => {
                    for (i, rule) in rules.iter().enumerate() {
                        match rule.as_table() {
                            Some(t) => out.add_rule(i, t),
                            None => out.warn(format!("rules[{i}] is not a table; ignored")),
                        }
                    }
                }
                None => out.warn("`rules` is not an array of tables; ignored".into()),
            },
            "allowlist" => match value.as_table() {
                Some(t) => out.add_global_allowlist("[allowlist]", t),
                None => out.warn("`allowlist` is not a table; ignored".into()),
            },
            "allowlists" => {
                for (i, t) in value.as_array().into_iter().flatten().enumerate() {
                    match t.as_table() {
                        Some(t) => out.add_global_allowlist(&format!("[[allowlists]][{i}]"), t),
                        None => out.warn(format!("allowlists[{i}] is not a table; ignored")),
                    }
                }
            }
            "extend" => out.warn(
                "[extend] is not supported: keysweep's own rules are always loaded (use \
                 --no-default-rules to leave them out); gitleaks' default rules are not"
                    .into(),
            ),
            other => out.warn(format!("unknown key `{other}`; ignored")),
        }
    }
    Ok(out)
}

impl GitleaksImport {
    fn warn(&mut self, msg: String) {
        self.warnings.push(msg);
    }

    fn add_rule(&mut self, index: usize, t: &Table) {
        let gl_id = t.get("id").and_then(Value::as_str).unwrap_or_default();
        let at = if gl_id.is_empty() {
            format!("rules[{index}]")
        } else {
            format!("rule {gl_id:?}")
        };
        if gl_id.is_empty() {
            self.warn(format!("{at}: no `id`; ignored"));
            return;
        }
        let id = keysweep_id(gl_id);
        let mut pattern = None;
        let mut secret_group: Option<usize> = None;
        let mut paths = RulePaths {
            rule: id.clone(),
            ..RulePaths::default()
        };
        let mut rule = RuleSyntax {
            id: id.clone(),
            name: gl_id.to_string(),
            keywords: Vec::new(),
            ignore_case: true,
            pattern: String::new(),
            concat: false,
            entropy: None,
            min_distinct: None,
            // gitleaks has no placeholder filter; keysweep's template check still applies.
            placeholders: false,
            percent_decode: false,
            allow: Vec::new(),
            allow_match: Vec::new(),
            downgrade: Vec::new(),
            severity: Severity::High,
            confidence: Confidence::Medium,
            categories: vec![Category::Secret],
            references: Vec::new(),
            remediation: Some(REMEDIATION_ID.to_string()),
            examples: Vec::new(),
            negative_examples: Vec::new(),
        };
        for (key, value) in t {
            match key.as_str() {
                "id" | "tags" => {}
                "description" => {
                    if let Some(d) = value.as_str() {
                        rule.name = d.to_string();
                    }
                }
                "regex" => pattern = value.as_str().map(str::to_string),
                "secretGroup" => {
                    secret_group = value.as_integer().and_then(|n| usize::try_from(n).ok())
                }
                "entropy" => {
                    let e = value
                        .as_float()
                        .or_else(|| value.as_integer().map(|n| n as f64));
                    rule.entropy = e.filter(|&e| e > 0.0).map(EntropySyntax::Min);
                }
                "keywords" => {
                    rule.keywords = strings(value)
                        .into_iter()
                        .filter(|k| !k.is_empty())
                        .collect()
                }
                "path" => paths.only = value.as_str().map(str::to_string),
                "allowlist" => match value.as_table() {
                    Some(a) => self.add_rule_allowlist(&at, a, &mut rule, &mut paths),
                    None => self.warn(format!("{at}: `allowlist` is not a table; ignored")),
                },
                "allowlists" => {
                    for a in value.as_array().into_iter().flatten() {
                        match a.as_table() {
                            Some(a) => self.add_rule_allowlist(&at, a, &mut rule, &mut paths),
                            None => self.warn(format!("{at}: an allowlist is not a table")),
                        }
                    }
                }
                "required" | "skipReport" => self.warn(format!(
                    "{at}: `{key}` (composite rules) is not supported; the rule reports on its own"
                )),
                other => self.warn(format!("{at}: unknown key `{other}`; ignored")),
            }
        }
        let Some(pattern) = pattern else {
            self.warn(format!(
                "{at}: no `regex` (a path-only rule); keysweep reports secrets, not files: ignored"
            ));
            return;
        };
        match with_secret_group(&pattern, secret_group) {
            Ok(p) => rule.pattern = p,
            Err(e) => {
                // Left for the rule builder to report, naming the rule and the regex error.
                self.warn(format!("{at}: {e}"));
                rule.pattern = pattern;
            }
        }
        if paths.only.is_some() || !paths.allow.is_empty() {
            self.rule_paths.push(paths);
        }
        self.rules.push(rule);
    }

    fn add_rule_allowlist(
        &mut self,
        at: &str,
        a: &Table,
        rule: &mut RuleSyntax,
        paths: &mut RulePaths,
    ) {
        let target = a
            .get("regexTarget")
            .and_then(Value::as_str)
            .unwrap_or("secret");
        self.check_condition(at, a);
        for (key, value) in a {
            match key.as_str() {
                "description" | "regexTarget" | "condition" => {}
                "regexes" => match target {
                    "match" => rule.allow_match.extend(strings(value)),
                    "line" => {
                        self.warn(format!(
                            "{at}: allowlist regexTarget \"line\" is applied to the match"
                        ));
                        rule.allow_match.extend(strings(value));
                    }
                    _ => rule.allow.extend(strings(value)),
                },
                "stopwords" => rule
                    .allow
                    .extend(strings(value).iter().map(|w| stopword(w))),
                "paths" => paths.allow.extend(strings(value)),
                "commits" => self.warn(format!(
                    "{at}: allowlist `commits` is not supported; ignored (use --baseline)"
                )),
                other => self.warn(format!("{at}: unknown allowlist key `{other}`; ignored")),
            }
        }
    }

    fn add_global_allowlist(&mut self, at: &str, a: &Table) {
        self.check_condition(at, a);
        let target = a
            .get("regexTarget")
            .and_then(Value::as_str)
            .unwrap_or("secret");
        if target != "secret" && a.contains_key("regexes") {
            self.warn(format!(
                "{at}: regexTarget {target:?} is not supported for global allow lists; the \
                 regexes are applied to the secret"
            ));
        }
        let targets: Vec<String> = a.get("targetRules").map(strings).unwrap_or_default();
        for (key, value) in a {
            match key.as_str() {
                "description" | "regexTarget" | "condition" | "targetRules" => {}
                "regexes" | "stopwords" => {
                    let list: Vec<String> = if key == "stopwords" {
                        strings(value).iter().map(|w| stopword(w)).collect()
                    } else {
                        strings(value)
                    };
                    if targets.is_empty() {
                        self.allow_secrets.extend(list);
                    } else {
                        for r in self
                            .rules
                            .iter_mut()
                            .filter(|r| targets.iter().any(|t| keysweep_id(t) == r.id))
                        {
                            r.allow.extend(list.iter().cloned());
                        }
                    }
                }
                "paths" => {
                    if targets.is_empty() {
                        self.allow_paths.extend(strings(value));
                    } else {
                        for t in &targets {
                            let rule = keysweep_id(t);
                            match self.rule_paths.iter_mut().find(|p| p.rule == rule) {
                                Some(p) => p.allow.extend(strings(value)),
                                None => self.rule_paths.push(RulePaths {
                                    rule,
                                    only: None,
                                    allow: strings(value),
                                }),
                            }
                        }
                    }
                }
                "commits" => self.warn(format!(
                    "{at}: allowlist `commits` is not supported; ignored (use --baseline)"
                )),
                other => self.warn(format!("{at}: unknown allowlist key `{other}`; ignored")),
            }
        }
    }

    fn check_condition(&mut self, at: &str, a: &Table) {
        if a.get("condition")
            .and_then(Value::as_str)
            .is_some_and(|c| c.eq_ignore_ascii_case("and"))
        {
            self.warn(format!(
                "{at}: allowlist condition \"AND\" is not supported; each criterion allows on its own (OR)"
            ));
        }
    }
}

/// The keysweep id of a gitleaks rule: `gitleaks.` + the id in lowercase, other characters than
/// `[a-z0-9._-]` replaced by `-`.
pub fn keysweep_id(gitleaks_id: &str) -> String {
    let tail: String = gitleaks_id
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("gitleaks.{tail}")
}

/// A gitleaks stop word as a regex on the secret: the word anywhere, case-insensitively.
fn stopword(word: &str) -> String {
    format!("(?i){}", regex_syntax::escape(word))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// Rewrites `pattern` so that the group gitleaks reports as the secret is named `secret`: group
/// `group` (1-based, as gitleaks counts), or with no group given the first group, or the whole
/// regex when it has no groups.
pub fn with_secret_group(pattern: &str, group: Option<usize>) -> Result<String, String> {
    let parsed = ast::parse::Parser::new()
        .parse(pattern)
        .map_err(|e| format!("regex does not parse: {e}"))?;
    let mut groups: Vec<(u32, usize, Option<ast::Span>)> = Vec::new();
    collect_groups(&parsed, &mut groups);
    let want = match group {
        Some(0) | None if groups.is_empty() => return Ok(format!("(?P<secret>{pattern})")),
        Some(0) | None => 1,
        Some(n) => n,
    };
    let Some(&(_, open, name)) = groups.iter().find(|(idx, _, _)| *idx as usize == want) else {
        return Err(format!(
            "secretGroup {want} does not exist (the regex has {} groups)",
            groups.len()
        ));
    };
    Ok(match name {
        Some(span) => format!(
            "{}secret{}",
            &pattern[..span.start.offset],
            &pattern[span.end.offset..]
        ),
        None => format!("{}(?P<secret>{}", &pattern[..open], &pattern[open + 1..]),
    })
}

/// Capture groups of `ast` as (index, byte offset of the opening parenthesis, span of the name).
fn collect_groups(node: &Ast, out: &mut Vec<(u32, usize, Option<ast::Span>)>) {
    match node {
        Ast::Group(g) => {
            match &g.kind {
                ast::GroupKind::CaptureIndex(i) => out.push((*i, g.span.start.offset, None)),
                ast::GroupKind::CaptureName { name, .. } => {
                    out.push((name.index, g.span.start.offset, Some(name.span)))
                }
                ast::GroupKind::NonCapturing(_) => {}
            }
            collect_groups(&g.ast, out);
        }
        Ast::Repetition(r) => collect_groups(&r.ast, out),
        Ast::Alternation(a) => a.asts.iter().for_each(|x| collect_groups(x, out)),
        Ast::Concat(c) => c.asts.iter().for_each(|x| collect_groups(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_group_is_named() {
        assert_eq!(
            with_secret_group(r"(?i)key\s*=\s*'([a-z0-9]{20})'", Some(1)).unwrap(),
            r"(?i)key\s*=\s*'(?P<secret>[a-z0-9]{20})'"
        );
        assert_eq!(
            with_secret_group(r"(a)(?:b)(c)", Some(2)).unwrap(),
            r"(a)(?:b)(?P<secret>c)"
        );
        assert_eq!(
            with_secret_group(r"(?P<tok>x+)", None).unwrap(),
            r"(?P<secret>x+)"
        );
        assert_eq!(
            with_secret_group(r"tok_[a-z]{8}", None).unwrap(),
            r"(?P<secret>tok_[a-z]{8})"
        );
        assert!(with_secret_group(r"(a)", Some(3)).is_err());
    }

    #[test]
    fn ids_are_namespaced_and_sanitised() {
        assert_eq!(keysweep_id("Acme API Key"), "gitleaks.acme-api-key");
        assert_eq!(keysweep_id("acme-token"), "gitleaks.acme-token");
    }
}
