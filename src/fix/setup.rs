//! The code a settings module needs before its first environment lookup: imports (`os`,
//! `environ`, `decouple`, `dotenv`) and, when nothing loads `.env` yet, the loader call
//! (django-environ `read_env`, python-dotenv `load_dotenv`, or the standard-library loader),
//! placed after the path name it uses (`BASE_DIR`) and before the first lookup.

use std::path::Path;

use super::loader::{self, PathVal};
use super::plan::{Module, Provides};
use super::python::{self, Statement};
use super::settings::Site;
use super::{slash, FixPlan, Loader, TextFile};

/// Imports and the `.env` loader a module needs before its first lookup, as (offset, text).
#[allow(clippy::too_many_arguments)] // one call site; a struct for it would only rename them
pub(super) fn setup_code(
    file: &TextFile,
    m: &Module,
    kind: Loader,
    prov: &Provides,
    env_path: &Path,
    first_stmt: usize,
    used: &[&Site],
    out: &mut FixPlan,
) -> Vec<(usize, String)> {
    let src = file.text.as_str();
    let stmts = &m.stmts;
    let setup = &m.setup;
    let shown = slash(&file.path);
    let head = match setup.last_import.filter(|&i| i < first_stmt) {
        Some(i) => stmts[i].line_end,
        None => top_of_module(src, stmts, first_stmt),
    };
    let mut head_text = String::new();
    let mut body = String::new();
    let mut stdlib_block: Option<String> = None;
    let mut after: Vec<usize> = Vec::new();
    let lookups_os =
        matches!(kind, Loader::Dotenv | Loader::Stdlib) && used.iter().any(|s| !s.drop_default);
    let mut need_os = lookups_os;
    let loads = prov.loads.is_some();
    let names: Vec<(&String, &PathVal)> = m
        .names
        .iter()
        .filter(|(_, (_, si))| *si < first_stmt)
        .map(|(n, (p, _))| (n, p))
        .collect();
    let mut path_code = || {
        let (code, os) = loader::path_code(env_path, &file.path, &names);
        if let Some((_, (_, si))) = m.names.iter().find(|(n, _)| code.contains(n.as_str())) {
            after.push(*si);
        }
        need_os |= os;
        code
    };
    match kind {
        Loader::Environ => {
            let env_available = setup.env_name.is_some() || prov.env;
            if !setup.imports_environ && !env_available {
                head_text.push_str("import environ\n");
            }
            if !env_available {
                body.push_str("env = environ.Env()\n");
            }
            if !loads {
                let code = path_code();
                body.push_str(&format!("environ.Env.read_env({code})\n"));
                out.notes.push(format!(
                    "{shown}: now loads {} with django-environ (read_env)",
                    slash(env_path)
                ));
            }
            after.extend(setup.env_stmt.filter(|&i| i < first_stmt));
        }
        Loader::Decouple => {
            if !setup.imports_decouple {
                head_text.push_str("from decouple import config\n");
            }
        }
        Loader::Dotenv => {
            if !loads {
                let code = path_code();
                if !src.contains("import load_dotenv") {
                    head_text.push_str("from dotenv import load_dotenv\n");
                }
                body.push_str(&format!("load_dotenv({code})\n"));
                out.notes.push(format!(
                    "{shown}: now loads {} with python-dotenv (load_dotenv)",
                    slash(env_path)
                ));
            }
        }
        Loader::Stdlib => {
            if !loads {
                let code = path_code();
                stdlib_block = Some(loader::stdlib_loader(&code));
                need_os = true;
                out.notes.push(format!(
                    "{shown}: now loads {} with a few lines of standard library \
                     (os.environ.setdefault: real environment variables win)",
                    slash(env_path)
                ));
            }
        }
    }
    if let Some((_, stmt)) = m.parent {
        if stmt < first_stmt {
            after.push(stmt);
        }
    }
    if need_os && !setup.imports_os {
        head_text.insert_str(0, "import os\n");
    }
    let at = after
        .into_iter()
        .max()
        .map_or(head, |i| stmts[i].line_end)
        .max(head);
    let mut inserts = Vec::new();
    if !body.is_empty() {
        body.insert_str(
            0,
            "# Credentials come from the environment; in development from .env (not committed).\n",
        );
    }
    if let Some(block) = stdlib_block {
        body = block;
    }
    if at == head {
        head_text.push_str(&body);
        if !head_text.is_empty() {
            inserts.push((head, head_text));
        }
    } else {
        if !head_text.is_empty() {
            inserts.push((head, head_text));
        }
        if !body.is_empty() {
            inserts.push((at, body));
        }
    }
    inserts
}

/// Byte offset where new imports go when the module has none before `limit`: after a module
/// docstring and `from __future__` imports.
fn top_of_module(src: &str, stmts: &[Statement], limit: usize) -> usize {
    let mut at = 0;
    for (i, st) in stmts.iter().enumerate().take(limit) {
        let is_doc =
            i == 0 && st.tokens.len() == 1 && matches!(st.tokens[0].tok, python::Tok::Str { .. });
        let is_future = src[st.tokens[0].span.start..].starts_with("from __future__");
        if is_doc || is_future {
            at = st.line_end;
        } else {
            break;
        }
    }
    at
}
