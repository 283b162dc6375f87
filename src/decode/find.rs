//! Finding encoded text and decoding it: the documents [`super::level`] matches. Each finder is
//! a cheap byte search first (`%`, `\`, `Secret`), so a blob without encoded text costs one pass
//! of `memchr`.

use std::cell::Cell;
use std::ops::Range;
use std::sync::LazyLock;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use regex::bytes::Regex;

use super::{Doc, Encoding, SegMap, Segment, MAX_RUN};
use crate::matcher::Match;

/// Base64 shorter than this encodes fewer than 12 bytes: no credential worth a finding of its own
/// (`YWRtaW4=` is `admin`).
const MIN_BASE64: usize = 16;
/// A percent-encoded token or an escaped string literal is looked at up to this length.
const MAX_TOKEN: usize = 4096;

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
static STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
static URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// The documents to match in `bytes`: the base64 secrets among `matches` decoded, Kubernetes
/// `Secret` data blocks with their values decoded, and one document each for the percent-encoded
/// tokens and the escaped string literals. `budget` (decoded bytes left) bounds them.
pub(super) fn docs(bytes: &[u8], matches: &[&Match], budget: &Cell<usize>) -> Vec<Doc> {
    let mut out = Vec::new();
    for (i, m) in matches.iter().enumerate() {
        let run = m.secret_span.clone();
        if let Some(text) = decode_base64(&bytes[run.clone()], budget) {
            out.push(Doc {
                segments: vec![Segment {
                    decoded: 0..text.len(),
                    encoded: run,
                    map: SegMap::Base64,
                }],
                text,
                encoding: Encoding::Base64,
                of_match: Some(i),
            });
        }
    }
    if memchr::memmem::find(bytes, b"Secret").is_some() && K8S_SECRET.is_match(bytes) {
        out.extend(kubernetes_data(bytes, budget));
    }
    out.extend(escaped_text(bytes, budget));
    out
}

/// `kind: Secret` in YAML or JSON.
static K8S_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?m)^[ \t]*"?kind"?[ \t]*:[ \t]*["']?Secret\b"#).expect("a valid regex")
});
/// A YAML `data:` key on a line of its own.
static YAML_DATA: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^([ \t]*)data:[ \t]*\r?$").expect("a valid regex"));
/// One `key: value` line of a YAML mapping; group 1 is the indentation, group 2 the value.
static YAML_ENTRY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^([ \t]*)[-._A-Za-z0-9]+[ \t]*:[ \t]*["']?([A-Za-z0-9+/_=-]+)["']?[ \t]*\r?$"#)
        .expect("a valid regex")
});
/// A JSON `"data": {` object; the entries follow up to the first `}`.
static JSON_DATA: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""data"\s*:\s*\{"#).expect("a valid regex"));
static JSON_ENTRY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""[-._A-Za-z0-9]+"\s*:\s*"([A-Za-z0-9+/_=-]+)""#).expect("a valid regex")
});

/// The `data:` blocks of the Kubernetes Secrets in `bytes` (YAML or JSON), each as the block's
/// text with its base64 values decoded, so rules see `password: <value>` and pairs of keys.
fn kubernetes_data(bytes: &[u8], budget: &Cell<usize>) -> Vec<Doc> {
    let mut blocks: Vec<(Range<usize>, Vec<Range<usize>>)> = Vec::new();
    for caps in YAML_DATA.captures_iter(bytes) {
        let (Some(whole), Some(indent)) = (caps.get(0), caps.get(1)) else {
            continue;
        };
        let mut values = Vec::new();
        let mut pos = (whole.end() + 1).min(bytes.len());
        let start = pos;
        while pos < bytes.len() {
            let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |p| pos + p);
            let line = &bytes[pos..end];
            if line.iter().all(u8::is_ascii_whitespace) {
                pos = end + 1;
                continue;
            }
            let Some(entry) = YAML_ENTRY.captures(line) else {
                break;
            };
            if entry.get(1).map_or(0, |m| m.len()) <= indent.len() {
                break;
            }
            if let Some(v) = entry.get(2) {
                values.push(pos + v.start()..pos + v.end());
            }
            pos = end + 1;
        }
        blocks.push((start..pos.min(bytes.len()), values));
    }
    for whole in JSON_DATA.find_iter(bytes) {
        let body = whole.end();
        let end = memchr::memchr(b'}', &bytes[body..]).map_or(bytes.len(), |p| body + p);
        let values = JSON_ENTRY
            .captures_iter(&bytes[body..end])
            .filter_map(|c| c.get(1).map(|v| body + v.start()..body + v.end()))
            .collect();
        blocks.push((body..end, values));
    }
    let mut out = Vec::new();
    for (block, values) in blocks {
        let mut doc = DocBuilder::default();
        let mut at = block.start;
        let mut any = false;
        for v in values {
            let Some(text) = decode_base64(&bytes[v.clone()], budget) else {
                continue;
            };
            doc.copy(bytes, at..v.start);
            doc.push(&text, v.clone(), SegMap::Base64);
            at = v.end;
            any = true;
        }
        if any {
            doc.copy(bytes, at..block.end);
            out.push(doc.finish(Encoding::Base64));
        }
    }
    out
}

/// Decoded text built piece by piece.
#[derive(Default)]
struct DocBuilder {
    text: Vec<u8>,
    segments: Vec<Segment>,
}

impl DocBuilder {
    fn push(&mut self, text: &[u8], encoded: Range<usize>, map: SegMap) {
        let start = self.text.len();
        self.text.extend_from_slice(text);
        self.segments.push(Segment {
            decoded: start..self.text.len(),
            encoded,
            map,
        });
    }

    fn copy(&mut self, bytes: &[u8], r: Range<usize>) {
        if !r.is_empty() {
            self.push(&bytes[r.clone()], r, SegMap::Copy);
        }
    }

    fn finish(self, encoding: Encoding) -> Doc {
        Doc {
            text: self.text,
            segments: self.segments,
            encoding,
            of_match: None,
        }
    }
}

/// The percent-encoded tokens of `bytes` decoded into one document, and the string literals with
/// `\x..` / `\u....` escapes into another (one line each), found in one `memchr` pass.
fn escaped_text(bytes: &[u8], budget: &Cell<usize>) -> Vec<Doc> {
    let mut percent = DocBuilder::default();
    let mut escape = DocBuilder::default();
    let mut pos = 0;
    while let Some(p) = memchr::memchr2(b'%', b'\\', &bytes[pos..]) {
        let i = pos + p;
        pos = i + 1;
        if budget.get() == 0 {
            break;
        }
        let (doc, found) = if bytes[i] == b'%' {
            if !(is_hex_at(bytes, i + 1) && is_hex_at(bytes, i + 2)) {
                continue;
            }
            let token = token_around(bytes, i);
            (
                &mut percent,
                percent_decode(&bytes[token.clone()]).map(|d| (token, d)),
            )
        } else {
            if !starts_escape(&bytes[i..]) {
                continue;
            }
            let literal = literal_around(bytes, i);
            (
                &mut escape,
                unescape(&bytes[literal.clone()]).map(|d| (literal, d)),
            )
        };
        let Some((range, (text, offsets))) = found else {
            continue;
        };
        pos = pos.max(range.end);
        if !take(budget, text.len()) {
            break;
        }
        doc.push(&text, range.clone(), SegMap::Bytes(offsets));
        doc.push(b"\n", range.end..range.end, SegMap::Gap);
    }
    [(percent, Encoding::Percent), (escape, Encoding::Escape)]
        .into_iter()
        .filter(|(d, _)| !d.text.is_empty())
        .map(|(d, e)| d.finish(e))
        .collect()
}

fn is_hex_at(bytes: &[u8], i: usize) -> bool {
    bytes.get(i).is_some_and(u8::is_ascii_hexdigit)
}

fn hex_value(b: &[u8]) -> Option<u32> {
    u32::from_str_radix(std::str::from_utf8(b).ok()?, 16).ok()
}

/// Whether `s` (starting at a backslash) starts `\xHH`, `\uHHHH` or `\u{H…}`.
fn starts_escape(s: &[u8]) -> bool {
    match s.get(1) {
        Some(b'x') => is_hex_at(s, 2) && is_hex_at(s, 3),
        Some(b'u') => {
            (2..6).all(|k| is_hex_at(s, k)) || (s.get(2) == Some(&b'{') && is_hex_at(s, 3))
        }
        _ => false,
    }
}

/// Bytes that end a percent-encoded token: white space, quotes, brackets, backslashes.
fn ends_token(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'"' | b'\''
                | b'`'
                | b'<'
                | b'>'
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'\\'
                | b','
        )
}

/// The token holding position `i`, at most [`MAX_TOKEN`] bytes either side.
fn token_around(bytes: &[u8], i: usize) -> Range<usize> {
    let lo = i.saturating_sub(MAX_TOKEN);
    let start = bytes[lo..i]
        .iter()
        .rposition(|&b| ends_token(b))
        .map_or(lo, |p| lo + p + 1);
    let hi = (i + MAX_TOKEN).min(bytes.len());
    let end = bytes[i..hi]
        .iter()
        .position(|&b| ends_token(b))
        .map_or(hi, |p| i + p);
    start..end
}

/// The contents of the string literal holding the escape at `i`: from the nearest quote before it
/// on its line to the same quote (not escaped) after it, or the white-space-delimited token when
/// there is no quote; at most [`MAX_TOKEN`] bytes either side.
fn literal_around(bytes: &[u8], i: usize) -> Range<usize> {
    let lo = i.saturating_sub(MAX_TOKEN);
    let line_start = memchr::memrchr(b'\n', &bytes[lo..i]).map_or(lo, |p| lo + p + 1);
    let Some(q) = bytes[line_start..i]
        .iter()
        .rposition(|b| matches!(b, b'"' | b'\'' | b'`'))
    else {
        let start = bytes[line_start..i]
            .iter()
            .rposition(u8::is_ascii_whitespace)
            .map_or(line_start, |p| line_start + p + 1);
        let hi = (i + MAX_TOKEN).min(bytes.len());
        let end = bytes[i..hi]
            .iter()
            .position(u8::is_ascii_whitespace)
            .map_or(hi, |p| i + p);
        return start..end;
    };
    let quote = bytes[line_start + q];
    let hi = (i + MAX_TOKEN).min(bytes.len());
    let mut k = i;
    while k < hi && bytes[k] != b'\n' {
        match bytes[k] {
            b'\\' => k += 2,
            b if b == quote => break,
            _ => k += 1,
        }
    }
    line_start + q + 1..k.min(hi)
}

/// Percent-decodes `token`, with the offset of each decoded byte in it (and one past the end), or
/// `None` when nothing was decoded or the result is not text. Hand-written rather than the
/// `percent-encoding` crate's decoder because the offsets are needed to report where the secret is.
fn percent_decode(token: &[u8]) -> Option<(Vec<u8>, Vec<usize>)> {
    let mut text = Vec::with_capacity(token.len());
    let mut offsets = Vec::with_capacity(token.len() + 1);
    let mut i = 0;
    let mut any = false;
    while i < token.len() {
        offsets.push(i);
        // Only a `%` followed by two hex digits is parsed, not every byte's next two.
        let escaped = (token[i] == b'%' && is_hex_at(token, i + 1) && is_hex_at(token, i + 2))
            .then(|| hex_value(&token[i + 1..i + 3]))
            .flatten();
        match escaped {
            Some(v) => {
                text.push(v as u8);
                any = true;
                i += 3;
            }
            None => {
                text.push(token[i]);
                i += 1;
            }
        }
    }
    offsets.push(token.len());
    (any && is_text(&text)).then_some((text, offsets))
}

/// Resolves the backslash escapes of a string literal's contents, with the offset of each decoded
/// byte in them, or `None` when it has no `\x` / `\u` escape.
fn unescape(lit: &[u8]) -> Option<(Vec<u8>, Vec<usize>)> {
    let mut text = Vec::with_capacity(lit.len());
    let mut offsets = Vec::with_capacity(lit.len() + 1);
    let mut i = 0;
    let mut any = false;
    while i < lit.len() {
        if lit[i] != b'\\' || i + 1 >= lit.len() {
            push(&mut text, &mut offsets, &lit[i..i + 1], i);
            i += 1;
            continue;
        }
        let (decoded, len): (Option<char>, usize) = match lit[i + 1] {
            b'x' if starts_escape(&lit[i..]) => {
                // A byte, which may be half of a UTF-8 sequence: pushed as it is.
                let v = hex_value(&lit[i + 2..i + 4]).unwrap_or(0) as u8;
                push(&mut text, &mut offsets, &[v], i);
                any = true;
                i += 4;
                continue;
            }
            b'u' if lit.get(i + 2) == Some(&b'{') => {
                let close = lit[i + 3..].iter().take(7).position(|&b| b == b'}');
                match close.and_then(|c| Some((hex_value(&lit[i + 3..i + 3 + c])?, c))) {
                    Some((v, c)) => (char::from_u32(v), c + 4),
                    None => (None, 0),
                }
            }
            b'u' if starts_escape(&lit[i..]) => {
                let hi = hex_value(&lit[i + 2..i + 6]).unwrap_or(0);
                let low = (0xD800..0xDC00)
                    .contains(&hi)
                    .then(|| lit.get(i + 6..i + 12))
                    .flatten()
                    .filter(|s| s.starts_with(b"\\u"))
                    .and_then(|s| hex_value(&s[2..]))
                    .filter(|v| (0xDC00..0xE000).contains(v));
                match low {
                    Some(lo) => (
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)),
                        12,
                    ),
                    None => (Some(char::from_u32(hi).unwrap_or('\u{FFFD}')), 6),
                }
            }
            b'n' => (Some('\n'), 2),
            b't' => (Some('\t'), 2),
            b'r' => (Some('\r'), 2),
            b'\\' | b'"' | b'\'' | b'/' | b'`' => (Some(lit[i + 1] as char), 2),
            _ => (None, 0),
        };
        match decoded {
            Some(c) if len > 0 => {
                any |= len > 2;
                let mut buf = [0u8; 4];
                push(
                    &mut text,
                    &mut offsets,
                    c.encode_utf8(&mut buf).as_bytes(),
                    i,
                );
                i += len;
            }
            _ => {
                push(&mut text, &mut offsets, &lit[i..i + 2], i);
                i += 2;
            }
        }
    }
    offsets.push(lit.len());
    any.then_some((text, offsets))
}

fn push(text: &mut Vec<u8>, offsets: &mut Vec<usize>, bytes: &[u8], at: usize) {
    text.extend_from_slice(bytes);
    offsets.extend(std::iter::repeat_n(at, bytes.len()));
}

/// Decodes `s` as base64 when it looks like base64 of text, within the size bounds; takes what it
/// decodes from `budget`.
fn decode_base64(s: &[u8], budget: &Cell<usize>) -> Option<Vec<u8>> {
    if !(MIN_BASE64..=MAX_RUN).contains(&s.len()) || budget.get() == 0 {
        return None;
    }
    let body = s.strip_suffix(b"==").or(s.strip_suffix(b"=")).unwrap_or(s);
    let (mut std, mut url) = (false, false);
    for &b in body {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => {}
            b'+' | b'/' => std = true,
            b'-' | b'_' => url = true,
            _ => return None,
        }
    }
    if std && url {
        return None;
    }
    let engine = if url { &URL_SAFE } else { &STANDARD };
    let text = engine.decode(s).ok()?;
    (is_text(&text) && take(budget, text.len())).then_some(text)
}

/// Text: valid UTF-8 with no control characters but tabs and line ends.
fn is_text(bytes: &[u8]) -> bool {
    bytes.len() >= 4
        && std::str::from_utf8(bytes).is_ok_and(|s| {
            s.chars()
                .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        })
}

/// Takes `n` bytes from `budget`, or says no when fewer are left; then the budget is spent, so
/// decoding stops there and the caller can tell that it did.
fn take(budget: &Cell<usize>, n: usize) -> bool {
    match budget.get().checked_sub(n) {
        Some(left) => {
            budget.set(left);
            true
        }
        None => {
            budget.set(0);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_keeps_offsets() {
        let (text, offsets) = percent_decode(b"a%5Fbc").expect("decoded");
        assert_eq!(text, b"a_bc");
        assert_eq!(offsets, vec![0, 1, 4, 5, 6]);
        assert!(percent_decode(b"100%").is_none());
        assert!(percent_decode(b"plain").is_none());
    }

    #[test]
    fn escapes_resolve_bytes_code_units_and_surrogate_pairs() {
        let (text, _) = unescape(br"\x67\x68p\u005f\u{41}\ud83d\ude00").expect("decoded");
        assert_eq!(String::from_utf8(text).expect("utf-8"), "ghp_A\u{1F600}");
        assert!(unescape(br"only \n and \t").is_none());
    }

    #[test]
    fn base64_of_text_only_within_bounds() {
        let budget = Cell::new(1 << 20);
        let enc = STANDARD.encode("deploy:Q8t2wYpLm3Rk9Vx");
        assert_eq!(
            decode_base64(enc.as_bytes(), &budget).as_deref(),
            Some(&b"deploy:Q8t2wYpLm3Rk9Vx"[..])
        );
        // Random bytes (an image) are not text; short runs and huge runs are not decoded.
        let binary = STANDARD.encode([0x89u8, b'P', b'N', b'G', 0, 0, 0, 13, 0xff, 0xfe, 0, 1]);
        assert!(decode_base64(binary.as_bytes(), &budget).is_none());
        assert!(decode_base64(b"YWRtaW4=", &budget).is_none());
        let huge = STANDARD.encode(vec![b'a'; MAX_RUN]);
        assert!(decode_base64(huge.as_bytes(), &budget).is_none());
    }
}
