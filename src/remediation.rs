//! Remediation guidance: the `remediations:` entries of `patterns/*.yaml` and their rendering.
//!
//! A rule names a remediation by id; the entry says what the credential unlocks, how to rotate
//! it, what breaks when it is rotated, how to load it from the environment instead and whether
//! history must be purged. This module owns the serde form of an entry ([`RemediationSpec`]), its
//! checks ([`RemediationSpec::problems`]) and the rendering of an entry plus the context of one
//! leaked secret (where it is, whether it is in history / still at HEAD) into ordered steps:
//! rotate → move to the environment → purge history → verify ([`RemediationPlan`], serialisable
//! for `--format json`, [`RemediationPlan::render_human`] for the human report). Grouping findings
//! by secret and printing are the reporters' job.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::finding::Finding;
use crate::rules::RuleSet;

/// One `remediations:` entry of a pattern file.
///
/// ```yaml
/// remediations:
/// - id: django-secret-key
///   summary: Generate a new SECRET_KEY, load it from the environment, purge the old one.
///   unlocks: Forging sessions, password-reset links and anything signed with django.core.signing.
///   rotate:
///   - step: Generate a new key.
///     command: python -c '...'
///     docs: https://docs.djangoproject.com/en/stable/ref/settings/#secret-key
///   breaks: [All sessions (everyone is logged out).]
///   env:
///     var: DJANGO_SECRET_KEY
///     snippets:
///     - label: django-environ
///       code: SECRET_KEY = env("DJANGO_SECRET_KEY")
///   purge: {needed: if-committed, note: ...}
///   references: [https://docs.djangoproject.com/en/stable/ref/settings/#secret-key]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemediationSpec {
    /// Unique id (lowercase `[a-z0-9._-]`), referenced by a rule's `remediation:` key. A plain
    /// `String` because `rules::RuleSet` keys its map by it.
    pub id: String,
    /// One line: what to do, in short.
    pub summary: String,
    /// What the credential gives whoever holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlocks: Option<String>,
    /// Ordered steps to revoke / rotate it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rotate: Vec<RotateStep>,
    /// What stops working when the credential is rotated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breaks: Vec<String>,
    /// How to load the value from the environment instead of the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<EnvAdvice>,
    /// Whether history must be purged.
    #[serde(default)]
    pub purge: PurgeAdvice,
    /// Further reading (https links).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
}

/// One rotation step: a sentence, optionally with a console page, a CLI command and a doc link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateStep {
    /// What to do.
    pub step: String,
    /// Console page where it is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Shell command that does it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Documentation of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
}

/// How to load the credential from the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvAdvice {
    /// Suggested environment variable name, e.g. `DJANGO_SECRET_KEY`.
    pub var: String,
    /// Extra advice (where to keep it in production, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Code that reads the variable, one per style (django-environ, os.environ, shell, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snippets: Vec<Snippet>,
}

/// A labelled code snippet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snippet {
    /// Short label, e.g. `django-environ` or `os.environ`.
    pub label: String,
    /// The code, possibly several lines.
    pub code: String,
}

/// Whether history must be purged once the secret was committed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeAdvice {
    /// When purging is needed.
    #[serde(default)]
    pub needed: PurgeNeed,
    /// Extra advice about purging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// When a history purge is needed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PurgeNeed {
    /// Whenever the secret is in any commit (it may have been pushed). The default.
    #[default]
    IfCommitted,
    /// The value is not sensitive once rotated (e.g. a publishable key); purging is optional.
    Optional,
}

impl RemediationSpec {
    /// Every problem with this entry (empty when it is complete). `rules check` reports these;
    /// a complete entry has a summary on one line, an `unlocks`, at least one `rotate` step, at
    /// least one `breaks` item, an `env` advice with a valid variable name, and https links.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let id = self.id.as_str();
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        {
            out.push(format!(
                "remediation id {id:?} must be non-empty [a-z0-9._-]"
            ));
        }
        if self.summary.trim().is_empty() {
            out.push(format!("remediation {id}: empty summary"));
        } else if self.summary.trim().contains('\n') {
            out.push(format!("remediation {id}: summary must be one line"));
        }
        if self.unlocks.as_deref().is_none_or(|s| s.trim().is_empty()) {
            out.push(format!(
                "remediation {id}: missing `unlocks` (what the credential gives)"
            ));
        }
        if self.rotate.is_empty() {
            out.push(format!("remediation {id}: missing `rotate` steps"));
        }
        for (i, step) in self.rotate.iter().enumerate() {
            if step.step.trim().is_empty() {
                out.push(format!("remediation {id}: rotate[{i}] has an empty `step`"));
            }
            for link in [&step.url, &step.docs].into_iter().flatten() {
                check_link(id, &format!("rotate[{i}]"), link, &mut out);
            }
        }
        if self.breaks.is_empty() {
            out.push(format!(
                "remediation {id}: missing `breaks` (what rotation breaks)"
            ));
        }
        match &self.env {
            None => out.push(format!("remediation {id}: missing `env` advice")),
            Some(env) => {
                if !is_env_var_name(&env.var) {
                    out.push(format!(
                        "remediation {id}: env.var {:?} is not an UPPER_CASE variable name",
                        env.var
                    ));
                }
            }
        }
        for link in &self.references {
            check_link(id, "references", link, &mut out);
        }
        out
    }
}

fn check_link(id: &str, field: &str, link: &str, out: &mut Vec<String>) {
    if !link.starts_with("https://") || link.contains(char::is_whitespace) {
        out.push(format!(
            "remediation {id}: {field}: {link:?} is not an https:// link"
        ));
    }
}

/// `true` for `[A-Z_][A-Z0-9_]*`.
pub fn is_env_var_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Where one leaked secret is, as known to the reporter.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// Path of (one) file holding it, relative to the scanned root.
    pub path: Option<&'a str>,
    /// 1-based line in that file.
    pub line: Option<usize>,
    /// Full sha of the commit that introduced it, if it is in history.
    pub introduced_in: Option<&'a str>,
    /// Number of (commit, path) pairs carrying it (0 when unknown).
    pub commits: usize,
    /// Found in at least one commit.
    pub in_history: bool,
    /// Still present in the working tree / at HEAD.
    pub at_head: bool,
    /// The path given to `keysweep scan` (used in the printed verify commands); `.` if `None`.
    pub scan_root: Option<&'a str>,
}

/// The kind of a remediation step, in the order they are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// Revoke or rotate the credential at its provider.
    Rotate,
    /// Replace the literal with an environment lookup.
    MoveToEnv,
    /// Rewrite git history.
    PurgeHistory,
    /// Check that the old value is gone and rejected.
    Verify,
}

/// One numbered step of a [`RemediationPlan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What kind of step.
    pub kind: StepKind,
    /// One line.
    pub title: String,
    /// Sentences, in order.
    pub details: Vec<String>,
    /// Shell commands, in order.
    pub commands: Vec<String>,
    /// Console pages and documentation.
    pub links: Vec<String>,
    /// Code to paste.
    pub snippets: Vec<Snippet>,
    /// The rotation steps of the remediation entry, in order (rotate step only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub substeps: Vec<RotateStep>,
}

/// The remediation of one leaked secret: a rule's [`RemediationSpec`] applied to its [`Context`].
/// This is the structured form of the steps carried by `--format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemediationPlan {
    /// Id of the remediation entry.
    pub remediation_id: String,
    /// One-line summary.
    pub summary: String,
    /// What the credential unlocks.
    pub unlocks: Option<String>,
    /// What rotation breaks.
    pub breaks: Vec<String>,
    /// Whether history must be purged for this secret.
    pub purge_needed: bool,
    /// rotate → move to env → purge history (when needed) → verify.
    pub steps: Vec<Step>,
    /// Further reading.
    pub references: Vec<String>,
}

impl RemediationPlan {
    /// Builds the steps for one secret.
    pub fn new(spec: &RemediationSpec, ctx: &Context<'_>) -> RemediationPlan {
        let scan_root = ctx.scan_root.unwrap_or(".");
        let mut steps = Vec::new();

        let mut rotate = Step::new(
            StepKind::Rotate,
            if ctx.in_history {
                "Rotate it first: it is in git history, so treat it as leaked"
            } else {
                "Rotate it: anyone who saw this file may have copied it"
            },
        );
        rotate.substeps = spec.rotate.clone();
        if !spec.breaks.is_empty() {
            rotate
                .details
                .push(format!("Rotating breaks: {}", join_items(&spec.breaks)));
        }
        steps.push(rotate);

        let var = spec.env.as_ref().map(|e| e.var.as_str());
        let mut env = Step::new(
            StepKind::MoveToEnv,
            &match var {
                Some(v) => format!("Load the new value from the environment variable {v}"),
                None => "Load the new value from the environment, not from the source".to_owned(),
            },
        );
        match (ctx.at_head, ctx.path) {
            (true, Some(path)) => {
                let at = match ctx.line {
                    Some(line) => format!("{path}:{line}"),
                    None => path.to_owned(),
                };
                env.details.push(format!("The literal is still in {at}: replace it."));
                if is_python_settings(path) {
                    env.details.push(
                        "`keysweep fix` does this for Django settings: it writes a new SECRET_KEY \
                         and the other values to .env (mode 0600, git-ignored)."
                            .to_owned(),
                    );
                    env.commands.push(format!("keysweep fix --dry-run {scan_root}"));
                }
            }
            (true, None) => env.details.push("The literal is still in the working tree: replace it.".to_owned()),
            (false, _) => env.details.push(
                "It is no longer in the working tree; make sure its replacement is read from the environment."
                    .to_owned(),
            ),
        }
        if let Some(advice) = &spec.env {
            env.details
                .extend(advice.note.iter().map(|n| n.trim().to_owned()));
            env.snippets.extend(advice.snippets.iter().cloned());
        }
        env.details.push(
            "Keep .env out of git (.gitignore) and commit only a .env.example with the names; \
             in production use the platform's secret store."
                .to_owned(),
        );
        steps.push(env);

        let purge_needed = ctx.in_history && spec.purge.needed == PurgeNeed::IfCommitted;
        if ctx.in_history {
            let mut purge = Step::new(
                StepKind::PurgeHistory,
                if purge_needed {
                    "Purge it from git history"
                } else {
                    "Optionally purge it from git history"
                },
            );
            let mut where_ = String::from("It is in history");
            if let Some(commit) = ctx.introduced_in {
                let _ = write!(where_, ", introduced in {}", short_sha(commit));
            }
            if ctx.commits > 1 {
                let _ = write!(where_, ", carried by {} (commit, path) pairs", ctx.commits);
            }
            where_.push('.');
            purge.details.push(where_);
            purge.details.push(
                "Rewriting history does not un-leak it: every existing clone, fork and pull-request \
                 ref keeps the old commits. Rotation is what protects you; purging stops further spread."
                    .to_owned(),
            );
            purge
                .details
                .extend(spec.purge.note.iter().map(|n| n.trim().to_owned()));
            purge
                .commands
                .push(format!("keysweep purge-plan {scan_root}"));
            purge
                .links
                .push("https://github.com/newren/git-filter-repo".to_owned());
            steps.push(purge);
        }

        let mut verify = Step::new(StepKind::Verify, "Verify");
        verify
            .details
            .push("Check that the old value is rejected by the service (try it once).".to_owned());
        verify
            .commands
            .push(format!("keysweep scan --no-history {scan_root}"));
        if ctx.in_history {
            verify.commands.push(format!("keysweep scan {scan_root}"));
        }
        steps.push(verify);

        RemediationPlan {
            remediation_id: spec.id.clone(),
            summary: spec.summary.trim().to_owned(),
            unlocks: spec.unlocks.as_ref().map(|s| s.trim().to_owned()),
            breaks: spec.breaks.clone(),
            purge_needed,
            steps,
            references: spec.references.clone(),
        }
    }

    /// Numbered steps for the human report. Each line is prefixed with `indent`.
    pub fn render_human(&self, indent: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{indent}Remediation: {}", self.summary);
        if let Some(unlocks) = &self.unlocks {
            let _ = writeln!(out, "{indent}Unlocks: {unlocks}");
        }
        for (n, step) in self.steps.iter().enumerate() {
            let _ = writeln!(out, "{indent}{}. {}", n + 1, step.title);
            let sub = format!("{indent}   ");
            for (i, r) in step.substeps.iter().enumerate() {
                let letter = char::from(b'a' + (i % 26) as u8);
                let _ = writeln!(out, "{sub}{letter}) {}", r.step.trim());
                if let Some(c) = &r.command {
                    for line in c.trim_end().lines() {
                        let _ = writeln!(out, "{sub}     $ {line}");
                    }
                }
                if let Some(u) = &r.url {
                    let _ = writeln!(out, "{sub}     console: {u}");
                }
                if let Some(d) = &r.docs {
                    let _ = writeln!(out, "{sub}     docs: {d}");
                }
            }
            for d in &step.details {
                let _ = writeln!(out, "{sub}- {d}");
            }
            for c in &step.commands {
                let _ = writeln!(out, "{sub}  $ {c}");
            }
            for s in &step.snippets {
                let _ = writeln!(out, "{sub}  {}:", s.label);
                for line in s.code.trim_end().lines() {
                    let _ = writeln!(out, "{sub}    {line}");
                }
            }
            for l in &step.links {
                let _ = writeln!(out, "{sub}  see {l}");
            }
        }
        if !self.references.is_empty() {
            let _ = writeln!(out, "{indent}References: {}", self.references.join(" "));
        }
        out
    }
}

impl Step {
    fn new(kind: StepKind, title: &str) -> Step {
        Step {
            kind,
            title: title.to_owned(),
            details: Vec::new(),
            commands: Vec::new(),
            links: Vec::new(),
            snippets: Vec::new(),
            substeps: Vec::new(),
        }
    }
}

fn join_items(items: &[String]) -> String {
    items
        .iter()
        .map(|s| s.trim().trim_end_matches('.'))
        .collect::<Vec<_>>()
        .join("; ")
}

fn short_sha(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn is_python_settings(path: &str) -> bool {
    path.ends_with(".py") && path.contains("settings")
}

/// One leaked secret with every place it was seen: the unit of the human report (one secret found
/// in 40 commits is one problem) and of the structured steps in JSON.
#[derive(Debug, Clone, Serialize)]
pub struct SecretGroup {
    /// Rule of the first finding (the most severe one when several rules found the secret).
    pub rule_id: String,
    /// The secret as it appears in the findings (masked if they were redacted).
    pub secret: String,
    /// Every `(path, line, commit)` where it was found, in input order.
    pub locations: Vec<SecretLocation>,
    /// Full sha of the earliest commit (by author date) that carries it.
    pub introduced_in: Option<String>,
    /// Path it was introduced at.
    pub introduced_path: Option<String>,
    /// (commit, path) pairs carrying it: the provenance count, or the distinct commits seen when larger.
    pub commits: usize,
    /// Found in at least one commit.
    pub in_history: bool,
    /// Found in the working tree (a finding without a commit).
    pub at_head: bool,
    /// The steps, when the rule has a remediation entry.
    pub remediation: Option<RemediationPlan>,
}

/// One place a secret was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretLocation {
    /// Path (relative to the scanned root).
    pub path: Option<String>,
    /// 1-based line.
    pub line: usize,
    /// Commit that introduced the blob there; `None` for the working tree.
    pub commit: Option<String>,
}

/// Groups findings by secret text, in order of first appearance, and builds each group's steps.
/// Call it before redacting: masked secrets can collide. `scan_root` is the path shown in the
/// printed `keysweep` commands.
pub fn group_by_secret(findings: &[Finding], rules: &RuleSet, scan_root: &str) -> Vec<SecretGroup> {
    let mut order: Vec<&str> = Vec::new();
    let mut by_secret: std::collections::HashMap<&str, Vec<&Finding>> = Default::default();
    for f in findings {
        let entry = by_secret.entry(f.secret.as_str()).or_default();
        if entry.is_empty() {
            order.push(f.secret.as_str());
        }
        entry.push(f);
    }
    order
        .into_iter()
        .map(|secret| {
            let group = &by_secret[secret];
            let lead = group
                .iter()
                .min_by_key(|f| std::cmp::Reverse(f.severity))
                .copied()
                .unwrap_or(group[0]);
            let first_commit = group
                .iter()
                .filter(|f| f.commit.is_some())
                .min_by(|a, b| a.date.cmp(&b.date));
            let mut commits: Vec<&str> = group.iter().filter_map(|f| f.commit.as_deref()).collect();
            commits.sort_unstable();
            commits.dedup();
            let provenance = group
                .iter()
                .filter_map(|f| f.occurrences)
                .max()
                .unwrap_or(0);
            let in_history = !commits.is_empty();
            let at_head = group
                .iter()
                .any(|f| f.at_head == Some(true) || (f.commit.is_none() && f.at_head.is_none()));
            let here = group
                .iter()
                .find(|f| f.commit.is_none())
                .copied()
                .unwrap_or(lead);
            let spec = rules
                .rules()
                .iter()
                .find(|r| r.id == lead.rule_id)
                .and_then(|r| r.remediation.as_deref())
                .and_then(|id| rules.try_find_remediation(id));
            let ctx = Context {
                path: here.path.as_deref(),
                line: Some(here.line),
                introduced_in: first_commit.and_then(|f| f.commit.as_deref()),
                commits: commits.len().max(provenance),
                in_history,
                at_head,
                scan_root: Some(scan_root),
            };
            SecretGroup {
                rule_id: lead.rule_id.as_str().to_owned(),
                secret: secret.to_owned(),
                locations: group
                    .iter()
                    .map(|f| SecretLocation {
                        path: f.path.clone(),
                        line: f.line,
                        commit: f.commit.clone(),
                    })
                    .collect(),
                introduced_in: ctx.introduced_in.map(str::to_owned),
                introduced_path: first_commit.and_then(|f| f.path.clone()),
                commits: ctx.commits,
                in_history,
                at_head,
                remediation: spec.map(|s| RemediationPlan::new(s, &ctx)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DJANGO: &str = r#"
id: django-secret-key
summary: Generate a new SECRET_KEY, load it from the environment, purge the old one from history.
unlocks: Forging session cookies and password-reset links.
rotate:
- step: Generate a new key.
  command: python -c 'from django.core.management.utils import get_random_secret_key; print(get_random_secret_key())'
  docs: https://docs.djangoproject.com/en/stable/ref/settings/#secret-key
breaks: [Every session (all users are logged out)., Password-reset links already sent.]
env:
  var: DJANGO_SECRET_KEY
  snippets:
  - label: django-environ
    code: |
      env = environ.Env()
      SECRET_KEY = env("DJANGO_SECRET_KEY")
references: [https://docs.djangoproject.com/en/stable/topics/signing/]
"#;

    fn spec() -> RemediationSpec {
        serde_yaml::from_str(DJANGO).expect("valid test yaml")
    }

    #[test]
    fn complete_entry_has_no_problems() {
        assert_eq!(spec().problems(), Vec::<String>::new());
        assert_eq!(spec().purge.needed, PurgeNeed::IfCommitted);
    }

    #[test]
    fn summary_only_entry_lists_missing_fields() {
        let s: RemediationSpec = serde_yaml::from_str("id: x\nsummary: do it").expect("yaml");
        let p = s.problems().join("\n");
        for field in ["unlocks", "rotate", "breaks", "env"] {
            assert!(p.contains(field), "{field} missing from {p}");
        }
    }

    #[test]
    fn unknown_field_is_rejected() {
        let e = serde_yaml::from_str::<RemediationSpec>("id: x\nsummary: s\nrotat: []");
        assert!(e.is_err());
    }

    #[test]
    fn bad_link_and_var_are_reported() {
        let mut s = spec();
        s.references.push("http://insecure".into());
        s.env.as_mut().expect("env").var = "lower".into();
        assert_eq!(s.problems().len(), 2, "{:?}", s.problems());
    }

    #[test]
    fn secret_in_history_gets_purge_step_and_history_verify() {
        let ctx = Context {
            path: Some("mysite/settings.py"),
            line: Some(23),
            introduced_in: Some("0123456789abcdef0123456789abcdef01234567"),
            commits: 40,
            in_history: true,
            at_head: true,
            scan_root: None,
        };
        let plan = RemediationPlan::new(&spec(), &ctx);
        let kinds: Vec<_> = plan.steps.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                StepKind::Rotate,
                StepKind::MoveToEnv,
                StepKind::PurgeHistory,
                StepKind::Verify
            ]
        );
        assert!(plan.purge_needed);
        let text = plan.render_human("  ");
        assert!(text.contains("1. Rotate it first"), "{text}");
        assert!(text.contains("mysite/settings.py:23"), "{text}");
        assert!(
            text.contains("introduced in 0123456789ab, carried by 40 (commit, path) pairs."),
            "{text}"
        );
        assert!(text.contains("$ keysweep fix --dry-run ."), "{text}");
        assert!(text.contains("get_random_secret_key()"), "{text}");
        let json = serde_json::to_value(&plan).expect("serialise");
        assert_eq!(json["steps"][2]["kind"], "purge-history");
    }

    #[test]
    fn working_tree_only_secret_has_no_purge_step() {
        let ctx = Context {
            path: Some(".env.local"),
            at_head: true,
            ..Context::default()
        };
        let plan = RemediationPlan::new(&spec(), &ctx);
        assert!(!plan.purge_needed);
        assert!(plan.steps.iter().all(|s| s.kind != StepKind::PurgeHistory));
        assert!(!plan.render_human("").contains("keysweep fix"));
    }

    fn finding(secret: &str, path: &str, commit: Option<&str>, date: Option<&str>) -> Finding {
        Finding {
            rule_id: crate::rules::RuleId::from("t.token"),
            rule_name: "Test token".into(),
            severity: crate::rules::Severity::High,
            confidence: crate::rules::Confidence::High,
            secret: secret.into(),
            matched: secret.into(),
            path: Some(path.into()),
            line: 3,
            column: 1,
            commit: commit.map(str::to_owned),
            author: None,
            date: date.map(str::to_owned),
            blob_id: String::new(),
            fingerprint: String::new(),
            remediation: None,
            occurrences: None,
            refs: None,
            note: None,
            at_head: None,
            remediation_steps: None,
            context: None,
            paired_id: None,
        }
    }

    #[test]
    fn findings_of_one_secret_make_one_group_with_history_context() {
        let yaml = format!(
            "rules:\n- id: t.token\n  name: Test token\n  keywords: [tok_]\n  pattern: '(?P<secret>tok_[a-z0-9]{{12}})'\n  severity: high\n  confidence: high\n  remediation: django-secret-key\n  examples: ['tok_a1b2c3d4e5f6']\n  negative_examples: ['tok_']\nremediations:\n- {}\n",
            DJANGO.trim().replace('\n', "\n  ")
        );
        let rules =
            RuleSet::from_files(&[(std::path::PathBuf::from("t.yaml"), yaml)]).expect("rules");
        let fs = [
            finding(
                "tok_a1b2c3d4e5f6",
                "app/settings.py",
                Some("bbbb"),
                Some("2024-02-01T00:00:00Z"),
            ),
            finding("tok_zzzzzzzzzzzz", "other.py", None, None),
            finding(
                "tok_a1b2c3d4e5f6",
                "old/settings.py",
                Some("aaaa"),
                Some("2024-01-01T00:00:00Z"),
            ),
            finding("tok_a1b2c3d4e5f6", "app/settings.py", None, None),
        ];
        let groups = group_by_secret(&fs, &rules, "repo");
        assert_eq!(groups.len(), 2);
        let g = &groups[0];
        assert_eq!(g.locations.len(), 3);
        assert_eq!(g.introduced_in.as_deref(), Some("aaaa"));
        assert_eq!(g.introduced_path.as_deref(), Some("old/settings.py"));
        assert_eq!((g.commits, g.in_history, g.at_head), (2, true, true));
        let plan = g.remediation.as_ref().expect("plan");
        assert!(plan.purge_needed);
        assert!(plan.render_human("").contains("$ keysweep purge-plan repo"));
        assert!(!groups[1].in_history && groups[1].at_head);
    }
}
