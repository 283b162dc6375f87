//! The working-tree walk: parallel, gitignore-aware (the `ignore` crate), hidden files included
//! (`.env` is exactly where secrets live), `.git` directories excluded. Reads each file's bytes and
//! hands them on; binary files and files over the size limit are reported, not scanned.

use std::io::Read;
use std::path::{Path, PathBuf};

use ignore::{WalkBuilder, WalkState};

/// How many leading bytes are checked for a NUL to decide a file is binary (as git does).
const BINARY_SNIFF_LEN: usize = 8000;

/// What the walk found at one path.
#[derive(Debug)]
pub enum FsItem {
    /// A text file to scan. `path` is relative to the walk's root (or the file name when the root
    /// is a file).
    File { path: PathBuf, bytes: Vec<u8> },
    /// A file whose first bytes contain a NUL: not scanned.
    Binary { path: PathBuf },
    /// A file over the size limit: not scanned.
    TooLarge { path: PathBuf, size: u64 },
    /// A file or directory that could not be read.
    Error { path: PathBuf, message: String },
}

/// A working-tree walk over one root (a directory or a single file).
#[derive(Debug, Clone)]
pub struct FsSource {
    root: PathBuf,
    respect_ignore: bool,
    max_file_size: u64,
    threads: usize,
}

impl FsSource {
    /// A walk of `root` honouring .gitignore, with the given size limit and thread count (0: auto).
    pub fn new(root: &Path, max_file_size: u64, threads: usize) -> FsSource {
        FsSource {
            root: root.to_path_buf(),
            respect_ignore: true,
            max_file_size,
            threads,
        }
    }

    /// Whether .gitignore / .ignore / git exclude files are honoured (default true).
    pub fn respect_ignore(mut self, yes: bool) -> Self {
        self.respect_ignore = yes;
        self
    }

    /// Walks the tree in parallel, calling `visit` for every file from many threads.
    pub fn walk(&self, visit: impl Fn(FsItem) + Sync) {
        let mut builder = WalkBuilder::new(&self.root);
        builder
            .hidden(false)
            .git_ignore(self.respect_ignore)
            .git_exclude(self.respect_ignore)
            .git_global(false)
            .ignore(self.respect_ignore)
            .parents(self.respect_ignore)
            .require_git(false)
            .follow_links(false)
            .threads(self.threads)
            .filter_entry(|e| e.file_name() != ".git");
        let visit = &visit;
        builder.build_parallel().run(|| {
            Box::new(move |entry| {
                match entry {
                    Ok(entry) => {
                        if entry.file_type().is_some_and(|t| t.is_file()) {
                            visit(self.read(entry.path()));
                        }
                    }
                    Err(err) => visit(FsItem::Error {
                        path: error_path(&err).unwrap_or_else(|| self.root.clone()),
                        message: err.to_string(),
                    }),
                }
                WalkState::Continue
            })
        });
    }

    fn relative(&self, path: &Path) -> PathBuf {
        if self.root.is_file() {
            return path
                .file_name()
                .map_or_else(|| path.to_path_buf(), PathBuf::from);
        }
        path.strip_prefix(&self.root).unwrap_or(path).to_path_buf()
    }

    fn read(&self, path: &Path) -> FsItem {
        let rel = self.relative(path);
        let mut file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => {
                return FsItem::Error {
                    path: rel,
                    message: e.to_string(),
                }
            }
        };
        let size = match file.metadata() {
            Ok(m) => m.len(),
            Err(e) => {
                return FsItem::Error {
                    path: rel,
                    message: e.to_string(),
                }
            }
        };
        if size > self.max_file_size {
            return FsItem::TooLarge { path: rel, size };
        }
        let mut bytes = Vec::with_capacity(size as usize);
        if let Err(e) = file.read_to_end(&mut bytes) {
            return FsItem::Error {
                path: rel,
                message: e.to_string(),
            };
        }
        if is_binary(&bytes) {
            return FsItem::Binary { path: rel };
        }
        FsItem::File { path: rel, bytes }
    }
}

/// Whether `bytes` look binary: a NUL byte among the first few kilobytes.
pub fn is_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(BINARY_SNIFF_LEN)].contains(&0)
}

fn error_path(err: &ignore::Error) -> Option<PathBuf> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        _ => None,
    }
}
