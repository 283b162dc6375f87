//! The index as the next commit will hold it (`scan --staged`, the pre-commit hook): the staged
//! blobs that differ from `HEAD` at their path, each with `HEAD`'s blob there as its base. A
//! partially staged file is its staged version (the blob in the index), never the working copy.
//! Git runs a pre-commit hook with `GIT_INDEX_FILE` pointing at the index it is about to commit
//! (a temporary one for `git commit -a` or `git commit PATH`), so that index is the one read.

use std::collections::HashMap;
use std::path::PathBuf;

use gix::bstr::{BString, ByteSlice, ByteVec};
use gix::ObjectId;

use crate::error::{Error, Result};
use crate::source::git::{read_tree, GitSource};

/// One staged change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedBlob {
    /// The path it will be committed at.
    pub path: String,
    /// The staged blob.
    pub id: ObjectId,
    /// `HEAD`'s blob at the same path, if any.
    pub base: Option<ObjectId>,
}

/// The index file to read: `GIT_INDEX_FILE` when git set it for a hook (relative to the current
/// directory, as git means it), else the repository's own.
fn index_path(repo: &gix::Repository) -> PathBuf {
    match std::env::var_os("GIT_INDEX_FILE") {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                std::env::current_dir().map_or(p.clone(), |d| d.join(p))
            }
        }
        _ => repo.index_path(),
    }
}

/// The staged changes of `git`'s repository: index entries (unconflicted files and symlinks,
/// not intent-to-add placeholders or submodules) whose blob is not `HEAD`'s at that path.
pub fn staged_changes(git: &GitSource) -> Result<Vec<StagedBlob>> {
    let repo = git.repo();
    let path = index_path(&repo);
    let index = match gix::index::File::at(
        &path,
        repo.object_hash(),
        false,
        gix::index::decode::Options::default(),
    ) {
        Ok(index) => index,
        // A repository where nothing was ever staged has no index yet.
        Err(_) if !path.exists() => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Git {
                context: format!("{}: cannot read the index", path.display()),
                source: Box::new(e),
            })
        }
    };
    let head = head_files(&repo)?;
    let mut out = Vec::new();
    for entry in index.entries() {
        if entry.stage_raw() != 0
            || entry
                .flags
                .contains(gix::index::entry::Flags::INTENT_TO_ADD)
            || !matches!(
                entry.mode,
                gix::index::entry::Mode::FILE
                    | gix::index::entry::Mode::FILE_EXECUTABLE
                    | gix::index::entry::Mode::SYMLINK
            )
        {
            continue;
        }
        let path = entry.path(&index);
        let base = head.get(path).copied();
        if base == Some(entry.id) {
            continue;
        }
        out.push(StagedBlob {
            path: path.to_str_lossy().into_owned(),
            id: entry.id,
            base,
        });
    }
    Ok(out)
}

/// Every blob (file or symlink) of `HEAD`'s tree by path; empty on an unborn branch.
fn head_files(repo: &gix::Repository) -> Result<HashMap<BString, ObjectId>> {
    let mut files = HashMap::new();
    let Ok(commit) = repo.head_commit() else {
        return Ok(files);
    };
    let tree = commit.tree_id().map_err(|e| Error::Git {
        context: "HEAD cannot be read".into(),
        source: Box::new(e),
    })?;
    let mut buf = Vec::new();
    let mut stack: Vec<(BString, ObjectId)> = vec![(BString::default(), tree.detach())];
    while let Some((prefix, id)) = stack.pop() {
        for (mode, oid, name) in read_tree(repo, &id, &mut buf)? {
            let mut path = prefix.clone();
            if !path.is_empty() {
                path.push_byte(b'/');
            }
            path.push_str(&name);
            if mode.is_tree() {
                stack.push((path, oid));
            } else if mode.is_blob_or_symlink() {
                files.insert(path, oid);
            }
        }
    }
    Ok(files)
}
