//! The keyword prefilter: one aho-corasick automaton over the case-sensitive keywords of all rules
//! and one over the case-insensitive ones. A rule is a candidate for a blob only if one of its
//! keywords occurs in it; the hit offsets also bound where its regex has to run.
//!
//! Case-insensitive literals make the automaton several times slower (see shared/DESIGN.md), so they
//! live in their own, smaller automaton.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::rules::{RuleIdx, RuleSet};

/// One keyword occurrence: the keyword (see [`Prefilter::rules_of`]) and its byte span. One hit per
/// keyword, not per rule using it: a keyword shared by ten rules is remembered once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub keyword: u32,
    pub start: u32,
    pub end: u32,
}

/// The compiled keyword automata.
#[derive(Debug)]
pub struct Prefilter {
    automata: Vec<Automaton>,
    /// For each keyword number, the rules that use it.
    keyword_rules: Vec<Vec<RuleIdx>>,
    /// Rules with no keyword: candidates for every blob.
    always: Vec<RuleIdx>,
    /// The longest keyword, in bytes.
    max_len: usize,
    /// Whether some keyword holds a line end (none of the shipped ones does).
    spans_lines: bool,
}

#[derive(Debug)]
struct Automaton {
    ac: AhoCorasick,
    /// For each pattern id, the rules that use that keyword.
    rules_of: Vec<Vec<RuleIdx>>,
    /// The keyword number of this automaton's pattern 0 (the automata number keywords in turn).
    first: u32,
}

impl Automaton {
    fn build(keywords: Vec<(String, Vec<RuleIdx>)>, ignore_case: bool) -> Option<Automaton> {
        if keywords.is_empty() {
            return None;
        }
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(ignore_case)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(keywords.iter().map(|(k, _)| k.as_bytes()))
            // Keywords are short literals; the DFA's size limits are far above what they need, so
            // falling back to the default automaton choice only matters for huge user rule sets.
            .or_else(|_| {
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(ignore_case)
                    .match_kind(MatchKind::Standard)
                    .build(keywords.iter().map(|(k, _)| k.as_bytes()))
            })
            .ok()?;
        Some(Automaton {
            ac,
            rules_of: keywords.into_iter().map(|(_, r)| r).collect(),
            first: 0,
        })
    }
}

impl Prefilter {
    /// Builds the automata for `rules`.
    pub fn new(rules: &RuleSet) -> Prefilter {
        let mut sensitive: Vec<(String, Vec<RuleIdx>)> = Vec::new();
        let mut insensitive: Vec<(String, Vec<RuleIdx>)> = Vec::new();
        let mut always = Vec::new();
        for (idx, rule) in rules.rules().iter().enumerate() {
            if rule.keywords.is_empty() {
                always.push(idx);
            }
            let list = if rule.ignore_case {
                &mut insensitive
            } else {
                &mut sensitive
            };
            for kw in &rule.keywords {
                let kw = if rule.ignore_case {
                    kw.to_ascii_lowercase()
                } else {
                    kw.clone()
                };
                match list.iter_mut().find(|(k, _)| *k == kw) {
                    Some((_, r)) => r.push(idx),
                    None => list.push((kw, vec![idx])),
                }
            }
        }
        let all = || sensitive.iter().chain(&insensitive).map(|(k, _)| k);
        let max_len = all().map(String::len).max().unwrap_or(0);
        let spans_lines = all().any(|k| k.contains('\n'));
        let mut automata: Vec<Automaton> = [
            Automaton::build(sensitive, false),
            Automaton::build(insensitive, true),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut first = 0;
        let mut keyword_rules = Vec::new();
        for a in &mut automata {
            a.first = first;
            first += a.rules_of.len() as u32;
            keyword_rules.extend(a.rules_of.iter().cloned());
        }
        Prefilter {
            automata,
            keyword_rules,
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
    /// [`Prefilter::rules_of`]). Offsets are `u32`: callers pass chunks, far smaller than 4 GiB.
    pub fn hits(&self, bytes: &[u8]) -> Vec<Hit> {
        let mut out = Vec::new();
        for automaton in &self.automata {
            for m in automaton.ac.find_overlapping_iter(bytes) {
                out.push(Hit {
                    keyword: automaton.first + m.pattern().as_u32(),
                    start: m.start() as u32,
                    end: m.end() as u32,
                });
            }
        }
        out
    }

    /// The rules that use keyword number `keyword` (of a [`Hit`]).
    pub fn rules_of(&self, keyword: u32) -> &[RuleIdx] {
        &self.keyword_rules[keyword as usize]
    }

    /// Calls `f(rule, start, end)` for every keyword occurrence in `bytes` and every rule using
    /// the keyword, without collecting them: a keyword-dense megabyte line has millions.
    pub fn for_each_hit(&self, bytes: &[u8], mut f: impl FnMut(RuleIdx, usize, usize)) {
        for automaton in &self.automata {
            for m in automaton.ac.find_overlapping_iter(bytes) {
                for &rule in &automaton.rules_of[m.pattern().as_usize()] {
                    f(rule, m.start(), m.end());
                }
            }
        }
    }
}
