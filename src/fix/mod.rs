//! `keysweep fix`: moves credential literals out of Django settings into the environment, and
//! makes the settings load the `.env` file that now holds them.
//!
//! Working tree only, never history. For each settings module the literal of `SECRET_KEY`,
//! `DATABASES[...]["PASSWORD"]`, `EMAIL_HOST_PASSWORD`, `AWS_SECRET_ACCESS_KEY`, ... is replaced
//! with an environment lookup in the project's own style (django-environ's `env("VAR")`,
//! python-decouple's `config("VAR")`, else `os.environ["VAR"]`), and a committed default
//! (`os.environ.get("VAR", "…")`, `env("VAR", default="…")`) loses its literal. The project's
//! variable names and `.env` location are reused (lookups in other settings modules, compose
//! files, existing `.env*` files, `read_env` / `load_dotenv` calls). The settings are made to
//! load that `.env` (django-environ `read_env(str(...))`, python-dotenv `load_dotenv(...)`, or a
//! few lines of standard library using `os.environ.setdefault`, so real variables win). A **new**
//! random SECRET_KEY (the leaked one must not be reused) and the other values go to `.env`.
//! `.env` files tracked by git are untracked (`git rm --cached`, staged), ignored, and only then
//! given fresh values; tracked templates (`.env.example`, ...) get placeholders.
//!
//! The modules follow the work: [`input`] reads everything, [`settings`] finds the credential
//! sites, [`loader`] works out how a module loads `.env`, [`plan`] decides every change (pure) with
//! [`setup`] writing the loader code,
//! [`tracked`] handles committed env files, compose files and commented-out copies, [`apply`]
//! writes (all or nothing), [`render`] shows the diff and summary.

mod apply;
mod diff;
mod envfile;
mod input;
mod loader;
mod plan;
mod python;
mod render;
mod settings;
mod setup;
mod tracked;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

pub use apply::{apply, new_secret_key, Applied};
pub use input::{is_settings_path, report_leftovers};
pub use plan::plan;

/// How the replaced settings read the environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Style {
    /// The project's own library (django-environ, python-decouple, python-dotenv), else
    /// `os.environ` with a standard-library `.env` loader.
    #[default]
    Auto,
    /// `env = environ.Env()`, `environ.Env.read_env(str(BASE_DIR / ".env"))`, `env("VAR")`.
    Environ,
    /// `os.environ["VAR"]`, with python-dotenv or a standard-library loader for `.env`.
    Os,
}

/// Options of `keysweep fix`.
#[derive(Debug, Clone, Default)]
pub struct FixOptions {
    /// How the settings read the environment.
    pub style: Style,
}

/// How a settings module reads its environment variables and loads `.env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    /// django-environ: `env("VAR")`, `environ.Env.read_env(path)`.
    Environ,
    /// python-decouple: `config("VAR")`; decouple finds `.env` itself.
    Decouple,
    /// python-dotenv: `os.environ["VAR"]` after `load_dotenv(path)`.
    Dotenv,
    /// `os.environ["VAR"]` after a standard-library loader.
    Stdlib,
}

impl Loader {
    /// The name a user knows it by.
    pub fn describe(self) -> &'static str {
        match self {
            Loader::Environ => "django-environ",
            Loader::Decouple => "python-decouple",
            Loader::Dotenv => "python-dotenv",
            Loader::Stdlib => "the standard library (os.environ.setdefault)",
        }
    }
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
    /// A path fix must read or write is a FIFO, socket or device; nothing was written.
    SpecialFile { path: PathBuf },
    /// A git command failed.
    Git { what: String, stderr: String },
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
            FixError::SpecialFile { path } => write!(
                f,
                "{}: not a regular file (FIFO, socket or device); refusing to read or write it",
                path.display()
            ),
            FixError::Git { what, stderr } => write!(f, "{what} failed: {}", stderr.trim()),
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

impl From<FixError> for crate::Error {
    fn from(e: FixError) -> Self {
        crate::Error::Command(Box::new(e))
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

/// Python libraries the project declares (requirements, pyproject, Pipfile, setup.cfg).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Libs {
    /// django-environ.
    pub environ: bool,
    /// python-decouple.
    pub decouple: bool,
    /// python-dotenv.
    pub dotenv: bool,
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
    /// Other files that matter, by relative path: every `.env*` file, `.gitignore`s, compose
    /// files.
    pub existing: BTreeMap<PathBuf, String>,
    /// Files in git's index (empty outside a git work tree).
    pub tracked: BTreeSet<PathBuf>,
    /// Libraries the project declares.
    pub libs: Libs,
    /// Files skipped while loading, and why.
    pub warnings: Vec<String>,
    /// Settings modules that could not be analysed (not UTF-8, ...): the run exits 2.
    pub errors: Vec<String>,
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

/// Changes to a `.env` file: entries appended, and existing entries given a new random key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFileChange {
    /// Path relative to the root.
    pub path: PathBuf,
    /// Contents before (`None`: created with mode 0600).
    pub old: Option<String>,
    /// Entries to append.
    pub entries: Vec<EnvEntry>,
    /// Existing entries whose (leaked) value is replaced by a new random SECRET_KEY.
    pub regenerate: Vec<String>,
    /// Read by python-decouple, which strips quotes without unescaping.
    pub plain_quotes: bool,
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
    /// The `.env` file that holds it.
    pub env_file: PathBuf,
    /// A new value is generated (SECRET_KEY) instead of moving the old one.
    pub regenerated: bool,
    /// The literal was a default in a lookup, now dropped.
    pub was_default: bool,
}

/// What `keysweep fix` will do. Empty when there is nothing left to fix.
#[derive(Debug, Clone, Default)]
pub struct FixPlan {
    /// Canonical repository root.
    pub root: PathBuf,
    /// Settings, `.gitignore`, compose and `.env.example` rewrites.
    pub files: Vec<FileChange>,
    /// `.env` changes.
    pub env_files: Vec<EnvFileChange>,
    /// Env files tracked by git, to be removed from the index (`git rm --cached`).
    pub untrack: Vec<PathBuf>,
    /// Replaced literals.
    pub moved: Vec<Moved>,
    /// What else is done, one line each (loaders added, templates, comments removed, ...).
    pub notes: Vec<String>,
    /// Things the user must look at (values not moved, conflicting entries, ...).
    pub warnings: Vec<String>,
    /// Files that could not be analysed; the run exits 2.
    pub errors: Vec<String>,
    /// (setting, value) of every literal moved: what no tracked file may hold afterwards. Never
    /// printed.
    pub leaked: Vec<(String, String)>,
}

impl FixPlan {
    /// Nothing to change.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.env_files.is_empty() && self.untrack.is_empty()
    }
}

fn slash(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests;
