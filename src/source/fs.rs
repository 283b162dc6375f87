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
    /// A FIFO, socket or device: never opened (reading one can block forever or never end).
    Special { path: PathBuf },
    /// An ignore file (`.gitignore`, `.ignore`, `.git/info/exclude`) that is not a regular file:
    /// never opened, and the walk does not honour ignore files (it would open them).
    UnreadIgnoreFile { path: PathBuf },
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
        // The `ignore` walker opens every ignore file it meets, and opening a FIFO blocks until
        // a writer comes: look for ignore files that are not regular files first (a walk that
        // reads no file), and if there is one, walk without ignore files.
        let special = if self.respect_ignore {
            self.special_ignore_files()
        } else {
            Vec::new()
        };
        let respect_ignore = self.respect_ignore && special.is_empty();
        for path in special {
            visit(FsItem::UnreadIgnoreFile {
                path: self.relative(&path),
            });
        }
        let mut builder = WalkBuilder::new(&self.root);
        builder
            .hidden(false)
            .git_ignore(respect_ignore)
            .git_exclude(respect_ignore)
            .git_global(false)
            .ignore(respect_ignore)
            .parents(respect_ignore)
            .require_git(false)
            .follow_links(false)
            .threads(self.threads)
            .filter_entry(|e| e.file_name() != ".git");
        let visit = &visit;
        builder.build_parallel().run(|| {
            Box::new(move |entry| {
                match entry {
                    Ok(entry) => match entry.file_type() {
                        Some(t) if t.is_file() => visit(self.read(entry.path())),
                        Some(t) if t.is_dir() || t.is_symlink() => {}
                        Some(_) => visit(FsItem::Special {
                            path: self.relative(entry.path()),
                        }),
                        None => {}
                    },
                    Err(err) => visit(FsItem::Error {
                        path: error_path(&err).unwrap_or_else(|| self.root.clone()),
                        message: err.to_string(),
                    }),
                }
                WalkState::Continue
            })
        });
    }

    /// Ignore files the walker would open that are not regular files: in the tree, in its
    /// parent directories, and the repository's `info/exclude`.
    fn special_ignore_files(&self) -> Vec<PathBuf> {
        const NAMES: [&str; 2] = [".gitignore", ".ignore"];
        let is_special = |p: &Path| {
            std::fs::symlink_metadata(p).is_ok_and(|m| !m.is_file() && !m.is_dir())
                || std::fs::metadata(p).is_ok_and(|m| !m.is_file() && !m.is_dir())
        };
        let mut found = Vec::new();
        if self.root.is_dir() {
            let mut dirs: Vec<PathBuf> = self
                .root
                .canonicalize()
                .map(|r| r.ancestors().skip(1).map(Path::to_path_buf).collect())
                .unwrap_or_default();
            dirs.push(self.root.clone());
            for dir in dirs {
                let exclude = dir.join(".git").join("info").join("exclude");
                found.extend(
                    NAMES
                        .iter()
                        .map(|n| dir.join(n))
                        .chain([exclude])
                        .filter(|p| is_special(p)),
                );
            }
            let mut builder = WalkBuilder::new(&self.root);
            builder
                .standard_filters(false)
                .hidden(false)
                .follow_links(false)
                .threads(self.threads)
                .filter_entry(|e| e.file_name() != ".git");
            let more = std::sync::Mutex::new(Vec::new());
            builder.build_parallel().run(|| {
                Box::new(|entry| {
                    if let Ok(entry) = entry {
                        let named = entry
                            .file_name()
                            .to_str()
                            .is_some_and(|n| NAMES.contains(&n));
                        let special = entry
                            .file_type()
                            .is_some_and(|t| !t.is_file() && !t.is_dir() && !t.is_symlink());
                        if named && entry.depth() > 0 && (special || is_special(entry.path())) {
                            more.lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(entry.path().to_path_buf());
                        }
                    }
                    WalkState::Continue
                })
            });
            found.extend(more.into_inner().unwrap_or_else(|e| e.into_inner()));
        }
        found.sort();
        found.dedup();
        found
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
