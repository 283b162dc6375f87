//! Where a rule's regex runs: windows around its keyword hits, built as the hits stream in, and
//! the pieces a large window is cut into so that repeated text is confirmed once.
//!
//! For rules whose matches span few lines (most: a pattern's line ends are counted from its
//! syntax), a window is also cut that many lines around each hit, so the generic rules, which get
//! most hits, confirm a few lines instead of ~2.5 KiB each.
//!
//! Linear whatever the input's shape: a window is widened to whole lines only up to
//! [`LINE_SLACK`] bytes (a multi-megabyte minified line does not turn every hit into a scan of the
//! whole line), each byte is looked at a bounded number of times while windows are built, and a
//! large merged window is cut into [`TILE`]-sized pieces whose results are remembered by content
//! (a run of one keyword or a million identical lines is confirmed a few dozen times, not once
//! per hit).

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::OnceLock;

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::rules::{RuleIdx, RuleSet};

/// How far before a keyword hit a match may start (then widened to the start of the line). A
/// rule's regex runs only in such windows around its keyword hits, so a multi-megabyte bundle with
/// one keyword costs one small regex search, and unchanged text in near-copy blobs is recognised.
pub const WINDOW_BEFORE: usize = 512;
/// How far after a keyword hit a match may end (then widened to the end of the line): room for a
/// Django key split over many concatenated literals.
pub const WINDOW_AFTER: usize = 2 * 1024;
/// The same for private-key rules: a PEM block of an 8192-bit RSA key or a large PGP key block.
pub const WINDOW_AFTER_KEY_BLOCK: usize = 64 * 1024;
/// How far a window is widened to reach a line start or end. Ordinary source lines are far
/// shorter, so there windows are whole lines as before; in a long minified line the window stops
/// here, and the regex still sees the bytes before it (`\b` and `^` are judged on the real text).
pub const LINE_SLACK: usize = 4 * 1024;
/// Windows larger than this are confirmed in pieces of about [`TILE`] bytes.
pub const TILE_ABOVE: usize = 64 * 1024;
/// The size of the pieces a large window is cut into (at a line end in its second half when there
/// is one). In periodic text of period p there are at most p distinct pieces, so the content memo
/// recognises the rest.
pub const TILE: usize = 16 * 1024;

/// The most line ends a group's matches may hold for its windows to be cut at lines: a bound
/// above this saves little (the byte bounds are reached first on ordinary source) and costs a look
/// at that many lines around each line with a hit.
pub const MAX_LINE_ENDS: usize = 8;

/// Line-cut windows less than this far apart are merged: a window costs a few hundred nanoseconds
/// per rule besides its bytes (a content hash, memo lookups, a regex search's start), more than a
/// few dozen bytes of gap cost. Measured with line-cut windows (one-thread CPU): a generated Python file with
/// a keyword every 4 lines took 1.9x the byte windows' time unmerged, 1.1x at 64; a Django history
/// sweep, whose pieces are mostly found in the memo (small ones more often), took ~2% more at 64
/// than unmerged (7 pairs) and ~12% more at 128 (2 runs).
pub const MERGE_GAP: usize = 64;

/// Builds a rule's merged windows from its keyword hits, which arrive in (nearly) ascending order:
/// a hit whose window reaches the previous one extends it.
///
/// For rules whose matches hold at most n line ends, a window is also cut n lines before and after
/// the hit (Django's history has ~40-byte lines, so a 2.5 KiB byte window is ~60 lines). The lines
/// around a hit are looked up only when the hit falls outside the window built so far; before it,
/// hits on one line reuse the first one's answer, and after it, the line ends found are kept for
/// the next hits, so each byte is looked at a bounded number of times.
#[derive(Debug, Default)]
pub struct WindowBuilder {
    pub windows: Vec<Range<usize>>,
    /// The last hit start whose lines were looked up and the start of the line n lines above it
    /// (`None`: further back than [`WINDOW_BEFORE`]).
    back: Option<(usize, Option<usize>)>,
    /// The same after the hit, see [`Ahead`].
    ahead: Ahead,
    /// Bytes searched for line ends before hits, for tests of the bound.
    #[cfg(test)]
    looked: usize,
}

impl WindowBuilder {
    /// Adds the hit `start..end` of a rule whose matches may end `after` bytes past it and hold at
    /// most `lines` line ends (`None`: any number).
    pub fn add(
        &mut self,
        bytes: &[u8],
        start: usize,
        end: usize,
        after: usize,
        lines: Option<usize>,
    ) {
        let from = start.saturating_sub(WINDOW_BEFORE);
        let to = (end + after).min(bytes.len());
        let Some(last) = self.windows.last().cloned() else {
            let from = self.bound_back(bytes, start, from, lines);
            let to = self.bound_ahead(bytes, end, to, lines);
            self.windows
                .push(line_start(bytes, from)..line_end(bytes, to));
            return;
        };
        // A hit inside the window whose reach starts inside it too changes at most its end.
        let from = if start <= last.end && from >= last.start {
            from
        } else {
            self.bound_back(bytes, start, from, lines)
        };
        let to = if to <= last.end {
            to
        } else {
            self.bound_ahead(bytes, end, to, lines)
        };
        let last = self.windows.last_mut().expect("a window");
        if from <= last.end {
            // Overlapping hits arrive by end, so a start may be a keyword's length earlier.
            if from < last.start {
                last.start = line_start(bytes, from);
            }
            if to > last.end {
                last.end = line_end(bytes, to);
            }
        } else {
            let lo = line_start(bytes, from).max(last.end);
            // Byte windows reach far enough to merge on their own; line-cut ones are merged
            // across a small gap.
            let gap = if lines.is_some() { MERGE_GAP } else { 0 };
            if lo <= last.end + gap {
                last.end = last.end.max(line_end(bytes, to));
            } else {
                self.windows.push(lo..line_end(bytes, to));
            }
        }
    }

    /// Where a match holding the hit at `start` may begin: `from`, or later when it may hold
    /// only `lines` line ends.
    fn bound_back(
        &mut self,
        bytes: &[u8],
        start: usize,
        from: usize,
        lines: Option<usize>,
    ) -> usize {
        let Some(n) = lines else { return from };
        let found = match self.back {
            Some((s, found)) if s <= start && memchr::memchr(b'\n', &bytes[s..start]).is_none() => {
                found
            }
            _ => {
                #[cfg(test)]
                {
                    self.looked += start - from;
                }
                lines_back(bytes, from, start, n)
            }
        };
        self.back = Some((start, found));
        found.map_or(from, |f| f.max(from))
    }

    /// Where a match holding the hit ending at `end` must end: by `to`, or sooner when it may hold
    /// only `lines` line ends.
    fn bound_ahead(&mut self, bytes: &[u8], end: usize, to: usize, lines: Option<usize>) -> usize {
        match lines {
            Some(n) => self.ahead.bound(bytes, end, to, n),
            None => to,
        }
    }
}

/// The line ends after the last hit: every one from `from` to `upto`, looked up as far as the
/// n+1-th (where a match holding the hit must end). Hits arrive by end, so each byte is looked
/// at once however many hits its lines hold.
#[derive(Debug, Default)]
struct Ahead {
    from: usize,
    upto: usize,
    line_ends: VecDeque<usize>,
    /// Bytes searched for line ends, for tests of the bound.
    #[cfg(test)]
    looked: usize,
}

impl Ahead {
    /// `to`, or the n+1-th line end at or after `end` when that comes first.
    fn bound(&mut self, bytes: &[u8], end: usize, to: usize, n: usize) -> usize {
        if end < self.from || end > self.upto {
            self.upto = end;
            self.line_ends.clear();
        }
        self.from = end;
        while self.line_ends.front().is_some_and(|&p| p < end) {
            self.line_ends.pop_front();
        }
        while self.line_ends.len() <= n && self.upto < to {
            let next = memchr::memchr(b'\n', &bytes[self.upto..to]);
            #[cfg(test)]
            {
                self.looked += next.map_or(to - self.upto, |p| p + 1);
            }
            match next {
                Some(p) => {
                    self.line_ends.push_back(self.upto + p);
                    self.upto += p + 1;
                }
                None => self.upto = to,
            }
        }
        self.line_ends.get(n).map_or(to, |&t| t.min(to))
    }
}

/// The start of the line `n` lines above the one holding `pos`, if it is at or after `lo`.
fn lines_back(bytes: &[u8], lo: usize, pos: usize, n: usize) -> Option<usize> {
    memchr::memrchr_iter(b'\n', &bytes[lo..pos])
        .nth(n)
        .map(|p| lo + p + 1)
}

/// The most line ends a match of `pattern` can hold, `None` when it is unbounded (a `\s*`, a
/// negated class such as `[^"]*`) or the pattern does not parse. Parsed as the rules are compiled:
/// Unicode off, so `.` stops at a line end unless `(?s)` says otherwise.
pub fn max_line_ends(pattern: &str) -> Option<usize> {
    line_ends(&parse(pattern)?)
}

/// `pattern` parsed as the rules are compiled (Unicode off), or `None` when it does not parse.
pub(super) fn parse(pattern: &str) -> Option<Hir> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()
}

fn line_ends(hir: &Hir) -> Option<usize> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(0),
        HirKind::Literal(lit) => Some(lit.0.iter().filter(|&&b| b == b'\n').count()),
        HirKind::Class(Class::Bytes(c)) => Some(usize::from(
            c.ranges()
                .iter()
                .any(|r| r.start() <= b'\n' && b'\n' <= r.end()),
        )),
        HirKind::Class(Class::Unicode(c)) => Some(usize::from(
            c.ranges()
                .iter()
                .any(|r| r.start() <= '\n' && '\n' <= r.end()),
        )),
        HirKind::Repetition(rep) => match (line_ends(&rep.sub)?, rep.max) {
            (0, _) => Some(0),
            (n, Some(max)) => n.checked_mul(max as usize),
            (_, None) => None,
        },
        HirKind::Capture(cap) => line_ends(&cap.sub),
        HirKind::Concat(subs) => subs
            .iter()
            .try_fold(0usize, |sum, h| sum.checked_add(line_ends(h)?)),
        HirKind::Alternation(subs) => subs
            .iter()
            .try_fold(0usize, |most, h| Some(most.max(line_ends(h)?))),
    }
}

/// Rules whose keyword hits build the same windows: the same keywords (as the prefilter matches
/// them, lowercased for `ignore_case` rules) and the same reach past a hit. Such rules (the
/// `django.secret-key.*` family, `url.*`, `generic.secret.*`) get their windows built, cut into
/// pieces and hashed once for the group; each rule's regex then runs on the shared pieces.
#[derive(Debug)]
pub struct Groups {
    /// Each rule's group. Rules without keywords form groups too (their window is the whole blob).
    of_rule: Vec<u32>,
    /// Each group's rules, in rule order, and how far past a hit their matches may end.
    groups: Vec<(Vec<RuleIdx>, usize)>,
    /// How many line ends each group's matches may hold (see [`WindowBuilder`]), worked out from
    /// the patterns on the group's first hit: parsing every rule up front would cost a pre-push
    /// scan more than it scans.
    lines: Vec<OnceLock<Option<usize>>>,
}

impl Groups {
    /// Groups `rules`; `after(idx)` is how far past a keyword hit a match of rule `idx` may end.
    pub fn new(rules: &RuleSet, after: impl Fn(RuleIdx) -> usize) -> Groups {
        let mut by_key: HashMap<(bool, Vec<String>, usize), u32> = HashMap::new();
        let mut of_rule = Vec::with_capacity(rules.rules().len());
        let mut groups: Vec<(Vec<RuleIdx>, usize)> = Vec::new();
        for (idx, rule) in rules.rules().iter().enumerate() {
            let mut keywords: Vec<String> = rule
                .keywords
                .iter()
                .map(|k| {
                    if rule.ignore_case {
                        k.to_ascii_lowercase()
                    } else {
                        k.clone()
                    }
                })
                .collect();
            keywords.sort_unstable();
            keywords.dedup();
            let reach = after(idx);
            let g = *by_key
                .entry((rule.ignore_case, keywords, reach))
                .or_insert_with(|| {
                    groups.push((Vec::new(), reach));
                    groups.len() as u32 - 1
                });
            groups[g as usize].0.push(idx);
            of_rule.push(g);
        }
        let lines = groups.iter().map(|_| OnceLock::new()).collect();
        Groups {
            of_rule,
            groups,
            lines,
        }
    }

    /// The number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether there is no group (no rule has a keyword).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The group of rule `idx`.
    pub fn of(&self, idx: RuleIdx) -> u32 {
        self.of_rule[idx]
    }

    /// The rules of group `g`.
    pub fn members(&self, g: u32) -> &[RuleIdx] {
        &self.groups[g as usize].0
    }

    /// How far past a keyword hit a match of group `g`'s rules may end.
    pub fn after(&self, g: u32) -> usize {
        self.groups[g as usize].1
    }

    /// How many line ends a match of group `g`'s rules (of `rules`) may hold, when that is at
    /// most [`MAX_LINE_ENDS`].
    pub fn line_ends(&self, g: u32, rules: &RuleSet) -> Option<usize> {
        *self.lines[g as usize].get_or_init(|| {
            let most = self.members(g).iter().try_fold(0, |most, &idx| {
                Some(most.max(max_line_ends(&rules.rule(idx).pattern_source)?))
            });
            most.filter(|&n| n <= MAX_LINE_ENDS)
        })
    }
}

/// One regex search: matches starting in `keep` are kept; the search may run on to `search_end`,
/// so a match that starts near the end of `keep` is found whole.
#[derive(Debug, Clone)]
pub struct Piece {
    pub keep: Range<usize>,
    pub search_end: usize,
}

/// The pieces of `window` for a rule whose matches may end `after` bytes past a keyword: the
/// window itself when it is small, else tiles of about [`TILE`] bytes, each searched `after`
/// bytes further.
pub fn pieces(bytes: &[u8], window: Range<usize>, after: usize) -> Vec<Piece> {
    if window.len() <= TILE_ABOVE {
        return vec![Piece {
            search_end: window.end,
            keep: window,
        }];
    }
    let mut out = Vec::with_capacity(window.len() / TILE + 1);
    let mut pos = window.start;
    while pos < window.end {
        let end = if window.end - pos <= TILE + TILE / 2 {
            window.end
        } else {
            let half = pos + TILE / 2;
            memchr::memrchr(b'\n', &bytes[half..pos + TILE]).map_or(pos + TILE, |p| half + p + 1)
        };
        out.push(Piece {
            keep: pos..end,
            search_end: (end + after).min(window.end),
        });
        pos = end;
    }
    out
}

/// The start of the line holding `pos`, looking back at most [`LINE_SLACK`] bytes.
fn line_start(bytes: &[u8], pos: usize) -> usize {
    let lo = pos.saturating_sub(LINE_SLACK);
    memchr::memrchr(b'\n', &bytes[lo..pos]).map_or(lo, |p| lo + p + 1)
}

/// The end of the line holding `pos`, looking ahead at most [`LINE_SLACK`] bytes.
fn line_end(bytes: &[u8], pos: usize) -> usize {
    let hi = (pos + LINE_SLACK).min(bytes.len());
    memchr::memchr(b'\n', &bytes[pos..hi]).map_or(hi, |p| pos + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_with_the_same_keywords_and_reach_share_a_group() {
        let rules = RuleSet::builtin().expect("built-in rules");
        let idx = |id: &str| {
            rules
                .rules()
                .iter()
                .position(|r| r.id.as_str() == id)
                .unwrap_or_else(|| panic!("no rule {id}"))
        };
        let groups = Groups::new(&rules, |i| i % 2);
        let alike = |a: &str, b: &str| groups.of(idx(a)) == groups.of(idx(b));
        // `i % 2` stands in for the reach: rules next to each other get different ones.
        let (a, b) = ("generic.secret.assignment", "generic.secret.unquoted");
        assert_eq!(alike(a, b), idx(a) % 2 == idx(b) % 2);
        let groups = Groups::new(&rules, |_| WINDOW_AFTER);
        let alike = |a: &str, b: &str| groups.of(idx(a)) == groups.of(idx(b));
        assert!(alike(
            "generic.secret.assignment",
            "generic.secret.unquoted"
        ));
        assert!(alike("url.password", "url.basic-auth"));
        assert!(!alike(
            "generic.secret.assignment",
            "generic.password.assignment"
        ));
        assert!(groups.len() < rules.rules().len());
        for g in 0..groups.len() as u32 {
            assert!(groups.members(g).iter().all(|&i| groups.of(i) == g));
        }
    }

    #[test]
    fn line_ends_are_counted_from_the_pattern() {
        assert_eq!(max_line_ends(r"(?-u)\bghp_[A-Za-z0-9]{36}\b"), Some(0));
        assert_eq!(max_line_ends(r"(?-u)a.b"), Some(0));
        assert_eq!(max_line_ends(r"(?s-u)a.{0,3}b"), Some(3));
        assert_eq!(max_line_ends(r"(?-u)a\r?\nb|c\n\n"), Some(2));
        assert_eq!(max_line_ends(r"(?-u)(?:x[^\S\n]*\n){0,4}y"), Some(4));
        assert_eq!(max_line_ends(r"(?x-u) a [\t\ ]* = \s{0,2} b"), Some(2));
        assert_eq!(max_line_ends(r"(?-u)a\s*b"), None);
        assert_eq!(max_line_ends(r#"(?-u)"[^"]*""#), None);
        assert_eq!(max_line_ends(r"(?-u)a(?:\n)+"), None);
        assert_eq!(max_line_ends(r"(unclosed"), None);
    }

    /// The generic rules get most keyword hits; their windows are cut at lines only while their
    /// patterns keep a small bound (a `\s*` put back would silently cost a few percent of a history
    /// sweep's CPU).
    #[test]
    fn the_generic_rules_windows_are_cut_at_lines() {
        let rules = RuleSet::builtin().expect("built-in rules");
        let groups = Groups::new(&rules, |_| WINDOW_AFTER);
        for id in [
            "generic.secret.assignment",
            "generic.password.assignment",
            "generic.secret.name-value-pair",
            "generic.secret.xml-attribute",
            "url.password",
        ] {
            let idx = rules
                .rules()
                .iter()
                .position(|r| r.id.as_str() == id)
                .unwrap_or_else(|| panic!("no rule {id}"));
            let n = groups.line_ends(groups.of(idx), &rules);
            assert!(n.is_some_and(|n| n <= MAX_LINE_ENDS), "{id}: {n:?}");
        }
    }

    #[test]
    fn line_bounded_windows_hold_n_lines_around_the_hit() {
        let text = b"a\nb\nc\nd token e\nf\ng\nh\n";
        let at = text.windows(5).position(|w| w == b"token").expect("hit");
        let mut w = WindowBuilder::default();
        w.add(text, at, at + 5, WINDOW_AFTER, Some(1));
        assert_eq!(&text[w.windows[0].clone()], b"c\nd token e\nf");
        let mut w = WindowBuilder::default();
        w.add(text, at, at + 5, WINDOW_AFTER, Some(0));
        assert_eq!(&text[w.windows[0].clone()], b"d token e");
        // Hits two lines apart make two windows at n = 0 (when the line between is longer than
        // MERGE_GAP), one at n = 1.
        let text = [b"x token\n".as_slice(), &[b'y'; 100], b"\nz token\n"].concat();
        let second = text.len() - 6;
        for (n, count) in [(0, 2), (1, 1)] {
            let mut w = WindowBuilder::default();
            w.add(&text, 2, 7, WINDOW_AFTER, Some(n));
            w.add(&text, second, second + 5, WINDOW_AFTER, Some(n));
            assert_eq!(w.windows.len(), count, "n = {n}: {:?}", w.windows);
        }
    }

    /// Hits on one line reuse the first one's line lookup, so keyword-dense lines a little longer
    /// than a window's reach are searched for line ends a bounded number of times, not once per hit.
    #[test]
    fn keyword_dense_lines_are_looked_up_once() {
        let line = [b"token".repeat(600), b"\n".to_vec()].concat();
        let text = line.repeat(200);
        let mut w = WindowBuilder::default();
        for (i, _) in text
            .iter()
            .enumerate()
            .filter(|&(i, _)| text[i..].starts_with(b"token"))
        {
            w.add(&text, i, i + 5, WINDOW_AFTER, Some(0));
        }
        // At n = 0 each line is a window of its own, merged with the next across one byte.
        assert_eq!(w.windows, vec![0..text.len() - 1]);
        let looked = w.looked + w.ahead.looked;
        assert!(looked <= 4 * text.len(), "{looked} for {}", text.len());
    }

    #[test]
    fn short_lines_give_whole_line_windows() {
        let text = b"one\ntwo token here\nthree\n";
        let mut w = WindowBuilder::default();
        w.add(text, 8, 13, WINDOW_AFTER, None);
        assert_eq!(w.windows, vec![0..text.len()]);
    }

    #[test]
    fn a_long_line_gives_a_bounded_window() {
        let mut text = vec![b'a'; 100_000];
        text[50_000..50_005].copy_from_slice(b"token");
        let mut w = WindowBuilder::default();
        w.add(&text, 50_000, 50_005, WINDOW_AFTER, None);
        let win = &w.windows[0];
        assert_eq!(win.start, 50_000 - WINDOW_BEFORE - LINE_SLACK);
        assert_eq!(win.end, 50_005 + WINDOW_AFTER + LINE_SLACK);
    }

    #[test]
    fn dense_hits_merge_and_tiles_cover_the_window() {
        let text = b"password = 'x'\n".repeat(20_000);
        let mut w = WindowBuilder::default();
        for i in 0..20_000 {
            w.add(&text, i * 15, i * 15 + 8, WINDOW_AFTER, None);
        }
        assert_eq!(w.windows.len(), 1);
        let win = w.windows[0].clone();
        let ps = pieces(&text, win.clone(), WINDOW_AFTER);
        assert_eq!(ps[0].keep.start, win.start);
        assert_eq!(ps.last().map(|p| p.keep.end), Some(win.end));
        for p in ps.windows(2) {
            assert_eq!(p[0].keep.end, p[1].keep.start);
            assert_eq!(text[p[0].keep.end - 1], b'\n');
        }
        // Cut at line ends of identical lines, the tiles hold few distinct texts.
        let mut distinct: Vec<&[u8]> = ps[..ps.len() - 1]
            .iter()
            .map(|p| &text[p.keep.start..p.search_end])
            .collect();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() <= 2, "{}", distinct.len());
    }

    /// Matches over several lines are found in windows cut a few lines around each keyword, among
    /// keyword-dense lines, exactly as over the whole blob.
    #[test]
    fn matches_over_lines_are_found_in_line_cut_windows() {
        use crate::matcher::{Cut, Matcher};
        let rules = RuleSet::builtin().expect("built-in rules");
        let filler = |text: &mut String| {
            for i in 0..40 {
                text.push_str(&format!(
                    "token_type = 'bearer'  # password key secret {i}\n"
                ));
            }
        };
        let planted = [
            ("generic.secret.assignment", "const apiToken =\n  'UFawfnXlgH1JnxlJPv4bxOe5Lxl5S8yL';\n"),
            ("generic.secret.xml-attribute", "<add\n    key=\"DeployToken\"\n    value=\"aDGJ9zmaKs5rYkFcKTmfb729qKLmymMIXoiaSXed\" />\n"),
            ("generic.secret.name-value-pair", "        - name: INTERNAL_API_TOKEN\n          value: \"hQ7mVb2Kx9RtLw4ZpN8cY3sJ6dF1gA5e\"\n"),
            ("database.password.after-host", "$host = 'db.acme.io';\n$dbname = 'shop';\n$user = 'shop';\n\n$pass = 'zxhIVB09s7hV';\n"),
        ];
        let mut text = String::new();
        filler(&mut text);
        for (_, p) in planted {
            text.push_str(p);
            filler(&mut text);
        }
        let fast = Matcher::new(&rules).scan_cut(text.as_bytes(), Cut::Lines);
        let slow = Matcher::new(&rules)
            .with_prefilter(false)
            .scan(text.as_bytes());
        let ids: Vec<&str> = fast
            .iter()
            .map(|m| rules.rule(m.rule).id.as_str())
            .collect();
        for (id, _) in planted {
            assert!(ids.contains(&id), "{id} not in {ids:?}");
        }
        assert_eq!(fast, slow, "{ids:?}");
        let bytes = Matcher::new(&rules).scan(text.as_bytes());
        assert_eq!(fast, bytes, "{ids:?}");
    }
}
