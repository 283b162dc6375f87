//! `Finding`: a match placed in context. The matcher produces byte spans within a blob; this module
//! turns them into line/column locations and the stable record that every output format shares
//! (the JSON contract of shared/DESIGN.md).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::blob::BlobId;
use crate::context::{self, Context};
use crate::decode::{Encoding, Found};
use crate::matcher::Match;
use crate::rules::{Confidence, RuleId, RuleSet, Severity};

/// Longest `match` text kept in a finding; longer ones (a whole PEM block) keep their start and end.
const MAX_MATCH_TEXT: usize = 8 * 1024;

/// A match located within its blob, before a path or commit is attached. Computed once per distinct
/// blob while its bytes are in memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The decodings that uncovered the secret, outermost first (empty: found as written).
    #[serde(default)]
    pub decoded: Vec<Encoding>,
    /// For a decoded secret, the text that encodes it (what a history purge has to replace).
    #[serde(default)]
    pub encoded: Option<String>,
}

impl BlobMatch {
    /// Locates `m` within `bytes`: line and column are those of the secret itself, which for a
    /// multi-line match (a k8s `name:`/`value:` pair, a call spread over lines) is where the user
    /// has to look.
    pub fn locate(bytes: &[u8], m: &Match) -> BlobMatch {
        BlobMatch::locate_with(&mut LineCursor::new(bytes), m)
    }

    /// Locates every match of one blob (found as written or decoded), in the order given. The
    /// positions are visited in increasing order, so the cost is linear in the blob however many
    /// matches share a line.
    pub fn locate_all(bytes: &[u8], matches: &[&Found]) -> Vec<BlobMatch> {
        let mut order: Vec<usize> = (0..matches.len()).collect();
        order.sort_by_key(|&i| secret_start(&matches[i].m));
        let mut cursor = LineCursor::new(bytes);
        let mut located: Vec<Option<BlobMatch>> = vec![None; matches.len()];
        for i in order {
            let f = matches[i];
            let mut b = BlobMatch::locate_with(&mut cursor, &f.m);
            if !f.decoded.is_empty() {
                b.decoded = f.decoded.clone();
                let span =
                    f.m.secret_span.start.min(bytes.len())..f.m.secret_span.end.min(bytes.len());
                b.encoded = Some(String::from_utf8_lossy(&bytes[span]).into_owned());
            }
            located[i] = Some(b);
        }
        located.into_iter().flatten().collect()
    }

    fn locate_with(cursor: &mut LineCursor<'_>, m: &Match) -> BlobMatch {
        let (line, column) = cursor.line_and_column(secret_start(m));
        let mut matched = String::from_utf8_lossy(&cursor.bytes[m.span.clone()]).into_owned();
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
            decoded: Vec::new(),
            encoded: None,
        }
    }
}

fn secret_start(m: &Match) -> usize {
    m.secret_span.start.min(m.span.end)
}

/// Line lookups in one blob for positions visited (mostly) in increasing order: each step scans
/// only the bytes since the previous position, so a pass over a blob is linear in its size however
/// many positions share one long line. A position before the current line starts over.
#[derive(Debug, Clone)]
pub struct LineCursor<'a> {
    bytes: &'a [u8],
    /// The last position visited, its 1-based line and the start of that line.
    pos: usize,
    line: usize,
    line_start: usize,
    /// The end of the current line, once looked for.
    line_end: Option<usize>,
    /// The 1-based column (in characters, invalid UTF-8 counted as `from_utf8_lossy` does) of
    /// `col_pos`, a position on the current line.
    col_pos: usize,
    col: usize,
}

impl<'a> LineCursor<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> LineCursor<'a> {
        LineCursor {
            bytes,
            pos: 0,
            line: 1,
            line_start: 0,
            line_end: None,
            col_pos: 0,
            col: 1,
        }
    }

    fn seek(&mut self, at: usize) {
        let at = at.min(self.bytes.len());
        if at < self.line_start {
            *self = LineCursor::new(self.bytes);
        }
        if at > self.pos {
            let seg = &self.bytes[self.pos..at];
            if let Some(last) = memchr::memrchr(b'\n', seg) {
                self.line += memchr::memchr_iter(b'\n', seg).count();
                self.line_start = self.pos + last + 1;
                self.line_end = None;
                self.col_pos = self.line_start;
                self.col = 1;
            }
        }
        self.pos = at;
    }

    /// The byte range of the line holding `at` (without its line end).
    pub fn line_of(&mut self, at: usize) -> std::ops::Range<usize> {
        self.seek(at);
        let end = *self.line_end.get_or_insert_with(|| {
            memchr::memchr(b'\n', &self.bytes[self.pos..])
                .map_or(self.bytes.len(), |p| self.pos + p)
        });
        self.line_start..end
    }

    /// The 1-based line and column of `at`.
    pub fn line_and_column(&mut self, at: usize) -> (usize, usize) {
        self.seek(at);
        let at = self.pos;
        // Counting on from an earlier column is exact when that position starts a character (a
        // byte that is not a UTF-8 continuation byte): lossy decoding restarts there either way.
        let resumable = self.col_pos <= at
            && self
                .bytes
                .get(self.col_pos)
                .is_none_or(|&b| self.col_pos == at || (b & 0xC0) != 0x80);
        let (from, col) = if resumable {
            (self.col_pos, self.col)
        } else {
            (self.line_start, 1)
        };
        let col = col
            + String::from_utf8_lossy(&self.bytes[from..at])
                .chars()
                .count();
        self.col_pos = at;
        self.col = col;
        (self.line, col)
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
    /// For a secret found inside encoded text (base64, percent-encoding, string escapes), the
    /// decodings that uncovered it, outermost first (`["base64", "base64"]` for a docker `auth`
    /// inside a Kubernetes `.dockerconfigjson`); `null` for a secret found as written. `secret` is
    /// the decoded secret; `line`, `column` and `match` are those of the encoded text.
    pub decoded: Option<Vec<Encoding>>,
    /// The encoded text of a decoded secret: what a history purge replaces. Not in the JSON
    /// record (it is the secret, encoded).
    #[serde(skip)]
    pub encoded: Option<String>,
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
            decoded: (!m.decoded.is_empty()).then(|| m.decoded.clone()),
            encoded: m.encoded.clone(),
        }
    }

    /// Replaces the secret by its masked form ([`crate::text::mask_secret`], the same in every
    /// format), in `secret` and in `match`.
    pub fn redact(&mut self) {
        let masked = crate::text::mask_secret(&self.secret);
        self.matched = self.masked_match(&masked);
        self.secret = masked;
    }

    /// "decoded from base64" / "decoded from base64, then percent", or `None` for a secret found
    /// as written: for the human report and SARIF messages.
    pub fn decoded_note(&self) -> Option<String> {
        let d = self.decoded.as_ref().filter(|d| !d.is_empty())?;
        let names: Vec<&str> = d
            .iter()
            .map(|e| match e {
                Encoding::Base64 => "base64",
                Encoding::Percent => "percent-encoding",
                Encoding::Escape => "string escapes",
            })
            .collect();
        Some(format!("decoded from {}", names.join(", then ")))
    }

    /// `match` with the secret replaced by `masked`: its encoded form too, for a decoded secret
    /// (base64 of a secret gives it away as surely as the secret).
    pub fn masked_match(&self, masked: &str) -> String {
        let mut m = self.matched.clone();
        if let Some(enc) = self.encoded.as_deref().filter(|e| !e.is_empty()) {
            m = m.replace(enc, masked);
        }
        if !self.secret.is_empty() {
            m = m.replace(&self.secret, masked);
        }
        m
    }
}

/// Secrets with fewer estimated bits than this (length times Shannon entropy per character) are
/// guessable: their fingerprints go through a slow key derivation.
const WEAK_SECRET_BITS: f64 = 128.0;
/// PBKDF2-HMAC-SHA256 rounds for a weak secret's fingerprint: about 10 ms on one core, so each
/// guess costs an attacker that much, while a scan with a few hundred weak secrets stays fast.
const WEAK_SECRET_ROUNDS: u32 = 20_000;

/// A stable id for a secret found by a rule: the same secret found by the same rule anywhere (any
/// path, commit, line, clone or machine) has the same fingerprint, so baselines and ignore files
/// survive edits, moves and CI.
///
/// A report shows fingerprints even with `--redact`, so they must not let anyone confirm a
/// guessed secret cheaply. Strong secrets (tokens, keys: at least 128 estimated bits) cannot be
/// guessed, and keep the plain SHA-256 of rule id and secret. A weak one (a short or low-entropy
/// password) is derived with PBKDF2-HMAC-SHA256, 20,000 rounds, salted with the rule id: every
/// guess costs 20,000 HMACs, and a table of guesses made for one rule is useless for another. The
/// salt is fixed, not random per repository, so the fingerprint stays the same in every clone.
pub fn fingerprint(rule: &RuleId, secret: &str) -> String {
    let bits = crate::matcher::filters::shannon_entropy(secret) * secret.chars().count() as f64;
    if bits >= WEAK_SECRET_BITS {
        let mut h = Sha256::new();
        h.update(rule.as_str().as_bytes());
        h.update([0]);
        h.update(secret.as_bytes());
        return hex16(&h.finalize());
    }
    type Memo = std::sync::Mutex<std::collections::HashMap<(String, String), String>>;
    static MEMO: std::sync::OnceLock<Memo> = std::sync::OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    let key = (rule.as_str().to_owned(), secret.to_owned());
    if let Some(f) = memo.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return f.clone();
    }
    let mut salt = b"keysweep fingerprint v2\0".to_vec();
    salt.extend_from_slice(rule.as_str().as_bytes());
    let mut out = [0u8; 16];
    pbkdf2::pbkdf2_hmac::<Sha256>(secret.as_bytes(), &salt, WEAK_SECRET_ROUNDS, &mut out);
    let f = hex16(&out);
    memo.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, f.clone());
    f
}

fn hex16(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for &b in bytes.iter().take(16) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
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

    // https://github.com/keysweep/keysweep/issues/13 (item 13)
    #[test]
    fn r13_weak_secret_fingerprint_is_not_a_plain_hash() {
        let plain = |rule: &str, secret: &str| {
            let mut h = Sha256::new();
            h.update(rule.as_bytes());
            h.update([0]);
            h.update(secret.as_bytes());
            hex16(&h.finalize())
        };
        let weak = fingerprint(&RuleId::from("generic.password"), "hunter2");
        assert_ne!(weak, plain("generic.password", "hunter2"));
        assert_eq!(
            weak,
            fingerprint(&RuleId::from("generic.password"), "hunter2")
        );
        assert_ne!(weak, fingerprint(&RuleId::from("other.rule"), "hunter2"));
        let strong = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        assert_eq!(
            fingerprint(&RuleId::from("github.pat"), strong),
            plain("github.pat", strong)
        );
    }
}
