//! Where a rule's regex runs: windows around its keyword hits, built as the hits stream in, and
//! the pieces a large window is cut into so that repeated text is confirmed once.
//!
//! Linear whatever the input's shape: a window is widened to whole lines only up to
//! [`LINE_SLACK`] bytes (a multi-megabyte minified line does not turn every hit into a scan of the
//! whole line), each byte is looked at a bounded number of times while windows are built, and a
//! large merged window is cut into [`TILE`]-sized pieces whose results are remembered by content
//! (a run of one keyword or a million identical lines is confirmed a few dozen times, not once
//! per hit).

use std::collections::HashMap;
use std::ops::Range;

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

/// Builds a rule's merged windows from its keyword hits, which arrive in (nearly) ascending order:
/// a hit whose window reaches the previous one extends it.
#[derive(Debug, Default)]
pub struct WindowBuilder {
    pub windows: Vec<Range<usize>>,
}

impl WindowBuilder {
    /// Adds the hit `start..end` of a rule whose matches may end `after` bytes past it.
    pub fn add(&mut self, bytes: &[u8], start: usize, end: usize, after: usize) {
        let from = start.saturating_sub(WINDOW_BEFORE);
        let to = (end + after).min(bytes.len());
        match self.windows.last_mut() {
            None => self
                .windows
                .push(line_start(bytes, from)..line_end(bytes, to)),
            Some(last) if from <= last.end => {
                // Overlapping hits arrive by end, so a start may be a keyword's length earlier.
                if from < last.start {
                    last.start = line_start(bytes, from);
                }
                if to > last.end {
                    last.end = line_end(bytes, to);
                }
            }
            Some(last) => {
                let lo = line_start(bytes, from).max(last.end);
                if lo <= last.end {
                    last.end = last.end.max(line_end(bytes, to));
                } else {
                    self.windows.push(lo..line_end(bytes, to));
                }
            }
        }
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
        Groups { of_rule, groups }
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
    fn short_lines_give_whole_line_windows() {
        let text = b"one\ntwo token here\nthree\n";
        let mut w = WindowBuilder::default();
        w.add(text, 8, 13, WINDOW_AFTER);
        assert_eq!(w.windows, vec![0..text.len()]);
    }

    #[test]
    fn a_long_line_gives_a_bounded_window() {
        let mut text = vec![b'a'; 100_000];
        text[50_000..50_005].copy_from_slice(b"token");
        let mut w = WindowBuilder::default();
        w.add(&text, 50_000, 50_005, WINDOW_AFTER);
        let win = &w.windows[0];
        assert_eq!(win.start, 50_000 - WINDOW_BEFORE - LINE_SLACK);
        assert_eq!(win.end, 50_005 + WINDOW_AFTER + LINE_SLACK);
    }

    #[test]
    fn dense_hits_merge_and_tiles_cover_the_window() {
        let text = b"password = 'x'\n".repeat(20_000);
        let mut w = WindowBuilder::default();
        for i in 0..20_000 {
            w.add(&text, i * 15, i * 15 + 8, WINDOW_AFTER);
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
}
