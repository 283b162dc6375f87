//! How text taken from scanned input (file names, secrets, matched lines, author names) is shown to
//! a person: [`escape`] / [`escape_bytes`] make it safe for a terminal or a log, and [`mask_secret`]
//! hides a secret while keeping enough of it to recognise. Every non-JSON output (the human report,
//! GitHub annotations, warnings on stderr) goes through these; JSON escapes by itself.
//!
//! This module sits at the bottom of the crate and imports nothing from it, so any reporter can use
//! it.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `s` with every character that could move the cursor, change colours, set the window title or
/// start a new line replaced by a visible escape: C0 controls as `\n`, `\r`, `\t`, `\e`, or
/// `\xNN`; DEL as `\x7f`; C1 controls, line and paragraph separators and bidirectional overrides
/// (which can make a terminal show text in another order than it is) as `\u{NNNN}`. A newline in
/// a file name therefore cannot forge a line of the report. Other text is returned as it is.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_char(&mut out, c);
    }
    Cow::Owned(out)
}

/// Like [`escape`], for bytes that may not be UTF-8: each byte of an invalid sequence is shown as
/// `\xNN`, so two different names never look the same.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_char(&mut out, c);
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_char(out: &mut String, c: char) {
    if !needs_escape(c) {
        out.push(c);
        return;
    }
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{1b}' => out.push_str("\\e"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        }
    }
}

/// The masked form of a secret, the same in every output format: a few leading characters of the
/// value (a provider prefix such as `ghp_` or `sk_live_` plus up to four characters after it, two
/// characters of a short password, none of a very short one) and then `*`s, at most 12 of them,
/// so the length is not given away either. A PEM or PGP key block is shown as its key type and a
/// short fingerprint of the block (`[RSA PRIVATE KEY sha256:1a2b3c4d]`): the armour line and the
/// first base64 characters are the same for every key of a type and would say nothing.
pub fn mask_secret(secret: &str) -> String {
    if let Some(kind) = pem_kind(secret) {
        return format!("[{kind} sha256:{}]", short_digest(secret.trim()));
    }
    let chars: Vec<char> = secret.chars().collect();
    let n = chars.len();
    let keep = match n {
        0..=7 => 0,
        8..=19 => 2,
        _ => {
            // A provider prefix (`ghp_`, `sk_live_`, `xoxb-`, `django-insecure-`: lowercase words,
            // each followed by `_` or `-`) says what the secret is but nothing of its value: keep
            // it, and up to four characters of the value while three quarters of it stay hidden.
            let mut prefix = 0;
            let mut word = 0;
            for (i, &c) in chars.iter().enumerate().take(17) {
                if c.is_ascii_lowercase() {
                    word += 1;
                } else if (c == '_' || c == '-') && word > 0 {
                    prefix = i + 1;
                    word = 0;
                } else {
                    break;
                }
            }
            let prefix = if prefix > n / 2 { 0 } else { prefix };
            prefix + 4.min((n - prefix) / 4)
        }
    };
    let mut out: String = chars[..keep].iter().collect();
    out.push_str(&"*".repeat((n - keep).clamp(3, 12)));
    out
}

/// `RSA PRIVATE KEY` for a block starting `-----BEGIN RSA PRIVATE KEY-----`.
fn pem_kind(secret: &str) -> Option<&str> {
    let rest = secret.trim_start().strip_prefix("-----BEGIN ")?;
    let end = rest.find("-----")?;
    let kind = rest[..end].trim();
    (!kind.is_empty()
        && kind.len() <= 40
        && kind.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
    .then_some(kind)
}

/// First 8 hex digits of the SHA-256 of `s`.
fn short_digest(s: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(s.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_made_visible() {
        assert_eq!(escape("plain/path.py"), "plain/path.py");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape("evil\u{1b}[2J\nCRITICAL\t\u{7}\u{7f}"),
            "evil\\e[2J\\nCRITICAL\\t\\x07\\x7f"
        );
        assert_eq!(escape("a\u{202e}b\u{85}"), "a\\u{202e}b\\u{0085}");
        assert_eq!(escape("café"), "café");
    }

    #[test]
    fn invalid_utf8_is_shown_byte_by_byte() {
        assert_eq!(escape_bytes(b"caf\xe9\n.env"), "caf\\xe9\\n.env");
        assert_eq!(escape_bytes("é".as_bytes()), "é");
    }

    #[test]
    fn mask_keeps_a_prefix_and_a_few_characters() {
        assert_eq!(
            mask_secret("ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
            "ghp_abcd************"
        );
        assert_eq!(
            mask_secret("django-insecure-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijkl"),
            "django-insecure-abcd************"
        );
        assert_eq!(mask_secret("short"), "*****");
        // A Django key with `_` in its first characters has no prefix to keep.
        assert_eq!(
            mask_secret("@i@6h_r3mdx3v$_wo%a9q8z7y6x5w4v3u2t1s0r9q8p7o6n5m"),
            "@i@6************"
        );
        assert_eq!(
            mask_secret("sk_live_0123456789abcdefghij"),
            "sk_live_0123************"
        );
        assert_eq!(mask_secret("hunter2hunter2"), "hu************");
        let long = "q8Zr2LmV0xYp7WcTn4Ks9HbJ";
        assert_eq!(mask_secret(long), "q8Zr************");
        assert!(!mask_secret("abcdefghijkl").contains("cdef"));
    }

    #[test]
    fn a_key_block_is_masked_as_its_type_and_fingerprint() {
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
        let m = mask_secret(key);
        assert!(m.starts_with("[OPENSSH PRIVATE KEY sha256:"), "{m}");
        assert_eq!(m.len(), "[OPENSSH PRIVATE KEY sha256:12345678]".len());
        assert!(!m.contains("-----") && !m.contains("b3Bl"), "{m}");
        assert_ne!(m, mask_secret(&key.replace("AAAAA", "AAAAB")));
    }
}
