//! One pass over a piece of text for all generic rules at once (see [`GenericSet`]).

use regex::bytes::{RegexSet, RegexSetBuilder};

use super::memo::Table;
use crate::rules::{RuleIdx, RuleSet};

/// The generic rules' patterns as one [`RegexSet`]: one pass over a piece of text tells which of
/// them can match there, so each generic rule's own regex (whose leading `\b[\w.-]*` gives the
/// engine no literal to skip with) runs only where it will find something. In keyword-dense text
/// the generic rules' windows coincide, so the set's answer per piece is remembered by content and
/// shared between them.
///
/// Measured alternatives that did not pay (CPU of a Django history sweep and of the adversarial
/// shapes of `scripts/bench-adversarial.sh`): no set at all (history +2%, minified JS +30% to
/// +50%); a set per group of rules sharing windows (minified JS +25% to +40%: the groups' pieces
/// coincide there, and one set answers for all of them); the set consulted only for tiles of large
/// windows (history +3%); rules without a literal prefix added to the set (a larger set costs more
/// per pass than their own regexes: +10% to +110% on the adversarial shapes).
///
/// Generic rules whose matches begin with one of a few literals of three bytes or more (the XML
/// attribute rule's `<add`, `<property`, …; `Authorization`) are not members: their own regex
/// skips to those literals faster than the set's pass reads the piece. Measured on a Django history
/// sweep: CPU 0.985 (5 pairs, all below 1).
#[derive(Debug)]
pub(super) struct GenericSet {
    set: Option<RegexSet>,
    /// Each rule's index in `set`, if it is a member.
    member: Vec<Option<u32>>,
    /// The members that match, per distinct piece (keyed like `window_matches`, without the group).
    pub(super) hits: Table<u128, u32>,
}

impl GenericSet {
    pub(super) fn new(rules: &RuleSet) -> GenericSet {
        let mut member = vec![None; rules.rules().len()];
        let mut patterns = Vec::new();
        for (idx, rule) in rules.rules().iter().enumerate() {
            if rule.is_generic() && !has_literal_prefix(rule.compiled().pattern.as_str()) {
                member[idx] = Some(patterns.len() as u32);
                patterns.push(rule.compiled().pattern.as_str());
            }
        }
        // Same options as each rule's own regex (see `rules::Compiled`). Should the set not build
        // (it always does for patterns that built one by one), every rule just runs its regex.
        // The set's lazy DFA gets more room than the default 2 MiB: with 40-odd generic patterns
        // it otherwise spent 3.5% of a Django sweep's CPU re-determinising states (1.3% at 16
        // MiB; 64 MiB measured the same, peak RSS unchanged).
        let set = RegexSetBuilder::new(&patterns)
            .unicode(false)
            .dfa_size_limit(16 << 20)
            .build()
            .ok()
            .filter(|_| !patterns.is_empty());
        if set.is_none() {
            member.iter_mut().for_each(|m| *m = None);
        }
        GenericSet {
            set,
            member,
            hits: Table::default(),
        }
    }

    /// Whether rule `idx` may match in `bytes[..end]` at or after `start` (always true for a rule
    /// outside the set). `key` names the content, as for `window_matches`.
    pub(super) fn may_match(
        &self,
        idx: RuleIdx,
        bytes: &[u8],
        start: usize,
        end: usize,
        key: u128,
    ) -> bool {
        let (Some(set), Some(bit)) = (&self.set, self.member[idx]) else {
            return true;
        };
        // Most pieces match no generic rule: asking whether any matches runs one forward pass,
        // which stops at the first match, while `matches_at` must scan the whole piece with every
        // member (8% of a Django sweep's CPU, 1% asked this way).
        let hits = self.hits.get_or_compute(key, key, || {
            let hay = &bytes[..end];
            if !set.is_match_at(hay, start) {
                return Vec::new();
            }
            set.matches_at(hay, start)
                .into_iter()
                .map(|i| i as u32)
                .collect()
        });
        hits.contains(&bit)
    }
}

/// Whether every match of `pattern` starts with one of a finite set of literals, each at least
/// three bytes long (parsed as the rules are compiled: Unicode off).
fn has_literal_prefix(pattern: &str) -> bool {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let Some(hir) = super::windows::parse(pattern) else {
        return false;
    };
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    seq.is_finite() && seq.min_literal_len().is_some_and(|n| n >= 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_led_by_long_literals_are_told_from_those_that_are_not() {
        let rules = RuleSet::builtin().expect("built-in rules");
        let led = |id: &str| {
            let rule = rules
                .rules()
                .iter()
                .find(|r| r.id.as_str() == id)
                .unwrap_or_else(|| panic!("no rule {id}"));
            has_literal_prefix(rule.compiled().pattern.as_str())
        };
        assert!(led("generic.secret.xml-attribute"));
        assert!(!led("generic.secret.assignment"));
        assert!(!led("generic.password.assignment"));
        // `<` alone is too short to skip with.
        assert!(!led("generic.secret.xml-element"));
        assert!(has_literal_prefix("(?i)authorization: (?P<secret>[a-z]+)"));
        assert!(!has_literal_prefix(r"ab\w+"));
        assert!(!has_literal_prefix("(unclosed"));
    }
}
