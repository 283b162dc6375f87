//! Suppressing known findings, keyed on content and never on line numbers (a line key breaks on
//! every rebase and squash): inline markers on the line, `.keysweepignore` (fingerprints, each
//! optionally limited to a path glob) and baseline files (the fingerprints of an earlier scan).
//! A fingerprint is the finding's `fingerprint` field: one stable string per (rule, secret), the
//! same on every clone, whatever the path, line or commit.
//!
//! This module reads and writes those files and says which entry suppresses a finding; `scan`
//! applies them and reports the entries that matched nothing (`--report-unused`).

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::finding::Finding;

/// Markers that suppress a finding on their line: keysweep's own, gitleaks' and detect-secrets',
/// so a team can switch tools without touching code.
pub const INLINE_MARKERS: &[&[u8]] = &[
    b"keysweep:allow",
    b"gitleaks:allow",
    b"pragma: allowlist secret",
];

/// The ignore file looked up at the repository (scan) root.
pub const IGNORE_FILE_NAME: &str = ".keysweepignore";

/// Where `keysweep baseline create` writes by default, and where the hooks look for a baseline.
pub const BASELINE_FILE_NAME: &str = ".keysweep-baseline.json";

/// Whether the line of `bytes` holding byte `pos` carries one of the [`INLINE_MARKERS`].
pub fn line_has_inline_allow(bytes: &[u8], pos: usize) -> bool {
    let pos = pos.min(bytes.len());
    let start = memchr::memrchr(b'\n', &bytes[..pos]).map_or(0, |p| p + 1);
    let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |p| pos + p);
    has_inline_marker(&bytes[start..end])
}

/// Whether `line` carries one of the [`INLINE_MARKERS`].
pub fn has_inline_marker(line: &[u8]) -> bool {
    INLINE_MARKERS
        .iter()
        .any(|m| memchr::memmem::find(line, m).is_some())
}

/// One line of a `.keysweepignore`.
#[derive(Debug, Clone)]
pub struct IgnoreEntry {
    /// The finding fingerprint this entry suppresses.
    pub fingerprint: String,
    /// `RULE:FINGERPRINT` entries also require the rule id.
    pub rule: Option<String>,
    /// Only findings at a path matching this glob (none: any path).
    pub path: Option<GlobMatcher>,
    /// 1-based line in the file, for messages.
    pub line: usize,
    /// The entry as written (without its comment).
    pub text: String,
}

impl IgnoreEntry {
    /// Whether this entry suppresses `f`.
    pub fn matches(&self, f: &Finding) -> bool {
        f.fingerprint == self.fingerprint
            && self.rule.as_deref().is_none_or(|r| r == f.rule_id.as_str())
            && self.path.as_ref().is_none_or(|g| {
                f.path
                    .as_deref()
                    .is_some_and(|p| g.is_match(p.trim_start_matches("./")))
            })
    }
}

/// A parsed `.keysweepignore`.
#[derive(Debug, Clone, Default)]
pub struct IgnoreList {
    /// The file it was read from.
    pub file: PathBuf,
    pub entries: Vec<IgnoreEntry>,
}

impl IgnoreList {
    /// Reads `path`; `Ok(None)` when there is no such file.
    pub fn try_read(path: &Path) -> Result<Option<IgnoreList>> {
        match std::fs::read_to_string(path) {
            Ok(text) => IgnoreList::parse(path, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Path {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parses the text of an ignore file: one `[RULE:]FINGERPRINT [PATH_GLOB]` a line, `#` starts
    /// a comment. A malformed line is an error naming the file and the line.
    pub fn parse(path: &Path, text: &str) -> Result<IgnoreList> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let bad = |why: String| {
                Error::Config(format!("{}:{}: {why} in {line:?}", path.display(), i + 1))
            };
            let mut words = line.split_whitespace();
            let key = words.next().unwrap_or_default();
            let glob = words.next();
            if words.next().is_some() {
                return Err(bad(
                    "expected `[RULE:]FINGERPRINT [PATH_GLOB]` (put reasons after `#`)".into(),
                ));
            }
            let (rule, fingerprint) = match key.rsplit_once(':') {
                Some((r, f)) => (Some(r.to_string()), f),
                None => (None, key),
            };
            if !is_fingerprint(fingerprint) {
                return Err(bad(format!(
                    "{fingerprint:?} is not a fingerprint (the `fingerprint` of a finding)"
                )));
            }
            let path = match glob {
                Some(g) => Some(
                    Glob::new(g)
                        .map_err(|e| bad(format!("bad path glob: {e}")))?
                        .compile_matcher(),
                ),
                None => None,
            };
            entries.push(IgnoreEntry {
                fingerprint: fingerprint.to_string(),
                rule,
                path,
                line: i + 1,
                text: line.to_string(),
            });
        }
        Ok(IgnoreList {
            file: path.to_path_buf(),
            entries,
        })
    }

    /// The index of the first entry that suppresses `f`.
    pub fn find(&self, f: &Finding) -> Option<usize> {
        self.entries.iter().position(|e| e.matches(f))
    }
}

/// Whether `s` can be a fingerprint as findings carry it: at least 16 characters of letters,
/// digits and `-_+/=` (hexadecimal today; any encoding of a hash passes).
pub fn is_fingerprint(s: &str) -> bool {
    s.len() >= 16
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_+/=".contains(&b))
}

/// Appends `fingerprints` to the ignore file at `path` (created if missing), each limited to
/// `glob` when given, after a `# reason` comment when given. Fingerprints already listed (with the
/// same glob) are not added twice. Returns how many were added.
pub fn append_ignores(
    path: &Path,
    fingerprints: &[String],
    glob: Option<&str>,
    reason: Option<&str>,
) -> Result<usize> {
    let existing = IgnoreList::try_read(path)?.unwrap_or_default();
    let mut lines = Vec::new();
    for fp in fingerprints {
        let entry = match glob {
            Some(g) => format!("{fp} {g}"),
            None => fp.clone(),
        };
        // Validates the entry the way the reader will.
        let parsed = IgnoreList::parse(path, &entry)?;
        let dup = existing
            .entries
            .iter()
            .any(|e| e.text == parsed.entries[0].text);
        if !dup && !lines.contains(&entry) {
            lines.push(entry);
        }
    }
    if lines.is_empty() {
        return Ok(0);
    }
    let io = |source| Error::Path {
        path: path.to_path_buf(),
        source,
    };
    let old = std::fs::read(path).unwrap_or_default();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    let mut text = String::new();
    if old.is_empty() {
        text.push_str(
            "# keysweep: findings not to report, one `[RULE:]FINGERPRINT [PATH_GLOB]` a line.\n",
        );
    } else if !old.ends_with(b"\n") {
        text.push('\n');
    }
    if let Some(r) = reason {
        for l in r.lines() {
            text.push_str(&format!("# {l}\n"));
        }
    }
    for l in &lines {
        text.push_str(l);
        text.push('\n');
    }
    file.write_all(text.as_bytes()).map_err(io)?;
    Ok(lines.len())
}

/// The baseline file `keysweep baseline create` writes: hashes only, never a secret.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineFile {
    /// Format version (1).
    pub keysweep_baseline: u32,
    pub entries: Vec<BaselineEntry>,
}

/// One known finding of a baseline.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub struct BaselineEntry {
    pub fingerprint: String,
    /// The rule that found it (for people reading the file).
    pub rule_id: String,
}

/// Writes a baseline of `findings` to `path`: one entry per distinct fingerprint.
pub fn write_baseline(path: &Path, findings: &[Finding]) -> Result<usize> {
    let mut entries: Vec<BaselineEntry> = findings
        .iter()
        .map(|f| BaselineEntry {
            fingerprint: f.fingerprint.clone(),
            rule_id: f.rule_id.as_str().to_string(),
        })
        .collect();
    entries.sort();
    entries.dedup();
    let n = entries.len();
    let file = BaselineFile {
        keysweep_baseline: 1,
        entries,
    };
    let mut text = serde_json::to_string_pretty(&file)
        .map_err(|e| Error::Config(format!("cannot serialise the baseline: {e}")))?;
    text.push('\n');
    std::fs::write(path, text).map_err(|source| Error::Path {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(n)
}

/// Reads the fingerprints of a baseline: a file written by `keysweep baseline create`, or a
/// JSON (array) or JSON-lines report of an earlier scan.
pub fn read_baseline(path: &Path) -> Result<HashSet<String>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Path {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |e: serde_json::Error| {
        Error::Config(format!(
            "{}: not a keysweep baseline or JSON report: {e}",
            path.display()
        ))
    };
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') && trimmed.contains("\"keysweep_baseline\"") {
        let file: BaselineFile = serde_json::from_str(&text).map_err(bad)?;
        return Ok(file.entries.into_iter().map(|e| e.fingerprint).collect());
    }
    let records = crate::merge::parse_records(path, &text)?;
    Ok(records
        .iter()
        .filter_map(|r| {
            r.get("fingerprint")
                .and_then(|f| f.as_str())
                .map(str::to_string)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markers_of_three_tools_are_honoured_on_their_line_only() {
        let text = b"a = 1\nkey = 'x' # gitleaks:allow\nb = 2 # pragma: allowlist secret\nc\n";
        let at = |s: &[u8]| memchr::memmem::find(text, s).expect("present");
        assert!(line_has_inline_allow(text, at(b"'x'")));
        assert!(line_has_inline_allow(text, at(b"b = 2")));
        assert!(!line_has_inline_allow(text, at(b"a = 1")));
        assert!(!line_has_inline_allow(text, at(b"c\n")));
    }

    #[test]
    fn ignore_file_lines_parse_and_bad_ones_name_the_line() {
        let p = Path::new(".keysweepignore");
        let list = IgnoreList::parse(
            p,
            "# comment\n0123456789abcdef0123456789abcdef\nt.gh:00112233445566778899aabbccddeeff tests/**  # why\n",
        )
        .expect("parses");
        assert_eq!(list.entries.len(), 2);
        assert_eq!(list.entries[1].rule.as_deref(), Some("t.gh"));
        assert_eq!(list.entries[1].line, 3);
        let err = IgnoreList::parse(p, "\nnot/ok!\n").expect_err("rejected");
        assert!(err.to_string().contains(".keysweepignore:2"), "{err}");
    }
}
