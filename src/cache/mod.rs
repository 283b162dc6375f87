//! The history cache: what earlier whole-history sweeps of a repository read and found, so that a
//! re-sweep reads only the packs and loose objects that are new since, and still reports every
//! finding of the whole history.
//!
//! One file under the git directory (`<common dir>/keysweep/cache`, never in the work tree)
//! records the packs swept (by file name, which git derives from the pack's checksum, and size),
//! the loose objects swept, every blob that produced matches with those matches, and the blobs
//! skipped as too large. All of it is valid only for one *key*: keysweep's version and build, a
//! hash of the compiled rules, and the options that change what matching yields
//! (`--max-blob-size`, the prefilter switch). A blob's matches depend only on its bytes and the
//! key, so a cached result stays right for as long as the blob exists in the object database; a
//! cached blob that is gone (pruned after a repack) is dropped, and a pack that is gone is simply
//! not skipped any more: its objects are swept again wherever they now live.
//!
//! The file starts with one line, `keysweep-cache 1 <key> <checksum>`, followed by a JSON body;
//! a file whose key differs, whose checksum does not match or that does not parse means a full
//! sweep with a one-line note. It is written to a temporary file in the same directory and
//! renamed over the old one, so a reader never sees half a file. A sweep that reported any error
//! does not write the cache (it would record as swept an object that could not be read).
//!
//! Provenance is cached too (`cache::provenance`): the introductions of the blobs with findings
//! as of the last sweep's ref tips, extended by walking only the new commits when that is
//! exactly what a walk of the whole graph would give.

pub mod provenance;

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use crate::blob::BlobId;
use crate::config::CacheMode;
use crate::finding::BlobMatch;
use crate::rules::RuleSet;
use crate::source::git::{GitSource, Skip};
use provenance::ProvenanceSnapshot;

/// The first word of a cache file, and the format version after it.
const MAGIC: &str = "keysweep-cache";
const FORMAT: u32 = 1;

/// A blob that produced matches.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedBlob {
    /// The blob id, 40 hex digits.
    pub id: String,
    /// Whether the blob is binary (a NUL among its first bytes).
    pub binary: bool,
    /// What the blob produced.
    pub matches: Vec<BlobMatch>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Body {
    /// `(file name, size)` of each pack swept.
    packs: Vec<(String, u64)>,
    /// Loose object ids swept (all kinds).
    loose: Vec<String>,
    blobs: Vec<CachedBlob>,
    /// `(blob id, size)` of blobs skipped as over `--max-blob-size`.
    too_large: Vec<(String, u64)>,
    /// The provenance of `blobs` as of the sweep's ref tips, when it can be built on.
    #[serde(default)]
    provenance: Option<ProvenanceSnapshot>,
}

/// The cache of one repository for one key, as read at the start of a sweep.
#[derive(Debug)]
pub struct HistoryCache {
    file: PathBuf,
    key: String,
    mode: CacheMode,
    body: Body,
}

/// What a sweep hands back for the cache to record.
#[derive(Debug, Default)]
pub struct SweepRecord {
    /// The packs the sweep read (`GitSource::pack_files` at its start).
    pub packs: Vec<(String, u64)>,
    /// The loose objects listed before the sweep started.
    pub loose: Vec<gix::ObjectId>,
    /// Every blob with matches, cached or new.
    pub blobs: Vec<CachedBlob>,
    /// Every blob skipped as too large, cached or new.
    pub too_large: Vec<(BlobId, u64)>,
    /// The provenance of `blobs`, to build the next sweep's on.
    pub provenance: Option<ProvenanceSnapshot>,
}

/// The key a cache is valid for: keysweep's version and build (the executable's size and
/// modification time, so a rebuilt binary does not trust its predecessor's results), the rules
/// and the matching options.
pub fn cache_key(
    rules: &RuleSet,
    max_blob_size: u64,
    prefilter: bool,
    binary_limit: u64,
) -> String {
    let exe = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}:{mtime}", m.len())
        })
        .unwrap_or_default();
    let text = format!(
        "{} {exe} {:032x} {max_blob_size} {prefilter} {binary_limit}",
        env!("CARGO_PKG_VERSION"),
        rules_hash(rules)
    );
    format!("{:032x}", xxh3_128(text.as_bytes()))
}

/// A hash of everything in the rules that decides what matching produces (not their names,
/// references or examples).
pub fn rules_hash(rules: &RuleSet) -> u128 {
    let mut text = String::new();
    for r in rules.rules() {
        text.push_str(&format!(
            "{:?}|{:?}|{}|{:?}|{}|{:?}|{:?}|{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}\n",
            r.id.to_string(),
            r.keywords,
            r.ignore_case,
            r.pattern_source,
            r.concat,
            r.entropy,
            r.min_distinct,
            r.placeholders,
            r.percent_decode,
            r.allow_sources,
            r.allow_match_sources,
            r.downgrade_sources,
            r.severity,
            r.categories,
        ));
    }
    xxh3_128(text.as_bytes())
}

impl HistoryCache {
    /// The cache file of the repository `git`.
    pub fn path(git: &GitSource) -> PathBuf {
        git.common_dir().join("keysweep").join("cache")
    }

    /// Opens the cache of `git` for `key`. Returns the cache (empty when there is none, it was
    /// made for another key, or it is unreadable) and, in the last two cases, a one-line note
    /// saying why the sweep reads everything.
    pub fn open(git: &GitSource, key: String, mode: CacheMode) -> (HistoryCache, Option<String>) {
        let file = HistoryCache::path(git);
        let (body, note) = match std::fs::read(&file) {
            Ok(bytes) => match parse(&bytes, &key) {
                Ok(body) => (body, None),
                Err(why) => (
                    Body::default(),
                    Some(format!(
                        "history cache {}: {why}: sweeping the whole history",
                        file.display()
                    )),
                ),
            },
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                (Body::default(), None)
            }
            Err(e) => (
                Body::default(),
                Some(format!(
                    "history cache {}: cannot be read ({e}): sweeping the whole history",
                    file.display()
                )),
            ),
        };
        let cache = HistoryCache {
            file,
            key,
            mode,
            body,
        };
        (cache, note)
    }

    /// What the sweep can pass over: the cached packs that are still there with the same size,
    /// and the cached loose objects.
    pub fn skip(&self, git: &GitSource) -> Skip {
        let current: HashSet<(String, u64)> = git.pack_files().into_iter().collect();
        Skip {
            packs: self
                .body
                .packs
                .iter()
                .filter(|p| current.contains(p))
                .map(|(name, _)| name.clone())
                .collect(),
            loose: self
                .body
                .loose
                .iter()
                .filter_map(|h| gix::ObjectId::from_hex(h.as_bytes()).ok())
                .collect(),
        }
    }

    /// The provenance recorded by the last sweep.
    pub fn provenance(&self) -> Option<&ProvenanceSnapshot> {
        self.body.provenance.as_ref()
    }

    /// The cached blobs with matches that the object database still holds.
    pub fn blobs(&self, git: &GitSource) -> Vec<(BlobId, CachedBlob)> {
        self.body
            .blobs
            .iter()
            .filter_map(|b| Some((BlobId::parse(&b.id)?, b.clone())))
            .filter(|(id, _)| git.has_object(&id.0))
            .collect()
    }

    /// The cached too-large blobs that the object database still holds.
    pub fn too_large(&self, git: &GitSource) -> Vec<(BlobId, u64)> {
        self.body
            .too_large
            .iter()
            .filter_map(|(h, size)| Some((BlobId::parse(h)?, *size)))
            .filter(|(id, _)| git.has_object(&id.0))
            .collect()
    }

    /// Writes what this sweep covered (the cached loose objects, which stay valid, are kept).
    /// Returns why it could not, if it could not; in `Auto` mode a git directory that cannot
    /// be written is no problem and returns `Ok`.
    pub fn store(self, record: SweepRecord) -> Result<(), String> {
        let mut loose: Vec<String> = record.loose.iter().map(|id| id.to_string()).collect();
        loose.extend(self.body.loose);
        loose.sort_unstable();
        loose.dedup();
        let mut blobs = record.blobs;
        blobs.sort_by(|a, b| a.id.cmp(&b.id));
        blobs.dedup_by(|a, b| a.id == b.id);
        let mut too_large: Vec<(String, u64)> = record
            .too_large
            .iter()
            .map(|(id, size)| (id.to_string(), *size))
            .collect();
        too_large.sort_unstable();
        too_large.dedup();
        let body = Body {
            packs: record.packs,
            loose,
            blobs,
            too_large,
            provenance: record.provenance,
        };
        match write_atomically(&self.file, &self.key, &body) {
            Err(e) if self.mode == CacheMode::On => Err(format!(
                "history cache {}: cannot be written: {e}",
                self.file.display()
            )),
            _ => Ok(()),
        }
    }
}

fn parse(bytes: &[u8], key: &str) -> Result<Body, String> {
    let corrupt = |why: &str| format!("corrupt ({why})");
    let nl = memchr::memchr(b'\n', bytes).ok_or_else(|| corrupt("no header line"))?;
    let header = std::str::from_utf8(&bytes[..nl]).map_err(|_| corrupt("bad header"))?;
    let body = &bytes[nl + 1..];
    let fields: Vec<&str> = header.split(' ').collect();
    let [magic, format, file_key, checksum] = fields[..] else {
        return Err(corrupt("bad header"));
    };
    if magic != MAGIC {
        return Err(corrupt("not a keysweep cache"));
    }
    if format != FORMAT.to_string() || file_key != key {
        return Err("made by another keysweep version or with other rules or options".to_string());
    }
    if checksum != format!("{:032x}", xxh3_128(body)) {
        return Err(corrupt("checksum mismatch"));
    }
    serde_json::from_slice(body).map_err(|e| corrupt(&e.to_string()))
}

fn write_atomically(file: &Path, key: &str, body: &Body) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_vec(body).map_err(std::io::Error::other)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    writeln!(tmp, "{MAGIC} {FORMAT} {key} {:032x}", xxh3_128(&json))?;
    tmp.write_all(&json)?;
    tmp.as_file().sync_all()?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Body {
        Body {
            packs: vec![("pack-1.pack".into(), 10)],
            loose: vec!["0".repeat(40)],
            blobs: Vec::new(),
            too_large: vec![("1".repeat(40), 5)],
            provenance: None,
        }
    }

    #[test]
    fn a_written_cache_reads_back_for_its_key_only() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = dir.path().join("k").join("cache");
        write_atomically(&file, "abc", &body()).expect("written");
        let bytes = std::fs::read(&file).expect("read");
        let back = parse(&bytes, "abc").expect("parses");
        assert_eq!(back.packs, body().packs);
        assert_eq!(back.too_large, body().too_large);
        assert!(parse(&bytes, "other").unwrap_err().contains("other rules"));
    }

    #[test]
    fn a_flipped_or_truncated_cache_is_corrupt() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = dir.path().join("cache");
        write_atomically(&file, "abc", &body()).expect("written");
        let mut bytes = std::fs::read(&file).expect("read");
        let last = bytes.len() - 3;
        bytes[last] ^= 1;
        assert!(parse(&bytes, "abc").unwrap_err().contains("corrupt"));
        let bytes = std::fs::read(&file).expect("read");
        assert!(parse(&bytes[..bytes.len() / 2], "abc")
            .unwrap_err()
            .contains("corrupt"));
        assert!(parse(b"", "abc").unwrap_err().contains("corrupt"));
    }
}
