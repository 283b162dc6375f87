//! Content-addressed memo tables that make matching scale with *new* bytes rather than total bytes.
//!
//! Most blobs of a history are near-copies of one another (shared/DESIGN.md: 2.92 GB of Django
//! blobs come from a 225 MB pack). A blob is cut into content-defined chunks at line ends; keyword
//! hits are computed once per distinct chunk, and each rule's regex result once per distinct
//! window of text around its hits. Both are pure functions of the bytes hashed, so results do not
//! depend on which thread got there first, or on the order blobs arrive in.

use std::hash::Hash;
use std::sync::{Arc, Mutex};

use foldhash::HashMap;
use xxhash_rust::xxh3::{xxh3_128, xxh3_128_with_seed};

/// Lines end a chunk when a hash of the bytes before their line end has this many top bits clear
/// (about one line in eight), so chunk boundaries depend only on nearby content and survive edits
/// elsewhere.
const BOUNDARY_BITS: u32 = 3;
/// A chunk is at least this long before a line end may close it, so chunk bookkeeping stays small
/// next to the bytes.
const MIN_CHUNK: usize = 1024;
/// A chunk is cut at the next line end past this length even without a content-defined boundary.
const MAX_CHUNK: usize = 16 * 1024;
/// A chunk without a line end is cut here, mid-line; its keyword hits are then looked for a
/// keyword's length past its end (see `Matcher::scan`).
pub const MAX_LINE_CHUNK: usize = 64 * 1024;
/// Bounds each table, empty results included (Django's full history needs about 420,000
/// entries); past it, new results are computed but no longer remembered, which keeps memory
/// bounded on any history.
const MAX_ENTRIES: usize = 2_000_000;
const SHARDS: usize = 64;
/// Text longer than this (a chunk or window made of one long line, such as a minified bundle) is
/// matched without consulting or filling the tables: it rarely recurs unchanged, and its results
/// (one keyword-dense megabyte line has hundreds of thousands of hits) would crowd the memory.
pub const MAX_REMEMBERED_TEXT: usize = 256 * 1024;

/// Splits `bytes` into chunks that end at line ends, with content-defined boundaries: past
/// `MIN_CHUNK` bytes, a line end closes the chunk when a hash of the bytes just before it has its
/// low bits clear. Lines shorter than the minimum are skipped over without being looked at.
pub fn chunks(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = MIN_CHUNK;
    while pos < bytes.len() {
        let limit = (start + MAX_LINE_CHUNK).min(bytes.len());
        let Some(nl) = memchr::memchr(b'\n', &bytes[pos.min(limit)..limit]) else {
            if limit == bytes.len() {
                break;
            }
            // A very long line is cut at a fixed length: in periodic text (a run of one keyword)
            // the pieces then repeat, and their keyword hits are remembered.
            out.push(start..limit);
            start = limit;
            pos = limit + MIN_CHUNK;
            continue;
        };
        let end = pos.min(limit) + nl + 1;
        let tail = &bytes[end.saturating_sub(33).max(start)..end - 1];
        if end - start >= MAX_CHUNK || fx(tail) >> (64 - BOUNDARY_BITS) == 0 {
            out.push(start..end);
            start = end;
            pos = end + MIN_CHUNK;
        } else {
            pos = end;
        }
    }
    if start < bytes.len() {
        out.push(start..bytes.len());
    }
    out
}

/// A small, fast, deterministic hash for boundary decisions (FxHash's mixing step), eight bytes
/// at a time: it runs once per line, and byte by byte `chunks` took 4.3% of a Django history
/// sweep's CPU time (1.2% now). Only its top bits are well mixed.
fn fx(bytes: &[u8]) -> u64 {
    let words = bytes.chunks_exact(8);
    let rest = words.remainder().iter().map(|&b| u64::from(b));
    words
        .map(|w| u64::from_le_bytes(w.try_into().expect("eight bytes")))
        .chain(rest)
        .fold(0u64, |h, word| {
            (h.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
        })
}

/// The 128-bit content hash that keys the tables.
pub fn content_hash(bytes: &[u8]) -> u128 {
    xxh3_128(bytes)
}

/// [`content_hash`] of `bytes` together with a small number describing how they are used.
pub fn content_hash_seeded(bytes: &[u8], seed: u64) -> u128 {
    xxh3_128_with_seed(bytes, seed)
}

/// A sharded, bounded map from content keys to shared results (lists). Empty results, most of
/// them (a chunk without keywords, a window without a match), are remembered without a list.
/// One map per shard answers both, in one probe per lookup (a map and a set, with std's hasher,
/// took 8.3% of a Django sweep's CPU; this 5.8%).
#[derive(Debug)]
pub struct Table<K, T> {
    shards: Vec<Mutex<Shard<K, T>>>,
}

type Shard<K, T> = HashMap<K, Option<Arc<Vec<T>>>>;

/// A result from a [`Table`]: a list shared with the table, or no list for an empty result (which
/// then costs no reference count).
#[derive(Debug)]
pub struct Shared<T>(Option<Arc<Vec<T>>>);

impl<T> std::ops::Deref for Shared<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.0.as_deref().map_or(&[], |v| v.as_slice())
    }
}

impl<T> From<Vec<T>> for Shared<T> {
    fn from(v: Vec<T>) -> Self {
        Shared((!v.is_empty()).then(|| Arc::new(v)))
    }
}

impl<K: Hash + Eq + Copy, T> Default for Table<K, T> {
    fn default() -> Self {
        Table {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl<K: Hash + Eq + Copy, T> Table<K, T> {
    /// The remembered value for `key`, or `compute()` (remembered while the table has room).
    pub fn get_or_compute(
        &self,
        key: K,
        shard: u128,
        compute: impl FnOnce() -> Vec<T>,
    ) -> Shared<T> {
        let shard = &self.shards[(shard as usize) % SHARDS];
        if let Some(v) = lock(shard).get(&key) {
            return Shared(v.clone());
        }
        let v = Shared::from(compute());
        let mut s = lock(shard);
        if s.len() < MAX_ENTRIES / SHARDS {
            s.entry(key).or_insert_with(|| v.0.clone());
        }
        v
    }

    /// Forgets everything (frees the memory).
    pub fn clear(&self) {
        for shard in &self.shards {
            *lock(shard) = Shard::default();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Entries are inserted whole, so a poisoned shard is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_input_and_end_at_line_ends() {
        let text: String = (0..2000)
            .map(|i| format!("line {i} of some text\n"))
            .collect();
        let bytes = text.as_bytes();
        let cs = chunks(bytes);
        assert!(cs.len() > 5, "{}", cs.len());
        assert_eq!(cs[0].start, 0);
        assert_eq!(cs.last().map(|c| c.end), Some(bytes.len()));
        for w in cs.windows(2) {
            assert_eq!(w[0].end, w[1].start);
            assert_eq!(bytes[w[0].end - 1], b'\n');
        }
    }

    #[test]
    fn an_edit_changes_only_nearby_chunks() {
        let text: String = (0..4000)
            .map(|i| format!("value_{i} = compute({i})\n"))
            .collect();
        let mut edited = text.clone();
        edited.insert_str(text.len() / 2, "INSERTED LINE\n");
        let hashes = |t: &str| -> Vec<u128> {
            chunks(t.as_bytes())
                .into_iter()
                .map(|r| content_hash(&t.as_bytes()[r]))
                .collect()
        };
        let (a, b) = (hashes(&text), hashes(&edited));
        let shared = b.iter().filter(|h| a.contains(h)).count();
        assert!(
            shared + 3 >= a.len(),
            "only {shared} of {} chunks survive an edit",
            a.len()
        );
    }
}
