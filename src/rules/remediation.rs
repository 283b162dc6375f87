//! The remediation data of a rule file: the serde form of a `remediations:` entry of
//! `patterns/*.yaml` ([`RemediationSpec`]) and its completeness checks. The steps built from an
//! entry for one leaked secret are `crate::remediation`'s job, above the findings.

use serde::{Deserialize, Serialize};

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

/// A complete remediation entry, for the tests of this module and of the plans built from it.
#[cfg(test)]
pub(crate) const TEST_SPEC: &str = r#"
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

#[cfg(test)]
mod tests {
    use super::*;

    use super::TEST_SPEC as DJANGO;

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
}
