//! Planning `keysweep fix`: pure, reads nothing but the [`FixInput`]. Per settings module: its
//! credential sites, the lookup style and `.env` file the project already uses, the code that makes
//! the module load that file when it does not; then the project-wide parts (tracked env files,
//! `.gitignore`, `.env.example`, compose files, commented-out copies).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::loader::{self, Eval, LoadCall, PathVal};
use super::python::{self, Statement};
use super::settings::{self, EnvSetup, Site};
use super::{
    envfile, slash, tracked, EnvEntry, EnvFileChange, EnvValue, FileChange, FixInput, FixOptions,
    FixPlan, Loader, Moved, Style, TextFile,
};

/// One analysed settings module.
pub(super) struct Module {
    pub(super) stmts: Vec<Statement>,
    pub(super) setup: EnvSetup,
    pub(super) call: Option<LoadCall>,
    pub(super) names: BTreeMap<String, (PathVal, usize)>,
    /// Star-imported settings module (index) and the importing statement.
    pub(super) parent: Option<(usize, usize)>,
}

/// What a module provides once the plan is applied (for modules star-importing it).
#[derive(Debug, Clone, Default)]
pub(super) struct Provides {
    pub(super) loader: Option<Loader>,
    /// The env file loaded by the time the module has run.
    pub(super) loads: Option<PathBuf>,
    /// Binds `env` (django-environ).
    pub(super) env: bool,
}

/// Planning state shared by all modules.
pub(super) struct Ctx<'a> {
    pub(super) input: &'a FixInput,
    opts: &'a FixOptions,
    /// SETTING -> VAR from lookups anywhere in the settings.
    setting_vars: BTreeMap<String, String>,
    /// Variable names the project already uses (env files, compose).
    known: Vec<String>,
    /// Entries of every existing env file.
    env_entries: BTreeMap<PathBuf, BTreeMap<String, String>>,
    /// Per env file: the change being built.
    pub(super) env_changes: BTreeMap<PathBuf, EnvFileChange>,
    /// (setting, leaked value) of every site planned.
    leaked: Vec<(String, String)>,
}

/// Plans the fix: pure, reads nothing but `input`.
pub fn plan(input: &FixInput, opts: &FixOptions) -> FixPlan {
    let mut out = FixPlan {
        root: input.root.clone(),
        warnings: input.warnings.clone(),
        errors: input.errors.clone(),
        ..FixPlan::default()
    };
    let env_entries: BTreeMap<PathBuf, BTreeMap<String, String>> = input
        .existing
        .iter()
        .filter(|(p, _)| is_env_path(p))
        .map(|(p, t)| (p.clone(), envfile::parse(t)))
        .collect();
    let mut known: Vec<String> = env_entries
        .values()
        .flat_map(|e| e.keys().cloned())
        .collect();
    known.extend(tracked::compose_env_names(input));
    let mut ctx = Ctx {
        input,
        opts,
        setting_vars: BTreeMap::new(),
        known,
        env_entries,
        env_changes: BTreeMap::new(),
        leaked: Vec::new(),
    };
    let modules = analyse(input, &mut out);
    for m in modules.iter().flatten() {
        let src = &input.settings[index_of(&modules, m)].text;
        for (s, v) in settings::setting_vars(src, &m.stmts) {
            ctx.setting_vars.entry(s).or_insert(v);
        }
    }
    // Parents before the modules star-importing them.
    let mut provides: Vec<Option<Provides>> = vec![None; modules.len()];
    let mut order: Vec<usize> = Vec::new();
    while order.len() < modules.iter().flatten().count() {
        let before = order.len();
        for (i, m) in modules.iter().enumerate() {
            let Some(m) = m else { continue };
            let parent_done = m.parent.is_none_or(|(p, _)| order.contains(&p));
            if !order.contains(&i) && parent_done {
                order.push(i);
            }
        }
        if order.len() == before {
            break; // a star-import cycle: the rest is left alone
        }
    }
    for i in order {
        let Some(m) = &modules[i] else { continue };
        let parent = m.parent.and_then(|(p, _)| provides[p].clone());
        let (change, prov) = plan_module(&mut ctx, &input.settings[i], m, parent, &mut out);
        provides[i] = Some(prov);
        if let Some(c) = change {
            out.files.push(c);
        }
    }
    let mut key_vars: Vec<String> = vec!["SECRET_KEY".into(), "DJANGO_SECRET_KEY".into()];
    key_vars.extend(ctx.setting_vars.get("SECRET_KEY").cloned());
    key_vars.extend(
        out.moved
            .iter()
            .filter(|m| m.regenerated)
            .map(|m| m.var.clone()),
    );
    tracked::plan_tracked_env_files(
        input,
        &mut ctx.env_changes,
        &mut ctx.leaked,
        &key_vars,
        &mut out,
    );
    tracked::drop_commented_copies(input, &ctx.leaked, &mut out);
    tracked::compose_edits(input, &out.moved.clone(), &ctx.leaked, &mut out);
    tracked::finish_env_files(&mut ctx, &mut out);
    out.leaked = ctx.leaked;
    out
}

fn index_of(modules: &[Option<Module>], m: &Module) -> usize {
    modules
        .iter()
        .position(|x| x.as_ref().is_some_and(|x| std::ptr::eq(x, m)))
        .unwrap_or(0)
}

fn is_env_path(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| super::input::is_env_name(&n.to_string_lossy()))
}

/// Tokenizes every module, finds its star-import parent and evaluates its path names.
fn analyse(input: &FixInput, out: &mut FixPlan) -> Vec<Option<Module>> {
    let mut modules: Vec<Option<Module>> = input
        .settings
        .iter()
        .map(|f| {
            let Some(stmts) = python::statements(&f.text) else {
                out.errors.push(format!(
                    "{}: not valid Python (an unterminated string or unbalanced brackets), so it \
                     could not be analysed; left unchanged",
                    slash(&f.path)
                ));
                return None;
            };
            let setup = settings::env_setup(&f.text, &stmts);
            Some(Module {
                stmts,
                setup,
                call: None,
                names: BTreeMap::new(),
                parent: None,
            })
        })
        .collect();
    for (i, m) in modules.iter_mut().enumerate() {
        let Some(m) = m.as_mut() else { continue };
        m.parent = m.setup.star_imports.iter().find_map(|(module, stmt)| {
            let target = resolve_module(input, &input.settings[i].path, module)?;
            let p = input.settings.iter().position(|s| s.path == target)?;
            (p != i).then_some((p, *stmt))
        });
    }
    // Names: parents first, so inherited names are known.
    let mut done = vec![false; modules.len()];
    for _ in 0..modules.len() {
        for i in 0..modules.len() {
            let Some(m) = &modules[i] else {
                done[i] = true;
                continue;
            };
            if done[i] {
                continue;
            }
            let inherited = match m.parent {
                Some((p, stmt)) if done[p] => modules[p]
                    .as_ref()
                    .map(|pm| {
                        pm.names
                            .iter()
                            .map(|(n, (v, _))| (n.clone(), (v.clone(), stmt)))
                            .collect()
                    })
                    .unwrap_or_default(),
                Some(_) => continue,
                None => BTreeMap::new(),
            };
            let f = &input.settings[i];
            let mut ev = Eval::new(&f.text, &f.path, inherited);
            let call = loader::scan_module(&mut ev, &m.stmts);
            let names = ev.names;
            if let Some(m) = modules[i].as_mut() {
                m.call = call;
                m.names = names;
            }
            done[i] = true;
        }
    }
    modules
}

/// The settings file a `from X import *` names: `.base` relative to `from`, or a dotted path
/// from the root or a `manage.py` directory.
fn resolve_module(input: &FixInput, from: &Path, module: &str) -> Option<PathBuf> {
    let dots = module.chars().take_while(|&c| c == '.').count();
    let rest: PathBuf = module[dots..].split('.').collect();
    let bases: Vec<PathBuf> = if dots > 0 {
        let mut d = from.parent()?.to_path_buf();
        for _ in 1..dots {
            d = d.parent()?.to_path_buf();
        }
        vec![d]
    } else {
        let mut b = vec![PathBuf::new()];
        b.extend(input.manage_dirs.iter().cloned());
        b
    };
    bases.iter().find_map(|b| {
        let file = b.join(&rest).with_extension("py");
        let pkg = b.join(&rest).join("__init__.py");
        input
            .settings
            .iter()
            .find(|s| s.path == file || s.path == pkg)
            .map(|s| s.path.clone())
    })
}

/// The lookup style of a module.
fn loader_kind(ctx: &Ctx<'_>, m: &Module, parent: Option<&Provides>) -> Loader {
    let libs = ctx.input.libs;
    let call = m.call.as_ref().map(|c| c.loader);
    let dotenv = m.setup.imports_dotenv || call == Some(Loader::Dotenv);
    match ctx.opts.style {
        Style::Environ => return Loader::Environ,
        Style::Os => {
            return if dotenv || libs.dotenv {
                Loader::Dotenv
            } else {
                Loader::Stdlib
            }
        }
        Style::Auto => {}
    }
    if m.setup.env_name.is_some() || m.setup.imports_environ || call == Some(Loader::Environ) {
        Loader::Environ
    } else if m.setup.imports_decouple {
        Loader::Decouple
    } else if dotenv {
        Loader::Dotenv
    } else if call == Some(Loader::Stdlib) {
        Loader::Stdlib
    } else if let Some(l) = parent.and_then(|p| p.loader) {
        l
    } else if libs.environ {
        Loader::Environ
    } else if libs.decouple {
        Loader::Decouple
    } else if libs.dotenv {
        Loader::Dotenv
    } else {
        Loader::Stdlib
    }
}

/// The nearest existing `.env` in the module's directory or above.
fn existing_env_above(ctx: &Ctx<'_>, module: &Path) -> Option<PathBuf> {
    let dir = module.parent().unwrap_or(Path::new(""));
    dir.ancestors()
        .map(|d| d.join(".env"))
        .find(|p| ctx.input.existing.contains_key(p))
}

/// The nearest existing `.env` in `dir` or above; else the nearest `manage.py` directory above
/// the module; else `dir`. (Where python-decouple and `find_dotenv` look.)
fn search_env(ctx: &Ctx<'_>, module: &Path) -> PathBuf {
    let dir = module.parent().unwrap_or(Path::new(""));
    if let Some(p) = existing_env_above(ctx, module) {
        return p;
    }
    ctx.input
        .manage_dir_above(module)
        .unwrap_or_else(|| dir.to_path_buf())
        .join(".env")
}

/// Where a module with no loader of its own gets one: an existing `.env` above it, the compose
/// `env_file`, the `manage.py` directory, the root.
fn default_env(ctx: &Ctx<'_>, module: &Path) -> PathBuf {
    if let Some(p) = existing_env_above(ctx, module) {
        return p;
    }
    if let Some(f) = tracked::compose_env_file(ctx.input) {
        return f;
    }
    ctx.input
        .manage_dir_above(module)
        .unwrap_or_default()
        .join(".env")
}

fn plan_module(
    ctx: &mut Ctx<'_>,
    file: &TextFile,
    m: &Module,
    parent: Option<Provides>,
    out: &mut FixPlan,
) -> (Option<FileChange>, Provides) {
    let src = file.text.as_str();
    let shown = slash(&file.path);
    let kind = loader_kind(ctx, m, parent.as_ref());
    let mut prov = Provides {
        loader: Some(kind),
        loads: None,
        env: m.setup.env_name.is_some() || parent.as_ref().is_some_and(|p| p.env),
    };
    let own_loads = match &m.call {
        Some(c) if c.file.is_some() => c.file.clone(),
        Some(c) if !c.opaque => Some(search_env(ctx, &file.path)),
        _ => None,
    };
    prov.loads = own_loads.clone().or_else(|| parent.as_ref()?.loads.clone());
    if kind == Loader::Decouple && prov.loads.is_none() {
        prov.loads = Some(search_env(ctx, &file.path));
    }
    if let Some(line) = settings::literal_fallbacks(src, &m.stmts) {
        out.warnings.push(format!(
            "{shown}:{line}: SECRET_KEY_FALLBACKS holds literal keys; a leaked key must not stay \
             there (fallbacks keep accepting what it signed): remove it, and load the others from \
             the environment"
        ));
    }
    let sites = settings::find_sites(src, &m.stmts);
    if sites.is_empty() {
        return (None, prov);
    }
    if m.call.as_ref().is_some_and(|c| c.opaque) {
        out.warnings.push(format!(
            "{shown}: cannot tell which file its .env loader reads; values go to {}",
            slash(&default_env(ctx, &file.path))
        ));
    }
    let env_path = prov
        .loads
        .clone()
        .unwrap_or_else(|| default_env(ctx, &file.path));
    let env_name = m.setup.env_name.clone().unwrap_or_else(|| "env".to_owned());
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    let mut used: Vec<&Site> = Vec::new();
    for site in &sites {
        let line = src[..site.span.start].matches('\n').count() + 1;
        let from = format!("{shown}:{line}");
        if settings::is_placeholder(&site.value) {
            out.warnings.push(format!(
                "{from}: {} looks like a placeholder (or is very short); left alone, move it by hand if it is real",
                site.setting
            ));
            continue;
        }
        let Some(var) = claim_var(ctx, site, &env_path, &from, kind, out) else {
            continue;
        };
        let q = if site.quote == b'\'' { '\'' } else { '"' };
        let lookup = if site.drop_default {
            String::new()
        } else {
            match kind {
                Loader::Environ => format!("{env_name}({q}{var}{q})"),
                Loader::Decouple => format!("config({q}{var}{q})"),
                Loader::Dotenv | Loader::Stdlib => format!("os.environ[{q}{var}{q}]"),
            }
        };
        edits.push((site.span.clone(), lookup));
        ctx.leaked.push((site.setting.clone(), site.value.clone()));
        out.moved.push(Moved {
            path: file.path.clone(),
            line,
            setting: site.setting.clone(),
            var,
            env_file: env_path.clone(),
            regenerated: site.is_secret_key,
            was_default: site.drop_default,
        });
        used.push(site);
    }
    if used.is_empty() {
        return (None, prov);
    }
    let first_stmt = used.iter().map(|s| s.stmt).min().unwrap_or(0);
    let inserts = super::setup::setup_code(file, m, kind, &prov, &env_path, first_stmt, &used, out);
    if prov.loads.is_none() {
        prov.loads = Some(env_path.clone());
    }
    prov.env |= kind == Loader::Environ;
    let crlf = src.contains("\r\n");
    for (at, text) in inserts {
        let text = if crlf {
            text.replace('\n', "\r\n")
        } else {
            text
        };
        edits.push((at..at, text));
    }
    edits.sort_by(|a, b| b.0.start.cmp(&a.0.start).then(b.0.end.cmp(&a.0.end)));
    let mut new = src.to_owned();
    for (range, text) in edits {
        new.replace_range(range, &text);
    }
    // The result must still tokenize and carry none of the literals fixed here.
    let ok = python::statements(&new).is_some_and(|st| {
        let left = settings::find_sites(&new, &st);
        used.iter().all(|u| {
            !left
                .iter()
                .any(|l| l.setting == u.setting && l.value == u.value)
        })
    });
    if !ok {
        out.errors.push(format!(
            "{shown}: the rewrite did not check out; left unchanged"
        ));
        out.moved.retain(|mv| mv.path != file.path);
        return (None, prov);
    }
    (
        Some(FileChange {
            path: file.path.clone(),
            old: Some(file.text.clone()),
            new,
        }),
        prov,
    )
}

/// The variable for `site`, reusing the project's names, with its `.env` entry claimed. `None`
/// when the value cannot go to `.env`.
fn claim_var(
    ctx: &mut Ctx<'_>,
    site: &Site,
    env_path: &Path,
    from: &str,
    kind: Loader,
    out: &mut FixPlan,
) -> Option<String> {
    let existing = ctx.env_entries.get(env_path).cloned().unwrap_or_default();
    let top = site
        .setting
        .split('[')
        .next()
        .unwrap_or_default()
        .to_owned();
    let single = !site.setting.contains('[');
    let mut var = if site.drop_default {
        site.var.clone()
    } else if let Some(v) = ctx.setting_vars.get(&top).filter(|_| single) {
        v.clone()
    } else if site.is_secret_key {
        let knows = |n: &str| ctx.known.iter().any(|k| k == n);
        if knows("DJANGO_SECRET_KEY") || !knows("SECRET_KEY") {
            "DJANGO_SECRET_KEY".to_owned()
        } else {
            "SECRET_KEY".to_owned()
        }
    } else {
        ctx.env_entries
            .values()
            .flat_map(|e| e.iter())
            .find(|(_, v)| **v == site.value)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| site.var.clone())
    };
    let change = ctx
        .env_changes
        .entry(env_path.to_path_buf())
        .or_insert_with(|| EnvFileChange {
            path: env_path.to_path_buf(),
            old: ctx.input.existing.get(env_path).cloned(),
            entries: Vec::new(),
            regenerate: Vec::new(),
            plain_quotes: false,
        });
    change.plain_quotes |= kind == Loader::Decouple;
    if site.is_secret_key {
        match existing.get(&var) {
            Some(v) if *v == site.value => {
                if !change.regenerate.contains(&var) {
                    change.regenerate.push(var.clone());
                }
            }
            Some(_) => {}
            None => {
                if !change.entries.iter().any(|e| e.var == var) {
                    change.entries.push(EnvEntry {
                        var: var.clone(),
                        value: EnvValue::NewSecretKey,
                        from: from.to_owned(),
                    });
                }
            }
        }
        return Some(var);
    }
    if let Some(why) = envfile::unwritable(&site.value, change.plain_quotes) {
        out.warnings.push(format!(
            "{from}: {}: value {why}; left unchanged, move it by hand",
            site.setting
        ));
        return None;
    }
    let base = var.clone();
    let mut n = 1;
    loop {
        let claimed = change
            .entries
            .iter()
            .find(|e| e.var == var)
            .map(|e| e.value.clone());
        match (existing.get(&var), claimed) {
            (_, Some(EnvValue::Literal(v))) if v == site.value => break,
            (_, Some(_)) => {}
            (Some(v), None) => {
                if *v != site.value {
                    out.warnings.push(format!(
                        "{from}: {var} is already in {} with a different value; kept that value",
                        slash(env_path)
                    ));
                }
                break;
            }
            (None, None) => {
                change.entries.push(EnvEntry {
                    var: var.clone(),
                    value: EnvValue::Literal(site.value.clone()),
                    from: from.to_owned(),
                });
                break;
            }
        }
        n += 1;
        var = format!("{base}_{n}");
    }
    Some(var)
}
