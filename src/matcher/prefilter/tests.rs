//! The prefilter against a plain reference: every occurrence of every keyword, found by comparing
//! at every offset, in the documented order.

use super::*;
use std::path::PathBuf;

/// Every keyword occurrence in `bytes` by brute force, ordered by end, start, keyword.
fn reference(p: &Prefilter, bytes: &[u8]) -> Vec<Hit> {
    let folded: Vec<u32> = p
        .checks
        .iter()
        .flatten()
        .filter(|c| c.ignore_case)
        .map(|c| c.keyword)
        .collect();
    let mut out = Vec::new();
    for (k, kw) in p.keywords.iter().enumerate() {
        for start in 0..bytes.len().saturating_sub(kw.len() - 1) {
            let found = &bytes[start..start + kw.len()];
            let hit = if !folded.contains(&(k as u32)) {
                found == kw.as_slice()
            } else {
                found.eq_ignore_ascii_case(kw)
            };
            if hit {
                out.push(Hit {
                    keyword: k as u32,
                    start: start as u32,
                    end: (start + kw.len()) as u32,
                });
            }
        }
    }
    out.sort_by_key(|h| (h.end, h.start, h.keyword));
    out
}

/// The prefilter for `set` in both search modes: aho-corasick's loop (no search here reaches
/// [`STREAMS_AFTER`]) and the streams table from the first search on.
fn both(set: &RuleSet) -> [Prefilter; 2] {
    let streams = Prefilter::with_streams_after(set, 0);
    [Prefilter::new(set), streams]
}

/// Whether `p`'s search has built its streams table.
fn streams_built(p: &Prefilter) -> bool {
    matches!(p.search.as_ref().unwrap().streams.get(), Some(Some(_)))
}

fn assert_like_reference(p: &Prefilter, text: &[u8]) {
    let want = reference(p, text);
    assert!(text.len() < 8 || !want.is_empty(), "nothing to compare");
    assert_eq!(p.hits(text), want);
    let mut streamed = Vec::new();
    p.for_each_hit(text, |rule, start, end| streamed.push((rule, start, end)));
    let expanded: Vec<_> = want
        .iter()
        .flat_map(|h| {
            p.rules_of(h.keyword)
                .iter()
                .map(|&r| (r, h.start as usize, h.end as usize))
        })
        .collect();
    assert_eq!(streamed, expanded);
}

/// The rules of `yaml` (beside the shipped files, which define their remediation entries).
fn rules(yaml: &str) -> RuleSet {
    let mut files = crate::rules::embedded_rule_files();
    files.push((PathBuf::from("t.yaml"), yaml.to_string()));
    let set = RuleSet::from_files(&files).expect("rules compile");
    let set = set.filtered(|r| r.id.as_str().starts_with("t."));
    assert_eq!(set.rules().len(), 4);
    set
}

const NESTED: &str = r#"
rules:
- id: t.short
  name: short
  keywords: [ab, xy]
  severity: low
  confidence: low
  categories: [token]
  remediation: generic-secret
  pattern: '(?P<secret>ab)'
- id: t.long
  name: long
  keywords: [abc, zabcz, aba, xyab]
  severity: low
  confidence: low
  categories: [token]
  remediation: generic-secret
  pattern: '(?P<secret>abc)'
- id: t.folded
  name: folded
  keywords: [PassW, dbpass, "'pass'", pwd, x]
  ignore_case: true
  severity: low
  confidence: low
  categories: [token]
  remediation: generic-secret
  pattern: '(?P<secret>pass)'
- id: t.same-as-folded
  name: same as a case variant of a folded probe
  keywords: [Pwd, PASS]
  severity: low
  confidence: low
  categories: [token]
  remediation: generic-secret
  pattern: '(?P<secret>Pwd)'
"#;

#[test]
fn nested_and_folded_keywords_are_all_found_in_order() {
    let texts: [&[u8]; 6] = [
        b"zabczabcz ababab xyabc",
        b"dbPASSw 'PaSs' pWd Pwd PASS x X",
        b"abc",
        b"zabcz",
        b"",
        b"passwpasswdbpassdbpass'pass'PASSW",
    ];
    for p in both(&rules(NESTED)) {
        for t in texts {
            assert_like_reference(&p, t);
        }
    }
}

#[test]
fn dense_random_text_matches_the_reference() {
    // Text made of keyword pieces in random case, so that keywords overlap and nest.
    let pieces: [&[u8]; 9] = [b"a", b"b", b"c", b"z", b"x", b"y", b"pass", b"pw", b"'"];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut text = Vec::new();
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let piece = pieces[(seed % pieces.len() as u64) as usize];
        for &b in piece {
            let upper = (seed >> 20) & 1 == 1;
            text.push(if upper { b.to_ascii_uppercase() } else { b });
            seed = seed.rotate_left(3);
        }
    }
    for p in both(&rules(NESTED)) {
        assert_like_reference(&p, &text);
    }
}

#[test]
fn streams_are_built_by_the_search_that_crosses_the_mark() {
    // Each assert_like_reference searches its text twice.
    let p = Prefilter::with_streams_after(&rules(NESTED), 80);
    let text = b"dbPASSw 'PaSs' pWd Pwd PASS x zabczabcz";
    assert_eq!(text.len(), 39);
    assert_like_reference(&p, text);
    assert!(!streams_built(&p), "78 of 80 bytes searched");
    assert_like_reference(&p, b"xyabc");
    assert!(streams_built(&p), "the second search crossed the mark");
    assert_like_reference(&p, text);
}

#[test]
fn shipped_rules_match_the_reference() {
    let set = RuleSet::builtin().expect("the shipped rules compile");
    let [p, streams] = both(&set);
    // Every keyword of every rule, in its own case and swapped case, back to back and spaced.
    let mut text = Vec::new();
    for rule in set.rules() {
        for kw in &rule.keywords {
            text.extend_from_slice(kw.as_bytes());
            text.extend(kw.bytes().map(|b| {
                if b.is_ascii_lowercase() {
                    b.to_ascii_uppercase()
                } else {
                    b.to_ascii_lowercase()
                }
            }));
            text.push(b' ');
        }
    }
    assert_like_reference(&p, &text);
    assert_like_reference(&streams, &text);
    assert!(streams_built(&streams));
    // Some case-insensitive keywords share a probe (`pass`), and their hits are checked.
    assert!(p
        .checks
        .iter()
        .any(|c| c.len() > 1 && c.iter().all(|c| !c.certain)));
}

#[test]
fn case_variants_cover_every_ascii_case() {
    let v = case_variants(b"a1b");
    assert_eq!(v.len(), 4);
    for want in [&b"a1b"[..], b"A1b", b"a1B", b"A1B"] {
        assert!(v.iter().any(|x| x == want), "{want:?}");
    }
}
