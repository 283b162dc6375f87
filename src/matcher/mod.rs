//! The matcher: keyword prefilter → candidate rules and byte windows → the rule's regex confirms →
//! filters (allow lists, placeholders, distinct characters, entropy). It sees only bytes: never a
//! path or a commit. Overlapping matches of different rules are resolved here, so each secret is
//! reported once, by the most specific rule.

pub mod filters;
mod generic;
pub mod memo;
pub mod prefilter;
pub mod windows;

use std::ops::Range;

use crate::rules::{Category, Rule, RuleIdx, RuleSet, Severity};
use generic::GenericSet;
use memo::{content_hash, Table};
use prefilter::Prefilter;
use windows::{Groups, Piece, WindowBuilder};

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

/// How a blob's windows are cut (see [`windows`]); the matches do not depend on it, only the cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// A fixed reach in bytes around each hit: the least work for text seen once, where windows
    /// of nearby hits merge and each window's fixed cost is paid rarely.
    Bytes,
    /// Also a few lines around each hit, for rules whose matches span few lines: the least work
    /// for text that repeats (a history's versions of a file), whose small pieces the memo finds
    /// again. Measured against `Bytes`: a Django history sweep 0.94x and 0.97x CPU (two runs of 7
    /// pairs); one-thread scans of generated keyword-dense files 1.1x to 1.3x
    /// (scripts/bench-adversarial.sh shapes).
    Lines,
}

/// Matches blobs against a [`RuleSet`]. Shared by all threads of a scan.
#[derive(Debug)]
pub struct Matcher<'r> {
    rules: &'r RuleSet,
    prefilter: Prefilter,
    use_prefilter: bool,
    /// Rules that share their windows, see [`Groups`].
    groups: Groups,
    /// Keyword hits per distinct chunk of text.
    chunk_hits: Table<u128, prefilter::Hit>,
    /// Confirmed matches per (distinct piece of text, group of rules), each with the position of
    /// its rule in the group: one lookup per piece for all rules sharing it.
    window_matches: Table<(u128, u32), (u32, WindowMatch)>,
    /// One pass over a piece for all generic rules at once, see [`GenericSet`].
    generic: GenericSet,
}

/// A piece of a window with the content key its results are remembered under (`None` for text too
/// long to remember).
struct KeyedPiece {
    piece: Piece,
    key: Option<u128>,
}

impl<'r> Matcher<'r> {
    /// A matcher for `rules`, with the keyword prefilter on.
    pub fn new(rules: &'r RuleSet) -> Matcher<'r> {
        Matcher {
            rules,
            prefilter: Prefilter::new(rules),
            use_prefilter: true,
            generic: GenericSet::new(rules),
            groups: Groups::new(rules, |idx| reach(rules, idx)),
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
        self.generic.hits.clear();
    }

    /// The rule set this matcher uses.
    pub fn rules(&self) -> &'r RuleSet {
        self.rules
    }

    /// All matches in `bytes`, at most one per secret span, sorted by position.
    pub fn scan(&self, bytes: &[u8]) -> Vec<Match> {
        self.scan_cut(bytes, Cut::Bytes)
    }

    /// As [`Matcher::scan`], with windows cut as `cut` says; the matches are the same.
    pub fn scan_cut(&self, bytes: &[u8], cut: Cut) -> Vec<Match> {
        let mut found = Vec::new();
        if self.use_prefilter {
            // Windows are built as the hits stream in: a keyword-dense text has millions of hits
            // but few merged windows, so hits are never collected per rule. A hit reaches the
            // group of each rule using its keyword; the rules of a group usually follow one
            // another, and a repeated hit changes nothing, so it is added once per group.
            let mut by_group: Vec<WindowBuilder> = Vec::new();
            let mut last = (u32::MAX, 0, 0);
            let mut add = |rule: usize, start: usize, end: usize| {
                let g = self.groups.of(rule);
                if last == (g, start, end) {
                    return;
                }
                last = (g, start, end);
                if by_group.is_empty() {
                    by_group = (0..self.groups.len())
                        .map(|_| WindowBuilder::default())
                        .collect();
                }
                let lines = match cut {
                    Cut::Lines => self.groups.line_ends(g, self.rules),
                    Cut::Bytes => None,
                };
                by_group[g as usize].add(bytes, start, end, self.groups.after(g), lines);
            };
            for chunk in memo::chunks(bytes) {
                // A chunk cut mid-line is searched a keyword's length further, for a keyword that
                // straddles the cut; hits starting past the cut belong to the next chunk.
                let end = if bytes[chunk.end - 1] == b'\n' && !self.prefilter.spans_lines() {
                    chunk.end
                } else {
                    (chunk.end + self.prefilter.max_keyword_len().saturating_sub(1))
                        .min(bytes.len())
                };
                let text = &bytes[chunk.start..end];
                let cut = chunk.len();
                if text.len() <= memo::MAX_REMEMBERED_TEXT {
                    let key = content_hash(text);
                    let hits = self
                        .chunk_hits
                        .get_or_compute(key, key, || self.prefilter.hits(text));
                    for h in hits.iter().filter(|h| (h.start as usize) < cut) {
                        for &rule in self.prefilter.rules_of(h.keyword) {
                            add(
                                rule,
                                chunk.start + h.start as usize,
                                chunk.start + h.end as usize,
                            );
                        }
                    }
                } else {
                    self.prefilter.for_each_hit(text, |rule, start, end| {
                        if start < cut {
                            add(rule, chunk.start + start, chunk.start + end)
                        }
                    });
                }
            }
            for (g, builder) in by_group.iter().enumerate() {
                if !builder.windows.is_empty() {
                    self.confirm(g as u32, bytes, &builder.windows, &mut found);
                }
            }
            // A rule without keywords has its own group, whose window is the whole blob.
            let mut whole_done = Vec::new();
            for &idx in self.prefilter.keywordless() {
                let g = self.groups.of(idx);
                if !bytes.is_empty() && !whole_done.contains(&g) {
                    whole_done.push(g);
                    self.confirm(
                        g,
                        bytes,
                        std::slice::from_ref(&(0..bytes.len())),
                        &mut found,
                    );
                }
            }
        } else {
            for idx in 0..self.rules.rules().len() {
                self.confirm_everywhere(idx, bytes, &mut found);
            }
        }
        resolve_overlaps(self.rules, found)
    }

    /// Runs the rules of group `g` in `windows` (disjoint, sorted). A large window is searched
    /// in pieces; the results of a piece are remembered by content for the whole group, so
    /// repeated text is confirmed once; a match overlapping the previous one of the same rule
    /// (found again from the next piece) is dropped, as one search over the whole window would
    /// have stepped over it.
    fn confirm(&self, g: u32, bytes: &[u8], windows: &[Range<usize>], out: &mut Vec<Match>) {
        let members = self.groups.members(g);
        let mut last_end = vec![0; members.len()];
        for kp in keyed_pieces(bytes, windows, self.groups.after(g)) {
            let base = kp.piece.keep.start;
            let compute = || self.confirm_members(members, bytes, &kp);
            let matches = match kp.key {
                Some(key) => self.window_matches.get_or_compute((key, g), key, compute),
                None => compute().into(),
            };
            for (i, m) in matches.iter() {
                let i = *i as usize;
                let span = base + m.span.start..base + m.span.end;
                if span.start < last_end[i] {
                    continue;
                }
                last_end[i] = span.end;
                out.push(Match {
                    rule: members[i],
                    span,
                    secret_span: base + m.secret_span.start..base + m.secret_span.end,
                    secret: m.secret.clone(),
                    severity: m.severity,
                    paired_id: m.paired_id.clone(),
                });
            }
        }
    }

    /// The matches of each rule of `members` in one piece, tagged with the rule's position.
    fn confirm_members(
        &self,
        members: &[RuleIdx],
        bytes: &[u8],
        kp: &KeyedPiece,
    ) -> Vec<(u32, WindowMatch)> {
        let mut out = Vec::new();
        for (i, &idx) in members.iter().enumerate() {
            let (start, end) = (kp.piece.keep.start, kp.piece.search_end);
            let may_match = kp
                .key
                .is_none_or(|key| self.generic.may_match(idx, bytes, start, end, key));
            if may_match {
                let found = confirm_piece(self.rules.rule(idx), bytes, &kp.piece);
                out.extend(found.into_iter().map(|m| (i as u32, m)));
            }
        }
        out
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

/// The pieces of `windows` for rules whose matches may end `after` bytes past a keyword, each with
/// its content key. The result of a piece is a function of its text, the byte before it (for `\b`
/// and `^`) and where keeping stops, so it can be shared between blobs, pieces and rules.
fn keyed_pieces(bytes: &[u8], windows: &[Range<usize>], after: usize) -> Vec<KeyedPiece> {
    let mut out = Vec::new();
    for window in windows {
        for piece in windows::pieces(bytes, window.clone(), after) {
            let base = piece.keep.start;
            let text = &bytes[base.saturating_sub(1)..piece.search_end];
            let key = (text.len() <= memo::MAX_REMEMBERED_TEXT).then(|| {
                let seed = ((piece.keep.len() as u64) << 1) | u64::from(base == 0);
                memo::content_hash_seeded(text, seed)
            });
            out.push(KeyedPiece { piece, key });
        }
    }
    out
}

/// How far past a keyword hit a match of rule `idx` may end.
fn reach(rules: &RuleSet, idx: RuleIdx) -> usize {
    if rules.rule(idx).categories.contains(&Category::PrivateKey) {
        windows::WINDOW_AFTER_KEY_BLOCK
    } else {
        windows::WINDOW_AFTER
    }
}

/// Runs `rule` over `bytes` (the whole blob), keeping matches for which `has_keyword(span)` holds.
fn confirm_window(
    rule: &Rule,
    text: &[u8],
    has_keyword: impl Fn(Range<usize>) -> bool,
) -> Vec<WindowMatch> {
    let compiled = rule.compiled();
    let mut out = Vec::new();
    for caps in compiled.pattern.captures_iter(text) {
        if let Some(m) = window_match(rule, text, &caps, 0, &has_keyword) {
            out.push(m);
        }
    }
    out
}

/// Runs `rule` over one piece of `bytes`: the search starts at the piece, sees the bytes before it
/// (so `\b` and `^` are judged on the real text) and stops at `search_end`; matches starting in
/// `keep` are kept, with spans relative to the piece's start. A match must contain one of the
/// rule's keywords.
fn confirm_piece(rule: &Rule, bytes: &[u8], piece: &Piece) -> Vec<WindowMatch> {
    let compiled = rule.compiled();
    let hay = &bytes[..piece.search_end];
    let base = piece.keep.start;
    let has_keyword = |span: Range<usize>| rule.has_keyword_in(&hay[span]);
    let mut out = Vec::new();
    let mut at = base;
    while at <= hay.len() {
        let Some(caps) = compiled.pattern.captures_at(hay, at) else {
            break;
        };
        let Some(whole) = caps.get(0).filter(|w| w.start() < piece.keep.end) else {
            break;
        };
        at = whole.end() + usize::from(whole.is_empty());
        out.extend(window_match(rule, hay, &caps, base, &has_keyword));
    }
    out
}

/// One regex match of `rule` in `text` as a [`WindowMatch`] (spans less `base`), or `None` when it
/// holds no keyword or a filter drops it.
fn window_match(
    rule: &Rule,
    text: &[u8],
    caps: &regex::bytes::Captures<'_>,
    base: usize,
    has_keyword: &impl Fn(Range<usize>) -> bool,
) -> Option<WindowMatch> {
    let compiled = rule.compiled();
    let (whole, secret) = (caps.get(0)?, caps.get(compiled.secret_group)?);
    let span = whole.range();
    if !rule.keywords.is_empty() && !has_keyword(span.clone()) {
        return None;
    }
    let secret_span = secret.range();
    let (secret, severity) = accept(rule, text, span.clone(), secret_span.clone())?;
    let paired_id = compiled
        .id_group
        .and_then(|g| caps.get(g))
        .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned());
    Some(WindowMatch {
        span: span.start - base..span.end - base,
        secret_span: secret_span.start - base..secret_span.end - base,
        secret,
        severity,
        paired_id,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Rules that share windows (eight `django.secret-key.*` rules, three `url.*` rules) are
    /// confirmed on shared pieces; each still finds exactly what it finds alone, over the whole
    /// blob, here in text long enough to be cut into tiles.
    #[test]
    fn rules_sharing_windows_find_what_they_find_alone() {
        let rules = RuleSet::builtin().expect("built-in rules");
        let mut text = String::from("import os\n");
        for i in 0..3000 {
            text.push_str(&format!("# SECRET_KEY and password notes, line {i}\n"));
        }
        text.push_str("SECRET_KEY = 'k3#v9!w$q2@zr8^m1&x7*p0(t-_=+)e4y6u5a1b2c3d4e5'\n");
        text.push_str("DATABASE_URL = 'postgres://app:Vb7qLx2Rt9Kw@db.internal:5432/app'\n");
        text.push_str("api_key = \"ncTIsHVcQXPQjWJQh3qb38JzfqfB8mEf\"\n");
        let fast = Matcher::new(&rules).scan(text.as_bytes());
        let slow = Matcher::new(&rules)
            .with_prefilter(false)
            .scan(text.as_bytes());
        let ids = |ms: &[Match]| -> Vec<String> {
            ms.iter()
                .map(|m| rules.rule(m.rule).id.as_str().to_string())
                .collect()
        };
        assert!(fast.len() >= 3, "{:?}", ids(&fast));
        assert_eq!(fast, slow, "{:?} vs {:?}", ids(&fast), ids(&slow));
    }
}
