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
    chunk_hits: Table<u128, prefilter::Hit>,
    /// Confirmed matches per (distinct window of text, rule).
    window_matches: Table<(u128, u32), WindowMatch>,
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

    /// Forgets the memo tables (what distinct chunks and windows of text produced), freeing
    /// their memory; later scans fill them again. Results do not change.
    pub fn forget(&self) {
        self.chunk_hits.clear();
        self.window_matches.clear();
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
                let hits = if text.len() <= memo::MAX_REMEMBERED_TEXT {
                    let key = content_hash(text);
                    self.chunk_hits
                        .get_or_compute(key, key, || self.prefilter.hits(text))
                } else {
                    std::sync::Arc::new(self.prefilter.hits(text))
                };
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
    /// keywords runs over the whole blob. Linear in the blob and the hits whatever their density:
    /// windows are merged as they are built, and each window takes its own run of the sorted hits.
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
        let mut next_hit = 0;
        for window in windows {
            // Every hit lies in the window built around it, and windows are disjoint and sorted,
            // so the hits of this window are the next run of the sorted list.
            let first = next_hit;
            while next_hit < hits.len() && hits[next_hit].0 < window.end {
                next_hit += 1;
            }
            let in_window = &hits[first..next_hit];
            let text = &bytes[window.clone()];
            let compute = || {
                let keywords = KeywordSpans::new(in_window, window.start);
                confirm_window(rule, text, |span| keywords.any_within(span))
            };
            // The hits wholly inside the window are exactly the keyword occurrences in its text,
            // so the result is a function of the text alone and can be shared between blobs. A
            // window too large to recur (one long minified line) is not remembered.
            let matches = if text.len() <= memo::MAX_REMEMBERED_TEXT {
                let key = content_hash(text);
                self.window_matches
                    .get_or_compute((key, idx as u32), key, compute)
            } else {
                std::sync::Arc::new(compute())
            };
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

/// The keyword occurrences of one window, relative to it, for "does this match contain a
/// keyword?" in logarithmic time: sorted by start, with the smallest end of every suffix.
struct KeywordSpans {
    starts: Vec<usize>,
    /// `min_end[i]`: the smallest end among the hits `i..`.
    min_end: Vec<usize>,
}

impl KeywordSpans {
    /// `hits` sorted by start, in blob offsets; `base` is the window's start.
    fn new(hits: &[(usize, usize)], base: usize) -> KeywordSpans {
        let starts = hits.iter().map(|&(s, _)| s - base).collect();
        let mut min_end: Vec<usize> = hits.iter().map(|&(_, e)| e - base).collect();
        for i in (0..min_end.len().saturating_sub(1)).rev() {
            min_end[i] = min_end[i].min(min_end[i + 1]);
        }
        KeywordSpans { starts, min_end }
    }

    /// Whether some keyword occurrence lies wholly inside `span`.
    fn any_within(&self, span: Range<usize>) -> bool {
        let i = self.starts.partition_point(|&s| s < span.start);
        i < self.starts.len() && self.min_end[i] <= span.end
    }
}

/// Merged windows around keyword hits (sorted by start), widened to whole lines. Built in one
/// pass: a hit whose window reaches into the previous one extends it, and line starts and ends are
/// looked for only in text no earlier window covers, so every byte is scanned at most once or twice
/// however many hits share a line.
fn windows_around(bytes: &[u8], hits: &[(usize, usize)], after: usize) -> Vec<Range<usize>> {
    let mut windows: Vec<Range<usize>> = Vec::new();
    for &(start, end) in hits {
        let from = start.saturating_sub(WINDOW_BEFORE);
        let to = (end + after).min(bytes.len());
        let Some(last) = windows.last_mut() else {
            windows.push(line_start(bytes, from)..line_end(bytes, to));
            continue;
        };
        if from <= last.end {
            // The line start is at or before `from`, so inside or before the last window.
            if to > last.end {
                last.end = line_end(bytes, to);
            }
            continue;
        }
        // The last window ends at a line end; the line holding `from` starts after it unless no
        // line end lies between them.
        match memchr::memrchr(b'\n', &bytes[last.end..from]) {
            Some(p) => {
                let lo = last.end + p + 1;
                windows.push(lo..line_end(bytes, to));
            }
            None => last.end = last.end.max(line_end(bytes, to)),
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
fn resolve_overlaps(rules: &RuleSet, found: Vec<Match>) -> Vec<Match> {
    if found.len() < 2 {
        return found;
    }
    // Whether a rule's keyword is part of the secret is looked up once per match, not once per
    // comparison.
    let mut keyed: Vec<(bool, Match)> = found
        .into_iter()
        .map(|m| {
            let r = rules.rule(m.rule);
            (
                !r.keywords.is_empty() && r.has_keyword_in(m.secret.as_bytes()),
                m,
            )
        })
        .collect();
    keyed.sort_by(|(prefix_a, a), (prefix_b, b)| {
        let (ra, rb) = (rules.rule(a.rule), rules.rule(b.rule));
        ra.is_generic()
            .cmp(&rb.is_generic())
            .then(prefix_b.cmp(prefix_a))
            .then(b.paired_id.is_some().cmp(&a.paired_id.is_some()))
            .then(rb.confidence.cmp(&ra.confidence))
            .then(b.secret_span.len().cmp(&a.secret_span.len()))
            .then(a.rule.cmp(&b.rule))
            .then(a.span.start.cmp(&b.span.start))
    });
    let found = keyed.into_iter().map(|(_, m)| m);
    // Kept secret spans never overlap one another (and are never empty: `accept` drops empty
    // secrets), so only the last one starting before a new span's end can overlap it.
    let mut kept_spans: std::collections::BTreeMap<usize, usize> = Default::default();
    let mut kept: Vec<Match> = Vec::with_capacity(found.len());
    for m in found {
        let (start, end) = (m.secret_span.start, m.secret_span.end);
        let overlaps = kept_spans
            .range(..end)
            .next_back()
            .is_some_and(|(_, &e)| e > start);
        if !overlaps {
            kept_spans.insert(start, end);
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
