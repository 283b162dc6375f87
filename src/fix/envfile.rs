//! `.env`, `.env.example` and `.gitignore` text: reading existing entries and writing new ones in
//! a form that both django-environ's `read_env` and a POSIX shell (`set -a; . ./.env`) read back
//! as the same value.

use std::collections::BTreeMap;

/// Entries of a `.env` file: name → value as read back (quotes removed).
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim_start();
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let name = name.trim_end();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        out.entry(name.to_owned())
            .or_insert_with(|| unquote(value.trim()));
    }
    out
}

fn unquote(v: &str) -> String {
    if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        return v[1..v.len() - 1].to_owned();
    }
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        let mut out = String::new();
        let mut chars = v[1..v.len() - 1].chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    v.to_owned()
}

/// Why a value cannot be written faithfully, if it cannot. `plain`: the reader (python-decouple)
/// strips one pair of quotes and unescapes nothing.
pub fn unwritable(value: &str, plain: bool) -> Option<&'static str> {
    if plain && value.contains('\'') && value.contains('"') {
        Some("holds both quote characters, which python-decouple cannot read back")
    } else if value.contains(['\n', '\r']) {
        Some("contains a line break, which .env files cannot hold portably")
    } else if value.starts_with('$') {
        Some("starts with `$`, which django-environ reads as a reference to another variable")
    } else {
        None
    }
}

/// `NAME=value`, quoted only when needed: bare for `[A-Za-z0-9_./:@%+,-]`, single quotes when the
/// value has no `'`, else double quotes with `\ " $ \`` escaped. Both django-environ and `sh` read
/// each form back unchanged. `plain` (python-decouple): double quotes without escapes.
pub fn line(name: &str, value: &str, plain: bool) -> String {
    let bare = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:@%+,-".contains(&b));
    if bare || value.is_empty() {
        format!("{name}={value}\n")
    } else if !value.contains('\'') {
        format!("{name}='{value}'\n")
    } else if plain {
        format!("{name}=\"{value}\"\n")
    } else {
        let mut q = String::with_capacity(value.len() + 2);
        for c in value.chars() {
            if matches!(c, '\\' | '"' | '$' | '`') {
                q.push('\\');
            }
            q.push(c);
        }
        format!("{name}=\"{q}\"\n")
    }
}

/// `text` with `more` appended on a line of its own.
pub fn append(text: &str, more: &str) -> String {
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(more);
    out
}

/// `text` with the first line defining `name` (`NAME=...` or `export NAME=...`) replaced by
/// `new_line` (which ends with a newline).
pub fn set_value(text: &str, name: &str, new_line: &str) -> String {
    let mut done = false;
    text.split_inclusive('\n')
        .map(|l| {
            let t = l.trim_start();
            let t = t.strip_prefix("export ").unwrap_or(t);
            let defines = t.split_once('=').is_some_and(|(n, _)| n.trim_end() == name);
            if defines && !done {
                done = true;
                if l.ends_with('\n') {
                    new_line.to_owned()
                } else {
                    new_line.trim_end_matches('\n').to_owned()
                }
            } else {
                l.to_owned()
            }
        })
        .collect()
}

/// Names already listed in a `.env.example` (`NAME=` or `NAME`).
pub fn example_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("export ").unwrap_or(l);
            let name = l.split('=').next()?.trim();
            (!name.is_empty() && !name.starts_with('#')).then(|| name.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_values_read_back_unchanged() {
        for v in [
            "plain-value_1",
            "k3#v9!w$q2@zr8^m1&x7*p0(t-_=+)e4y6",
            "it's",
            "a\"b\\c$d`e'f",
            "x y",
        ] {
            let l = line("K", v, false);
            assert_eq!(parse(&l).get("K").map(String::as_str), Some(v), "{l}");
        }
    }

    #[test]
    fn parse_keeps_first_entry_and_skips_comments() {
        let m = parse("# c\nexport A=1\nA=2\nB = '3'\n");
        assert_eq!(m.get("A").map(String::as_str), Some("1"));
        assert_eq!(m.get("B").map(String::as_str), Some("3"));
        assert_eq!(example_names("A=\n# B=\nexport C\n"), ["A", "C"]);
    }
}
