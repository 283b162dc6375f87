//! Committed files that hold leaked values, beyond the settings literals: env files git tracks
//! (untracked with `git rm --cached`, ignored, and only then given a new SECRET_KEY), tracked
//! templates (`.env.example`, ...: placeholders), compose files (`environment: - VAR=literal`
//! becomes `${VAR}`, read from the `.env` next to the compose file), and commented-out copies of a
//! leaked literal in settings modules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;

use super::input::{is_compose_name, is_env_name, is_template_name};
use super::plan::Ctx;
use super::settings::{is_placeholder, is_sensitive_name};
use super::{envfile, slash, EnvFileChange, FileChange, FixInput, FixPlan, Moved};

fn re(s: &str) -> Regex {
    Regex::new(s).expect("static regex compiles because it is a literal in this file")
}

fn url_with_password() -> Regex {
    re(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:)([^/@\s]+)(@.*)$")
}

/// Whether an env entry holds a credential worth protecting.
fn is_secret_entry(name: &str, value: &str, leaked: &[(String, String)]) -> bool {
    !value.is_empty()
        && (leaked.iter().any(|(_, v)| v == value)
            || (is_sensitive_name(name) && !is_placeholder(value))
            || url_with_password().is_match(value))
}

/// Tracked env files: templates get placeholders; real ones are untracked, ignored (see
/// `plan::finish_env_files`), and their SECRET_KEY entries regenerated. Their secret values join
/// `leaked`.
pub fn plan_tracked_env_files(
    input: &FixInput,
    env_changes: &mut BTreeMap<PathBuf, EnvFileChange>,
    leaked: &mut Vec<(String, String)>,
    key_vars: &[String],
    out: &mut FixPlan,
) {
    for (path, text) in &input.existing {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if !is_env_name(&name) || !input.tracked.contains(path) {
            continue;
        }
        let shown = slash(path);
        let entries = envfile::parse(text);
        if is_template_name(&name) {
            let mut new = text.clone();
            for (k, v) in &entries {
                if !is_secret_entry(k, v, leaked) {
                    continue;
                }
                let placeholder = match url_with_password().captures(v) {
                    Some(c) => format!("{}change-me{}", &c[1], &c[3]),
                    None => String::new(),
                };
                new = envfile::set_value(&new, k, &envfile::line(k, &placeholder, false));
            }
            if new != *text {
                out.notes.push(format!(
                    "{shown}: tracked template: secret values replaced by placeholders"
                ));
                out.files.push(FileChange {
                    path: path.clone(),
                    old: Some(text.clone()),
                    new,
                });
            }
            continue;
        }
        out.untrack.push(path.clone());
        let mut rotate = Vec::new();
        for (k, v) in &entries {
            if !is_secret_entry(k, v, leaked) {
                continue;
            }
            if !leaked.iter().any(|(_, l)| l == v) {
                leaked.push((format!("{k} in {shown}"), v.clone()));
            }
            if key_vars.contains(k) {
                let change = env_changes
                    .entry(path.clone())
                    .or_insert_with(|| EnvFileChange {
                        path: path.clone(),
                        old: Some(text.clone()),
                        entries: Vec::new(),
                        regenerate: Vec::new(),
                        plain_quotes: false,
                    });
                if !change.regenerate.contains(k) {
                    change.regenerate.push(k.clone());
                }
            } else {
                rotate.push(k.clone());
            }
        }
        out.notes.push(format!(
            "{shown}: tracked by git: removed from the index with `git rm --cached` (staged for \
             your next commit; the file stays on disk, and in history until you purge it) and \
             added to .gitignore"
        ));
        if !rotate.is_empty() {
            out.warnings.push(format!(
                "{shown} was committed with {}: rotate them (the values stay in the untracked file)",
                rotate.join(", ")
            ));
        }
    }
}

/// Removes commented-out lines holding a leaked value from settings modules.
pub fn drop_commented_copies(input: &FixInput, leaked: &[(String, String)], out: &mut FixPlan) {
    let values: Vec<&str> = leaked
        .iter()
        .map(|(_, v)| v.as_str())
        .filter(|v| v.len() >= 8)
        .collect();
    if values.is_empty() {
        return;
    }
    for file in &input.settings {
        let planned = out.files.iter().position(|f| f.path == file.path);
        let text = planned.map_or(file.text.as_str(), |i| out.files[i].new.as_str());
        let mut removed = 0;
        let new: String = text
            .split_inclusive('\n')
            .filter(|l| {
                let drop = l.trim_start().starts_with('#') && values.iter().any(|v| l.contains(v));
                removed += usize::from(drop);
                !drop
            })
            .collect();
        if removed == 0 {
            continue;
        }
        out.notes.push(format!(
            "{}: removed {removed} commented-out line(s) holding a leaked value",
            slash(&file.path)
        ));
        match planned {
            Some(i) => out.files[i].new = new,
            None => out.files.push(FileChange {
                path: file.path.clone(),
                old: Some(file.text.clone()),
                new,
            }),
        }
    }
}

fn compose_line() -> Regex {
    // `- NAME=value` (list form) or `NAME: value` (map form), optionally quoted
    re(r#"^(\s*-\s*["']?|\s*)([A-Za-z_][A-Za-z0-9_]*)(=|:\s+)(["']?)(.*?)(["']?)(\s*)$"#)
}

/// Variable names compose files pass to containers.
pub fn compose_env_names(input: &FixInput) -> Vec<String> {
    let line = compose_line();
    let mut out = Vec::new();
    for (path, text) in &input.existing {
        if !path
            .file_name()
            .is_some_and(|n| is_compose_name(&n.to_string_lossy()))
        {
            continue;
        }
        for l in text.lines() {
            if let Some(c) = line.captures(l) {
                let name = &c[2];
                let list = c[1].contains('-');
                if list || name.bytes().all(|b| !b.is_ascii_lowercase()) {
                    out.push(name.to_owned());
                }
            }
        }
    }
    out
}

/// The `env_file:` a compose file at the root names, relative to the root.
pub fn compose_env_file(input: &FixInput) -> Option<PathBuf> {
    let single = re(r"^\s*env_file:\s*['\x22]?([^'\x22\s]+)['\x22]?\s*$");
    let key = re(r"^\s*env_file:\s*$");
    let item = re(r"^\s*-\s*['\x22]?([^'\x22\s]+)['\x22]?\s*$");
    for (path, text) in &input.existing {
        let at_root = path.parent().is_none_or(|p| p.as_os_str().is_empty());
        if !at_root
            || !path
                .file_name()
                .is_some_and(|n| is_compose_name(&n.to_string_lossy()))
        {
            continue;
        }
        let mut lines = text.lines();
        while let Some(l) = lines.next() {
            let found = if let Some(c) = single.captures(l) {
                Some(c[1].to_owned())
            } else if key.is_match(l) {
                lines
                    .next()
                    .and_then(|n| item.captures(n).map(|c| c[1].to_owned()))
            } else {
                None
            };
            if let Some(f) = found {
                let rel: PathBuf = f
                    .split('/')
                    .filter(|c| !c.is_empty() && *c != ".")
                    .collect();
                if rel.components().all(|c| c.as_os_str() != "..") {
                    return Some(rel);
                }
            }
        }
    }
    None
}

/// Compose `environment` entries holding a leaked value become `${VAR}`, which compose reads from
/// the `.env` next to the compose file.
pub fn compose_edits(
    input: &FixInput,
    moved: &[Moved],
    leaked: &[(String, String)],
    out: &mut FixPlan,
) {
    let line = compose_line();
    for (path, text) in &input.existing {
        if !path
            .file_name()
            .is_some_and(|n| is_compose_name(&n.to_string_lossy()))
        {
            continue;
        }
        let dir = path.parent().unwrap_or(Path::new(""));
        let mut changed = Vec::new();
        let new: String = text
            .split_inclusive('\n')
            .map(|l| {
                let body = l.trim_end_matches(['\n', '\r']);
                let Some(c) = line.captures(body) else {
                    return l.to_owned();
                };
                let value = &c[5];
                if value.len() < 8 || !leaked.iter().any(|(_, v)| v == value) {
                    return l.to_owned();
                }
                let name = &c[2];
                changed.push(name.to_owned());
                format!(
                    "{}{name}{}{}${{{name}}}{}{}{}",
                    &c[1],
                    &c[3],
                    &c[4],
                    &c[6],
                    &c[7],
                    &l[body.len()..]
                )
            })
            .collect();
        if changed.is_empty() {
            continue;
        }
        let env_here = dir.join(".env");
        for name in &changed {
            let written = moved
                .iter()
                .any(|m| &m.var == name && m.env_file == env_here);
            if !written {
                out.warnings.push(format!(
                    "{}: compose now reads ${{{name}}} from {}; make sure it is defined there",
                    slash(path),
                    slash(&env_here)
                ));
            }
        }
        out.notes.push(format!(
            "{}: {} now read from the environment (${{VAR}}) instead of a literal",
            slash(path),
            changed.join(", ")
        ));
        out.files.push(FileChange {
            path: path.clone(),
            old: Some(text.clone()),
            new,
        });
    }
}

/// Whether git would ignore `rel`, given the root `.gitignore` text `root_rules` and the other
/// `.gitignore` files on the way.
pub fn is_ignored(input: &FixInput, rel: &Path, root_rules: &str) -> bool {
    let mut dirs: Vec<PathBuf> = vec![PathBuf::new()];
    if let Some(p) = rel.parent() {
        dirs.extend(
            p.ancestors()
                .filter(|a| !a.as_os_str().is_empty())
                .map(Path::to_path_buf),
        );
    }
    dirs.iter().any(|d| {
        let text = if d.as_os_str().is_empty() {
            Some(root_rules)
        } else {
            input
                .existing
                .get(&d.join(".gitignore"))
                .map(String::as_str)
        };
        let Some(text) = text else { return false };
        let mut b = ignore::gitignore::GitignoreBuilder::new(input.root.join(d));
        for l in text.lines() {
            let _ = b.add_line(None, l);
        }
        b.build().is_ok_and(|gi| {
            gi.matched_path_or_any_parents(input.root.join(rel), false)
                .is_ignore()
        })
    })
}

/// `.env` changes into the plan, with `.env.example` names and `.gitignore` entries.
pub(super) fn finish_env_files(ctx: &mut Ctx<'_>, out: &mut FixPlan) {
    let input = ctx.input;
    // Every variable now read, by env file.
    let mut vars: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for mv in &out.moved {
        let list = vars.entry(mv.env_file.clone()).or_default();
        if !list.contains(&mv.var) {
            list.push(mv.var.clone());
        }
    }
    for (env_path, names) in &vars {
        if env_path.file_name().is_none_or(|n| n != ".env") {
            continue;
        }
        let dir = env_path.parent().unwrap_or(Path::new(""));
        let example_path = [".env.example", ".env.sample", ".env.template", ".env.dist"]
            .iter()
            .map(|n| dir.join(n))
            .find(|p| input.existing.contains_key(p))
            .unwrap_or_else(|| dir.join(".env.example"));
        let planned = out.files.iter().position(|f| f.path == example_path);
        let example_old = match planned {
            Some(i) => Some(out.files[i].new.clone()),
            None => input.existing.get(&example_path).cloned(),
        };
        let listed = example_old
            .as_deref()
            .map(envfile::example_names)
            .unwrap_or_default();
        let mut example_new = example_old.clone().unwrap_or_else(|| {
            "# Environment variables the settings read (values live in .env, which is not committed).\n".to_owned()
        });
        for var in names.iter().filter(|v| !listed.contains(v)) {
            example_new = envfile::append(&example_new, &format!("{var}=\n"));
        }
        if example_old.as_deref() != Some(example_new.as_str()) {
            match planned {
                Some(i) => out.files[i].new = example_new,
                None => out.files.push(FileChange {
                    path: example_path,
                    old: example_old,
                    new: example_new,
                }),
            }
        }
    }
    let changes = std::mem::take(&mut ctx.env_changes);
    let mut must_ignore: Vec<PathBuf> = out.untrack.clone();
    must_ignore.extend(
        vars.keys()
            .filter(|p| input.existing.contains_key(*p))
            .cloned(),
    );
    for (_, c) in changes {
        if !c.entries.is_empty() || !c.regenerate.is_empty() {
            if !must_ignore.contains(&c.path) {
                must_ignore.push(c.path.clone());
            }
            out.env_files.push(c);
        }
    }
    let gi_path = PathBuf::from(".gitignore");
    let old = input.existing.get(&gi_path).cloned();
    let mut new = old.clone().unwrap_or_default();
    let mut added = false;
    for p in must_ignore {
        if is_ignored(input, &p, &new) {
            continue;
        }
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        let pattern = match name {
            Some(n) if n.starts_with(".env") => n,
            _ => format!("/{}", slash(&p)),
        };
        if !added {
            new = envfile::append(&new, "# local secrets (keysweep fix)\n");
            added = true;
        }
        new = envfile::append(&new, &format!("{pattern}\n"));
    }
    if added {
        out.files.insert(
            0,
            FileChange {
                path: gi_path,
                old,
                new,
            },
        );
    }
}
