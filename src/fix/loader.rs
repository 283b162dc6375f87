//! How a settings module loads `.env`: which library it uses, where its `read_env(...)` /
//! `load_dotenv(...)` call points, and which path names (`BASE_DIR`, `ROOT_DIR`, ...) it defines,
//! evaluated statically from the handful of forms Django projects use (`Path(__file__).resolve()
//! .parent.parent`, `os.path.dirname(...)`, `/`, `os.path.join`, `str(...)`, `environ.Path(...)
//! - 3`, `.path(...)`). Nothing is executed; an expression it does not understand gives `None`.
//! Also renders the code that makes a module load `.env` when it does not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::python::{text, Statement, Tok, Token};

/// What a path value is in Python, which decides how generated code extends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// `pathlib.Path`.
    Pathlib,
    /// A `str` from `os.path`.
    Str,
    /// django-environ's `environ.Path`.
    Environ,
}

/// A path relative to the repository root, as components (`..` resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathVal {
    /// Components below the root.
    pub parts: Vec<String>,
    /// Python type.
    pub kind: PathKind,
}

impl PathVal {
    /// As a relative `PathBuf`.
    pub fn to_path(&self) -> PathBuf {
        self.parts.iter().collect()
    }

    fn parent(mut self, n: usize) -> Option<PathVal> {
        for _ in 0..n {
            self.parts.pop()?;
        }
        Some(self)
    }

    fn join(mut self, s: &str) -> Option<PathVal> {
        for c in s.split('/').filter(|c| !c.is_empty() && *c != ".") {
            if c == ".." {
                self.parts.pop()?;
            } else {
                self.parts.push(c.to_owned());
            }
        }
        Some(self)
    }
}

#[derive(Debug, Clone)]
enum V {
    Name(String),
    Str(String),
    Int(usize),
    Path(PathVal),
    Method(PathVal, String),
}

/// Static evaluation context of one module.
pub struct Eval<'a> {
    src: &'a str,
    file: &'a Path,
    /// Path names defined so far, with the statement defining them.
    pub names: BTreeMap<String, (PathVal, usize)>,
}

impl<'a> Eval<'a> {
    /// For module `file` (relative to the root) with source `src`, starting from `names`
    /// (inherited through `from .base import *`).
    pub fn new(
        src: &'a str,
        file: &'a Path,
        names: BTreeMap<String, (PathVal, usize)>,
    ) -> Eval<'a> {
        Eval { src, file, names }
    }

    /// Records `NAME = <path expression>` if statement `si` is one.
    pub fn assign(&mut self, st: &Statement, si: usize) {
        let t = &st.tokens;
        if st.indent != 0 || t.len() < 3 || t[0].tok != Tok::Name || !is_op(self.src, &t[1], "=") {
            return;
        }
        if let Some(V::Path(p)) = self.expr(&t[2..]) {
            self.names.insert(text(self.src, &t[0]).to_owned(), (p, si));
        }
    }

    /// Evaluates a whole token slice as a path, if it is one.
    pub fn path(&self, toks: &[Token]) -> Option<PathVal> {
        match self.expr(toks)? {
            V::Path(p) => Some(p),
            _ => None,
        }
    }

    fn expr(&self, toks: &[Token]) -> Option<V> {
        let mut i = 0;
        let v = self.binary(toks, &mut i)?;
        (i == toks.len()).then_some(v)
    }

    fn binary(&self, t: &[Token], i: &mut usize) -> Option<V> {
        let mut v = self.postfix(t, i)?;
        while *i < t.len() && t[*i].tok == Tok::Op {
            let op = text(self.src, &t[*i]);
            if !matches!(op, "/" | "-" | "+") {
                break;
            }
            *i += 1;
            let rhs = self.postfix(t, i)?;
            v = match (op, v, rhs) {
                ("/", V::Path(p), V::Str(s)) => V::Path(p.join(&s)?),
                ("-", V::Path(p), V::Int(n)) if p.kind == PathKind::Environ => {
                    V::Path(p.parent(n)?)
                }
                ("+", V::Path(p), V::Str(s)) if p.kind == PathKind::Str && s.starts_with('/') => {
                    V::Path(p.join(&s)?)
                }
                _ => return None,
            };
        }
        Some(v)
    }

    fn postfix(&self, t: &[Token], i: &mut usize) -> Option<V> {
        let mut v = self.primary(t, i)?;
        loop {
            if *i + 1 < t.len() && is_op(self.src, &t[*i], ".") && t[*i + 1].tok == Tok::Name {
                let attr = text(self.src, &t[*i + 1]);
                *i += 2;
                v = match v {
                    V::Name(n) => match self.names.get(&n) {
                        Some((p, _)) => attr_of(p.clone(), attr)?,
                        None => V::Name(format!("{n}.{attr}")),
                    },
                    V::Path(p) => attr_of(p, attr)?,
                    _ => return None,
                };
            } else if *i < t.len() && is_op(self.src, &t[*i], "(") {
                let close = matching(self.src, t, *i)?;
                let args = split_args(self.src, &t[*i + 1..close])
                    .into_iter()
                    .map(|a| self.arg(a))
                    .collect::<Option<Vec<V>>>()?;
                *i = close + 1;
                v = self.call(v, args)?;
            } else {
                return Some(v);
            }
        }
    }

    fn arg(&self, toks: &[Token]) -> Option<V> {
        // keyword arguments (`env_file=...`, `strict=True`) keep their value
        if toks.len() > 2 && toks[0].tok == Tok::Name && is_op(self.src, &toks[1], "=") {
            return self.expr(&toks[2..]);
        }
        self.expr(toks)
    }

    fn primary(&self, t: &[Token], i: &mut usize) -> Option<V> {
        let tok = t.get(*i)?;
        *i += 1;
        match &tok.tok {
            Tok::Name => {
                let n = text(self.src, tok);
                if n == "__file__" {
                    let parts = self.file.iter().map(|c| c.to_string_lossy().into_owned());
                    return Some(V::Path(PathVal {
                        parts: parts.collect(),
                        kind: PathKind::Str,
                    }));
                }
                if n == "True" || n == "False" {
                    return Some(V::Int(0));
                }
                Some(match self.names.get(n) {
                    Some((p, _)) => V::Path(p.clone()),
                    None => V::Name(n.to_owned()),
                })
            }
            Tok::Str { value: Some(s), .. } => Some(V::Str(s.clone())),
            Tok::Number => text(self.src, tok).parse().ok().map(V::Int),
            Tok::Op if text(self.src, tok) == "(" => {
                let close = matching(self.src, t, *i - 1)?;
                let v = self.expr(&t[*i..close])?;
                *i = close + 1;
                Some(v)
            }
            _ => None,
        }
    }

    fn call(&self, f: V, args: Vec<V>) -> Option<V> {
        let as_path = |v: &V, kind: PathKind| match v {
            V::Path(p) => Some(V::Path(PathVal {
                parts: p.parts.clone(),
                kind,
            })),
            _ => None,
        };
        match f {
            V::Name(n) => {
                let first = args.first()?;
                match n.as_str() {
                    "Path" | "pathlib.Path" | "PurePath" => as_path(first, PathKind::Pathlib),
                    "str" | "os.fspath" | "os.path.abspath" | "os.path.realpath"
                    | "os.path.normpath" => as_path(first, PathKind::Str),
                    "environ.Path" => as_path(first, PathKind::Environ),
                    "os.path.dirname" => match first {
                        V::Path(p) => Some(V::Path(PathVal {
                            kind: PathKind::Str,
                            ..p.clone().parent(1)?
                        })),
                        _ => None,
                    },
                    "os.path.join" => {
                        let V::Path(mut p) = first.clone() else {
                            return None;
                        };
                        for a in &args[1..] {
                            let V::Str(s) = a else { return None };
                            if s.starts_with('/') {
                                return None;
                            }
                            p = p.join(s)?;
                        }
                        p.kind = PathKind::Str;
                        Some(V::Path(p))
                    }
                    _ => None,
                }
            }
            V::Method(p, m) => match m.as_str() {
                "resolve" | "absolute" | "expanduser" => Some(V::Path(p)),
                "joinpath" | "path" => {
                    let mut p = p;
                    for a in &args {
                        let V::Str(s) = a else { return None };
                        p = p.join(s)?;
                    }
                    Some(V::Path(p))
                }
                _ => None,
            },
            // `ROOT_DIR(".env")` on an environ.Path returns a str
            V::Path(p) if p.kind == PathKind::Environ => {
                let mut p = p;
                for a in &args {
                    let V::Str(s) = a else { return None };
                    p = p.join(s)?;
                }
                p.kind = PathKind::Str;
                Some(V::Path(p))
            }
            _ => None,
        }
    }
}

fn attr_of(p: PathVal, attr: &str) -> Option<V> {
    if attr == "parent" {
        return Some(V::Path(p.parent(1)?));
    }
    Some(V::Method(p, attr.to_owned()))
}

fn is_op(src: &str, t: &Token, s: &str) -> bool {
    t.tok == Tok::Op && text(src, t) == s
}

/// Index of the bracket closing the one at `open`.
pub fn matching(src: &str, t: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, tok) in t.iter().enumerate().skip(open) {
        if tok.tok != Tok::Op {
            continue;
        }
        match text(src, tok) {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits call arguments at top-level commas.
pub fn split_args<'t>(src: &str, t: &'t [Token]) -> Vec<&'t [Token]> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (j, tok) in t.iter().enumerate() {
        if tok.tok != Tok::Op {
            continue;
        }
        match text(src, tok) {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            "," if depth == 0 => {
                out.push(&t[start..j]);
                start = j + 1;
            }
            _ => {}
        }
    }
    if start < t.len() {
        out.push(&t[start..]);
    }
    out
}

/// A call in a module that loads an env file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadCall {
    /// Statement index.
    pub stmt: usize,
    /// The library it belongs to.
    pub loader: super::Loader,
    /// The env file it reads, relative to the root. `None`: found by searching upwards from the
    /// module's directory (python-dotenv's `find_dotenv`), or not understood.
    pub file: Option<PathBuf>,
    /// The path argument was given but could not be evaluated.
    pub opaque: bool,
}

/// The name of the standard-library loader function keysweep generates.
pub const STDLIB_FN: &str = "_read_env_file";

/// Walks the module's top-level statements: records path names (into `ev.names`) and returns the
/// first `read_env(...)`, `load_dotenv(...)` or generated loader call.
pub fn scan_module(ev: &mut Eval<'_>, stmts: &[Statement]) -> Option<LoadCall> {
    let mut found = None;
    for (si, st) in stmts.iter().enumerate() {
        if found.is_none() && st.indent == 0 {
            found = load_call(ev, st, si);
        }
        ev.assign(st, si);
    }
    found
}

fn load_call(ev: &Eval<'_>, st: &Statement, si: usize) -> Option<LoadCall> {
    let src = ev.src;
    let dir: PathBuf = ev.file.parent().map(Path::to_path_buf).unwrap_or_default();
    let t = &st.tokens;
    for (j, tok) in t.iter().enumerate() {
        if tok.tok != Tok::Name || !t.get(j + 1).is_some_and(|n| is_op(src, n, "(")) {
            continue;
        }
        let loader = match text(src, tok) {
            "read_env" => super::Loader::Environ,
            "load_dotenv" => super::Loader::Dotenv,
            STDLIB_FN if !(j > 0 && text(src, &t[j - 1]) == "def") => super::Loader::Stdlib,
            _ => continue,
        };
        let close = matching(src, t, j + 1)?;
        let args = split_args(src, &t[j + 2..close]);
        let path_arg = args.iter().find_map(|a| {
            let kw = a.len() > 2 && a[0].tok == Tok::Name && is_op(src, &a[1], "=");
            if !kw {
                Some(*a)
            } else if matches!(text(src, &a[0]), "env_file" | "dotenv_path" | "path") {
                Some(&a[2..])
            } else {
                None
            }
        });
        let (file, opaque) = match path_arg {
            // django-environ without a path reads `.env` next to the calling module
            None if loader == super::Loader::Environ => (Some(dir.join(".env")), false),
            None => (None, false),
            Some(a) => {
                let is_find = a.first().is_some_and(|x| text(src, x) == "find_dotenv");
                match ev.path(a) {
                    Some(p) => (Some(p.to_path()), false),
                    None => (None, !is_find),
                }
            }
        };
        return Some(LoadCall {
            stmt: si,
            loader,
            file,
            opaque,
        });
    }
    None
}

/// Python code for the path of `env_file` (relative to the root) in module `module`, using one of
/// `names` defined before the insertion point when it is an ancestor, else `__file__`. Returns the
/// code and whether it needs `import os`.
pub fn path_code(env_file: &Path, module: &Path, names: &[(&String, &PathVal)]) -> (String, bool) {
    let target: Vec<String> = env_file
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let best = names
        .iter()
        .filter(|(_, p)| target.starts_with(&p.parts) && target.len() > p.parts.len())
        .max_by_key(|(n, p)| (p.parts.len(), n.as_str() == "BASE_DIR"));
    let quoted = |parts: &[String]| {
        parts
            .iter()
            .map(|p| format!("{p:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some((name, p)) = best {
        let rest = &target[p.parts.len()..];
        return match p.kind {
            PathKind::Pathlib => {
                let joined = rest
                    .iter()
                    .map(|r| format!("{r:?}"))
                    .collect::<Vec<_>>()
                    .join(" / ");
                (format!("str({name} / {joined})"), false)
            }
            PathKind::Str => (format!("os.path.join({name}, {})", quoted(rest)), true),
            PathKind::Environ => (format!("str({name}.path({}))", quoted(rest)), false),
        };
    }
    let dir: Vec<String> = module
        .parent()
        .map(|d| d.iter().map(|c| c.to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let common = dir.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = (common..dir.len()).map(|_| "..".to_owned()).collect();
    parts.extend(target[common..].iter().cloned());
    (
        format!(
            "os.path.join(os.path.dirname(os.path.abspath(__file__)), {})",
            quoted(&parts)
        ),
        true,
    )
}

/// The standard-library loader: reads `KEY=value` lines (bare, `'literal'`, or `"with \\
/// escapes"`, as `keysweep fix` writes them) and sets each with `os.environ.setdefault`, so a
/// variable already in the environment wins.
pub fn stdlib_loader(path_code: &str) -> String {
    format!(
        r##"

def {STDLIB_FN}(path):
    """Loads KEY=value lines from `path` (if it exists) without overriding the environment."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = (part.strip() for part in line.split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == '"':
            chars, value, i = value[1:-1], "", 0
            while i < len(chars):
                if chars[i] == "\\" and i + 1 < len(chars):
                    i += 1
                value += chars[i]
                i += 1
        os.environ.setdefault(name, value)


# Credentials come from the environment; in development from .env (not committed).
{STDLIB_FN}({path_code})
"##
    )
}
