//! The matcher: keyword prefilter → candidate rules and byte windows → the rule's regex confirms →
//! filters (allow lists, placeholders, distinct characters, entropy). It sees only bytes: never a
//! path or a commit. Overlapping matches of different rules are resolved here, so each secret is
//! reported once, by the most specific rule.

pub mod filters;
pub mod memo;
pub mod prefilter;

use std::ops::Range;

use crate::rules::{Category, Rule, RuleIdx, RuleSet, Severity};
use memo::{content_hash, Table};
use prefilter::Prefilter;

/// How far before a keyword hit a match may start (then widened to the start of the line). A
/// rule's regex runs only in such windows around its keyword hits, so a multi-megabyte bundle with
/// one keyword costs one small regex search, and unchanged text in near-copy blobs is recognised.
const WINDOW_BEFORE: usize = 512;
/// How far after a keyword hit a match may end (then widened to the end of the line): room for a
/// Django key split over many concatenated literals.
const WINDOW_AFTER: usize = 2 * 1024;
/// The same for private-key rules: a PEM block of an 8192-bit RSA key or a large PGP key block.
const WINDOW_AFTER_KEY_BLOCK: usize = 64 * 1024;

/// One confirmed match of one rule in one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The rule that matched.
    pub rule: RuleIdx,
    /// Byte span of the whole regex match.
    pub span: Range<usize>,
    /// Byte span of the `secret` capture group.
    pub secret_span: Range<usize>,
    /// The secret (for `concat` rules, the joined literal contents).
    pub secret: String,
    /// The rule's severity, or `low` when a `downgrade` pattern matched the secret.
    pub severity: Severity,
    /// The identifier half of a paired credential (the rule's `id` group), if the rule has one.
    pub paired_id: Option<String>,
}

/// A confirmed match relative to the window it was found in: what the window memo keeps.
#[derive(Debug)]
struct WindowMatch {
    span: Range<usize>,
    secret_span: Range<usize>,
    secret: String,
    severity: Severity,
    paired_id: Option<String>,
}

/// Matches blobs against a [`RuleSet`]. Shared by all threads of a scan.
#[derive(Debug)]
pub struct Matcher<'r> {
    rules: &'r RuleSet,
    prefilter: Prefilter,
    use_prefilter: bool,
    /// Keyword hits per distinct chunk of text.
    chunk_hits: Table<u128, Vec<prefilter::Hit>>,
    /// Confirmed matches per (distinct window of text, rule).
    window_matches: Table<(u128, u32), Vec<WindowMatch>>,
}

impl<'r> Matcher<'r> {
    /// A matcher for `rules`, with the keyword prefilter on.
    pub fn new(rules: &'r RuleSet) -> Matcher<'r> {
        Matcher {
            rules,
            prefilter: Prefilter::new(rules),
            use_prefilter: true,
            chunk_hits: Table::default(),
            window_matches: Table::default(),
        }
    }

    /// Turns the prefilter off: every rule's regex runs over every whole blob. Slow; it exists so
    /// tests can prove the prefilter changes nothing.
    pub fn with_prefilter(mut self, on: bool) -> Self {
        self.use_prefilter = on;
        self
    }

    /// The rule set this matcher uses.
    pub fn rules(&self) -> &'r RuleSet {
        self.rules
    }

    /// All matches in `bytes`, at most one per secret span, sorted by position.
    pub fn scan(&self, bytes: &[u8]) -> Vec<Match> {
        let mut found = Vec::new();
        if self.use_prefilter {
            let mut by_rule: Vec<Vec<(usize, usize)>> = Vec::new();
            for chunk in memo::chunks(bytes) {
                let text = &bytes[chunk.clone()];
                let key = content_hash(text);
                let hits = self
                    .chunk_hits
                    .get_or_compute(key, key, || self.prefilter.hits(text));
                for h in hits.iter() {
                    if by_rule.is_empty() {
                        by_rule = vec![Vec::new(); self.rules.rules().len()];
                    }
                    let (start, end) =
                        (chunk.start + h.start as usize, chunk.start + h.end as usize);
                    by_rule[h.rule as usize].push((start, end));
                }
            }
            for (idx, positions) in by_rule.iter_mut().enumerate() {
                if positions.is_empty() {
                    continue;
                }
                positions.sort_unstable();
                self.confirm(idx, bytes, positions, &mut found);
            }
            for &idx in self.prefilter.keywordless() {
                self.confirm(idx, bytes, &[], &mut found);
            }
        } else {
            for idx in 0..self.rules.rules().len() {
                self.confirm_everywhere(idx, bytes, &mut found);
            }
        }
        resolve_overlaps(self.rules, found)
    }

    /// Runs rule `idx` in the windows around its keyword hits (sorted by start); a rule without
    /// keywords runs over the whole blob.
    fn confirm(&self, idx: RuleIdx, bytes: &[u8], hits: &[(usize, usize)], out: &mut Vec<Match>) {
        let rule = self.rules.rule(idx);
        let windows: Vec<Range<usize>> = if hits.is_empty() {
            std::iter::once(0..bytes.len()).collect()
        } else {
            let after = if rule.categories.contains(&Category::PrivateKey) {
                WINDOW_AFTER_KEY_BLOCK
            } else {
                WINDOW_AFTER
            };
            windows_around(bytes, hits, after)
        };
        for window in windows {
            let text = &bytes[window.clone()];
            let key = content_hash(text);
            // The hits wholly inside the window are exactly the keyword occurrences in its text,
            // so the result is a function of the text alone and can be shared between blobs.
            let matches = self
                .window_matches
                .get_or_compute((key, idx as u32), key, || {
                    let local: Vec<(usize, usize)> = hits
                        .iter()
                        .filter(|&&(s, e)| s >= window.start && e <= window.end)
                        .map(|&(s, e)| (s - window.start, e - window.start))
                        .collect();
                    confirm_window(rule, text, |span| {
                        local.iter().any(|&(s, e)| s >= span.start && e <= span.end)
                    })
                });
            out.extend(matches.iter().map(|m| Match {
                rule: idx,
                span: window.start + m.span.start..window.start + m.span.end,
                secret_span: window.start + m.secret_span.start..window.start + m.secret_span.end,
                secret: m.secret.clone(),
                severity: m.severity,
                paired_id: m.paired_id.clone(),
            }));
        }
    }

    /// Runs rule `idx` over the whole blob, checking keyword containment by plain substring search.
    fn confirm_everywhere(&self, idx: RuleIdx, bytes: &[u8], out: &mut Vec<Match>) {
        let rule = self.rules.rule(idx);
        let found = confirm_window(rule, bytes, |span| rule.has_keyword_in(&bytes[span]));
        out.extend(found.into_iter().map(|m| Match {
            rule: idx,
            span: m.span,
            secret_span: m.secret_span,
            secret: m.secret,
            severity: m.severity,
            paired_id: m.paired_id,
        }));
    }
}

/// Runs `rule` over one window's `text`, keeping matches for which `has_keyword(span)` holds;
/// spans are relative to the window.
fn confirm_window(
    rule: &Rule,
    text: &[u8],
    has_keyword: impl Fn(Range<usize>) -> bool,
) -> Vec<WindowMatch> {
    let compiled = rule.compiled();
    let mut out = Vec::new();
    for caps in compiled.pattern.captures_iter(text) {
        let (Some(whole), Some(secret)) = (caps.get(0), caps.get(compiled.secret_group)) else {
            continue;
        };
        let span = whole.range();
        if !rule.keywords.is_empty() && !has_keyword(span.clone()) {
            continue;
        }
        let secret_span = secret.range();
        if let Some((secret, severity)) = accept(rule, text, span.clone(), secret_span.clone()) {
            let paired_id = compiled
                .id_group
                .and_then(|g| caps.get(g))
                .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned());
            out.push(WindowMatch {
                span,
                secret_span,
                secret,
                severity,
                paired_id,
            });
        }
    }
    out
}

/// Merged windows around keyword hits, widened to whole lines.
fn windows_around(bytes: &[u8], hits: &[(usize, usize)], after: usize) -> Vec<Range<usize>> {
    let mut windows: Vec<Range<usize>> = Vec::new();
    for &(start, end) in hits {
        let lo = line_start(bytes, start.saturating_sub(WINDOW_BEFORE));
        let hi = line_end(bytes, (end + after).min(bytes.len()));
        match windows.last_mut() {
            Some(last) if lo <= last.end => last.end = last.end.max(hi),
            _ => windows.push(lo..hi),
        }
    }
    windows
}

fn line_start(bytes: &[u8], pos: usize) -> usize {
    memchr::memrchr(b'\n', &bytes[..pos]).map_or(0, |p| p + 1)
}

fn line_end(bytes: &[u8], pos: usize) -> usize {
    memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |p| pos + p)
}

/// Applies the rule's filters to one regex match in `bytes`: the secret and its severity, or
/// `None` when a filter drops it.
fn accept(
    rule: &Rule,
    bytes: &[u8],
    span: Range<usize>,
    secret_span: Range<usize>,
) -> Option<(String, Severity)> {
    let c = rule.compiled();
    let raw = String::from_utf8_lossy(&bytes[secret_span]);
    let secret = if rule.concat {
        filters::join_literals(&raw)
    } else {
        raw.into_owned()
    };
    let checked = filters::checked_form(&secret, rule.percent_decode);
    let checked = checked.as_ref();
    if secret.is_empty() || c.allow().iter().any(|re| re.is_match(checked.as_bytes())) {
        return None;
    }
    if c.allow_match()
        .iter()
        .any(|re| re.is_match(&bytes[span.clone()]))
    {
        return None;
    }
    if filters::is_template(checked) || (rule.placeholders && filters::is_placeholder(checked)) {
        return None;
    }
    if rule
        .min_distinct
        .is_some_and(|n| filters::distinct_chars(checked) < n)
    {
        return None;
    }
    if rule
        .entropy
        .is_some_and(|t| !filters::meets_entropy(checked, &t))
    {
        return None;
    }
    let severity = if c
        .downgrade()
        .iter()
        .any(|re| re.is_match(checked.as_bytes()))
    {
        Severity::Low
    } else {
        rule.severity
    };
    Some((secret, severity))
}

/// Keeps one match per secret: where secret spans overlap, the more specific rule wins: non-generic
/// over generic, then a rule whose keyword is part of the secret itself (a provider prefix such as
/// `SG.` says more than a setting name such as `EMAIL_HOST_PASSWORD`), then a match that also found
/// the secret's identifier (a paired credential), then higher confidence, then
/// the longer secret, then the earlier rule. A match of a paired credential's identifier inside
/// the paired match is dropped.
fn resolve_overlaps(rules: &RuleSet, mut found: Vec<Match>) -> Vec<Match> {
    if found.len() < 2 {
        return found;
    }
    found.sort_by(|a, b| {
        let (ra, rb) = (rules.rule(a.rule), rules.rule(b.rule));
        let prefix_a = !ra.keywords.is_empty() && ra.has_keyword_in(a.secret.as_bytes());
        let prefix_b = !rb.keywords.is_empty() && rb.has_keyword_in(b.secret.as_bytes());
        ra.is_generic()
            .cmp(&rb.is_generic())
            .then(prefix_b.cmp(&prefix_a))
            .then(b.paired_id.is_some().cmp(&a.paired_id.is_some()))
            .then(rb.confidence.cmp(&ra.confidence))
            .then(b.secret_span.len().cmp(&a.secret_span.len()))
            .then(a.rule.cmp(&b.rule))
            .then(a.span.start.cmp(&b.span.start))
    });
    let mut kept: Vec<Match> = Vec::with_capacity(found.len());
    for m in found {
        let overlaps = kept.iter().any(|k| {
            k.secret_span.start < m.secret_span.end && m.secret_span.start < k.secret_span.end
        });
        if !overlaps {
            kept.push(m);
        }
    }
    // The identifier half of a paired finding is part of that finding, not a finding of its own.
    let pairs: Vec<(Range<usize>, String)> = kept
        .iter()
        .filter_map(|m| Some((m.span.clone(), m.paired_id.clone()?)))
        .collect();
    kept.retain(|m| {
        !pairs.iter().any(|(span, id)| {
            m.secret == *id && span.start <= m.secret_span.start && m.secret_span.end <= span.end
        })
    });
    kept.sort_by(|a, b| a.span.start.cmp(&b.span.start).then(a.rule.cmp(&b.rule)));
    kept
}
