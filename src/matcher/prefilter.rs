//! The keyword prefilter: one aho-corasick pass finds every occurrence of every rule keyword. A
//! rule is a candidate for a blob only if one of its keywords occurs in it; the hit offsets also
//! bound where its regex has to run.
//!
//! The automaton is case-sensitive and holds *probes*, literals such that every keyword occurrence
//! contains exactly one probe occurrence at a known offset: a case-sensitive keyword is its own
//! probe; a case-insensitive keyword is found through every ASCII case variant of itself (`pwd`,
//! `Pwd`, ..., `PWD`) or, when that would make too many, of a short substring of it (`pass` for
//! `passw`, `dbpass`, `passphrase`), and such hits are checked ignoring case.
//!
//! Finding a case-sensitive keyword through a shorter one it contains (`token` for
//! `access_token`) would shrink the automaton further, but saved only ~8% of the pass on Django
//! text and made keyword-dense text slower: `token` alone stands for 16 keywords to check.
//!
//! `ascii_case_insensitive` makes an automaton slower (see shared/DESIGN.md), and a second
//! automaton meant a second pass over every chunk: over 100 MB of Django blob text, the one
//! case-sensitive pass over the probes took 0.47-0.51 s where the two passes it replaces (408
//! case-sensitive keywords, 10 case-insensitive ones) took 0.77-1.1 s.
//!
//! Once a process has searched [`STREAMS_AFTER`] bytes, the pass walks the probes' DFA over
//! several stretches of text at once ([`streams`]) instead of aho-corasick's own search loop: that
//! loop is one chain of dependent table lookups, and at ~300 MB/s it was 16% of a Django history
//! sweep's CPU time. The table costs ~20 ms to build, which a pre-push scan of a few files should
//! not pay, so it is built by the search that crosses that mark, and used from then on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::rules::{RuleIdx, RuleSet};

mod streams;
use streams::Streams;

/// One keyword occurrence: the keyword (see [`Prefilter::rules_of`]) and its byte span. One hit per
/// keyword, not per rule using it: a keyword shared by ten rules is remembered once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub keyword: u32,
    pub start: u32,
    pub end: u32,
}

/// A case-insensitive keyword with at most this many letters is its own probe: its case variants
/// (at most 2^4) all go into the automaton.
const MAX_FOLDED_LETTERS: usize = 4;
/// The length of the probe of a case-insensitive keyword with more letters.
const FOLDED_PROBE_LEN: usize = 4;

/// The compiled keyword automaton.
#[derive(Debug)]
pub struct Prefilter {
    /// Over the probes; `None` when no rule has a keyword.
    search: Option<Search>,
    /// Each probe's length, by pattern id.
    probe_len: Vec<u32>,
    /// For each probe (pattern id), the keywords it finds.
    checks: Vec<Vec<Check>>,
    /// Each keyword's bytes (lowercased for case-insensitive rules), by keyword number.
    keywords: Vec<Vec<u8>>,
    /// For each keyword number, the rules that use it.
    keyword_rules: Vec<Vec<RuleIdx>>,
    /// Rules with no keyword: candidates for every blob.
    always: Vec<RuleIdx>,
    /// The longest keyword, in bytes.
    max_len: usize,
    /// Whether some keyword holds a line end (none of the shipped ones does).
    spans_lines: bool,
}

/// Bytes a process searches with aho-corasick's own loop before building the [`Streams`] table.
/// The table takes ~20 ms to build and the loop runs ~300 MB/s, so it pays for itself after some
/// 10-20 MB; a pre-push scan rarely reaches this.
const STREAMS_AFTER: usize = 16 << 20;

/// How the probes are searched for.
#[derive(Debug)]
struct Search {
    /// aho-corasick's own overlapping search: until `streams` is built, and for good when the
    /// probes are too many for a DFA.
    automaton: AhoCorasick,
    /// The probes, kept to build `streams` from.
    patterns: Vec<Vec<u8>>,
    /// The DFA walked over several stretches at once (see [`streams`]); `Some(None)` when
    /// aho-corasick could not build a DFA.
    streams: OnceLock<Option<Streams>>,
    /// Bytes searched so far (saturating), until `streams` is built.
    searched: AtomicUsize,
    /// `streams` is built by the search that brings `searched` to this.
    streams_after: usize,
}

impl Search {
    /// The search over `patterns`; `None` when there are none.
    fn new(patterns: Vec<Vec<u8>>, streams_after: usize) -> Option<Search> {
        if patterns.is_empty() {
            return None;
        }
        let builder = |kind| {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .kind(kind)
                .build(&patterns)
        };
        // Keywords are short literals; the DFA's size limits are far above what they need, so
        // falling back to the default automaton choice only matters for huge user rule sets.
        let automaton = builder(Some(AhoCorasickKind::DFA))
            .or_else(|_| builder(None))
            .ok()?;
        Some(Search {
            automaton,
            patterns,
            streams: OnceLock::new(),
            searched: AtomicUsize::new(0),
            streams_after,
        })
    }

    /// Calls `f(probe, end)` for every probe occurrence in `bytes`, by end.
    fn for_each(&self, bytes: &[u8], mut f: impl FnMut(u32, usize)) {
        if let Some(streams) = self.streams_for(bytes.len()) {
            return streams.for_each(bytes, f);
        }
        self.automaton
            .find_overlapping_iter(bytes)
            .for_each(|m| f(m.pattern().as_u32(), m.end()));
    }

    /// The [`Streams`] table if it is built, or is built now because this search of `len` bytes
    /// crosses [`Search::streams_after`]. Other threads meanwhile go on without it.
    fn streams_for(&self, len: usize) -> Option<&Streams> {
        if let Some(built) = self.streams.get() {
            return built.as_ref();
        }
        let before = self
            .searched
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(len))
            })
            .unwrap_or_else(|n| n);
        let after = self.streams_after;
        if before < after.max(1) && before.saturating_add(len) >= after {
            return self
                .streams
                .get_or_init(|| Streams::new(&self.patterns))
                .as_ref();
        }
        None
    }
}

/// A keyword found through a probe: the probe occurs `offset` bytes into the keyword.
#[derive(Debug, Clone, Copy)]
struct Check {
    keyword: u32,
    offset: u32,
    /// Compare ASCII-case-insensitively.
    ignore_case: bool,
    /// Whether the probe hit alone proves the keyword (the probe is the whole keyword, in the
    /// keyword's case mode), so no comparison is needed.
    certain: bool,
}

impl Prefilter {
    /// Builds the automaton for `rules`.
    pub fn new(rules: &RuleSet) -> Prefilter {
        Prefilter::with_streams_after(rules, STREAMS_AFTER)
    }

    /// Builds the automaton for `rules`, to be walked in streams once `streams_after` bytes have
    /// been searched.
    fn with_streams_after(rules: &RuleSet, streams_after: usize) -> Prefilter {
        // Keywords are numbered case-sensitive ones first, then case-insensitive ones (lowercased),
        // each list in order of first use, one number per distinct keyword.
        let mut sensitive = KeywordList::default();
        let mut insensitive = KeywordList::default();
        let mut always = Vec::new();
        for (idx, rule) in rules.rules().iter().enumerate() {
            if rule.keywords.is_empty() {
                always.push(idx);
            }
            for kw in &rule.keywords {
                let kw = if rule.ignore_case {
                    kw.to_ascii_lowercase()
                } else {
                    kw.clone()
                };
                let list = if rule.ignore_case {
                    &mut insensitive
                } else {
                    &mut sensitive
                };
                list.add(kw, idx);
            }
        }
        let (sensitive, insensitive) = (sensitive.list, insensitive.list);
        let all = || sensitive.iter().chain(&insensitive).map(|(k, _)| k);
        let max_len = all().map(String::len).max().unwrap_or(0);
        let spans_lines = all().any(|k| k.contains('\n'));
        let keywords: Vec<Vec<u8>> = all().map(|k| k.as_bytes().to_vec()).collect();
        let n_sensitive = sensitive.len();
        let mut probes = Probes::default();
        for (i, kw) in keywords[..n_sensitive].iter().enumerate() {
            probes.add(
                kw.clone(),
                Check {
                    keyword: i as u32,
                    offset: 0,
                    ignore_case: false,
                    certain: true,
                },
            );
        }
        for (i, (kw, _)) in insensitive.iter().enumerate() {
            let (at, len) = folded_probe(kw.as_bytes(), &probes.folded);
            let probe = &kw.as_bytes()[at..at + len];
            probes.folded.push(probe.to_vec());
            for variant in case_variants(probe) {
                probes.add(
                    variant,
                    Check {
                        keyword: (n_sensitive + i) as u32,
                        offset: at as u32,
                        ignore_case: true,
                        certain: len == kw.len(),
                    },
                );
            }
        }
        let keyword_rules = sensitive.into_iter().chain(insensitive).map(|(_, r)| r);
        Prefilter {
            probe_len: probes.patterns.iter().map(|p| p.len() as u32).collect(),
            search: Search::new(probes.patterns, streams_after),
            checks: probes.checks,
            keywords,
            keyword_rules: keyword_rules.collect(),
            always,
            max_len,
            spans_lines,
        }
    }

    /// The length of the longest keyword.
    pub fn max_keyword_len(&self) -> usize {
        self.max_len
    }

    /// Whether a keyword may hold a line end, so that a hit may straddle a chunk's last line end.
    pub fn spans_lines(&self) -> bool {
        self.spans_lines
    }

    /// Rules that run on every blob because they have no keyword.
    pub fn keywordless(&self) -> &[RuleIdx] {
        &self.always
    }

    /// Finds every keyword occurrence (overlapping ones included) in `bytes`, once per keyword, in
    /// the order [`Prefilter::for_each_hit`] reports them (each hit there once per rule of
    /// [`Prefilter::rules_of`]): by end, then by start. Offsets are `u32`: callers pass chunks, far
    /// smaller than 4 GiB.
    pub fn hits(&self, bytes: &[u8]) -> Vec<Hit> {
        let mut out = Vec::new();
        self.each_hit(bytes, |h| out.push(h));
        out
    }

    /// The rules that use keyword number `keyword` (of a [`Hit`]).
    pub fn rules_of(&self, keyword: u32) -> &[RuleIdx] {
        &self.keyword_rules[keyword as usize]
    }

    /// Calls `f(rule, start, end)` for every keyword occurrence in `bytes` and every rule using
    /// the keyword, without collecting them: a keyword-dense megabyte line has millions.
    pub fn for_each_hit(&self, bytes: &[u8], mut f: impl FnMut(RuleIdx, usize, usize)) {
        self.each_hit(bytes, |h| {
            for &rule in self.rules_of(h.keyword) {
                f(rule, h.start as usize, h.end as usize);
            }
        });
    }

    /// Streams every keyword occurrence in `bytes` to `emit`, ordered by end, then start, then
    /// keyword number.
    ///
    /// Probe hits arrive by end, and a keyword ends at or after its probe, so a keyword hit
    /// that ends before the current probe hit's end can no longer be preceded by a later one:
    /// only the few hits ending within a keyword's length of the scan position wait in `pending`.
    fn each_hit(&self, bytes: &[u8], mut emit: impl FnMut(Hit)) {
        let Some(search) = &self.search else {
            return;
        };
        let mut pending: Vec<Hit> = Vec::new();
        let flush = |pending: &mut Vec<Hit>, before: u32, emit: &mut dyn FnMut(Hit)| {
            if pending.len() > 1 {
                pending.sort_unstable_by_key(|h| (h.end, h.start, h.keyword));
            }
            let n = pending.partition_point(|h| h.end < before);
            pending.drain(..n).for_each(emit);
        };
        let on_probe = |probe: u32, probe_end: usize| {
            let probe_start = probe_end - self.probe_len[probe as usize] as usize;
            if !pending.is_empty() {
                flush(&mut pending, probe_end as u32, &mut emit);
            }
            for check in &self.checks[probe as usize] {
                let Some(start) = probe_start.checked_sub(check.offset as usize) else {
                    continue;
                };
                let keyword = &self.keywords[check.keyword as usize];
                let end = start + keyword.len();
                let Some(found) = bytes.get(start..end) else {
                    continue;
                };
                let matches = check.certain
                    || if check.ignore_case {
                        found.eq_ignore_ascii_case(keyword)
                    } else {
                        found == keyword.as_slice()
                    };
                if matches {
                    pending.push(Hit {
                        keyword: check.keyword,
                        start: start as u32,
                        end: end as u32,
                    });
                }
            }
        };
        search.for_each(bytes, on_probe);
        pending.sort_unstable_by_key(|h| (h.end, h.start, h.keyword));
        pending.into_iter().for_each(emit);
    }
}

/// Distinct keywords in order of first use, each with the rules using it.
#[derive(Default)]
struct KeywordList {
    list: Vec<(String, Vec<RuleIdx>)>,
    /// Each keyword's index in `list`.
    index: HashMap<String, usize>,
}

impl KeywordList {
    /// Records that rule `idx` uses `kw`.
    fn add(&mut self, kw: String, idx: RuleIdx) {
        let next = self.list.len();
        let i = *self.index.entry(kw.clone()).or_insert(next);
        if i == next {
            self.list.push((kw, Vec::new()));
        }
        self.list[i].1.push(idx);
    }
}

/// The automaton's patterns and what each finds.
#[derive(Default)]
struct Probes {
    patterns: Vec<Vec<u8>>,
    checks: Vec<Vec<Check>>,
    /// Each pattern's index in `patterns`.
    index: HashMap<Vec<u8>, usize>,
    /// The probes chosen for case-insensitive keywords so far (lowercase), for sharing.
    folded: Vec<Vec<u8>>,
}

impl Probes {
    /// Adds `check` to probe `pattern`, adding the probe if new.
    fn add(&mut self, pattern: Vec<u8>, check: Check) {
        let next = self.patterns.len();
        let i = *self.index.entry(pattern.clone()).or_insert(next);
        if i == next {
            self.patterns.push(pattern);
            self.checks.push(Vec::new());
        }
        self.checks[i].push(check);
    }
}

/// Where the probe of a (lowercase) case-insensitive keyword lies in it: the whole keyword when
/// it has at most [`MAX_FOLDED_LETTERS`] letters (its hits then need no check), else a substring
/// of [`FOLDED_PROBE_LEN`] bytes: one already chosen for another keyword if it contains one (so
/// `pass` serves `dbpass` and `passphrase`), else the one with the fewest letters (fewest case
/// variants), the earliest on ties.
fn folded_probe(kw: &[u8], chosen: &[Vec<u8>]) -> (usize, usize) {
    let letters = |bytes: &[u8]| bytes.iter().filter(|b| b.is_ascii_alphabetic()).count();
    if letters(kw) <= MAX_FOLDED_LETTERS {
        return (0, kw.len());
    }
    let len = kw.len().min(FOLDED_PROBE_LEN);
    let starts = 0..=kw.len() - len;
    if let Some(at) = starts
        .clone()
        .find(|&at| chosen.iter().any(|c| c.as_slice() == &kw[at..at + len]))
    {
        return (at, len);
    }
    let at = starts
        .min_by_key(|&at| letters(&kw[at..at + len]))
        .unwrap_or(0);
    (at, len)
}

/// Every ASCII case variant of `probe`.
fn case_variants(probe: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::with_capacity(probe.len())];
    for &b in probe {
        if b.is_ascii_alphabetic() {
            out = out
                .into_iter()
                .flat_map(|v| {
                    let mut upper = v.clone();
                    upper.push(b.to_ascii_uppercase());
                    let mut lower = v;
                    lower.push(b.to_ascii_lowercase());
                    [lower, upper]
                })
                .collect();
        } else {
            out.iter_mut().for_each(|v| v.push(b));
        }
    }
    out
}

#[cfg(test)]
mod tests;
