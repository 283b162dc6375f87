//! `Blob`: the unit every source produces and the matcher consumes. A blob is identified by its git
//! blob id, so the same content seen in the working tree and in history is scanned once.

use std::fmt;

/// A git blob id (SHA-1). Working-tree files get the id git would give them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(pub gix::ObjectId);

impl BlobId {
    /// The id written as 40 hex digits (as in a finding's `blob_id`), if it is one.
    pub fn parse(hex: &str) -> Option<BlobId> {
        gix::ObjectId::from_hex(hex.as_bytes()).ok().map(BlobId)
    }

    /// The git blob id of `bytes`, as `git hash-object` computes it.
    pub fn of_bytes(bytes: &[u8]) -> BlobId {
        let id = gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, bytes)
            // A collision-detection failure means a deliberately crafted SHA-1 collision; the id is
            // only used for de-duplication, so fall back to the null id rather than stopping.
            .unwrap_or_else(|_| gix::ObjectId::null(gix::hash::Kind::Sha1));
        BlobId(id)
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({})", self.0)
    }
}

/// Bytes to scan and the id they are known by.
#[derive(Debug, Clone, Copy)]
pub struct Blob<'a> {
    /// The git blob id of `bytes`.
    pub id: BlobId,
    /// The content.
    pub bytes: &'a [u8],
}

impl<'a> Blob<'a> {
    /// A blob whose id is computed from its content.
    pub fn from_bytes(bytes: &'a [u8]) -> Blob<'a> {
        Blob {
            id: BlobId::of_bytes(bytes),
            bytes,
        }
    }
}
