//! Blobs that a tree names but the object database lacks (an object file deleted from a loose
//! store, a partial clone's blobs). The full sweep enumerates the objects that exist, so without
//! this a missing blob would be passed over in silence: every tree the sweep decodes anyway (pack
//! traversals inflate them) is parsed, the blobs it names are noted, and those found nowhere are
//! errors naming the blob, the tree and the entry.

use std::collections::HashMap;
use std::sync::Mutex;

use gix::bstr::BString;
use gix::objs::TreeRefIter;
use gix::ObjectId;

/// The blobs named by the trees seen so far, each with the first tree (and entry name) seen
/// naming it. Shared by the sweep's threads.
#[derive(Debug, Default)]
pub struct TreeBlobs {
    named: Mutex<HashMap<ObjectId, (ObjectId, BString)>>,
    /// Trees that could not be decoded: `tree X cannot be decoded: …`.
    malformed: Mutex<Vec<String>>,
}

/// The largest number of missing blobs named one by one; the rest are counted in one message.
const NAMED_MAX: usize = 50;

impl TreeBlobs {
    /// Notes the blobs (and symlinks) named by tree `id`, whose raw contents are `data`. Gitlinks
    /// (submodule commits) are not objects of this repository and are skipped.
    pub fn note_tree(&self, id: &gix::oid, data: &[u8], hash: gix::hash::Kind) {
        let mut blobs = Vec::new();
        for entry in TreeRefIter::from_bytes(data, hash) {
            match entry {
                Ok(e) if e.mode.is_blob_or_symlink() => blobs.push((e.oid.to_owned(), e.filename)),
                Ok(_) => {}
                Err(err) => {
                    lock(&self.malformed).push(format!("tree {id} cannot be decoded: {err}"));
                    break;
                }
            }
        }
        if blobs.is_empty() {
            return;
        }
        // Most blobs were named by an earlier tree (a tree differs from its predecessor in a few
        // entries): the name is copied only for a blob seen the first time.
        let mut named = lock(&self.named);
        for (blob, name) in blobs {
            named
                .entry(blob)
                .or_insert_with(|| (id.to_owned(), name.to_owned()));
        }
    }

    /// One error message per missing blob (up to [`NAMED_MAX`], then a count) and per malformed
    /// tree; `exists` says whether the object database holds a blob.
    pub fn problems(self, exists: impl Fn(&gix::oid) -> bool) -> Vec<String> {
        let named = self.named.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut missing: Vec<(&ObjectId, &(ObjectId, BString))> =
            named.iter().filter(|(id, _)| !exists(id)).collect();
        missing.sort();
        let mut out = self
            .malformed
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        out.sort();
        for (blob, (tree, name)) in missing.iter().take(NAMED_MAX) {
            out.push(format!(
                "blob {blob} is missing from the object database (tree {tree} names it as {name:?}): its contents are not scanned"
            ));
        }
        if missing.len() > NAMED_MAX {
            out.push(format!(
                "{} more blobs named by trees are missing from the object database (a partial clone fetches them on demand: `git fetch` them or clone without --filter)",
                missing.len() - NAMED_MAX
            ));
        }
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Entries are inserted whole, so a poisoned lock still guards consistent data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
