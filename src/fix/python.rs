//! Just enough of a Python tokenizer to find credential literals in Django settings and the
//! statements around them: string literals (all prefixes, triple quotes, escapes), comments,
//! bracket nesting, line continuations and logical lines. It never evaluates anything; whatever it
//! does not understand it leaves alone.

use std::ops::Range;

/// A token kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// An identifier or keyword.
    Name,
    /// A string literal; `value` is `None` when it cannot be taken literally (f-string, bytes,
    /// `\N{...}` escape).
    Str { value: Option<String>, quote: u8 },
    /// A number.
    Number,
    /// An operator or delimiter (`=`, `==`, `(`, `[`, `:`, `,`, `.`, `+`, ...).
    Op,
    /// End of a logical line.
    Newline,
}

/// A token and its byte span in the source.
#[derive(Debug, Clone)]
pub struct Token {
    /// Kind.
    pub tok: Tok,
    /// Byte span.
    pub span: Range<usize>,
}

/// A logical line: tokens up to (excluding) the `Newline`, and where the physical line holding
/// its last token ends (past the `\n`).
#[derive(Debug, Clone)]
pub struct Statement {
    /// Tokens (no `Newline`).
    pub tokens: Vec<Token>,
    /// Indentation (bytes of leading whitespace) of the first line.
    pub indent: usize,
    /// Byte offset just past the `\n` ending the last physical line (or the end of the text).
    pub line_end: usize,
}

/// The statements of `src`, or `None` when it does not tokenize (unterminated string, ...).
pub fn statements(src: &str) -> Option<Vec<Statement>> {
    let tokens = tokenize(src)?;
    let mut out = Vec::new();
    let mut cur: Vec<Token> = Vec::new();
    for t in tokens {
        if t.tok == Tok::Newline {
            if !cur.is_empty() {
                out.push(make_statement(src, std::mem::take(&mut cur)));
            }
        } else {
            cur.push(t);
        }
    }
    if !cur.is_empty() {
        out.push(make_statement(src, cur));
    }
    Some(out)
}

fn make_statement(src: &str, tokens: Vec<Token>) -> Statement {
    let first = tokens.first().map_or(0, |t| t.span.start);
    let last = tokens.last().map_or(0, |t| t.span.end);
    let line_start = src[..first].rfind('\n').map_or(0, |p| p + 1);
    let line_end = src[last..].find('\n').map_or(src.len(), |p| last + p + 1);
    Statement {
        tokens,
        indent: first - line_start,
        line_end,
    }
}

/// Tokenizes `src`; `None` on an unterminated string or unbalanced brackets.
pub fn tokenize(src: &str) -> Option<Vec<Token>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\\' if b.get(i + 1) == Some(&b'\n') => i += 2,
            b'\\' if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') => i += 3,
            b'\n' => {
                if depth == 0 {
                    out.push(Token {
                        tok: Tok::Newline,
                        span: i..i + 1,
                    });
                }
                i += 1;
            }
            b' ' | b'\t' | b'\r' | b'\x0c' => i += 1,
            b'\'' | b'"' => {
                let (tok, end) = string(src, i, i)?;
                out.push(Token { tok, span: i..end });
                i = end;
            }
            b'0'..=b'9' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
                {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Number,
                    span: start..i,
                });
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80)
                {
                    i += 1;
                }
                let word = &src[start..i];
                if matches!(b.get(i), Some(b'\'' | b'"')) && is_string_prefix(word) {
                    let (tok, end) = string(src, start, i)?;
                    out.push(Token {
                        tok,
                        span: start..end,
                    });
                    i = end;
                } else {
                    out.push(Token {
                        tok: Tok::Name,
                        span: start..i,
                    });
                }
            }
            _ => {
                let start = i;
                match c {
                    b'(' | b'[' | b'{' => depth += 1,
                    b')' | b']' | b'}' => depth = depth.checked_sub(1)?,
                    _ => {}
                }
                i += 1;
                let two = matches!(
                    c,
                    b'=' | b'!'
                        | b'<'
                        | b'>'
                        | b':'
                        | b'+'
                        | b'-'
                        | b'*'
                        | b'/'
                        | b'%'
                        | b'&'
                        | b'|'
                        | b'^'
                        | b'@'
                );
                if two && b.get(i) == Some(&b'=') {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Op,
                    span: start..i,
                });
            }
        }
    }
    if depth != 0 {
        return None; // an unclosed bracket
    }
    out.push(Token {
        tok: Tok::Newline,
        span: b.len()..b.len(),
    });
    Some(out)
}

fn is_string_prefix(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "r" | "u" | "b" | "f" | "br" | "rb" | "fr" | "rf" | "t" | "tr" | "rt"
    )
}

/// Scans the string literal whose prefix starts at `start` and whose quote is at `q`.
fn string(src: &str, start: usize, q: usize) -> Option<(Tok, usize)> {
    let b = src.as_bytes();
    let prefix = src[start..q].to_ascii_lowercase();
    let raw = prefix.contains('r');
    let literal = !prefix.contains('b') && !prefix.contains('f') && !prefix.contains('t');
    let quote = b[q];
    let triple = b.get(q + 1) == Some(&quote) && b.get(q + 2) == Some(&quote);
    let body_start = if triple { q + 3 } else { q + 1 };
    let mut i = body_start;
    loop {
        let c = *b.get(i)?;
        if c == b'\\' {
            i += 2;
            continue;
        }
        if c == b'\n' && !triple {
            return None;
        }
        if c == quote {
            if !triple {
                break;
            }
            if b.get(i + 1) == Some(&quote) && b.get(i + 2) == Some(&quote) {
                break;
            }
        }
        i += 1;
    }
    let body = src.get(body_start..i)?;
    let end = if triple { i + 3 } else { i + 1 };
    let value = if !literal {
        None
    } else if raw {
        Some(body.to_owned())
    } else {
        unescape(body)
    };
    Some((Tok::Str { value, quote }, end))
}

/// Python escape processing for a non-raw `str` literal body.
fn unescape(body: &str) -> Option<String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        match e {
            '\n' => {}
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(v)?);
            }
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| chars.next()).collect();
                if hex.len() != n {
                    return None;
                }
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            'N' => return None,
            other => {
                // Python keeps unknown escapes as they are (with a SyntaxWarning).
                out.push('\\');
                out.push(other);
            }
        }
    }
    Some(out)
}

/// A run of string literals forming one value: `'a'`, `r"a"`, `('a' 'b')`, `'a' + 'b'`,
/// `('a'\n 'b')`. Parentheses must balance within the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrExpr {
    /// The joined value.
    pub value: String,
    /// Byte span of the whole expression (outer parentheses included).
    pub span: Range<usize>,
    /// Quote character of the first literal.
    pub quote: u8,
}

/// If `tokens` (the whole remaining expression) is a string expression, its value.
pub fn str_expr(src: &str, tokens: &[Token]) -> Option<StrExpr> {
    let first = tokens.first()?;
    let last = tokens.last()?;
    let mut depth = 0i32;
    let mut value = String::new();
    let mut quote = None;
    let mut prev_str = false;
    for t in tokens {
        match &t.tok {
            Tok::Str {
                value: Some(v),
                quote: q,
            } => {
                value.push_str(v);
                quote.get_or_insert(*q);
                prev_str = true;
            }
            Tok::Op => match &src[t.span.clone()] {
                "(" => {
                    if prev_str {
                        return None; // a call on a string: 'x'.join(...)
                    }
                    depth += 1;
                }
                ")" => {
                    depth -= 1;
                    if depth < 0 {
                        return None;
                    }
                }
                "+" => prev_str = false,
                _ => return None,
            },
            _ => return None,
        }
    }
    if depth != 0 {
        return None;
    }
    Some(StrExpr {
        value,
        span: first.span.start..last.span.end,
        quote: quote?,
    })
}

/// The text of a `Name` or `Op` token.
pub fn text<'s>(src: &'s str, t: &Token) -> &'s str {
    &src[t.span.clone()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(src: &str) -> Option<String> {
        let toks = tokenize(src)?;
        let toks: Vec<_> = toks.into_iter().filter(|t| t.tok != Tok::Newline).collect();
        str_expr(src, &toks).map(|e| e.value)
    }

    #[test]
    fn string_forms_are_joined_and_unescaped() {
        assert_eq!(expr(r#"'a\'b'"#).as_deref(), Some("a'b"));
        assert_eq!(expr(r#"r'a\b'"#).as_deref(), Some(r"a\b"));
        assert_eq!(expr("('ab'\n  \"cd\")").as_deref(), Some("abcd"));
        assert_eq!(expr("('ab' +\n 'cd')").as_deref(), Some("abcd"));
        assert_eq!(expr("'''x\"y'''").as_deref(), Some("x\"y"));
        assert_eq!(expr(r"'\x41\u00e9\101'").as_deref(), Some("Aé\u{41}"));
        assert_eq!(expr("f'{x}'"), None);
        assert_eq!(expr("b'x'"), None);
        assert_eq!(expr("'a'.upper()"), None);
        assert_eq!(expr("os.environ['X']"), None);
        assert_eq!(expr("'a' 'b' if X else 'c'"), None);
    }

    #[test]
    fn statements_follow_brackets_and_continuations() {
        let src = "A = {\n 'x': 'y',  # c\n}\nB = 'a' \\\n  'b'\nif X:\n    C = 1\n";
        let st = statements(src).expect("tokenizes");
        assert_eq!(st.len(), 4);
        assert_eq!(&src[..st[0].line_end], "A = {\n 'x': 'y',  # c\n}\n");
        assert_eq!(expr("'a' \\\n  'b'").as_deref(), Some("ab"));
        assert_eq!(st[3].indent, 4);
    }

    #[test]
    fn hash_inside_string_is_not_a_comment() {
        let st = statements("K = 'a#b'\n").expect("tokenizes");
        assert_eq!(st[0].tokens.len(), 3);
    }

    #[test]
    fn unterminated_string_gives_none() {
        assert!(tokenize("K = 'abc\n").is_none());
    }
}
