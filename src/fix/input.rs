//! All reading `keysweep fix` does: the settings modules, `manage.py` locations, every `.env*`
//! file, compose files and `.gitignore`s, the requirements, and git's list of tracked files.
//! Anything that is not a regular file (a FIFO, a socket, a device) is refused rather than opened,
//! so a hostile `.env` cannot hang the run.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{io_err, slash, FixError, FixInput, FixPlan, Libs, TextFile};

/// Directories never searched for settings modules or env files.
const SKIP_DIRS: &[&str] = &[
    ".git",
    "node_modules",
    "site-packages",
    ".venv",
    "venv",
    ".tox",
    "__pycache__",
];

/// Tracked files larger than this are not searched for leftover copies of a leaked value.
const MAX_LEFTOVER_FILE: u64 = 1 << 20;

impl FixInput {
    /// Finds the repository root above `path` and the settings modules under `path` (git-ignored
    /// `.py` files are skipped: they are not committed, which is what the fix is about).
    pub fn load(path: &Path) -> Result<FixInput, FixError> {
        let start = fs::canonicalize(path).map_err(io_err(path))?;
        let meta = fs::metadata(&start).map_err(io_err(&start))?;
        if !meta.is_file() && !meta.is_dir() {
            return Err(FixError::SpecialFile { path: start });
        }
        let dir = if meta.is_file() {
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
        // First, as it opens nothing that is not a regular file: the walk below reads every
        // `.gitignore` / `.ignore` it meets, and a FIFO there would block it.
        input.load_side_files()?;
        let exclude = root.join(".git/info/exclude");
        if fs::symlink_metadata(&exclude).is_ok() {
            read_regular(&exclude)?;
        }
        let mut py = Vec::new();
        if meta.is_file() {
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
            if !is_settings_path(rel) && !meta.is_file() {
                continue;
            }
            let bytes = read_regular(&p)?;
            match String::from_utf8(bytes) {
                Ok(text) => input.settings.push(TextFile {
                    path: rel.to_path_buf(),
                    text,
                }),
                Err(_) => input.errors.push(format!(
                    "{}: not valid UTF-8, so it could not be analysed; left unchanged",
                    slash(rel)
                )),
            }
        }
        if meta.is_file() {
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
        input.libs = declared_libs(&root)?;
        input.tracked = tracked_files(&root);
        Ok(input)
    }

    /// Every `.env*` / `*.env` file, compose file and `.gitignore` under the root, ignored or not.
    fn load_side_files(&mut self) -> Result<(), FixError> {
        let walk = ignore::WalkBuilder::new(&self.root)
            .standard_filters(false)
            .follow_links(false)
            .max_depth(Some(6))
            .filter_entry(|e| !SKIP_DIRS.iter().any(|d| e.file_name() == *d))
            .build();
        for entry in walk.flatten() {
            let name = entry.file_name().to_string_lossy();
            if name == ".ignore" {
                read_regular(entry.path())?; // refused if special; its rules are the walker's
                continue;
            }
            if !(is_env_name(&name) || is_compose_name(&name) || name == ".gitignore") {
                continue;
            }
            let Some(ft) = entry.file_type() else {
                continue;
            };
            if ft.is_dir() {
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(&self.root) else {
                continue;
            };
            let rel = rel.to_path_buf();
            let bytes = read_regular(entry.path())?;
            match String::from_utf8(bytes) {
                Ok(text) => {
                    self.existing.insert(rel, text);
                }
                Err(_) => self.warnings.push(format!(
                    "{}: not valid UTF-8; not read and not changed",
                    slash(&rel)
                )),
            }
        }
        Ok(())
    }

    /// Directory (relative) holding `manage.py` nearest above `settings`, if any.
    pub fn manage_dir_above(&self, settings: &Path) -> Option<PathBuf> {
        settings
            .ancestors()
            .skip(1)
            .find(|d| self.manage_dirs.iter().any(|m| m == d))
            .map(Path::to_path_buf)
    }
}

/// The bytes of `path`, refusing anything that is not a regular file (after following a symlink).
pub fn read_regular(path: &Path) -> Result<Vec<u8>, FixError> {
    let meta = fs::metadata(path).map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(FixError::SpecialFile {
            path: path.to_path_buf(),
        });
    }
    fs::read(path).map_err(io_err(path))
}

/// A name env files go by: `.env`, `.env.dev`, `.env.production`, `prod.env`, ...
pub fn is_env_name(name: &str) -> bool {
    name == ".env" || name.starts_with(".env.") || (name.ends_with(".env") && name.len() > 4)
}

/// An env file meant to be committed, holding placeholders: `.env.example`, `.env.sample`, ...
pub fn is_template_name(name: &str) -> bool {
    [".example", ".sample", ".template", ".dist", ".tmpl"]
        .iter()
        .any(|s| name.ends_with(s))
        || name.contains(".example.")
        || name.contains(".sample.")
}

/// `docker-compose.yml`, `compose.yaml`, `docker-compose.prod.yml`, ...
pub fn is_compose_name(name: &str) -> bool {
    (name.starts_with("docker-compose") || name.starts_with("compose"))
        && (name.ends_with(".yml") || name.ends_with(".yaml"))
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

fn declared_libs(root: &Path) -> Result<Libs, FixError> {
    let mut files: Vec<PathBuf> = [
        "requirements.txt",
        "requirements-dev.txt",
        "pyproject.toml",
        "Pipfile",
        "setup.cfg",
        "setup.py",
    ]
    .iter()
    .map(|f| root.join(f))
    .collect();
    if let Ok(dir) = fs::read_dir(root.join("requirements")) {
        files.extend(dir.flatten().map(|e| e.path()));
    }
    let mut libs = Libs::default();
    for f in files {
        if !fs::metadata(&f).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let Ok(text) = String::from_utf8(read_regular(&f)?) else {
            continue;
        };
        let t = text.to_ascii_lowercase();
        libs.environ |= t.contains("django-environ") || t.contains("django_environ");
        libs.decouple |= t.contains("python-decouple") || t.contains("python_decouple");
        libs.dotenv |= t.contains("python-dotenv") || t.contains("python_dotenv");
    }
    Ok(libs)
}

/// Paths in git's index, relative to `root` (empty when `root` is not a git work tree).
fn tracked_files(root: &Path) -> BTreeSet<PathBuf> {
    if !root.join(".git").exists() {
        return BTreeSet::new();
    }
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output();
    match out {
        Ok(o) if o.status.success() => o
            .stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// Warns about every tracked text file that, once the plan is applied, still holds a leaked value
/// (so "fix" never claims a clean tree it did not leave).
pub fn report_leftovers(plan: &mut FixPlan, input: &FixInput) {
    let leaked: Vec<(String, String)> = plan
        .leaked
        .iter()
        .filter(|(_, v)| v.len() >= 8)
        .cloned()
        .collect();
    if leaked.is_empty() {
        return;
    }
    for rel in &input.tracked {
        if plan.untrack.contains(rel) {
            continue;
        }
        let text = if let Some(f) = plan.files.iter().find(|f| &f.path == rel) {
            f.new.clone()
        } else if let Some(s) = input.settings.iter().find(|s| &s.path == rel) {
            s.text.clone()
        } else {
            let p = input.root.join(rel);
            let Ok(meta) = fs::symlink_metadata(&p) else {
                continue;
            };
            if !meta.is_file() || meta.len() > MAX_LEFTOVER_FILE {
                continue;
            }
            match fs::read(&p).map(String::from_utf8) {
                Ok(Ok(t)) => t,
                _ => continue,
            }
        };
        for (setting, value) in &leaked {
            if let Some(at) = text.find(value.as_str()) {
                let line = text[..at].matches('\n').count() + 1;
                plan.warnings.push(format!(
                    "{}:{line}: still holds the leaked value of {setting}; fix did not change \
                     this file: remove it by hand",
                    slash(rel)
                ));
            }
        }
    }
}
