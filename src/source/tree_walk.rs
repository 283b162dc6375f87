//! Every tree of the repository's packs, decoded once, kept as a compact index of what the
//! provenance walk needs: for each tree, its subtrees and the entries naming a wanted blob, in the
//! order the tree lists them, each with its (interned) name.
//!
//! Reading trees one by one through the object store inflates a tree's whole delta chain on a
//! miss of the delta-base cache, and the walk meets each tree at an unpredictable point of a
//! chain: on git/git's history (167,745 trees, 56 million blob entries) that was about 7.6 s of
//! CPU. Here each pack is traversed once, in pack order, like the history sweep traverses it
//! (`source::pack_walk`), but over its trees only: one pass over the entry headers classifies the
//! entries (a delta has its base's kind: ofs-delta bases lie earlier in the pack, ref-delta bases
//! are found through the index), and gix's delta tree is built from the tree entries alone (a
//! tree's delta base is always a tree) and decoded on all threads, each tree once. The same
//! header pass lists the packs' commits ([`Prepared::take_commits`]), from which provenance finds
//! the dangling ones.
//!
//! Trees are numbered (`u32`) across packs in pack order; an entry points at a subtree by number,
//! a wanted blob by its index in the caller's list, and a tree in no pack (loose, or in a pack
//! whose traversal failed) by its id in a side table, for the caller to read from the object
//! store. Only the decoded trees are indexed: a lookup of any other tree says so.
//!
//! The pack's mapping is handed back to the kernel behind the header pass and the traversal
//! (`source::pages`, as for `pack_walk`), so the pages it read do not stay in the resident
//! memory.
//!
//! [`Prepared`] is what needs no wanted blob (the header pass and the delta trees), so that the
//! provenance walk builds it while it reads the commit graph; [`Prepared::decode`] then makes the
//! index. Size: ~640 lines, kept in one file because the header pass, the traversal and the
//! index share the node, slot and stand-in conventions that nothing outside needs to see.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use gix::objs::TreeRefIter;
use gix::odb::pack::{self, cache::delta, data};
use gix::ObjectId;

use crate::source::pages::{mapping, release_pages as release, Pages, Release};

/// The top two bits of an entry's target say what it points at; the rest is a number.
const TAG: u32 = 3 << 30;
const TREE: u32 = 0;
const FOREIGN: u32 = 1 << 30;
const BLOB: u32 = 2 << 30;

/// A tree not decoded (yet): its span's start.
const UNREAD: u32 = u32::MAX;

/// In [`entry_kinds`]' list of trees, in place of an index position: the entry stands in for the pack's
/// first entry (not a tree).
const STAND_IN: u32 = u32::MAX;

/// One entry of an indexed tree.
#[derive(Debug, Clone, Copy)]
struct Slot {
    target: u32,
    name: u32,
}

/// What an entry of an indexed tree points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// An indexed tree, by number.
    Tree(u32),
    /// A tree that is not indexed: read it from the object store.
    Other(&'a ObjectId),
    /// A wanted blob, by its index in the caller's list.
    Blob(u32),
}

/// The trees of the repository's packs, decoded; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct PackTrees {
    by_id: gix::hashtable::HashMap<ObjectId, u32>,
    /// Per tree number: where its entries start in `slots`, and how many.
    spans: Vec<(u32, u32)>,
    slots: Vec<Slot>,
    /// Name `i` is `names[ends[i - 1]..ends[i]]`.
    names: Vec<u8>,
    ends: Vec<u32>,
    /// Trees met as subtrees that are not indexed.
    others: Vec<ObjectId>,
}

impl PackTrees {
    /// Turns the entries pointing at trees that were not decoded into pointers to the object
    /// store, and drops those trees from the index.
    fn forget_unread(&mut self) {
        let spans = &self.spans;
        let unread: HashMap<u32, ObjectId> = self
            .by_id
            .iter()
            .filter(|(_, &n)| spans[n as usize].0 == UNREAD)
            .map(|(id, &n)| (n, *id))
            .collect();
        if unread.is_empty() {
            return;
        }
        let mut other: HashMap<u32, u32> = HashMap::new();
        for slot in &mut self.slots {
            if slot.target & TAG == TREE {
                if let Some(id) = unread.get(&slot.target) {
                    let at = *other.entry(slot.target).or_insert_with(|| {
                        self.others.push(*id);
                        self.others.len() as u32 - 1
                    });
                    slot.target = FOREIGN | at;
                }
            }
        }
        self.by_id.retain(|_, n| spans[*n as usize].0 != UNREAD);
    }

    /// The number of tree `id`, if it is indexed.
    pub(crate) fn number(&self, id: &gix::oid) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    /// Number of tree numbers (indexed or not): the bound for per-tree tables.
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    /// The kept entries of indexed tree `n`, in the tree's order: what each points at, and its
    /// name.
    pub(crate) fn entries(&self, n: u32) -> impl Iterator<Item = (Target<'_>, &[u8])> + '_ {
        let (start, len) = self.spans[n as usize];
        let slots = if start == UNREAD {
            &[][..]
        } else {
            &self.slots[start as usize..(start + len) as usize]
        };
        slots.iter().map(move |s| {
            let number = s.target & !TAG;
            let target = match s.target & TAG {
                TREE => Target::Tree(number),
                FOREIGN => Target::Other(&self.others[number as usize]),
                _ => Target::Blob(number),
            };
            let from = if s.name == 0 {
                0
            } else {
                self.ends[s.name as usize - 1] as usize
            };
            (
                target,
                &self.names[from..self.ends[s.name as usize] as usize],
            )
        })
    }
}

/// The trees of the repository's packs, found and arranged for decoding: what does not depend on
/// the wanted blobs (a header pass and a delta tree per pack, about 0.4 s of one thread on
/// Django), so it can be built beside other work.
pub(crate) struct Prepared {
    by_id: gix::hashtable::HashMap<ObjectId, u32>,
    packs: Vec<(pack::Bundle, Result<Ready, String>)>,
    /// The commits of the packs, found by the same header pass; `None` when a pack could not be
    /// opened or an entry's kind could not be told.
    commits: Option<Vec<ObjectId>>,
}

/// One pack's tree entries as gix's delta tree, with their byte spans (for releasing the pages
/// behind the traversal) and whether the first node stands in for a pack's first entry.
struct Ready {
    tree: delta::Tree<Node>,
    spans: Vec<Range<u64>>,
    stand_in: bool,
}

impl Prepared {
    /// Finds the tree entries of every pack of `repo` (and its alternates).
    pub(crate) fn new(repo: &gix::Repository) -> Prepared {
        let hash = repo.object_hash();
        let indices = pack_indices(repo);
        let mut bundles: Vec<pack::Bundle> = indices
            .iter()
            .filter_map(|idx| pack::Bundle::at(idx, hash).ok())
            .collect();
        let mut commits = (bundles.len() == indices.len()).then(Vec::new);
        // The same order as the sweep's: a tree in several packs is numbered in the first.
        bundles.sort_by_key(|b| std::cmp::Reverse(b.index.num_objects()));
        let mut by_id: gix::hashtable::HashMap<ObjectId, u32> = Default::default();
        let mut packs = Vec::with_capacity(bundles.len());
        for bundle in bundles {
            let kinds = entry_kinds(&bundle);
            match (&mut commits, &kinds.commits) {
                (Some(all), Some(these)) => all.extend_from_slice(these),
                _ => commits = None,
            }
            let nodes: Vec<Node> = kinds
                .trees
                .into_iter()
                .map(|(offset, end, at)| {
                    if at == STAND_IN {
                        return Node {
                            offset,
                            end,
                            number: UNREAD,
                            stand_in: true,
                        };
                    }
                    let next = by_id.len() as u32;
                    let id = bundle.index.oid_at_index(at).to_owned();
                    let number = *by_id.entry(id).or_insert(next);
                    Node {
                        offset,
                        end,
                        number: if number == next { number } else { UNREAD },
                        stand_in: false,
                    }
                })
                .collect();
            let ready = ready(&bundle, nodes);
            packs.push((bundle, ready));
        }
        Prepared {
            by_id,
            packs,
            commits,
        }
    }

    /// The ids of the commits in the packs (once per pack holding one), or `None` when the header
    /// pass could not tell every entry's kind. Read without touching the object store, whose
    /// mapping of a pack would otherwise keep every page a header pass reads.
    pub(crate) fn take_commits(&mut self) -> Option<Vec<ObjectId>> {
        self.commits.take()
    }

    /// Decodes the trees on `threads` threads, keeping the entries that name a subtree or a
    /// blob for which `wanted` gives an index. Packs whose traversal fails are left, in whole or
    /// in part, to the object store.
    pub(crate) fn decode(
        self,
        wanted: &(dyn Fn(&gix::oid) -> Option<u32> + Sync),
        threads: usize,
    ) -> PackTrees {
        let by_id = self.by_id;
        let builder = Mutex::new(Builder {
            spans: vec![(UNREAD, 0); by_id.len()],
            ..Builder::default()
        });
        for (bundle, ready) in self.packs {
            // A failed traversal leaves the trees it did not reach unread.
            if let Ok(ready) = ready {
                let _ = traverse(&bundle, ready, threads, &by_id, wanted, &builder);
            }
            release(mapping(&bundle.pack));
        }
        let mut b = builder.into_inner().unwrap_or_else(|e| e.into_inner());
        // The vectors grew by doubling: up to half of each is spare (67 MB of capacity for
        // git/git's trees).
        b.slots.shrink_to_fit();
        b.names.shrink_to_fit();
        b.ends.shrink_to_fit();
        let mut trees = PackTrees {
            by_id,
            spans: b.spans,
            slots: b.slots,
            names: b.names,
            ends: b.ends,
            others: b.others,
        };
        trees.forget_unread();
        trees
    }
}

/// The index files of the packs of `repo` and its alternates.
fn pack_indices(repo: &gix::Repository) -> Vec<PathBuf> {
    let store = repo.objects.store_ref();
    let mut dirs = vec![store.path().to_owned()];
    dirs.extend(store.alternate_db_paths().unwrap_or_default());
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir.join("pack")) else {
            continue;
        };
        let mut idx: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "idx"))
            .filter(|p| p.with_extension("pack").exists())
            .collect();
        idx.sort();
        out.extend(idx);
    }
    out
}

/// A tree entry of a pack, for the delta tree: its offset, and its number (`UNREAD` when an
/// earlier pack has the same tree).
struct Node {
    offset: data::Offset,
    /// Where the entry ends (the next entry of the pack starts).
    end: data::Offset,
    number: u32,
    stand_in: bool,
}

/// The entries being collected, shared by the traversal's threads (each tree takes the lock
/// once, after it was decoded and filtered).
#[derive(Default)]
struct Builder {
    spans: Vec<(u32, u32)>,
    slots: Vec<Slot>,
    names: Vec<u8>,
    ends: Vec<u32>,
    /// Name bytes to name number: directory and file names repeat across trees.
    interned: foldhash::HashMap<Vec<u8>, u32>,
    others: Vec<ObjectId>,
    other_ids: HashMap<ObjectId, u32>,
}

impl Builder {
    fn intern(&mut self, name: &[u8]) -> u32 {
        if let Some(&n) = self.interned.get(name) {
            return n;
        }
        self.names.extend_from_slice(name);
        self.ends.push(self.names.len() as u32);
        let n = self.ends.len() as u32 - 1;
        self.interned.insert(name.to_vec(), n);
        n
    }
}

/// A kept entry of a tree being decoded, before its name is interned.
#[derive(Clone)]
enum Pending {
    Tree(u32),
    Other(ObjectId),
    Blob(u32),
}

/// The pack's entries, with the stand-in for its first one.
struct Entries<'a> {
    pack: &'a data::File,
    stand_in: Option<Vec<u8>>,
}

/// Per-thread scratch space of the traversal.
#[derive(Clone, Default)]
struct Scratch {
    kept: Vec<(Pending, usize, usize)>,
    names: Vec<u8>,
}

/// gix's delta tree of the tree entries `nodes` (sorted by offset) of `bundle`.
fn ready(bundle: &pack::Bundle, nodes: Vec<Node>) -> Result<Ready, String> {
    let index = &bundle.index;
    let stand_in = nodes.first().is_some_and(|n| n.stand_in);
    let spans = nodes
        .iter()
        .filter(|n| !n.stand_in)
        .map(|n| n.offset..n.end)
        .collect();
    let tree = delta::Tree::from_offsets_in_pack(
        bundle.pack.path(),
        nodes.into_iter(),
        &|n: &Node| n.offset,
        &|id| Ok(index.lookup(id).map(|i| index.pack_offset_at_index(i))),
        &mut gix::progress::Discard,
        &AtomicBool::new(false),
        index.object_hash(),
    )
    .map_err(|e| e.to_string())?;
    Ok(Ready {
        tree,
        spans,
        stand_in,
    })
}

/// Decodes the trees of `ready` (`bundle`'s) on `threads` threads into `builder`.
fn traverse(
    bundle: &pack::Bundle,
    ready: Ready,
    threads: usize,
    by_id: &gix::hashtable::HashMap<ObjectId, u32>,
    wanted: &(dyn Fn(&gix::oid) -> Option<u32> + Sync),
    builder: &Mutex<Builder>,
) -> Result<(), String> {
    let (index, pack) = (&bundle.index, &bundle.pack);
    let hash = index.object_hash();
    let interrupt = AtomicBool::new(false);
    let Ready {
        tree,
        spans,
        stand_in,
    } = ready;
    let pages = Pages::new(mapping(pack), Release::DEFAULT, spans.into_iter());
    let mut scratch = Scratch::default();
    let pages = &pages;
    // The pack's first entry, when it is not a tree, is read as an empty blob.
    let mut entries = Entries {
        pack,
        stand_in: None,
    };
    if stand_in {
        let mut empty = Vec::new();
        data::entry::Header::Blob
            .write_to(0, &mut empty)
            .map_err(|e| e.to_string())?;
        empty.extend(zlib_empty());
        entries.stand_in = Some(empty);
    }
    tree.traverse(
        |slice, entries: &Entries<'_>| match &entries.stand_in {
            Some(bytes) if slice.start == data::header::SIZE as u64 => Some(&bytes[..]),
            _ => entries.pack.entry_slice(slice),
        },
        &entries,
        pack.pack_end() as u64,
        move |node: &mut Node, _progress, ctx| {
            if !node.stand_in {
                pages.decoded(node.offset..node.end);
            }
            if node.number != UNREAD {
                record(
                    node.number,
                    ctx.decompressed,
                    hash,
                    by_id,
                    wanted,
                    &mut scratch,
                    builder,
                );
            }
            Ok(())
        },
        delta::traverse::Options {
            object_progress: Box::new(gix::progress::Discard),
            size_progress: &mut gix::progress::Discard,
            thread_limit: Some(threads),
            should_interrupt: &interrupt,
            object_hash: hash,
            alloc_limit_bytes: None,
        },
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Keeps the subtrees and wanted blobs of tree `number`, decoded as `data`. A tree whose entries
/// cannot be decoded is left unread: the object store's reading reports it.
fn record(
    number: u32,
    data: &[u8],
    hash: gix::hash::Kind,
    by_id: &gix::hashtable::HashMap<ObjectId, u32>,
    wanted: &(dyn Fn(&gix::oid) -> Option<u32> + Sync),
    scratch: &mut Scratch,
    builder: &Mutex<Builder>,
) {
    scratch.kept.clear();
    scratch.names.clear();
    for entry in TreeRefIter::from_bytes(data, hash) {
        let Ok(entry) = entry else {
            return;
        };
        let kept = if entry.mode.is_tree() {
            match by_id.get(entry.oid) {
                Some(&n) => Pending::Tree(n),
                None => Pending::Other(entry.oid.to_owned()),
            }
        } else if entry.mode.is_blob_or_symlink() {
            match wanted(entry.oid) {
                Some(b) => Pending::Blob(b),
                None => continue,
            }
        } else {
            continue;
        };
        let from = scratch.names.len();
        scratch.names.extend_from_slice(entry.filename);
        scratch.kept.push((kept, from, scratch.names.len()));
    }
    let mut b = builder.lock().unwrap_or_else(|e| e.into_inner());
    let start = b.slots.len() as u32;
    for (kept, from, to) in scratch.kept.drain(..) {
        let target = match kept {
            Pending::Tree(n) => TREE | n,
            Pending::Blob(i) => BLOB | i,
            Pending::Other(id) => {
                let next = b.others.len() as u32;
                let at = *b.other_ids.entry(id).or_insert(next);
                if at == next {
                    b.others.push(id);
                }
                FOREIGN | at
            }
        };
        let name = b.intern(&scratch.names[from..to]);
        b.slots.push(Slot { target, name });
    }
    let len = b.slots.len() as u32 - start;
    b.spans[number as usize] = (start, len);
}

/// What the header pass over a pack found.
struct Kinds {
    /// The tree entries, as (offset, end, position in the index), sorted by offset (empty when
    /// the pack is left to the object store, see below).
    trees: Vec<(data::Offset, data::Offset, u32)>,
    /// The ids of the commit entries, or `None` when some entry's kind is unknown.
    commits: Option<Vec<ObjectId>>,
}

/// One pass over the entry headers of `bundle`'s pack: a whole object's kind is in its header, a
/// delta's is its base's. An entry whose header cannot be read, or whose base is not in the pack
/// (or is part of a cycle), is left out, and so are the deltas based on it.
fn entry_kinds(bundle: &pack::Bundle) -> Kinds {
    const PENDING: u8 = 0;
    const IS_TREE: u8 = 1;
    const OTHER: u8 = 2;
    const UNKNOWN: u8 = 3;
    const VISITING: u8 = 4;
    const IS_COMMIT: u8 = 5;
    let (index, pack) = (&bundle.index, &bundle.pack);
    let mut all: Vec<(data::Offset, u32)> = (0..index.num_objects())
        .map(|i| (index.pack_offset_at_index(i), i))
        .collect();
    all.sort_unstable();
    let position = |offset: data::Offset| all.binary_search_by_key(&offset, |e| e.0).ok();
    let mut kind = vec![PENDING; all.len()];
    let mut base = vec![u32::MAX; all.len()];
    // Released behind the pass as it goes, and whole at its end.
    let pages = Pages::new(mapping(pack), Release::DEFAULT, std::iter::empty());
    for i in 0..all.len() {
        let offset = all[i].0;
        pages.release_before(offset);
        let Ok(entry) = pack.entry(offset) else {
            kind[i] = UNKNOWN;
            continue;
        };
        let at = match entry.header {
            data::entry::Header::Tree => {
                kind[i] = IS_TREE;
                continue;
            }
            data::entry::Header::Commit => {
                kind[i] = IS_COMMIT;
                continue;
            }
            data::entry::Header::OfsDelta { base_distance } => entry
                .checked_base_pack_offset(base_distance)
                .and_then(position),
            data::entry::Header::RefDelta { base_id } => index
                .lookup(base_id)
                .map(|at| index.pack_offset_at_index(at))
                .and_then(position),
            _ => {
                kind[i] = OTHER;
                continue;
            }
        };
        match at {
            Some(j) => base[i] = j as u32,
            None => kind[i] = UNKNOWN,
        }
    }
    pages.release_all();
    // Follow each delta's chain of bases to a whole object, settling the whole chain.
    let mut chain = Vec::new();
    for i in 0..all.len() {
        let mut j = i;
        while kind[j] == PENDING {
            kind[j] = VISITING;
            chain.push(j);
            j = base[j] as usize;
        }
        let k = if kind[j] == VISITING {
            UNKNOWN
        } else {
            kind[j]
        };
        for c in chain.drain(..) {
            kind[c] = k;
        }
    }
    // gix's delta tree reads the entry headers from the start of the pack on: its first node
    // must be the pack's first entry. A whole object there stands in as a node of no interest
    // (whose bytes `traverse` replaces); a delta there would need its bases decoded, so such a
    // pack is left to the object store.
    let commits = (!kind.contains(&UNKNOWN)).then(|| {
        (0..all.len())
            .filter(|&i| kind[i] == IS_COMMIT)
            .map(|i| index.oid_at_index(all[i].1).to_owned())
            .collect()
    });
    let end = |i: usize| all.get(i + 1).map_or(pack.pack_end() as u64, |e| e.0);
    let first = match kind.first() {
        Some(&IS_TREE) | None => None,
        Some(&OTHER | &IS_COMMIT) if base[0] == u32::MAX => Some((all[0].0, all[0].0, STAND_IN)),
        Some(_) => {
            return Kinds {
                trees: Vec::new(),
                commits,
            }
        }
    };
    let trees = first
        .into_iter()
        .chain(
            (0..all.len())
                .filter(|&i| kind[i] == IS_TREE)
                .map(|i| (all[i].0, end(i), all[i].1)),
        )
        .collect();
    Kinds { trees, commits }
}

/// An empty zlib stream.
fn zlib_empty() -> Vec<u8> {
    use std::io::Write as _;
    let mut w =
        gix::zlib::stream::deflate::Write::new(Vec::new(), gix::zlib::Compression::BEST_SPEED);
    // Writing to a Vec cannot fail.
    let _ = w.flush();
    w.into_inner()
}
