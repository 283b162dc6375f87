//! One pack's delta tree, decoded once on all threads, without inflating the blobs over
//! `--max-blob-size` that nothing depends on.
//!
//! This is gix's `index::File::traverse` with `Algorithm::DeltaTreeLookup` (the same
//! `cache::delta::Tree` and its work-stealing traversal), plus one pass over the pack's entry
//! headers first. That pass reads each entry's size without inflating it: a whole object's size is
//! in its entry header, and a delta's result size is in the first bytes of its delta data, which
//! are inflated only when a bound says the result could be over the limit (a delta of `d` bytes
//! applied to a base of `b` bytes makes at most `d * max(b, 127)` bytes: each instruction byte
//! copies at most the base or inserts at most 127 bytes). A blob over the limit that is no other
//! entry's delta base is then handed to the traversal as a stand-in entry of the same kind
//! (an empty object, or a delta that makes an empty object from its base), so its bytes are never
//! inflated: a 2 GB blob in history costs its entry header, not 2 GB of memory. A blob over the
//! limit that is a delta base must be inflated for its dependants; gix frees it when the last one
//! is resolved (its buffer is kept as that worker's scratch space until the pack is done).
//!
//! On Django's pack (410,000 entries) the header pass took about 0.33 s of one thread (much of it
//! inflating the first bytes of deltas whose bound is over the limit); it runs beside the
//! construction of the delta tree, which took as long.
//!
//! The pack is memory-mapped; [`Pages`] (`source::pages`) hands the mapping back to the kernel
//! behind the header pass and the traversal, so that the pages read do not stay resident.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;

use gix::odb::pack::{self, cache::delta, data};
use gix::ObjectId;

use crate::source::pages::{mapping, Pages, Release};

/// A delta tree node: the entry's object id, position in the pack index, and offset.
struct Node {
    oid: ObjectId,
    at: u32,
    offset: data::Offset,
}

/// What the traversal hands each decoded object to: its kind, id, position in the pack index and
/// bytes.
pub type Visit<'a> = dyn Fn(gix::objs::Kind, &ObjectId, u32, &[u8]) + Sync + 'a;

/// A blob left out: its size, and the entry that stands in for it.
struct StandIn {
    size: u64,
    bytes: Vec<u8>,
}

/// The pack's bytes, with stand-in entries at the offsets of the blobs left out.
struct Entries<'a> {
    pack: &'a data::File,
    stand_ins: HashMap<data::Offset, StandIn>,
}

/// Decodes every object of `bundle` once, calling `visit(kind, id, at, bytes)` for each (from
/// many threads; `at` is the object's position in the pack index), except blobs over
/// `max_blob_size` that no delta depends on, which go to `too_large(id, at, size)` without being
/// inflated. Returns the traversal's error, if it stopped.
pub fn traverse(
    bundle: &pack::Bundle,
    max_blob_size: u64,
    threads: usize,
    interrupt: &AtomicBool,
    visit: &Visit<'_>,
    too_large: &(dyn Fn(&ObjectId, u32, u64) + Sync),
) -> Result<(), String> {
    traverse_releasing(
        bundle,
        max_blob_size,
        threads,
        interrupt,
        Release::DEFAULT,
        visit,
        too_large,
    )
}

/// [`traverse`], releasing the pack's pages as `release` says.
fn traverse_releasing(
    bundle: &pack::Bundle,
    max_blob_size: u64,
    threads: usize,
    interrupt: &AtomicBool,
    release: Release,
    visit: &Visit<'_>,
    too_large: &(dyn Fn(&ObjectId, u32, u64) + Sync),
) -> Result<(), String> {
    let index = &bundle.index;
    let pack = &bundle.pack;
    let mut nodes: Vec<Node> = index
        .iter()
        .enumerate()
        .map(|(at, e)| Node {
            oid: e.oid,
            at: at as u32,
            offset: e.pack_offset,
        })
        .collect();
    nodes.sort_by_key(|n| n.offset);
    let mapped = mapping(pack);
    let end = pack.pack_end() as u64;
    let spans = nodes.iter().enumerate().map(|(i, n)| {
        let stop = nodes.get(i + 1).map_or(end, |next| next.offset);
        n.offset..stop
    });
    let pages = Pages::new(mapped, release, spans);
    let offsets: Vec<data::Offset> = nodes.iter().map(|n| n.offset).collect();
    // The header pass reads the mapping, the delta tree the file: neither needs the other, and
    // each took about a third of a second of Django's sweep on one thread.
    let (stand_ins, tree) = rayon::join(
        || leave_out_large_blobs(bundle, &offsets, max_blob_size, &pages),
        || {
            delta::Tree::from_offsets_in_pack(
                pack.path(),
                nodes.into_iter(),
                &|n: &Node| n.offset,
                &|id| Ok(index.lookup(id).map(|i| index.pack_offset_at_index(i))),
                &mut gix::progress::Discard,
                interrupt,
                index.object_hash(),
            )
        },
    );
    drop(offsets);
    let tree = tree.map_err(|e| e.to_string())?;
    let entries = Entries { pack, stand_ins };
    let stand_ins = &entries.stand_ins;
    tree.traverse(
        |slice, entries: &Entries<'_>| match entries.stand_ins.get(&slice.start) {
            Some(s) => Some(s.bytes.as_slice()),
            None => entries.pack.entry_slice(slice),
        },
        &entries,
        pack.pack_end() as u64,
        |node: &mut Node, _progress, ctx| {
            // The entry's bytes are inflated: the traversal does not read them again.
            pages.decoded(node.offset..ctx.entry_end);
            match (stand_ins.get(&node.offset), ctx.entry.header.as_kind()) {
                (Some(s), _) => too_large(&node.oid, node.at, s.size),
                (None, Some(kind)) => visit(kind, &node.oid, node.at, ctx.decompressed),
                (None, None) => {}
            }
            Ok(())
        },
        delta::traverse::Options {
            object_progress: Box::new(gix::progress::Discard),
            size_progress: &mut gix::progress::Discard,
            thread_limit: Some(threads),
            should_interrupt: interrupt,
            object_hash: index.object_hash(),
            alloc_limit_bytes: None,
        },
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Finds the blobs over `max` that are no entry's base and returns the stand-in entry for each,
/// by pack offset. `offsets` are the pack's entries', sorted. An entry whose header
/// cannot be read is left alone: the traversal reports it. The pages read are released behind
/// the pass and at its end.
fn leave_out_large_blobs(
    bundle: &pack::Bundle,
    offsets: &[data::Offset],
    max: u64,
    pages: &Pages<'_>,
) -> HashMap<data::Offset, StandIn> {
    let (index, pack) = (&bundle.index, &bundle.pack);
    let end_of = |i: usize| {
        offsets
            .get(i + 1)
            .copied()
            .unwrap_or(pack.pack_end() as u64)
    };
    let mut bound = vec![0u64; offsets.len()];
    let mut bases: HashSet<data::Offset> = HashSet::new();
    // (node, entry, exact size, delta base size) of each entry that may be over the limit.
    let mut large: Vec<(usize, data::Entry, u64, Option<u64>)> = Vec::new();
    let mut inflate = gix::zlib::Inflate::default();
    for i in 0..offsets.len() {
        pages.release_before(offsets[i]);
        let Ok(entry) = pack.entry(offsets[i]) else {
            continue;
        };
        let base = match entry.header {
            data::entry::Header::OfsDelta { base_distance } => {
                entry.checked_base_pack_offset(base_distance)
            }
            data::entry::Header::RefDelta { base_id } => index
                .lookup(base_id)
                .map(|at| index.pack_offset_at_index(at)),
            _ => None,
        };
        if !entry.header.is_delta() {
            bound[i] = entry.decompressed_size;
            if bound[i] > max {
                large.push((i, entry, bound[i], None));
            }
            continue;
        }
        let base_bound = match (entry.header, base) {
            (data::entry::Header::OfsDelta { .. }, Some(b)) => {
                offsets.binary_search(&b).ok().map(|j| bound[j])
            }
            _ => None,
        };
        if let Some(b) = base {
            bases.insert(b);
        }
        bound[i] = base_bound.map_or(u64::MAX, |b| {
            b.max(127).saturating_mul(entry.decompressed_size)
        });
        if bound[i] > max {
            let slice = pack.entry_slice(entry.data_offset..end_of(i));
            if let Some((base_size, size)) = slice.and_then(|s| delta_sizes(&mut inflate, s)) {
                bound[i] = size;
                if size > max {
                    large.push((i, entry, size, Some(base_size)));
                }
            }
        }
    }
    let mut stand_ins = HashMap::new();
    for (i, entry, size, base_size) in large {
        if bases.contains(&offsets[i]) {
            continue;
        }
        let kind = match base_size {
            None => entry.header.as_kind(),
            Some(_) => {
                let resolve = |id: &gix::oid| {
                    Ok(index
                        .lookup(id)
                        .and_then(|at| pack.entry(index.pack_offset_at_index(at)).ok())
                        .map(data::decode::header::ResolvedBase::InPack))
                };
                pack.decode_header(entry.clone(), &mut inflate, &resolve)
                    .ok()
                    .map(|o| o.kind)
            }
        };
        if kind != Some(gix::objs::Kind::Blob) {
            continue;
        }
        // A whole object becomes an empty one of its kind; a delta, a delta from the same base
        // (its size must match) to an empty result.
        let payload = match base_size {
            None => Vec::new(),
            Some(b) => {
                let mut d = Vec::new();
                push_varint(&mut d, b);
                push_varint(&mut d, 0);
                d
            }
        };
        let mut bytes = Vec::new();
        if entry
            .header
            .write_to(payload.len() as u64, &mut bytes)
            .is_err()
        {
            continue;
        }
        bytes.extend(zlib(&payload));
        stand_ins.insert(offsets[i], StandIn { size, bytes });
    }
    // The stand-ins' header decoding read bases anywhere in the pack.
    pages.release_all();
    stand_ins
}

/// The base and result sizes at the start of a delta's data, inflating only its first bytes.
fn delta_sizes(inflate: &mut gix::zlib::Inflate, compressed: &[u8]) -> Option<(u64, u64)> {
    let mut head = [0u8; 20];
    inflate.reset();
    let (_, _, n) = inflate.prefix(compressed, &mut head).ok()?;
    let (base, used) = read_varint(&head[..n])?;
    let (result, _) = read_varint(&head[used..n])?;
    Some((base, result))
}

/// A delta header size: 7 bits a byte, least significant first, high bit set on all but the last.
fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// `bytes` as a zlib stream of stored (uncompressed) blocks.
fn zlib(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut w =
        gix::zlib::stream::deflate::Write::new(Vec::new(), gix::zlib::Compression::BEST_SPEED);
    // Writing to a Vec cannot fail.
    let _ = w.write_all(bytes);
    let _ = w.flush();
    w.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 1 << 31, u64::from(u32::MAX) * 3] {
            let mut b = Vec::new();
            push_varint(&mut b, v);
            assert_eq!(read_varint(&b), Some((v, b.len())));
        }
    }

    #[test]
    fn a_stand_in_delta_inflates_to_its_sizes() {
        let mut d = Vec::new();
        push_varint(&mut d, 12345);
        push_varint(&mut d, 0);
        let z = zlib(&d);
        let mut inflate = gix::zlib::Inflate::default();
        assert_eq!(delta_sizes(&mut inflate, &z), Some((12345, 0)));
    }
}

#[cfg(all(test, target_os = "linux"))]
mod release_tests {
    use super::*;
    use crate::source::pages::RELEASE_CHUNK;
    use std::path::Path;
    use std::process::Command;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A pack of about 8 MB (several release stretches): 100 files of 130 KB of pseudo-random
    /// hex, then three rounds of edits to some lines of some files (deltas, and delta chains).
    fn generated_pack(dir: &Path) -> pack::Bundle {
        git(dir, &["init", "-q"]);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut files: Vec<Vec<String>> = (0..100)
            .map(|_| {
                (0..4000)
                    .map(|_| format!("{:016x}{:016x}", next(), next()))
                    .collect()
            })
            .collect();
        for round in 0..4 {
            for (f, lines) in files.iter_mut().enumerate() {
                if round > 0 && f % (round + 1) == 0 {
                    for l in (round..lines.len()).step_by(97) {
                        lines[l] = format!("round {round} {:016x}", next());
                    }
                }
                std::fs::write(dir.join(format!("f{f}.txt")), lines.join("\n")).unwrap();
            }
            git(dir, &["add", "-A"]);
            git(dir, &["commit", "-q", "-m", &format!("round {round}")]);
        }
        git(dir, &["repack", "-a", "-d", "-q", "--window=4"]);
        let packs = dir.join(".git/objects/pack");
        let idx = std::fs::read_dir(&packs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "idx"))
            .expect("one pack");
        pack::Bundle::at(idx, gix::hash::Kind::Sha1).unwrap()
    }

    /// Every object the walk delivers: (kind, id, hash of the bytes), sorted.
    fn walk(bundle: &pack::Bundle, release: Release) -> Vec<(String, ObjectId, u64)> {
        walk_watching(bundle, release, &|| {})
    }

    /// [`walk`], calling `watch` at each object.
    fn walk_watching(
        bundle: &pack::Bundle,
        release: Release,
        watch: &(dyn Fn() + Sync),
    ) -> Vec<(String, ObjectId, u64)> {
        let seen = Mutex::new(Vec::new());
        traverse_releasing(
            bundle,
            u64::MAX,
            2,
            &AtomicBool::new(false),
            release,
            &|kind, id, at, bytes| {
                watch();
                assert_eq!(bundle.index.oid_at_index(at), id.as_ref(), "index position");
                let hash = xxhash_rust::xxh3::xxh3_64(bytes);
                seen.lock().unwrap().push((kind.to_string(), *id, hash));
            },
            &|_, _, _| panic!("nothing is over the limit"),
        )
        .unwrap();
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        seen
    }

    /// The resident bytes of this process's mapping of `path`.
    fn mapped_rss(path: &Path) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let name = path.to_str().unwrap();
        let mut inside = false;
        let mut kb = 0;
        for line in smaps.lines() {
            if line.contains('-') && line.split_whitespace().count() >= 5 {
                inside = line.ends_with(name);
            } else if let (true, Some(rest)) = (inside, line.strip_prefix("Rss:")) {
                kb += rest
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap();
            }
        }
        kb * 1024
    }

    /// Stretches of `chunk` bytes, and no resident-memory limit.
    fn stretches(chunk: u64) -> Release {
        Release {
            chunk,
            limit: u64::MAX,
            every: 1,
        }
    }

    #[test]
    fn releasing_pages_changes_no_object_and_leaves_the_pack_unmapped() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = generated_pack(dir.path());
        let size = bundle.pack.data_len() as u64;
        assert!(
            size > 3 * RELEASE_CHUNK,
            "the pack spans several stretches: {size} bytes"
        );
        let kept = walk(&bundle, stretches(0));
        assert!(kept.len() > 200, "{} objects", kept.len());
        let kept_rss = mapped_rss(bundle.pack.path());
        assert!(
            kept_rss > size / 2,
            "a walk that releases nothing leaves the pack mapped: {kept_rss} of {size} bytes"
        );
        assert_eq!(walk(&bundle, stretches(RELEASE_CHUNK)), kept);
        let released_rss = mapped_rss(bundle.pack.path());
        assert!(
            released_rss < size / 10,
            "every stretch is released once its entries are decoded: {released_rss} of {size} bytes still mapped"
        );
        // One page per stretch: many releases while other threads read next to them.
        assert_eq!(walk(&bundle, stretches(4096)), kept);
        assert_eq!(walk(&bundle, Release::DEFAULT), kept);
    }

    #[test]
    fn over_the_resident_limit_the_whole_mapping_is_released_as_the_walk_goes() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = generated_pack(dir.path());
        let size = bundle.pack.data_len() as u64;
        let path = bundle.pack.path().to_owned();
        // One stretch for the whole pack: released by the first rule only at the end.
        let whole = 1 << 40;
        let peak_of = |release: Release| {
            let peak = AtomicU64::new(0);
            let objects = walk_watching(&bundle, release, &|| {
                peak.fetch_max(mapped_rss(&path), Ordering::Relaxed);
            });
            (objects, peak.into_inner())
        };
        let (kept, kept_peak) = peak_of(stretches(whole));
        assert!(
            kept_peak > size / 2,
            "without the limit the walk maps the pack: {kept_peak} of {size} bytes"
        );
        let limited = Release {
            chunk: whole,
            limit: 0,
            every: 1,
        };
        let (objects, peak) = peak_of(limited);
        assert_eq!(objects, kept);
        assert!(
            peak < size / 4,
            "over the limit the mapping is released: {peak} of {size} bytes mapped at most"
        );
        assert!(mapped_rss(&path) < size / 10);
    }
}
