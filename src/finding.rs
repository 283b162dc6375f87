//! `Finding`: a match placed in context. The matcher produces byte spans within a blob; this module
//! turns them into line/column locations and the stable record that every output format shares
//! (the JSON contract of shared/DESIGN.md).

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::blob::BlobId;
use crate::context::{self, Context};
use crate::matcher::Match;
use crate::rules::{Confidence, RuleId, RuleSet, Severity};

/// Longest `match` text kept in a finding; longer ones (a whole PEM block) keep their start and end.
const MAX_MATCH_TEXT: usize = 8 * 1024;

/// A match located within its blob, before a path or commit is attached. Computed once per distinct
/// blob while its bytes are in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct BlobMatch {
    /// Index of the rule in the rule set.
    pub rule: usize,
    pub severity: Severity,
    pub secret: String,
    /// The whole matched text.
    pub matched: String,
    /// 1-based line of the start of the secret.
    pub line: usize,
    /// 1-based column (in characters) of the start of the secret.
    pub column: usize,
    /// Byte offset of the match within the blob.
    pub offset: usize,
    /// The identifier half of a paired credential, if the rule found one.
    pub paired_id: Option<String>,
}

impl BlobMatch {
    /// Locates `m` within `bytes`: line and column are those of the secret itself, which for a
    /// multi-line match (a k8s `name:`/`value:` pair, a call spread over lines) is where the user
    /// has to look.
    pub fn locate(bytes: &[u8], m: &Match) -> BlobMatch {
        let at = m.secret_span.start.min(m.span.end);
        let before = &bytes[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let column = String::from_utf8_lossy(&bytes[line_start..at])
            .chars()
            .count()
            + 1;
        let mut matched = String::from_utf8_lossy(&bytes[m.span.clone()]).into_owned();
        if matched.len() > MAX_MATCH_TEXT {
            let mut cut = MAX_MATCH_TEXT;
            while !matched.is_char_boundary(cut) {
                cut -= 1;
            }
            matched.truncate(cut);
            matched.push('…');
        }
        BlobMatch {
            rule: m.rule,
            severity: m.severity,
            secret: m.secret.clone(),
            matched,
            line,
            column,
            offset: m.span.start,
            paired_id: m.paired_id.clone(),
        }
    }
}

/// Where a finding was seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Origin {
    /// Path within the repository or scanned directory (`-` for stdin).
    pub path: Option<String>,
    /// The path's bytes, when they are not UTF-8 (`path` then has U+FFFD in their place).
    pub path_bytes: Option<Vec<u8>>,
    /// Full sha of the commit that introduced the blob at `path`; `None` for working-tree content.
    pub commit: Option<String>,
    /// `Name <email>` of the commit's author.
    pub author: Option<String>,
    /// Author date, RFC 3339.
    pub date: Option<String>,
    /// How many (commit, path) pairs in history carry this blob.
    pub occurrences: Option<usize>,
    /// Branches and tags from which the blob is reachable (`--all-provenance`).
    pub refs: Option<Vec<String>>,
    /// Something the user should know about the origin (e.g. an unreachable blob).
    pub note: Option<String>,
}

/// One reported secret at one place: the record of the JSON output contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule_id: RuleId,
    pub rule_name: String,
    pub severity: Severity,
    pub confidence: Confidence,
    pub secret: String,
    #[serde(rename = "match")]
    pub matched: String,
    pub path: Option<String>,
    /// The path's exact bytes when it is not valid UTF-8 (`path` is then a lossy rendering), so
    /// the file can still be found; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<Vec<u8>>,
    pub line: usize,
    pub column: usize,
    pub commit: Option<String>,
    pub author: Option<String>,
    pub date: Option<String>,
    pub blob_id: String,
    pub fingerprint: String,
    pub remediation: Option<String>,
    pub occurrences: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refs: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Whether the secret is still in the working tree (HEAD plus uncommitted changes); `None`
    /// where there is no working tree to tell (a bare repository, `--history-only`, stdin).
    pub at_head: Option<bool>,
    /// Findings of one secret value (by one or several rules) share this id: the fingerprint of
    /// the finding of the most specific rule among them. Set by `group::assign_secret_groups`
    /// before any redaction, so two different secrets never share it, masked or not.
    pub secret_group: String,
    /// For a finding in the files on disk: whether git tracks the file (`None` outside a git
    /// work tree). Shown by the human report only.
    #[serde(skip)]
    pub tracked: Option<bool>,
    /// Found inside a binary file (compiled Python, SQLite, an archive): the secret is stored
    /// there as raw bytes. Present (`true`) only then.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub binary: bool,
    /// `test`, `docs` or `example` when the path or the value says the finding is not production
    /// code or configuration (see `context`); such a finding is at most `low` severity.
    pub context: Option<Context>,
    /// For a paired credential (an AWS access key id and its secret, a Twilio API key SID and its
    /// secret), the identifier found with the secret; `secret` is the secret half.
    pub paired_id: Option<String>,
}

impl Finding {
    /// Builds the finding for `m` (found in blob `blob`) seen at `origin`.
    pub fn new(rules: &RuleSet, blob: BlobId, m: &BlobMatch, origin: Origin) -> Finding {
        let rule = rules.rule(m.rule);
        let fingerprint = fingerprint(&rule.id, &m.secret);
        let context = context::classify(origin.path.as_deref(), &m.secret, &m.matched);
        let severity = match context {
            Some(_) => m.severity.min(Severity::Low),
            None => m.severity,
        };
        Finding {
            rule_id: rule.id.clone(),
            rule_name: rule.name.clone(),
            severity,
            confidence: rule.confidence,
            secret_group: fingerprint.clone(),
            fingerprint,
            secret: m.secret.clone(),
            matched: m.matched.clone(),
            path: origin.path,
            path_bytes: origin.path_bytes,
            line: m.line,
            column: m.column,
            commit: origin.commit,
            author: origin.author,
            date: origin.date,
            blob_id: blob.to_string(),
            remediation: rules.remediation_for(m.rule).map(|r| r.summary.clone()),
            occurrences: origin.occurrences,
            refs: origin.refs,
            note: origin.note,
            at_head: None,
            tracked: None,
            binary: false,
            context,
            paired_id: m.paired_id.clone(),
        }
    }

    /// Replaces the secret by its masked form ([`crate::text::mask_secret`], the same in every
    /// format), in `secret` and in `match`.
    pub fn redact(&mut self) {
        let masked = crate::text::mask_secret(&self.secret);
        if !self.secret.is_empty() {
            self.matched = self.matched.replace(&self.secret, &masked);
        }
        self.secret = masked;
    }
}

/// A stable id for a secret found by a rule: the same secret found by the same rule anywhere (any
/// path, commit or line) has the same fingerprint, so baselines survive edits and moves.
pub fn fingerprint(rule: &RuleId, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(rule.as_str().as_bytes());
    h.update([0]);
    h.update(secret.as_bytes());
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_depends_on_rule_and_secret_only() {
        let a = fingerprint(&RuleId::from("x.y"), "s3cr3t");
        assert_eq!(a, fingerprint(&RuleId::from("x.y"), "s3cr3t"));
        assert_ne!(a, fingerprint(&RuleId::from("x.z"), "s3cr3t"));
        assert_eq!(a.len(), 32);
    }
}
