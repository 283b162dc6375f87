//! Checks applied to a candidate secret after its rule's regex matched: entropy, distinct
//! characters, placeholders, and the joining of concatenated string literals.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use crate::rules::EntropyThresholds;

/// The form of a secret that a rule's filters check: percent-decoded for `percent_decode` rules
/// (a URL password `p%40ss` is checked as `p@ss`; invalid escapes and non-UTF-8 results are kept
/// as written), the secret itself otherwise.
pub fn checked_form(secret: &str, percent_decode: bool) -> Cow<'_, str> {
    if percent_decode && secret.contains('%') {
        match percent_encoding::percent_decode_str(secret).decode_utf8() {
            Ok(decoded) => Cow::Owned(decoded.into_owned()),
            Err(_) => Cow::Borrowed(secret),
        }
    } else {
        Cow::Borrowed(secret)
    }
}

/// Shannon entropy of `s` in bits per character.
pub fn shannon_entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut other: std::collections::HashMap<char, u32> = std::collections::HashMap::new();
    let mut n = 0u32;
    for c in s.chars() {
        n += 1;
        if (c as u32) < 256 {
            counts[c as usize] += 1;
        } else {
            *other.entry(c).or_default() += 1;
        }
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .chain(other.values())
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// The number of distinct characters in `s`.
pub fn distinct_chars(s: &str) -> usize {
    let mut seen: Vec<char> = s.chars().collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

/// The alphabet a secret is drawn from, for per-alphabet entropy thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    Hex,
    Base64,
    Other,
}

/// Classifies `s`: only hex digits, only base64/base64url characters, or anything else.
pub fn alphabet(s: &str) -> Alphabet {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Alphabet::Hex
    } else if s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b))
    {
        Alphabet::Base64
    } else {
        Alphabet::Other
    }
}

/// Whether `s` meets the entropy minimum for its alphabet.
pub fn meets_entropy(s: &str, t: &EntropyThresholds) -> bool {
    let min = match alphabet(s) {
        Alphabet::Hex => t.hex,
        Alphabet::Base64 => t.base64,
        Alphabet::Other => t.other,
    };
    min.is_none_or(|m| shannon_entropy(s) >= m)
}

/// `%(name)s` interpolation, a whole-value `$(command)` substitution, a `<described-value>` or an
/// f-string field anywhere in the value, and "set the X key" instructions. Bare `%(` and `$(` are not enough: both occur in about 4% of random keys
/// from Django's generator alphabet.
static TEMPLATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"%\([A-Za-z_]\w*\)[sdifr]|^\$\([^()]*\)$|<[A-Za-z][A-Za-z0-9 _.-]*>",
        // f-string / str.format fields: {name}, {obj.attr}, {call(arg)}
        r"|\{[A-Za-z_][\w.]*(\([^()]*\))?\}",
        // "!!!SET DJANGO_SECRET_KEY!!!" and the like
        r"|(?i)\bset[-_ ]+(the[-_ ]+)?[a-z_]*(key|secret|password|token)\b",
    ))
    .expect("the template pattern is a valid regex")
});

static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
        change[-_.\ ]?me | changeit | change[-_.\ ]?this | replace[-_.\ ]?(me|this|with)
        | your[-_.\ ]?([a-z0-9]+[-_.\ ]?){0,3}(key|secret|token|password|pass|pwd|here|id)
        | (insert|put|add|enter)[-_.\ ]?([a-z0-9]+[-_.\ ]?){0,3}here
        | placeholder | example | dummy | redacted | \*\*\*removed\*\*\* | not[-_.\ ]?a[-_.\ ]?real
        | xxxx | \*{3,} | \.\.\.\.
        | ^(secret|password|passwd|token|key|none|null|nil|undefined|todo|tbd|fixme|empty|default|string|value)$
        ",
    )
    .expect("the placeholder pattern is a valid regex")
});

/// Whether `s` looks like a placeholder or a reference to a value kept elsewhere rather than a value:
/// template syntax (`${X}`, `{{ x }}`, `<x>`, `%(x)s`, `$(cmd)`), well-known placeholder words, or a
/// string made of one or two distinct characters.
pub fn is_placeholder(s: &str) -> bool {
    let t = s.trim();
    t.is_empty() || distinct_chars(t) <= 2 || is_template(t) || PLACEHOLDER.is_match(t)
}

/// Whether `s` is template or interpolation syntax rather than a value: `${X}`, `{{ x }}`,
/// `{% x %}`, `%(x)s`, `$(cmd)`, `{field}`, `<x>`, a whole-value `$VAR`. Applied to every rule, also those that
/// turn the placeholder word list off: none of these characters sequences occurs in keys from
/// Django's generator or in base64/hex secrets.
pub fn is_template(s: &str) -> bool {
    let t = s.trim();
    t.contains("${")
        || t.contains("{{")
        || t.contains("{%")
        || TEMPLATE.is_match(t)
        || (t.starts_with('<') && t.ends_with('>'))
        || (t.len() > 1
            && t.starts_with('$')
            && t[1..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !t[1..].starts_with(|c: char| c.is_ascii_digit()))
}

static STRING_LITERAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?s)[rRbBuUfF]{0,2}(?:"""(.*?)"""|'''(.*?)'''|"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)')"#,
    )
    .expect("the string-literal pattern is a valid regex")
});

/// Joins the contents of adjacent string literals (`'ab' 'cd'`, `"ab" + "cd"`) into one value. Text
/// with no quoted literal is returned as it is.
pub fn join_literals(s: &str) -> String {
    let mut out = String::new();
    let mut any = false;
    for caps in STRING_LITERAL.captures_iter(s) {
        any = true;
        if let Some(m) = (1..=4).find_map(|i| caps.get(i)) {
            out.push_str(m.as_str());
        }
    }
    if any {
        out
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_uniform_strings() {
        assert_eq!(shannon_entropy("aaaa"), 0.0);
        assert!((shannon_entropy("abcd") - 2.0).abs() < 1e-9);
    }

    #[test]
    fn placeholders_are_recognised() {
        for p in [
            "changeme",
            "your-secret-key-here",
            "<secret>",
            "${SECRET}",
            "{{ secret_key }}",
            "xxxxxxxxxxxx",
            "django-insecure-CHANGE_ME",
            "%(key)s",
            "$(vault read x)",
            "django-insecure-<random-50-chars>",
            "{shell_single(key)}",
            "test-{suffix}",
            "!!!SET DJANGO_SECRET_KEY!!!",
            "aaaaaaaaaaaaaaa",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        for s in [
            "k3#v9!w$q2@zr8^m1&x7*p0(t-_=+)e4y6u5",
            "ghp_Z8y7X6w5V4u3T2s1R0q9P8o7N6m5L4k3J2i1",
            "a%(b9$(zq)w!x3^m1&x7*p0-_=+)e4",
            "$_&zlhjh9-#j64-q19fqy3x%u7*t#n&5co2dkcjsfj!fynyid_",
        ] {
            assert!(!is_placeholder(s), "{s}");
        }
    }

    #[test]
    fn adjacent_literals_are_joined() {
        assert_eq!(join_literals("'ab' 'cd'"), "abcd");
        assert_eq!(join_literals("(\n    \"ab\"\n    \"c'd\"\n)"), "abc'd");
        assert_eq!(join_literals("r'x1' + 'y2'"), "x1y2");
        assert_eq!(join_literals("plain"), "plain");
    }

    #[test]
    fn percent_decoding_is_for_opted_in_rules_only() {
        assert_eq!(checked_form("h7%23Qp9%40vLx2", true), "h7#Qp9@vLx2");
        assert_eq!(checked_form("pass%77ord", true), "password");
        assert_eq!(checked_form("pass%77ord", false), "pass%77ord");
        assert_eq!(checked_form("100%", true), "100%");
        assert_eq!(checked_form("%ff%fe", true), "%ff%fe");
        assert!(is_placeholder(&checked_form("%24%7BDB_PASS%7D", true)));
    }

    #[test]
    fn alphabets_are_classified() {
        assert_eq!(alphabet("deadbeef"), Alphabet::Hex);
        assert_eq!(alphabet("abcXYZ+/="), Alphabet::Base64);
        assert_eq!(alphabet("a!b"), Alphabet::Other);
    }
}
