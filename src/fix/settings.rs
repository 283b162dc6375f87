//! Finding credential literals in a Django settings module, and what the module already has for
//! reading the environment (imports, a django-environ `Env`, `read_env`, `BASE_DIR`).
//!
//! Recognised forms (any indentation, so `if DEBUG:` blocks count too):
//! - `NAME = <string expr>` where NAME is an UPPER_CASE setting named like a credential
//!   (`SECRET_KEY`, `EMAIL_HOST_PASSWORD`, `AWS_SECRET_ACCESS_KEY`, `*_TOKEN`, ...), or a `*_URL`
//!   whose value carries `user:password@`;
//! - `NAME = {... 'KEY': <string expr> ...}` (nested dicts, e.g. `DATABASES`, `CACHES`,
//!   `STORAGES`) where KEY is named like a credential (case-insensitive: `PASSWORD`, `secret_key`);
//! - `NAME['a']['KEY'] = <string expr>`;
//! - `NAME = os.environ.get('VAR', <string expr>)`, `os.getenv(...)`, `env('VAR', default=...)`:
//!   a committed default is a leaked value too.
//!
//! Size (~650 lines, ~150 of them unit tests): one tokenizer-driven pass over a settings module.

use std::ops::Range;

use regex::Regex;

use super::python::{str_expr, text, Statement, Tok, Token};

/// One credential literal to move to the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// How the setting is written, e.g. `SECRET_KEY` or `DATABASES["default"]["PASSWORD"]`.
    pub setting: String,
    /// Environment variable to read it from.
    pub var: String,
    /// The literal value.
    pub value: String,
    /// Byte span to replace with the lookup.
    pub span: Range<usize>,
    /// Quote character used by the literal (reused in the lookup).
    pub quote: u8,
    /// Index of the statement holding it.
    pub stmt: usize,
    /// The value is Django's SECRET_KEY (a new one is generated instead of moving the old one).
    pub is_secret_key: bool,
    /// The literal is the default of a lookup; `span` covers `, default` and is removed.
    pub drop_default: bool,
}

/// Credential-like name endings (whole `_`-separated segments, upper-cased).
const SENSITIVE_SUFFIXES: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "SECRET_KEY",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
    "ACCESS_KEY_ID",
    "PRIVATE_KEY",
    "ACCOUNT_KEY",
    "SIGNING_KEY",
    "ENCRYPTION_KEY",
    "MASTER_KEY",
    "CONNECTION_STRING",
];

/// Whether a setting or dict key is named like a credential.
pub fn is_sensitive_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase().replace('-', "_");
    SENSITIVE_SUFFIXES
        .iter()
        .any(|s| n == *s || (n.ends_with(s) && n[..n.len() - s.len()].ends_with('_')))
}

fn is_setting_name(name: &str) -> bool {
    let mut b = name.bytes();
    matches!(b.next(), Some(b'A'..=b'Z'))
        && b.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
}

fn url_has_password(value: &str) -> bool {
    static_regex(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@").is_match(value)
}

fn static_regex(re: &str) -> Regex {
    Regex::new(re).expect("static regex compiles because it is a literal in this file")
}

/// Environment variable for a setting path (`[top, key, ...]`).
pub fn var_for(path: &[String]) -> String {
    if path.len() == 1 {
        return if path[0] == "SECRET_KEY" {
            "DJANGO_SECRET_KEY".to_owned()
        } else {
            path[0].clone()
        };
    }
    let mut top = path[0].clone();
    if top.len() > 3 && top.ends_with('S') {
        top.pop(); // DATABASES -> DATABASE, CACHES -> CACHE, STORAGES -> STORAGE
    }
    let mut var = top;
    for seg in &path[1..] {
        let up: String = seg
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        if up == "DEFAULT" || up == "OPTIONS" || up.is_empty() {
            continue;
        }
        var.push('_');
        var.push_str(&up);
    }
    var
}

/// All credential literals in `src`.
pub fn find_sites(src: &str, stmts: &[Statement]) -> Vec<Site> {
    let mut out = Vec::new();
    for (si, st) in stmts.iter().enumerate() {
        let t = &st.tokens;
        if t.len() < 3 || t[0].tok != Tok::Name {
            continue;
        }
        let name = text(src, &t[0]);
        if !is_setting_name(name) {
            continue;
        }
        // NAME[...][...] = value
        let mut path = vec![name.to_owned()];
        let mut i = 1;
        while i + 2 < t.len() && op(src, &t[i], "[") {
            match (&t[i + 1].tok, op(src, &t[i + 2], "]")) {
                (Tok::Str { value: Some(k), .. }, true) => path.push(k.clone()),
                _ => break,
            }
            i += 3;
        }
        if i >= t.len() || !op(src, &t[i], "=") {
            continue;
        }
        let rhs = &t[i + 1..];
        if has_top_level_assign(src, rhs) {
            continue; // chained assignment: `A = B = 'x'`
        }
        let last = path.last().map(String::as_str).unwrap_or_default();
        if let Some(e) = str_expr(src, rhs) {
            let sensitive = is_sensitive_name(last)
                || (path.len() == 1
                    && (last.ends_with("_URL") || last.ends_with("_URI"))
                    && url_has_password(&e.value));
            if sensitive && !e.value.is_empty() {
                out.push(site(&path, e.value, e.span, e.quote, si));
            }
        } else if rhs.first().is_some_and(|x| op(src, x, "{")) && path.len() == 1 {
            dict_sites(src, rhs, &mut path, si, &mut out);
        } else if path.len() == 1 && is_sensitive_name(last) {
            if let Some((var, e, drop)) = call_default(src, rhs) {
                if !e.value.is_empty() && !is_placeholder(&e.value) {
                    let mut s = site(&path, e.value, drop, e.quote, si);
                    s.var = var;
                    s.drop_default = true;
                    out.push(s);
                }
            }
        }
    }
    out
}

/// A value that is obviously not a credential (`"!!!SET DJANGO_SECRET_KEY!!!"`, `"change-me"`,
/// `"<secret>"`, `"dummy"`, `"xxxx"`): a lookup default like that is left alone (the lookup is
/// already right), and a literal like that is reported but not moved.
pub fn is_placeholder(value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    let markers = [
        "change",
        "set ",
        "set_",
        "your",
        "example",
        "placeholder",
        "dummy",
        "fake",
        "xxx",
        "!!!",
        "<",
        "${",
        "{{",
        "todo",
        "replace",
        "redacted",
        "***",
    ];
    v.chars().count() < 6
        || markers.iter().any(|w| v.contains(w))
        || v.chars().all(|c| v.starts_with(c))
}

fn site(path: &[String], value: String, span: Range<usize>, quote: u8, stmt: usize) -> Site {
    let mut setting = path[0].clone();
    for k in &path[1..] {
        setting.push_str(&format!("[{k:?}]"));
    }
    Site {
        var: var_for(path),
        is_secret_key: path.len() == 1 && path[0] == "SECRET_KEY",
        setting,
        value,
        span,
        quote,
        stmt,
        drop_default: false,
    }
}

fn op(src: &str, t: &Token, s: &str) -> bool {
    t.tok == Tok::Op && text(src, t) == s
}

/// Walks a dict display starting at `toks[0] == "{"`, recording credential values.
fn dict_sites(
    src: &str,
    toks: &[Token],
    path: &mut Vec<String>,
    stmt: usize,
    out: &mut Vec<Site>,
) -> usize {
    let mut i = 1;
    while i < toks.len() {
        if op(src, &toks[i], "}") {
            return i + 1;
        }
        if op(src, &toks[i], ",") {
            i += 1;
            continue;
        }
        // key ':' value
        let key = match &toks[i].tok {
            Tok::Str { value: Some(k), .. } if i + 1 < toks.len() && op(src, &toks[i + 1], ":") => {
                Some(k.clone())
            }
            _ => None,
        };
        let value_start = if key.is_some() { i + 2 } else { i };
        let value_end = expr_end(src, toks, value_start);
        if let Some(k) = key {
            let value = &toks[value_start..value_end];
            if value.first().is_some_and(|t| op(src, t, "{")) {
                path.push(k);
                dict_sites(src, value, path, stmt, out);
                path.pop();
            } else if is_sensitive_name(&k) {
                if let Some(e) = str_expr(src, value) {
                    if !e.value.is_empty() {
                        path.push(k);
                        out.push(site(path, e.value, e.span, e.quote, stmt));
                        path.pop();
                    }
                }
            }
        }
        i = value_end.max(i + 1);
    }
    toks.len()
}

/// Index just past the expression starting at `start` (stops at `,` or the closing bracket at
/// depth 0).
fn expr_end(src: &str, toks: &[Token], start: usize) -> usize {
    let mut depth = 0i32;
    let mut i = start;
    while i < toks.len() {
        if toks[i].tok == Tok::Op {
            match text(src, &toks[i]) {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => {
                    if depth == 0 {
                        return i;
                    }
                    depth -= 1;
                }
                "," if depth == 0 => return i,
                _ => {}
            }
        }
        i += 1;
    }
    i
}

fn has_top_level_assign(src: &str, toks: &[Token]) -> bool {
    let mut depth = 0i32;
    for t in toks.iter().filter(|t| t.tok == Tok::Op) {
        match text(src, t) {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            "=" if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// Callees that read one environment variable named by their first argument.
const LOOKUPS: &[&str] = &[
    "os.environ.get",
    "os.getenv",
    "environ.get",
    "env",
    "env.str",
    "getenv",
    "config",
    "decouple.config",
];

/// `os.environ.get('VAR', <str>)`, `os.getenv('VAR', <str>)`, `env('VAR', default=<str>)`,
/// `env.str('VAR', default=<str>)`, `config('VAR', default=<str>)`: the variable name, the
/// default literal, and the span to remove to drop it (from the comma before it).
fn call_default(
    src: &str,
    rhs: &[Token],
) -> Option<(String, super::python::StrExpr, Range<usize>)> {
    let open = rhs.iter().position(|t| op(src, t, "("))?;
    let callee: String = rhs[..open].iter().map(|t| text(src, t)).collect();
    if !LOOKUPS.contains(&callee.as_str()) {
        return None;
    }
    if !op(src, rhs.last()?, ")") {
        return None;
    }
    let args = &rhs[open + 1..rhs.len() - 1];
    let var = match args.first().map(|t| &t.tok) {
        Some(Tok::Str { value: Some(v), .. }) if crate::remediation::is_env_var_name(v) => {
            v.clone()
        }
        _ => return None,
    };
    if !args.get(1).is_some_and(|t| op(src, t, ",")) {
        return None;
    }
    let comma = args[1].span.start;
    let mut rest = &args[2..];
    if rest.len() >= 2
        && rest[0].tok == Tok::Name
        && text(src, &rest[0]) == "default"
        && op(src, &rest[1], "=")
    {
        rest = &rest[2..];
    }
    let end = expr_end(src, rest, 0);
    if rest[end..].iter().any(|t| !op(src, t, ",")) {
        return None; // more arguments after the default
    }
    let e = str_expr(src, &rest[..end])?;
    let drop = comma..rest[end - 1].span.end;
    Some((var, e, drop))
}

/// `NAME = <lookup>('VAR', ...)` and `NAME = os.environ['VAR']` at any level: (NAME, VAR).
pub fn setting_vars(src: &str, stmts: &[Statement]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for st in stmts {
        let t = &st.tokens;
        if t.len() < 5 || t[0].tok != Tok::Name || !op(src, &t[1], "=") {
            continue;
        }
        let name = text(src, &t[0]);
        if !is_setting_name(name) {
            continue;
        }
        let rhs = &t[2..];
        let Some(open) = rhs.iter().position(|x| op(src, x, "(") || op(src, x, "[")) else {
            continue;
        };
        let callee: String = rhs[..open].iter().map(|x| text(src, x)).collect();
        let is_lookup = if op(src, &rhs[open], "[") {
            callee == "os.environ" || callee == "environ"
        } else {
            LOOKUPS.contains(&callee.as_str())
        };
        if !is_lookup {
            continue;
        }
        if let Some(Tok::Str { value: Some(v), .. }) = rhs.get(open + 1).map(|x| &x.tok) {
            if crate::remediation::is_env_var_name(v) {
                out.push((name.to_owned(), v.clone()));
            }
        }
    }
    out
}

/// Line of a `SECRET_KEY_FALLBACKS = [...]` holding string literals, if any.
pub fn literal_fallbacks(src: &str, stmts: &[Statement]) -> Option<usize> {
    stmts.iter().find_map(|st| {
        let t = &st.tokens;
        if t.len() < 3 || text(src, &t[0]) != "SECRET_KEY_FALLBACKS" || !op(src, &t[1], "=") {
            return None;
        }
        let has_literal = t[2..]
            .iter()
            .any(|x| matches!(&x.tok, Tok::Str { value: Some(v), .. } if !v.is_empty()));
        has_literal.then(|| src[..t[0].span.start].matches('\n').count() + 1)
    })
}

/// What a settings module already has for reading the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvSetup {
    /// `import os` at top level.
    pub imports_os: bool,
    /// `import environ` at top level.
    pub imports_environ: bool,
    /// Name bound to `environ.Env(...)`, e.g. `env`.
    pub env_name: Option<String>,
    /// Statement index of that binding.
    pub env_stmt: Option<usize>,
    /// `read_env(` appears somewhere.
    pub reads_env: bool,
    /// Index of the last top-level import statement.
    pub last_import: Option<usize>,
    /// `BASE_DIR` assignment: statement index, number of parent steps, and whether it is a
    /// `pathlib.Path` (else an `os.path` string).
    pub base_dir: Option<(usize, usize, bool)>,
    /// `env` comes from elsewhere (`from .base import env`, or a star import in a module that
    /// uses `env(...)`): the project loads the environment its own way, so no setup is added.
    pub env_imported: bool,
    /// `from decouple import config` (or `import decouple`).
    pub imports_decouple: bool,
    /// `from dotenv import ...` or `import dotenv`.
    pub imports_dotenv: bool,
    /// Modules star-imported at top level (`from .base import *` gives `.base`), with the
    /// statement index.
    pub star_imports: Vec<(String, usize)>,
}

/// Inspects the statements of a settings module.
pub fn env_setup(src: &str, stmts: &[Statement]) -> EnvSetup {
    let import_os = static_regex(r"^import\s+(?:[\w.]+\s*,\s*)*os(?:\s*,|\s*$)");
    let import_environ = static_regex(r"^import\s+(?:[\w.]+\s*,\s*)*environ(?:\s*,|\s*$)");
    let env_bind = static_regex(r"^([A-Za-z_]\w*)\s*=\s*environ\.Env\(");
    let base_path =
        static_regex(r"^BASE_DIR\s*=\s*Path\(__file__\)(?:\.resolve\([^)]*\))?((?:\.parent)+)$");
    let base_os = static_regex(
        r"^BASE_DIR\s*=\s*((?:os\.path\.dirname\()+)os\.path\.(?:abspath|realpath)\(__file__\)\)+$",
    );
    let mut s = EnvSetup::default();
    let mut star_import = false;
    let mut uses_env = false;
    for (i, st) in stmts.iter().enumerate() {
        let first = &st.tokens[0];
        let last = &st.tokens[st.tokens.len() - 1];
        let code: String = src[first.span.start..last.span.end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.contains("read_env(") {
            s.reads_env = true;
        }
        if !uses_env && (code.contains("env(") || code.contains("env.")) {
            let t = &st.tokens;
            let used = t.windows(2).any(|w| {
                w[0].tok == Tok::Name
                    && text(src, &w[0]) == "env"
                    && (op(src, &w[1], "(") || op(src, &w[1], "."))
            });
            uses_env = used;
        }
        if st.indent != 0 {
            continue;
        }
        if code.starts_with("import ") || (code.starts_with("from ") && code.contains(" import ")) {
            s.last_import = Some(i);
            if code.starts_with("from ") {
                let names = code.split(" import ").nth(1).unwrap_or_default();
                let names = names.trim_matches(|c| c == '(' || c == ')' || c == ' ');
                let binds_env = names.split(',').any(|n| {
                    let n = n.trim();
                    n == "env" || n.ends_with(" as env")
                });
                if binds_env && s.env_name.is_none() {
                    s.env_name = Some("env".to_owned());
                    s.env_stmt = Some(i);
                    s.env_imported = true;
                }
                star_import |= names == "*";
                let module = code
                    .strip_prefix("from ")
                    .unwrap_or_default()
                    .split(" import ")
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                if names == "*" {
                    s.star_imports.push((module.clone(), i));
                }
                if module == "decouple" && names.split(',').any(|n| n.trim() == "config") {
                    s.imports_decouple = true;
                }
                s.imports_dotenv |= module == "dotenv";
            } else {
                s.imports_decouple |= code == "import decouple";
                s.imports_dotenv |= code == "import dotenv";
            }
            s.imports_os |= import_os.is_match(&code);
            s.imports_environ |= import_environ.is_match(&code);
        }
        if let Some(c) = env_bind.captures(&code) {
            if s.env_name.is_none() {
                s.env_name = Some(c[1].to_owned());
                s.env_stmt = Some(i);
            }
        }
        if let Some(c) = base_path.captures(&compact) {
            s.base_dir = Some((i, c[1].matches(".parent").count(), true));
        } else if let Some(c) = base_os.captures(&compact) {
            s.base_dir = Some((i, c[1].matches("dirname(").count(), false));
        }
    }
    if s.env_name.is_none() && star_import && uses_env {
        // provided by the star import, before its first use
        s.env_name = Some("env".to_owned());
        s.env_imported = true;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::python::statements;
    use super::*;

    fn sites(src: &str) -> Vec<(String, String, String)> {
        let st = statements(src).expect("tokenizes");
        find_sites(src, &st)
            .into_iter()
            .map(|s| (s.setting, s.var, s.value))
            .collect()
    }

    #[test]
    fn names_like_credentials() {
        for n in [
            "SECRET_KEY",
            "EMAIL_HOST_PASSWORD",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ACCESS_KEY_ID",
            "password",
            "GITHUB_TOKEN",
            "SOCIAL_AUTH_GITHUB_SECRET",
        ] {
            assert!(is_sensitive_name(n), "{n}");
        }
        for n in [
            "PASSWORD_RESET_TIMEOUT",
            "AUTH_PASSWORD_VALIDATORS",
            "SECRET_KEY_FALLBACKS",
            "USER",
            "TOKENIZER",
            "RECAPTCHA_PUBLIC_KEY",
            "MYPASSWORD2",
        ] {
            assert!(!is_sensitive_name(n), "{n}");
        }
    }

    #[test]
    fn finds_top_level_dict_and_subscript_literals() {
        let src = r#"
SECRET_KEY = 'django-insecure-abc'
DEBUG = True
EMAIL_HOST_PASSWORD = (
    "mail"
    "pass"
)
EMAIL_HOST_USER = 'me@example.org'
DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'PASSWORD': r'p\w',  # the db password
        'USER': 'app',
    },
    "replica": {"PASSWORD": "rp", 'OPTIONS': {'x': ('a', 'b')}},
}
DATABASES['default']['PASSWORD'] = 'again'
BROKER_URL = 'redis://:hunter22@localhost:6379/0'
STATIC_URL = 'static/'
AWS_SECRET_ACCESS_KEY = os.environ.get("AWS_SECRET_ACCESS_KEY", "fallback")
GITHUB_TOKEN = env('GH_TOKEN', default='ghdefault')
EMPTY_PASSWORD = ''
"#;
        let got = sites(src);
        let expect = [
            ("SECRET_KEY", "DJANGO_SECRET_KEY", "django-insecure-abc"),
            ("EMAIL_HOST_PASSWORD", "EMAIL_HOST_PASSWORD", "mailpass"),
            (
                r#"DATABASES["default"]["PASSWORD"]"#,
                "DATABASE_PASSWORD",
                r"p\w",
            ),
            (
                r#"DATABASES["replica"]["PASSWORD"]"#,
                "DATABASE_REPLICA_PASSWORD",
                "rp",
            ),
            (
                r#"DATABASES["default"]["PASSWORD"]"#,
                "DATABASE_PASSWORD",
                "again",
            ),
            (
                "BROKER_URL",
                "BROKER_URL",
                "redis://:hunter22@localhost:6379/0",
            ),
            ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "fallback"),
            ("GITHUB_TOKEN", "GH_TOKEN", "ghdefault"),
        ];
        let got: Vec<(&str, &str, &str)> = got
            .iter()
            .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn lookups_are_not_sites() {
        let src = "SECRET_KEY = os.environ['DJANGO_SECRET_KEY']\nPASSWORD = env('X')\nTOKEN = os.environ.get('T')\nSECRET_KEY = env('DJANGO_SECRET_KEY', default='!!!SET DJANGO_SECRET_KEY!!!')\n";
        assert!(sites(src).is_empty());
    }

    #[test]
    fn detects_existing_env_setup() {
        let src = "\"\"\"doc\"\"\"\nimport os, sys\nfrom pathlib import Path\nimport environ\n\nBASE_DIR = Path(__file__).resolve().parent.parent\nenv = environ.Env(DEBUG=(bool, False))\nenviron.Env.read_env(BASE_DIR / '.env')\n";
        let st = statements(src).expect("tokenizes");
        let s = env_setup(src, &st);
        assert!(s.imports_os && s.imports_environ && s.reads_env);
        assert_eq!(s.env_name.as_deref(), Some("env"));
        assert_eq!(s.last_import, Some(3));
        assert_eq!(s.base_dir, Some((4, 2, true)));
        let src2 =
            "import sys\nBASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))\n";
        let st2 = statements(src2).expect("tokenizes");
        let s2 = env_setup(src2, &st2);
        assert!(!s2.imports_os);
        assert_eq!(s2.base_dir, Some((1, 2, false)));
        let src3 = "from .base import *  # noqa\nfrom .base import env\nSECRET_KEY = env('X')\n";
        let s3 = env_setup(src3, &statements(src3).expect("tokenizes"));
        assert!(s3.env_imported && s3.env_name.as_deref() == Some("env"));
        let src4 = "from .base import *\nDEBUG = env.bool('DEBUG')\n";
        let s4 = env_setup(src4, &statements(src4).expect("tokenizes"));
        assert!(s4.env_imported);
    }
}
