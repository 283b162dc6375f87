//! The crate's error type. Each variant carries the context a user needs to act on it (a path, a rule
//! id, an object id); `Display` is written by hand so messages read as sentences on stderr. It sits
//! at the bottom of the crate: other modules' errors are wrapped here without this module importing
//! their types back (a rule id is carried as text).

use std::fmt;
use std::path::PathBuf;

/// Everything that can stop keysweep from doing what it was asked.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A rule file could not be read.
    RuleFileRead {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A rule file is not valid YAML or does not follow the rule schema.
    RuleFile {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    /// One or more rules are invalid; each string names the file, rule and problem.
    InvalidRules(Vec<String>),
    /// A rule's regular expression does not compile.
    RulePattern { id: String, source: regex::Error },
    /// The path to scan does not exist or cannot be read.
    Path {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The path is not a git repository where one was required.
    NotARepository { path: PathBuf },
    /// An error from the git object database, with context.
    Git {
        context: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A configuration file or command-line value is invalid.
    Config(String),
    /// Writing output failed.
    Io(std::io::Error),
    /// A command module's own error (e.g. `keysweep fix` could not read or write a file), converted
    /// by that module so this one imports nothing above it.
    Command(Box<dyn std::error::Error + Send + Sync>),
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::RuleFileRead { path, source } => {
                write!(f, "{}: cannot read rule file: {source}", path.display())
            }
            Error::RuleFile { path, source } => write!(f, "{}: {source}", path.display()),
            Error::InvalidRules(problems) => {
                write!(f, "{} problem(s) in the rules:", problems.len())?;
                for p in problems {
                    write!(f, "\n  {p}")?;
                }
                Ok(())
            }
            Error::RulePattern { id, source } => {
                write!(f, "rule {id}: pattern does not compile: {source}")
            }
            Error::Path { path, source } => write!(f, "{}: {source}", path.display()),
            Error::NotARepository { path } => {
                write!(f, "{}: not a git repository", path.display())
            }
            Error::Git { context, source } => write!(f, "{context}: {source}"),
            Error::Config(msg) => write!(f, "{msg}"),
            Error::Io(e) => write!(f, "{e}"),
            Error::Command(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::RuleFileRead { source, .. } | Error::Path { source, .. } => Some(source),
            Error::RuleFile { source, .. } => Some(source),
            Error::RulePattern { source, .. } => Some(source),
            Error::Git { source, .. } => Some(source.as_ref()),
            Error::Io(e) => Some(e),
            Error::Command(e) => Some(e.as_ref()),
            Error::InvalidRules(_) | Error::NotARepository { .. } | Error::Config(_) => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}
