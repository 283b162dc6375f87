//! A pack's memory mapping, handed back to the kernel as a pack walk goes, so that the pages it
//! read do not stay in the process's resident memory until the pack is closed (the whole pack by
//! the end: 496 MB on git/git).
//!
//! Releasing never changes what is read: it is `MADV_DONTNEED` on a private, read-only mapping
//! of a file that nothing writes to, whose pages are mapped again from the page cache (the file's
//! contents) if touched again. So every release is a matter of cost, never of correctness.
//!
//! Two rules decide when. A stretch of the mapping is released once every entry overlapping it
//! has been decoded (a walk reads each entry's bytes once), and a pass over the entry headers
//! releases behind itself. That alone leaves the stretches ahead of a delta-tree traversal: it
//! decodes each base's deltas right after it, and in a pack written in recency order (git's) the
//! deltas of the first bases lie all over the rest of the pack, so on git/git 360 MB of the
//! mapping was resident a few seconds into the sweep. Hence the second rule: every
//! [`CHECK_EVERY`] decoded entries the process's file-backed resident memory is read
//! (`/proc/self/statm`), and over [`FILE_RESIDENT_LIMIT`] the whole mapping is released; the
//! pages still to be read are then mapped again when read.

use std::ops::Range;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The mapping is handed back to the kernel in stretches of this many bytes, aligned in the
/// file: a multiple of what one fault maps at once (the 64 KiB around the page, or a whole large
/// folio of the page cache, at most 2 MiB on x86-64 and 4 KiB-page arm64), so that a fault never
/// maps pages of a stretch already released again. With 1 MiB stretches, ext4's large folios
/// kept 45% of a test pack mapped after its walk.
pub(crate) const RELEASE_CHUNK: u64 = 2 << 20;

/// Above this much file-backed resident memory (the pack mappings' pages, the binary, the pack
/// indices), the mapping being walked is released whole.
const FILE_RESIDENT_LIMIT: u64 = 160 << 20;

/// How many decoded entries between two reads of the resident memory (a read costs a few
/// microseconds; git/git's pack has 849,000 entries).
const CHECK_EVERY: u32 = 256;

/// When a walk releases its mapping: in stretches of `chunk` bytes (a multiple of the page size;
/// 0 releases nothing), and whole when the file-backed resident memory is over `limit` bytes,
/// read every `every` decoded entries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Release {
    pub chunk: u64,
    pub limit: u64,
    pub every: u32,
}

impl Release {
    /// What the walks use.
    pub(crate) const DEFAULT: Release = Release {
        chunk: RELEASE_CHUNK,
        limit: FILE_RESIDENT_LIMIT,
        every: CHECK_EVERY,
    };
}

/// A pack's mapping in stretches, each with the number of entries overlapping it that the walk
/// has not decoded yet; see the module documentation.
pub(crate) struct Pages<'a> {
    mapped: &'a [u8],
    chunk: u64,
    pending: Vec<AtomicU32>,
    /// How far the header pass has released (it runs on one thread).
    released: AtomicU64,
    /// The whole mapping is released when the file-backed resident memory is over `limit`,
    /// read when `decoded` is a multiple of `every`.
    limit: u64,
    every: u32,
    decoded: AtomicU32,
}

impl<'a> Pages<'a> {
    /// Counts the `entries` (byte ranges of the mapping) per stretch, to release as `release`
    /// says.
    pub(crate) fn new(
        mapped: &'a [u8],
        release: Release,
        entries: impl Iterator<Item = Range<u64>>,
    ) -> Pages<'a> {
        let Release {
            chunk,
            limit,
            every,
        } = release;
        let mut pending: Vec<AtomicU32> = Vec::new();
        if chunk > 0 && cfg!(target_os = "linux") {
            pending.resize_with((mapped.len() as u64).div_ceil(chunk) as usize, || {
                AtomicU32::new(0)
            });
            for r in entries {
                for c in chunks(&r, chunk) {
                    if let Some(n) = pending.get_mut(c) {
                        *n.get_mut() += 1;
                    }
                }
            }
        }
        Pages {
            mapped,
            chunk,
            pending,
            released: AtomicU64::new(0),
            limit,
            every: every.max(1),
            decoded: AtomicU32::new(0),
        }
    }

    /// The header pass is at `offset`: releases the whole stretches before it not released yet.
    pub(crate) fn release_before(&self, offset: u64) {
        if self.pending.is_empty() {
            return;
        }
        let end = (offset / self.chunk * self.chunk).min(self.mapped.len() as u64);
        let from = self.released.load(Ordering::Relaxed);
        if end > from {
            self.released.store(end, Ordering::Relaxed);
            self.release(from..end);
        }
    }

    /// Releases the whole mapping.
    pub(crate) fn release_all(&self) {
        if !self.pending.is_empty() {
            self.release(0..self.mapped.len() as u64);
        }
    }

    /// The entry at `range` is decoded: releases the stretches no undecoded entry overlaps now,
    /// or the whole mapping when the resident memory is over the limit.
    pub(crate) fn decoded(&self, range: Range<u64>) {
        if self.pending.is_empty() {
            return;
        }
        for c in chunks(&range, self.chunk) {
            let Some(n) = self.pending.get(c) else {
                break;
            };
            if n.fetch_sub(1, Ordering::AcqRel) == 1 {
                let start = c as u64 * self.chunk;
                self.release(start..(start + self.chunk).min(self.mapped.len() as u64));
            }
        }
        if self
            .decoded
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(self.every)
            && file_resident().is_some_and(|r| r > self.limit)
        {
            self.release_all();
        }
    }

    /// Hands the pages of `range` (page-aligned at its start) of the mapping back to the kernel.
    fn release(&self, range: Range<u64>) {
        if let Some(bytes) = self.mapped.get(range.start as usize..range.end as usize) {
            release_pages(bytes);
        }
    }
}

/// The bytes of `pack`'s mapping (empty if it cannot be had).
pub(crate) fn mapping(pack: &gix::odb::pack::data::File) -> &[u8] {
    pack.entry_slice(0..pack.data_len() as u64).unwrap_or(&[])
}

/// The stretches of `chunk` bytes that `r` overlaps (an empty range counts as its first byte).
fn chunks(r: &Range<u64>, chunk: u64) -> Range<usize> {
    let last = r.end.max(r.start + 1) - 1;
    (r.start / chunk) as usize..(last / chunk) as usize + 1
}

/// The process's file-backed (and shared) resident memory, in bytes.
fn file_resident() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let shared: u64 = statm.split_whitespace().nth(2)?.parse().ok()?;
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        Some(shared * u64::try_from(page).ok()?)
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// Hands the pages of `bytes` back to the kernel: `bytes` is part of a pack's private, read-only
/// mapping and starts on a page boundary (the mapping's start, or a multiple of
/// [`RELEASE_CHUNK`] from it).
pub(crate) fn release_pages(bytes: &[u8]) {
    #[cfg(target_os = "linux")]
    // SAFETY: `bytes` lies in a private, read-only mapping of the pack file that nothing
    // writes to, so dropping its pages changes no byte anyone reads: a page touched again is
    // mapped again from the file. The start is page-aligned: the mapping starts on a page and
    // callers release from multiples of the chunk size, itself a multiple of the page size.
    // A failure (it cannot fail on such a range) only leaves the pages mapped.
    unsafe {
        if !bytes.is_empty() {
            libc::madvise(
                bytes.as_ptr() as *mut libc::c_void,
                bytes.len(),
                libc::MADV_DONTNEED,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = bytes;
}
