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
//! On Django's pack (410,000 entries) the header pass adds about 30 ms to a 2-3 s traversal.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;

use gix::odb::pack::{self, cache::delta, data};
use gix::ObjectId;

/// A delta tree node: the entry's object id, and the size of a blob whose bytes are left out.
struct Node {
    oid: ObjectId,
    offset: data::Offset,
    too_large: Option<u64>,
}

/// The pack's bytes, with stand-in entries at the offsets of the blobs left out.
struct Entries<'a> {
    pack: &'a data::File,
    stand_ins: HashMap<data::Offset, Vec<u8>>,
}

/// Decodes every object of `bundle` once, calling `visit(kind, id, bytes)` for each (from many
/// threads), except blobs over `max_blob_size` that no delta depends on, which go to
/// `too_large(id, size)` without being inflated. Returns the traversal's error, if it stopped.
pub fn traverse(
    bundle: &pack::Bundle,
    max_blob_size: u64,
    threads: usize,
    interrupt: &AtomicBool,
    visit: &(dyn Fn(gix::objs::Kind, &ObjectId, &[u8]) + Sync),
    too_large: &(dyn Fn(&ObjectId, u64) + Sync),
) -> Result<(), String> {
    let index = &bundle.index;
    let pack = &bundle.pack;
    let mut nodes: Vec<Node> = index
        .iter()
        .map(|e| Node {
            oid: e.oid,
            offset: e.pack_offset,
            too_large: None,
        })
        .collect();
    nodes.sort_by_key(|n| n.offset);
    let stand_ins = leave_out_large_blobs(bundle, &mut nodes, max_blob_size);
    let entries = Entries { pack, stand_ins };
    let tree = delta::Tree::from_offsets_in_pack(
        pack.path(),
        nodes.into_iter(),
        &|n: &Node| n.offset,
        &|id| Ok(index.lookup(id).map(|i| index.pack_offset_at_index(i))),
        &mut gix::progress::Discard,
        interrupt,
        index.object_hash(),
    )
    .map_err(|e| e.to_string())?;
    tree.traverse(
        |slice, entries: &Entries<'_>| match entries.stand_ins.get(&slice.start) {
            Some(bytes) => Some(bytes.as_slice()),
            None => entries.pack.entry_slice(slice),
        },
        &entries,
        pack.pack_end() as u64,
        |node: &mut Node, _progress, ctx| {
            match (node.too_large, ctx.entry.header.as_kind()) {
                (Some(size), _) => too_large(&node.oid, size),
                (None, Some(kind)) => visit(kind, &node.oid, ctx.decompressed),
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

/// Finds the blobs over `max` that are no entry's base, marks their nodes and returns the
/// stand-in entry for each, by pack offset. `nodes` are sorted by offset. An entry whose header
/// cannot be read is left alone: the traversal reports it.
fn leave_out_large_blobs(
    bundle: &pack::Bundle,
    nodes: &mut [Node],
    max: u64,
) -> HashMap<data::Offset, Vec<u8>> {
    let (index, pack) = (&bundle.index, &bundle.pack);
    let offsets: Vec<data::Offset> = nodes.iter().map(|n| n.offset).collect();
    let end_of = |i: usize| {
        offsets
            .get(i + 1)
            .copied()
            .unwrap_or(pack.pack_end() as u64)
    };
    let mut bound = vec![0u64; nodes.len()];
    let mut bases: HashSet<data::Offset> = HashSet::new();
    // (node, entry, exact size, delta base size) of each entry that may be over the limit.
    let mut large: Vec<(usize, data::Entry, u64, Option<u64>)> = Vec::new();
    let mut inflate = gix::zlib::Inflate::default();
    for i in 0..nodes.len() {
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
        nodes[i].too_large = Some(size);
        stand_ins.insert(offsets[i], bytes);
    }
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
