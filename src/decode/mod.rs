//! Secrets inside encoded text: base64 (Kubernetes `Secret` `data:` values, a `.dockerconfigjson`
//! inside one, docker `auth` values, `Authorization: Basic` headers, any base64 secret a rule
//! found), percent-encoding and `\x..` / `\u....` escapes in string literals.
//!
//! A stage after the matcher: it finds candidate encoded spans cheaply ([`find`]: a byte search
//! for `%` and `\`, a search for `kind: Secret`, and the secrets the matcher already found), decodes
//! them, runs the same matcher over the decoded text, and maps what it finds back to the encoded
//! text, so a finding is reported where the encoded text is and says what was decoded. It sees only
//! bytes, like the matcher. Work is bounded: two levels of decoding at most, encoded runs over
//! [`MAX_RUN`] bytes are not decoded, and at most [`MAX_DECODED`] decoded bytes per blob.

mod find;

use std::cell::Cell;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::matcher::filters::{is_placeholder, is_template};
use crate::matcher::{Match, Matcher};

/// How many levels of encoding are looked through: a base64 `.dockerconfigjson` holding base64
/// `auth` values is two.
const MAX_DEPTH: usize = 2;
/// Encoded runs longer than this (an embedded image, a certificate bundle of a whole cluster) are
/// not decoded: secrets are far shorter, and a PEM private key of 8192 bits is about 6 KiB.
pub const MAX_RUN: usize = 64 * 1024;
/// At most this many decoded bytes per blob, all levels together: memory and time stay flat on
/// blobs full of encoded text.
pub const MAX_DECODED: usize = 1 << 20;

/// What a piece of text was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Base64 (standard or URL-safe alphabet, padded or not).
    Base64,
    /// Percent-encoding (`%2F`).
    Percent,
    /// Backslash escapes in a string literal (`\x67`, `\u0067`).
    Escape,
}

impl Encoding {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Base64 => "base64",
            Encoding::Percent => "percent",
            Encoding::Escape => "escape",
        }
    }
}

/// A match with the decodings that uncovered it, outermost first (empty for a match in the text as
/// written). Its spans are in the scanned bytes: the encoded text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub m: Match,
    pub decoded: Vec<Encoding>,
}

/// Decoded text and how its bytes map back to the text it was decoded from.
#[derive(Debug)]
struct Doc {
    text: Vec<u8>,
    /// Cover `text` in order, without gaps.
    segments: Vec<Segment>,
    encoding: Encoding,
    /// The index (among the level's matches) of the match whose secret this is, decoded.
    of_match: Option<usize>,
}

#[derive(Debug)]
struct Segment {
    decoded: Range<usize>,
    encoded: Range<usize>,
    map: SegMap,
}

#[derive(Debug)]
enum SegMap {
    /// Copied as it is.
    Copy,
    /// A base64 run: every 3 decoded bytes come from 4 encoded ones.
    Base64,
    /// A separator that is not in the encoded text: an empty range where it was put.
    Gap,
    /// For each decoded byte (and one past the last), its offset in the encoded range.
    Bytes(Vec<usize>),
}

impl Doc {
    /// Where decoded position `pos` is in the encoded text: the start of what encodes the byte at
    /// `pos`, or for an end (`is_end`) the end of what encodes the byte before it.
    fn map(&self, pos: usize, is_end: bool) -> usize {
        let i = self.segments.partition_point(|s| {
            if is_end {
                s.decoded.end < pos
            } else {
                s.decoded.end <= pos
            }
        });
        let Some(s) = self.segments.get(i).or(self.segments.last()) else {
            return 0;
        };
        let rel = pos.clamp(s.decoded.start, s.decoded.end) - s.decoded.start;
        let at = match &s.map {
            SegMap::Copy => rel,
            SegMap::Gap => 0,
            SegMap::Base64 if is_end => rel.div_ceil(3) * 4,
            SegMap::Base64 => rel / 3 * 4,
            SegMap::Bytes(offsets) => offsets[rel.min(offsets.len() - 1)],
        };
        (s.encoded.start + at).min(s.encoded.end)
    }

    fn map_range(&self, r: &Range<usize>) -> Range<usize> {
        let start = self.map(r.start, false);
        start..self.map(r.end, true).max(start)
    }
}

/// Decodes what looks encoded in `bytes` and matches the decoded text. `found` is what the matcher
/// found in `bytes` as written; the result is `found` with the matches in decoded text added,
/// sorted by position. Where a decoded match overlaps a match of the text as written, one of them
/// is kept: the decoded one when it was base64 (the text as written is only its encoding) or when
/// it is a specific rule's and the other a generic one's. The flag says whether decoding stopped
/// at the per-blob cap (`MAX_DECODED`), leaving encoded text undecoded.
pub fn scan(matcher: &Matcher<'_>, bytes: &[u8], found: Vec<Match>) -> (Vec<Found>, bool) {
    let budget = Cell::new(MAX_DECODED);
    let found = found
        .into_iter()
        .map(|m| Found {
            m,
            decoded: Vec::new(),
        })
        .collect();
    let found = level(matcher, bytes, found, 0, &budget);
    (found, budget.get() == 0)
}

fn level(
    matcher: &Matcher<'_>,
    bytes: &[u8],
    found: Vec<Found>,
    depth: usize,
    budget: &Cell<usize>,
) -> Vec<Found> {
    if depth >= MAX_DEPTH {
        return found;
    }
    let matches: Vec<&Match> = found.iter().map(|f| &f.m).collect();
    let docs = find::docs(bytes, &matches, budget);
    if docs.is_empty() {
        return found;
    }
    let rules = matcher.rules();
    let mut outer: Vec<Option<Found>> = found.into_iter().map(Some).collect();
    let mut decoded: Vec<Found> = Vec::new();
    for doc in docs {
        let plain = matcher
            .scan(&doc.text)
            .into_iter()
            .map(|m| Found {
                m,
                decoded: Vec::new(),
            })
            .collect();
        let inner = level(matcher, &doc.text, plain, depth + 1, budget);
        if let (Some(i), true) = (doc.of_match, inner.is_empty()) {
            // A base64 secret that is `user:password` (a Basic header, a docker `auth`): the
            // password is the secret; a placeholder password is no finding at all.
            if let Some(o) = outer[i].as_mut() {
                match user_password(&doc.text) {
                    Some((_, pass)) if is_placeholder(pass) || is_template(pass) => outer[i] = None,
                    Some((user, pass)) => {
                        o.m.secret = pass.to_string();
                        o.m.paired_id = Some(user.to_string());
                        o.decoded.insert(0, doc.encoding);
                    }
                    None => {}
                }
            }
            continue;
        }
        for f in inner {
            let mut m = f.m;
            m.span = doc.map_range(&m.span);
            m.secret_span = doc.map_range(&m.secret_span);
            let mut encodings = vec![doc.encoding];
            encodings.extend(f.decoded);
            let d = Found {
                m,
                decoded: encodings,
            };
            // Two decodings of one place (percent and escapes) find the same secret once.
            if decoded.iter().any(|x| {
                x.m.rule == d.m.rule && x.m.secret == d.m.secret && overlaps(&x.m.span, &d.m.span)
            }) {
                continue;
            }
            let mut keep = true;
            for slot in outer.iter_mut() {
                let Some(o) = slot else { continue };
                if !overlaps(&o.m.secret_span, &d.m.span) {
                    continue;
                }
                let decoded_wins = doc.encoding == Encoding::Base64
                    || (rules.rule(o.m.rule).is_generic() && !rules.rule(d.m.rule).is_generic());
                if decoded_wins {
                    *slot = None;
                } else {
                    keep = false;
                }
            }
            if keep {
                decoded.push(d);
            }
        }
    }
    let mut out: Vec<Found> = outer.into_iter().flatten().chain(decoded).collect();
    out.sort_by(|a, b| {
        a.m.span
            .start
            .cmp(&b.m.span.start)
            .then(a.m.rule.cmp(&b.m.rule))
    });
    out
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

/// `user:password` on one line of printable text, split at the first colon.
fn user_password(text: &[u8]) -> Option<(&str, &str)> {
    let s = std::str::from_utf8(text)
        .ok()?
        .trim_end_matches(['\n', '\r']);
    let (user, pass) = s.split_once(':')?;
    // A user name is one word (`deploy`, `ci@acme.io`, `robot$ci`); quotes or brackets in it mean
    // the text is something else (JSON, code) that happens to hold a colon.
    let is_user = |c: char| !c.is_control() && !" \"'{}[]<>(),;=".contains(c);
    let printable = |t: &str| !t.is_empty() && t.chars().all(|c| !c.is_control() && c != ' ');
    (user.len() <= 256
        && pass.len() <= 1024
        && !user.is_empty()
        && user.chars().all(is_user)
        && printable(pass))
    .then_some((user, pass))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(segments: Vec<Segment>) -> Doc {
        Doc {
            text: Vec::new(),
            segments,
            encoding: Encoding::Base64,
            of_match: None,
        }
    }

    #[test]
    fn positions_map_back_through_copies_base64_and_byte_maps() {
        // "k: " copied at 10..13, then 6 decoded bytes from 8 base64 characters at 13..21.
        let d = doc(vec![
            Segment {
                decoded: 0..3,
                encoded: 10..13,
                map: SegMap::Copy,
            },
            Segment {
                decoded: 3..9,
                encoded: 13..21,
                map: SegMap::Base64,
            },
        ]);
        assert_eq!(d.map_range(&(0..9)), 10..21);
        assert_eq!(d.map_range(&(3..9)), 13..21);
        assert_eq!(d.map_range(&(6..7)), 17..21);
        // `%41b`: decoded "Ab", "b" is encoded at offset 3.
        let p = doc(vec![Segment {
            decoded: 0..2,
            encoded: 5..9,
            map: SegMap::Bytes(vec![0, 3, 4]),
        }]);
        assert_eq!(p.map_range(&(1..2)), 8..9);
        assert_eq!(p.map_range(&(0..2)), 5..9);
    }

    #[test]
    fn user_password_needs_one_printable_pair() {
        assert_eq!(user_password(b"deploy:s3cr3t"), Some(("deploy", "s3cr3t")));
        assert_eq!(user_password(b"a:b:c\n"), Some(("a", "b:c")));
        assert_eq!(user_password(b"no colon"), None);
        assert_eq!(user_password(b"two\nlines:x"), None);
        assert_eq!(user_password(b":empty"), None);
        assert_eq!(user_password(br#"{"a":"b"}"#), None);
    }
}
