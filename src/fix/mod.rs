//! `keysweep fix`: moves credential literals out of Django settings into the environment.
//!
//! Working tree only, never history. For each settings module the literal of `SECRET_KEY`,
//! `DATABASES[...]["PASSWORD"]`, `EMAIL_HOST_PASSWORD`, `AWS_SECRET_ACCESS_KEY`, ... is replaced
//! with an environment lookup (django-environ's `env("VAR")` when the project uses it or
//! `--style environ`, else `os.environ["VAR"]`), with the import / `Env` setup added once. A
//! **new** random SECRET_KEY (the leaked one must not be reused) and the other values go to `.env`
//! next to `manage.py` (or at the repository root), created with mode 0600 and never overwriting
//! an entry; `.env` is added to `.gitignore` and the names (no values) to `.env.example`.
//!
//! The design is `FixInput::load` (all reading) → [`plan`] (pure) → [`apply`] (all writing), so
//! the planning is unit-tested on strings. Running it again finds nothing left to change.
//! Printing is left to the caller: [`FixPlan::diff`] for `--dry-run`, [`FixPlan::summary`] after.

mod diff;
mod envfile;
mod python;
mod settings;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use settings::Site;

/// Django's `get_random_secret_key()` alphabet (50 characters).
const SECRET_KEY_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)";
/// Length of a generated SECRET_KEY, as Django's.
const SECRET_KEY_LEN: usize = 50;
/// Directories never searched for settings modules.
const SKIP_DIRS: &[&str] = &[
    ".git",
    "node_modules",
    "site-packages",
    ".venv",
    "venv",
    ".tox",
    "__pycache__",
];

/// How the replaced settings read the environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Style {
    /// django-environ if the project already uses it, else `os.environ`.
    #[default]
    Auto,
    /// `env = environ.Env()`, `environ.Env.read_env(BASE_DIR / ".env")`, `env("VAR")`.
    Environ,
    /// `os.environ["VAR"]` (the process manager / shell loads `.env`).
    Os,
}

/// Options of `keysweep fix`.
#[derive(Debug, Clone, Default)]
pub struct FixOptions {
    /// How the settings read the environment.
    pub style: Style,
}

/// An error that stops `keysweep fix`.
#[derive(Debug)]
#[non_exhaustive]
pub enum FixError {
    /// Reading or writing a file failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A path would leave the repository (through `..` or a symlink); nothing was written there.
    OutsideRoot { path: PathBuf },
    /// The OS random number generator failed.
    Random(String),
}

impl fmt::Display for FixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            FixError::OutsideRoot { path } => {
                write!(
                    f,
                    "{}: refusing to write outside the repository (symlink or ..)",
                    path.display()
                )
            }
            FixError::Random(e) => write!(f, "cannot get random bytes from the OS: {e}"),
        }
    }
}

impl std::error::Error for FixError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FixError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FixError + '_ {
    move |source| FixError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A text file, by path relative to the repository root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextFile {
    /// Relative path.
    pub path: PathBuf,
    /// Contents.
    pub text: String,
}

/// Everything [`plan`] reads, loaded by [`FixInput::load`] (or built by hand in tests).
#[derive(Debug, Clone, Default)]
pub struct FixInput {
    /// Canonical repository root (the directory holding `.git`, else the given directory).
    pub root: PathBuf,
    /// Settings modules to fix.
    pub settings: Vec<TextFile>,
    /// Directories (relative) holding a `manage.py`.
    pub manage_dirs: Vec<PathBuf>,
    /// Existing `.env`, `.env.example` and `.gitignore` files that matter, by relative path.
    pub existing: BTreeMap<PathBuf, String>,
    /// The project already uses django-environ (imported in a settings module or listed in a
    /// requirements file).
    pub uses_environ: bool,
    /// Files skipped while loading (not UTF-8, ...).
    pub warnings: Vec<String>,
}

impl FixInput {
    /// Finds the repository root above `path` and the settings modules under `path` (git-ignored
    /// files are skipped: they are not committed, which is what the fix is about).
    pub fn load(path: &Path) -> Result<FixInput, FixError> {
        let start = fs::canonicalize(path).map_err(io_err(path))?;
        let dir = if start.is_file() {
            start.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            start.clone()
        };
        let root = dir
            .ancestors()
            .find(|d| d.join(".git").exists())
            .unwrap_or(&dir)
            .to_path_buf();
        let mut input = FixInput {
            root: root.clone(),
            ..FixInput::default()
        };
        let mut py = Vec::new();
        if start.is_file() {
            py.push(start.clone());
        } else {
            // A narrow walk of its own rather than `source::fs`: that one reads every file's
            // bytes; this one needs only *.py names and honours the same ignore rules.
            let walk = ignore::WalkBuilder::new(&start)
                .hidden(false)
                .git_global(false)
                .require_git(false)
                .follow_links(false)
                .filter_entry(|e| !SKIP_DIRS.iter().any(|d| e.file_name() == *d))
                .build();
            for entry in walk.flatten() {
                let p = entry.path();
                if entry.file_type().is_some_and(|t| t.is_file())
                    && p.extension().is_some_and(|e| e == "py")
                {
                    py.push(p.to_path_buf());
                }
            }
        }
        py.sort();
        for p in py {
            let Ok(rel) = p.strip_prefix(&root) else {
                continue;
            };
            if rel.file_name().is_some_and(|n| n == "manage.py") {
                input
                    .manage_dirs
                    .push(rel.parent().map(Path::to_path_buf).unwrap_or_default());
            }
            if !is_settings_path(rel) && !start.is_file() {
                continue;
            }
            let text = match fs::read_to_string(&p) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    input
                        .warnings
                        .push(format!("{}: not UTF-8; left unchanged", rel.display()));
                    continue;
                }
                Err(e) => return Err(io_err(&p)(e)),
            };
            input.uses_environ |= text.contains("import environ");
            input.settings.push(TextFile {
                path: rel.to_path_buf(),
                text,
            });
        }
        if start.is_file() {
            // manage.py next to or above the file
            for d in start.ancestors().skip(1) {
                if d.join("manage.py").is_file() {
                    if let Ok(rel) = d.strip_prefix(&root) {
                        input.manage_dirs.push(rel.to_path_buf());
                    }
                    break;
                }
                if d == root {
                    break;
                }
            }
        }
        for req in [
            "requirements.txt",
            "requirements/base.txt",
            "pyproject.toml",
            "Pipfile",
            "setup.cfg",
        ] {
            if fs::read_to_string(root.join(req)).is_ok_and(|t| t.contains("django-environ")) {
                input.uses_environ = true;
            }
        }
        let mut wanted = vec![PathBuf::from(".gitignore")];
        for s in &input.settings {
            let d = input.env_dir(&s.path);
            wanted.push(d.join(".env"));
            wanted.push(d.join(".env.example"));
            wanted.push(d.join(".gitignore"));
        }
        for w in wanted {
            if let Ok(text) = fs::read_to_string(root.join(&w)) {
                input.existing.insert(w, text);
            }
        }
        Ok(input)
    }

    /// Directory (relative) whose `.env` serves the settings module `settings`: the nearest one
    /// above it holding `manage.py`, else the root.
    pub fn env_dir(&self, settings: &Path) -> PathBuf {
        settings
            .ancestors()
            .skip(1)
            .find(|d| self.manage_dirs.iter().any(|m| m == d))
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

/// A Django settings module by its path: `settings.py`, `local_settings.py`, `settings/*.py`, ...
pub fn is_settings_path(rel: &Path) -> bool {
    rel.extension().is_some_and(|e| e == "py")
        && (rel
            .file_stem()
            .is_some_and(|s| s.to_string_lossy().contains("settings"))
            || rel
                .parent()
                .is_some_and(|p| p.components().any(|c| c.as_os_str() == "settings")))
}

/// A value to put in `.env`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// A new random SECRET_KEY, generated by [`apply`].
    NewSecretKey,
    /// The literal moved out of the settings.
    Literal(String),
}

/// One `.env` entry to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvEntry {
    /// Variable name.
    pub var: String,
    /// Value.
    pub value: EnvValue,
    /// Where it came from, e.g. `mysite/settings.py:23`.
    pub from: String,
}

/// A whole-file change with known contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Path relative to the root.
    pub path: PathBuf,
    /// Contents before (`None`: the file is created).
    pub old: Option<String>,
    /// Contents after.
    pub new: String,
}

/// Entries appended to (or starting) a `.env` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFileChange {
    /// Path relative to the root.
    pub path: PathBuf,
    /// Contents before (`None`: created with mode 0600).
    pub old: Option<String>,
    /// Entries to append.
    pub entries: Vec<EnvEntry>,
}

/// One literal replaced by a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// Settings module.
    pub path: PathBuf,
    /// 1-based line of the literal.
    pub line: usize,
    /// The setting, e.g. `DATABASES["default"]["PASSWORD"]`.
    pub setting: String,
    /// The environment variable now read.
    pub var: String,
    /// A new value is generated (SECRET_KEY) instead of moving the old one.
    pub regenerated: bool,
}

/// What `keysweep fix` will do. Empty when there is nothing left to fix.
#[derive(Debug, Clone, Default)]
pub struct FixPlan {
    /// Canonical repository root.
    pub root: PathBuf,
    /// Settings, `.gitignore` and `.env.example` rewrites.
    pub files: Vec<FileChange>,
    /// `.env` additions.
    pub env_files: Vec<EnvFileChange>,
    /// Replaced literals.
    pub moved: Vec<Moved>,
    /// Things the user must look at (values not moved, conflicting entries, ...).
    pub warnings: Vec<String>,
}

/// Plans the fix: pure, reads nothing but `input`.
pub fn plan(input: &FixInput, opts: &FixOptions) -> FixPlan {
    let mut out = FixPlan {
        root: input.root.clone(),
        warnings: input.warnings.clone(),
        ..FixPlan::default()
    };
    // Per .env directory: entries to add, in order, and the values already claimed.
    let mut env_adds: BTreeMap<PathBuf, Vec<EnvEntry>> = BTreeMap::new();
    for file in &input.settings {
        let env_dir = input.env_dir(&file.path);
        let env_path = env_dir.join(".env");
        let existing_env = input
            .existing
            .get(&env_path)
            .map(|t| envfile::parse(t))
            .unwrap_or_default();
        let adds = env_adds.entry(env_dir.clone()).or_default();
        if let Some(edit) = plan_file(input, opts, file, &env_dir, &existing_env, adds, &mut out) {
            out.files.push(edit);
        }
    }
    // Every variable now read, by .env directory (an entry may already have been in .env).
    let mut vars: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for m in &out.moved {
        let list = vars.entry(input.env_dir(&m.path)).or_default();
        if !list.contains(&m.var) {
            list.push(m.var.clone());
        }
    }
    let mut ignore_env = false;
    for (dir, names) in &vars {
        let env_path = dir.join(".env");
        ignore_env |= !is_ignored(input, &env_path);
        let example_path = dir.join(".env.example");
        let example_old = input.existing.get(&example_path).cloned();
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
            out.files.push(FileChange {
                path: example_path,
                old: example_old,
                new: example_new,
            });
        }
    }
    for (dir, entries) in env_adds {
        let env_path = dir.join(".env");
        out.env_files.push(EnvFileChange {
            old: input.existing.get(&env_path).cloned(),
            path: env_path,
            entries,
        });
    }
    if ignore_env {
        let old = input.existing.get(Path::new(".gitignore")).cloned();
        let new = envfile::append(
            old.as_deref().unwrap_or(""),
            "# local secrets (keysweep fix)\n.env\n",
        );
        out.files.push(FileChange {
            path: PathBuf::from(".gitignore"),
            old,
            new,
        });
    }
    out.env_files.retain(|e| !e.entries.is_empty());
    out
}

fn plan_file(
    input: &FixInput,
    opts: &FixOptions,
    file: &TextFile,
    env_dir: &Path,
    existing_env: &BTreeMap<String, String>,
    adds: &mut Vec<EnvEntry>,
    out: &mut FixPlan,
) -> Option<FileChange> {
    let src = file.text.as_str();
    let shown = file.path.display().to_string();
    let Some(stmts) = python::statements(src) else {
        out.warnings.push(format!(
            "{shown}: could not be tokenized as Python; left unchanged"
        ));
        return None;
    };
    if let Some(line) = settings::literal_fallbacks(src, &stmts) {
        out.warnings.push(format!(
            "{shown}:{line}: SECRET_KEY_FALLBACKS holds literal keys; a leaked key must not stay \
             there (fallbacks keep accepting what it signed): remove it, and load the others from \
             the environment"
        ));
    }
    let sites = settings::find_sites(src, &stmts);
    if sites.is_empty() {
        return None;
    }
    let setup = settings::env_setup(src, &stmts);
    let environ = match opts.style {
        Style::Environ => true,
        Style::Os => false,
        Style::Auto => input.uses_environ || setup.env_name.is_some(),
    };
    let env_name = setup.env_name.clone().unwrap_or_else(|| "env".to_owned());
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
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
        let mut var = site.var.clone();
        if site.is_secret_key {
            if let Some(v) = existing_env.get(&var) {
                if *v == site.value {
                    out.warnings.push(format!(
                        "{from}: {} in .env equals the leaked SECRET_KEY; replace it with a new key",
                        var
                    ));
                }
            } else if !adds.iter().any(|e| e.var == var) {
                adds.push(EnvEntry {
                    var: var.clone(),
                    value: EnvValue::NewSecretKey,
                    from: from.clone(),
                });
            }
        } else {
            if let Some(why) = envfile::unwritable(&site.value) {
                out.warnings.push(format!(
                    "{from}: {}: value {why}; left unchanged, move it by hand",
                    site.setting
                ));
                continue;
            }
            let claimed = |v: &str| adds.iter().find(|e| e.var == v).map(|e| e.value.clone());
            let mut n = 1;
            loop {
                match (existing_env.get(&var), claimed(&var)) {
                    (_, Some(EnvValue::Literal(v))) if v == site.value => break,
                    (_, Some(_)) => {}
                    (Some(v), None) => {
                        if *v != site.value {
                            out.warnings.push(format!(
                                "{from}: {var} is already in .env with a different value; kept the .env value"
                            ));
                        }
                        break;
                    }
                    (None, None) => {
                        adds.push(EnvEntry {
                            var: var.clone(),
                            value: EnvValue::Literal(site.value.clone()),
                            from: from.clone(),
                        });
                        break;
                    }
                }
                n += 1;
                var = format!("{}_{n}", site.var);
            }
        }
        let q = if site.quote == b'\'' { '\'' } else { '"' };
        let lookup = if environ {
            format!("{env_name}({q}{var}{q})")
        } else {
            format!("os.environ[{q}{var}{q}]")
        };
        edits.push((site.span.clone(), lookup));
        out.moved.push(Moved {
            path: file.path.clone(),
            line,
            setting: site.setting.clone(),
            var,
            regenerated: site.is_secret_key,
        });
        used.push(site);
    }
    if used.is_empty() {
        return None;
    }

    // Imports and the django-environ setup, inserted once, before the first lookup.
    let first_stmt = used.iter().map(|s| s.stmt).min().unwrap_or(0);
    let head = match setup.last_import.filter(|&i| i < first_stmt) {
        Some(i) => stmts[i].line_end,
        None => top_of_module(src, &stmts, first_stmt),
    };
    let mut head_text = String::new();
    let mut setup_at: Option<(usize, String)> = None;
    let mut need_os = !environ;
    if environ {
        if !setup.imports_environ && !setup.env_imported {
            head_text.push_str("import environ\n");
        }
        if !setup.env_imported && (setup.env_name.is_none() || !setup.reads_env) {
            let depth = file
                .path
                .strip_prefix(env_dir)
                .map(|p| p.components().count())
                .unwrap_or(1);
            let base = setup
                .base_dir
                .filter(|&(i, n, _)| i < first_stmt && n == depth);
            let env_file = match base {
                Some((_, _, true)) => "BASE_DIR / \".env\"".to_owned(),
                Some((_, _, false)) => "os.path.join(BASE_DIR, \".env\")".to_owned(),
                None => {
                    need_os = true;
                    let mut parts = vec!["os.path.dirname(os.path.abspath(__file__))".to_owned()];
                    parts.extend((1..depth).map(|_| "\"..\"".to_owned()));
                    parts.push("\".env\"".to_owned());
                    format!("os.path.join({})", parts.join(", "))
                }
            };
            let mut text = String::from("# Credentials come from the environment; in development from .env (not committed).\n");
            if setup.env_name.is_none() {
                text.push_str(&format!("{env_name} = environ.Env()\n"));
            }
            text.push_str(&format!("environ.Env.read_env({env_file})\n"));
            let after = [base.map(|b| b.0), setup.env_stmt]
                .into_iter()
                .flatten()
                .max();
            let at = match after {
                Some(i) => stmts[i].line_end,
                None => head,
            };
            setup_at = Some((at, text));
        }
    }
    if need_os && !setup.imports_os {
        head_text.insert_str(0, "import os\n");
    }
    let mut inserts: Vec<(usize, String)> = Vec::new();
    if !head_text.is_empty() {
        inserts.push((head, head_text));
    }
    if let Some((at, text)) = setup_at {
        if at == head {
            if let Some(h) = inserts.first_mut() {
                h.1.push_str(&text);
            } else {
                inserts.push((at, text));
            }
        } else {
            inserts.push((at, text));
        }
    }
    let crlf = src.contains("\r\n");
    for (at, text) in inserts {
        // Inserted lines follow the file's line endings.
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
        out.warnings.push(format!(
            "{shown}: the rewrite did not check out; left unchanged"
        ));
        out.moved.retain(|m| m.path != file.path);
        return None;
    }
    Some(FileChange {
        path: file.path.clone(),
        old: Some(file.text.clone()),
        new,
    })
}

/// Byte offset where new imports go when the module has none before `limit`: after a module
/// docstring and `from __future__` imports.
fn top_of_module(src: &str, stmts: &[python::Statement], limit: usize) -> usize {
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

fn is_ignored(input: &FixInput, rel: &Path) -> bool {
    let mut dirs = vec![PathBuf::new()];
    if let Some(p) = rel.parent() {
        if !p.as_os_str().is_empty() {
            dirs.push(p.to_path_buf());
        }
    }
    dirs.iter().any(|d| {
        let Some(text) = input.existing.get(&d.join(".gitignore")) else {
            return false;
        };
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

impl FixPlan {
    /// Nothing to change.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.env_files.is_empty()
    }

    /// Unified diff of every change, for `--dry-run`. `.env` values are not shown.
    pub fn diff(&self) -> String {
        let mut out = String::new();
        for f in &self.files {
            out.push_str(&diff::unified(&slash(&f.path), f.old.as_deref(), &f.new));
        }
        for e in &self.env_files {
            // Values never reach the terminal: existing ones are masked, new ones described.
            let old = e.old.as_deref().map(mask_env);
            let mut new =
                envfile::append(old.as_deref().unwrap_or(""), "# Added by keysweep fix\n");
            for entry in &e.entries {
                let shown = match &entry.value {
                    EnvValue::NewSecretKey => "<new random key>".to_owned(),
                    EnvValue::Literal(_) => format!("<value from {}>", entry.from),
                };
                new.push_str(&format!("{}={shown}\n", entry.var));
            }
            out.push_str(&diff::unified(&slash(&e.path), old.as_deref(), &new));
        }
        out
    }

    /// What was (or would be) done, one line each, then the warnings.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        if self.is_empty() {
            out.push_str("Nothing to fix: no credential literals in Django settings.\n");
        }
        for m in &self.moved {
            let what = if m.regenerated {
                "new random value in .env"
            } else {
                "value moved to .env"
            };
            out.push_str(&format!(
                "{}:{}: {} -> ${} ({what})\n",
                slash(&m.path),
                m.line,
                m.setting,
                m.var
            ));
        }
        for e in self.env_files.iter().filter(|e| e.old.is_none()) {
            out.push_str(&format!(
                "{}: new file, mode 0600, git-ignored\n",
                slash(&e.path)
            ));
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        if !self.moved.is_empty() {
            out.push_str(
                "Next: rotate every moved credential (the old values are in git history), then \
                 `keysweep purge-plan` to purge them. The leaked SECRET_KEY must not go into \
                 SECRET_KEY_FALLBACKS.\n",
            );
        }
        out
    }
}

/// `.env` text with every value replaced by `<hidden>`.
fn mask_env(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|l| match l.split_once('=') {
            Some((name, _)) if !l.trim_start().starts_with('#') => {
                format!(
                    "{name}=<hidden>{}",
                    if l.ends_with('\n') { "\n" } else { "" }
                )
            }
            _ => l.to_owned(),
        })
        .collect()
}

fn slash(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// What [`apply`] wrote.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Files written, relative to the root.
    pub written: Vec<PathBuf>,
    /// Problems found while writing that did not stop it (e.g. a group-readable `.env`).
    pub warnings: Vec<String>,
}

/// Writes the plan. Refuses any path that leaves the root. Generates the new SECRET_KEYs.
pub fn apply(plan: &FixPlan) -> Result<Applied, FixError> {
    let mut applied = Applied::default();
    // Check every target before writing anything.
    let targets: Vec<PathBuf> = plan
        .files
        .iter()
        .map(|f| f.path.clone())
        .chain(plan.env_files.iter().map(|e| e.path.clone()))
        .collect();
    for t in &targets {
        checked_target(&plan.root, t)?;
    }
    for e in &plan.env_files {
        let path = checked_target(&plan.root, &e.path)?;
        let mut text = String::from("# Added by keysweep fix\n");
        for entry in &e.entries {
            let value = match &entry.value {
                EnvValue::NewSecretKey => new_secret_key()?,
                EnvValue::Literal(v) => v.clone(),
            };
            text.push_str(&envfile::line(&entry.var, &value));
        }
        match &e.old {
            None => {
                let mut f = create_private(&path)?;
                f.write_all(text.as_bytes()).map_err(io_err(&path))?;
            }
            Some(_) => {
                let current = fs::read_to_string(&path).map_err(io_err(&path))?;
                fs::write(&path, envfile::append(&current, &text)).map_err(io_err(&path))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    let mode = fs::metadata(&path)
                        .map_err(io_err(&path))?
                        .permissions()
                        .mode();
                    if mode & 0o077 != 0 {
                        applied.warnings.push(format!(
                            "{}: readable by others (mode {:o}); consider chmod 600",
                            e.path.display(),
                            mode & 0o777
                        ));
                    }
                }
            }
        }
        applied.written.push(e.path.clone());
    }
    for f in &plan.files {
        let path = checked_target(&plan.root, &f.path)?;
        fs::write(&path, &f.new).map_err(io_err(&path))?;
        applied.written.push(f.path.clone());
    }
    Ok(applied)
}

/// `root/rel`, provided it stays inside `root`: no `..`, and its directory and (if it exists)
/// the file itself resolve inside `root` (a symlink pointing out is refused).
fn checked_target(root: &Path, rel: &Path) -> Result<PathBuf, FixError> {
    let outside = || FixError::OutsideRoot {
        path: rel.to_path_buf(),
    };
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(outside());
    }
    let root = fs::canonicalize(root).map_err(io_err(root))?;
    let path = root.join(rel);
    let parent = path.parent().ok_or_else(outside)?;
    let parent = fs::canonicalize(parent).map_err(io_err(parent))?;
    if !parent.starts_with(&root) {
        return Err(outside());
    }
    if fs::symlink_metadata(&path).is_ok() {
        let real = fs::canonicalize(&path).map_err(|_| outside())?;
        if !real.starts_with(&root) {
            return Err(outside());
        }
    }
    Ok(path)
}

fn create_private(path: &Path) -> Result<fs::File, FixError> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    o.open(path).map_err(io_err(path))
}

/// A new Django SECRET_KEY: 50 characters of Django's alphabet from the OS random number
/// generator (rejection sampling, so every character is equally likely). The first character is
/// never `$`, which django-environ would read as a reference to another variable.
pub fn new_secret_key() -> Result<String, FixError> {
    let n = SECRET_KEY_ALPHABET.len();
    let limit = (256 / n * n) as u8; // 250: bytes at or above are rejected
    let mut key = String::with_capacity(SECRET_KEY_LEN);
    let mut buf = [0u8; 64];
    while key.len() < SECRET_KEY_LEN {
        getrandom::fill(&mut buf).map_err(|e| FixError::Random(e.to_string()))?;
        for &b in &buf {
            if b >= limit || key.len() == SECRET_KEY_LEN {
                continue;
            }
            let c = SECRET_KEY_ALPHABET[usize::from(b) % n] as char;
            if key.is_empty() && c == '$' {
                continue;
            }
            key.push(c);
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STARTPROJECT: &str = r#""""
Django settings for mysite project.
"""

from pathlib import Path

# Build paths inside the project like this: BASE_DIR / 'subdir'.
BASE_DIR = Path(__file__).resolve().parent.parent


# SECURITY WARNING: keep the secret key used in production secret!
SECRET_KEY = 'django-insecure-9x!k2m#q8w@e4r5t6y7u8i9o0p-a1s2d3f4g5h6j7k8l9z0x1c2v3b'

DEBUG = True

DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.sqlite3',
        'NAME': BASE_DIR / 'db.sqlite3',
        'PASSWORD': ('db-pass-'
                     'w0rd'),
    }
}

EMAIL_HOST_PASSWORD = r"mail\pass'word"
"#;

    fn input(style_environ_in_project: bool) -> FixInput {
        let mut i = FixInput {
            root: PathBuf::from("/nonexistent-root"),
            settings: vec![TextFile {
                path: PathBuf::from("mysite/settings.py"),
                text: STARTPROJECT.to_owned(),
            }],
            manage_dirs: vec![PathBuf::new()],
            ..FixInput::default()
        };
        i.uses_environ = style_environ_in_project;
        i.existing
            .insert(PathBuf::from(".gitignore"), "__pycache__/\n".to_owned());
        i
    }

    fn settings_after(plan: &FixPlan) -> &str {
        &plan
            .files
            .iter()
            .find(|f| f.path == Path::new("mysite/settings.py"))
            .expect("settings changed")
            .new
    }

    #[test]
    fn os_style_replaces_literals_and_adds_import() {
        let p = plan(&input(false), &FixOptions::default());
        let s = settings_after(&p);
        assert!(
            s.contains("SECRET_KEY = os.environ['DJANGO_SECRET_KEY']"),
            "{s}"
        );
        assert!(
            s.contains("'PASSWORD': os.environ['DATABASE_PASSWORD'],"),
            "{s}"
        );
        assert!(
            s.contains(r#"EMAIL_HOST_PASSWORD = os.environ["EMAIL_HOST_PASSWORD"]"#),
            "{s}"
        );
        assert!(s.contains("from pathlib import Path\nimport os\n"), "{s}");
        assert!(!s.contains("django-insecure"));
        let env = &p.env_files[0];
        assert_eq!(env.path, Path::new(".env"));
        assert!(env.old.is_none());
        let vars: Vec<_> = env
            .entries
            .iter()
            .map(|e| (e.var.as_str(), e.value.clone()))
            .collect();
        assert_eq!(
            vars,
            [
                ("DJANGO_SECRET_KEY", EnvValue::NewSecretKey),
                (
                    "DATABASE_PASSWORD",
                    EnvValue::Literal("db-pass-w0rd".into())
                ),
                (
                    "EMAIL_HOST_PASSWORD",
                    EnvValue::Literal(r"mail\pass'word".into())
                ),
            ]
        );
        let gi = p
            .files
            .iter()
            .find(|f| f.path == Path::new(".gitignore"))
            .expect("gitignore");
        assert!(
            gi.new.starts_with("__pycache__/\n") && gi.new.ends_with("\n.env\n"),
            "{}",
            gi.new
        );
        let ex = p
            .files
            .iter()
            .find(|f| f.path == Path::new(".env.example"))
            .expect("example");
        assert!(ex
            .new
            .contains("DJANGO_SECRET_KEY=\nDATABASE_PASSWORD=\nEMAIL_HOST_PASSWORD=\n"));
        assert!(!ex.new.contains("w0rd"));
    }

    #[test]
    fn environ_style_sets_up_env_after_base_dir() {
        let p = plan(&input(true), &FixOptions::default());
        let s = settings_after(&p);
        assert!(
            s.contains("from pathlib import Path\nimport environ\n"),
            "{s}"
        );
        assert!(
            s.contains("parent.parent\n# Credentials come from the environment; in development from .env (not committed).\nenv = environ.Env()\nenviron.Env.read_env(BASE_DIR / \".env\")\n"),
            "{s}"
        );
        assert!(s.contains("SECRET_KEY = env('DJANGO_SECRET_KEY')"), "{s}");
        assert!(!s.contains("import os"), "{s}");
    }

    #[test]
    fn second_plan_after_applying_changes_nothing() {
        let first = plan(&input(false), &FixOptions::default());
        let mut again = input(false);
        again.settings[0].text = settings_after(&first).to_owned();
        for f in &first.files {
            again.existing.insert(f.path.clone(), f.new.clone());
        }
        again
            .existing
            .insert(PathBuf::from(".env"), "DJANGO_SECRET_KEY='x'\n".to_owned());
        let second = plan(&again, &FixOptions::default());
        assert!(second.is_empty(), "{}", second.diff());
    }

    #[test]
    fn existing_env_entries_are_never_overwritten() {
        let mut i = input(false);
        i.existing.insert(
            PathBuf::from(".env"),
            "DATABASE_PASSWORD=other\nDJANGO_SECRET_KEY=kept\n".to_owned(),
        );
        i.existing
            .insert(PathBuf::from(".gitignore"), "*.env\n.env\n".to_owned());
        let p = plan(&i, &FixOptions::default());
        let vars: Vec<_> = p.env_files[0]
            .entries
            .iter()
            .map(|e| e.var.as_str())
            .collect();
        assert_eq!(vars, ["EMAIL_HOST_PASSWORD"]);
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("DATABASE_PASSWORD is already in .env")),
            "{:?}",
            p.warnings
        );
        assert!(p.files.iter().all(|f| f.path != Path::new(".gitignore")));
    }

    #[test]
    fn values_already_in_env_still_get_gitignore_and_example() {
        let mut i = input(false);
        i.existing.insert(
            PathBuf::from(".env"),
            "DJANGO_SECRET_KEY=a\nDATABASE_PASSWORD=db-pass-w0rd\nEMAIL_HOST_PASSWORD=\"mail\\\\pass'word\"\n".to_owned(),
        );
        let p = plan(&i, &FixOptions::default());
        assert!(p.env_files.is_empty(), "{:?}", p.env_files);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let paths: Vec<_> = p.files.iter().map(|f| slash(&f.path)).collect();
        assert_eq!(paths, ["mysite/settings.py", ".env.example", ".gitignore"]);
    }

    #[test]
    fn dry_run_diff_hides_values() {
        let d = plan(&input(false), &FixOptions::default()).diff();
        assert!(d.contains("-SECRET_KEY = 'django-insecure-"), "{d}");
        assert!(
            d.contains("+DATABASE_PASSWORD=<value from mysite/settings.py:"),
            "{d}"
        );
        assert!(!d.contains("+DATABASE_PASSWORD=db-pass"), "{d}");
        let mut i = input(false);
        i.existing
            .insert(PathBuf::from(".env"), "OTHER=s3cr3t-value\n".to_owned());
        let d = plan(&i, &FixOptions::default()).diff();
        assert!(
            d.contains(" OTHER=<hidden>\n") && !d.contains("s3cr3t-value"),
            "{d}"
        );
    }

    #[test]
    fn same_variable_with_different_values_gets_a_suffix() {
        let mut i = input(false);
        i.settings.push(TextFile {
            path: PathBuf::from("mysite/settings_prod.py"),
            text: "EMAIL_HOST_PASSWORD = 'prod-mail-pass'\n".to_owned(),
        });
        let p = plan(&i, &FixOptions::default());
        let prod = &p
            .files
            .iter()
            .find(|f| f.path == Path::new("mysite/settings_prod.py"))
            .expect("prod")
            .new;
        assert_eq!(
            prod,
            "import os\nEMAIL_HOST_PASSWORD = os.environ['EMAIL_HOST_PASSWORD_2']\n"
        );
    }

    #[test]
    fn crlf_files_get_crlf_insertions_and_fallbacks_warn() {
        let mut i = input(false);
        i.settings[0].text = "import sys\r\nSECRET_KEY = 'k3#v9!w$q2@zr8^m1&x7*p0(t-_=+)e4y6u'\r\nSECRET_KEY_FALLBACKS = ['old-key-1234567890abcdefghij']\r\n".to_owned();
        let p = plan(&i, &FixOptions::default());
        assert_eq!(
            settings_after(&p),
            "import sys\r\nimport os\r\nSECRET_KEY = os.environ['DJANGO_SECRET_KEY']\r\nSECRET_KEY_FALLBACKS = ['old-key-1234567890abcdefghij']\r\n"
        );
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("mysite/settings.py:3: SECRET_KEY_FALLBACKS")),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn placeholders_are_reported_not_moved() {
        let mut i = input(false);
        i.settings[0].text =
            "SECRET_KEY = 'dummy-secret-for-tests'\nEMAIL_HOST_PASSWORD = 'xxxxxxxx'\n".to_owned();
        let p = plan(&i, &FixOptions::default());
        assert!(p.is_empty(), "{}", p.diff());
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
    }

    #[test]
    fn secret_keys_are_django_shaped_and_fresh() {
        let a = new_secret_key().expect("rng");
        let b = new_secret_key().expect("rng");
        assert_eq!(a.len(), 50);
        assert!(a.bytes().all(|c| SECRET_KEY_ALPHABET.contains(&c)));
        assert!(!a.starts_with('$'));
        assert_ne!(a, b);
    }

    #[test]
    fn targets_outside_root_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            checked_target(dir.path(), Path::new("../x")),
            Err(FixError::OutsideRoot { .. })
        ));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path().join("target"), dir.path().join(".env"))
                .expect("symlink");
            fs::write(outside.path().join("target"), "").expect("write");
            assert!(matches!(
                checked_target(dir.path(), Path::new(".env")),
                Err(FixError::OutsideRoot { .. })
            ));
        }
        assert!(checked_target(dir.path(), Path::new("ok.txt")).is_ok());
    }
}
