//! Commit-graph and tree walks over a repository: the commits a scope covers ([`CommitGraph`],
//! loaded by a walk that stops at the boundary of a range the way `git rev-list` does), and the
//! blobs each commit introduces ([`walk_introductions`]). Used by the scoped sweeps of
//! `source::git` and by `provenance`; split from `git.rs`, which owns opening the repository and
//! enumerating its object database.

use std::collections::{BinaryHeap, HashMap};

use gix::bstr::{BStr, BString, ByteSlice, ByteVec};
use gix::objs::{CommitRefIter, TreeRefIter};
use gix::ObjectId;

use crate::blob::BlobId;
use crate::error::{Error, Result};

/// Whether the repository is a shallow clone (its history is cut at the commits listed in the
/// `shallow` file).
pub fn is_shallow(repo: &gix::Repository) -> bool {
    std::fs::metadata(repo.common_dir().join("shallow")).is_ok_and(|m| m.len() > 0)
}

/// The commits of a walk, indexed `0..len()`, with their trees, parents and a topological order.
#[derive(Debug, Default)]
pub struct CommitGraph {
    /// Commit ids.
    pub ids: Vec<ObjectId>,
    /// Root tree of each commit.
    pub trees: Vec<ObjectId>,
    /// Indices of each commit's parents that are in the graph.
    pub parents: Vec<Vec<u32>>,
    /// Root trees of each commit's parents that are outside the graph (hidden by a range, or
    /// missing: a shallow clone's boundary has none).
    pub outside_parent_trees: Vec<Vec<ObjectId>>,
    /// Parents before children; among commits that are ready, the oldest committer date first.
    pub order: Vec<u32>,
    /// Committer time (seconds since the epoch) of each commit.
    pub times: Vec<i64>,
    /// Whether `order` never had to choose between two ready commits of the same date: then it
    /// does not depend on how the walk numbered the commits.
    pub order_forced: bool,
    /// Commits that could not be read or decoded: the walk stopped there.
    pub errors: Vec<String>,
}

impl CommitGraph {
    /// The commits reachable from `include` and not from `exclude`. A commit that cannot be read
    /// ends the walk there and is listed in `errors`; a missing one (a shallow clone's boundary)
    /// just ends it.
    ///
    /// The walk is git's `rev-list A..B` limiting: commits are taken newest committer date first,
    /// each painted interesting (reached from `include`) or uninteresting (reached from
    /// `exclude`, which wins and spreads to every ancestor already seen), and it stops once no
    /// interesting commit is waiting, plus [`WALK_SLOP`] more commits to absorb clock skew. So a
    /// short range costs a few commits, not the whole excluded history (Django, `HEAD~1..HEAD`:
    /// about ten commit reads instead of 32,791).
    pub fn load(repo: &gix::Repository, include: &[ObjectId], exclude: &[ObjectId]) -> Self {
        Self::walk(repo, include, exclude, None)
    }

    /// The commits reachable from `include` that are not in `known`, a set closed under parents
    /// (every parent of a known commit is known: a whole history's commits). The walk stops at
    /// known commits without reading them, where [`load`](Self::load) would read and paint every
    /// excluded commit (on git/git, placing 118,000 dangling commits beside 85,000 reachable ones
    /// read all 203,000).
    pub fn load_outside(
        repo: &gix::Repository,
        include: &[ObjectId],
        known: &gix::hashtable::HashSet<ObjectId>,
    ) -> Self {
        Self::walk(repo, include, &[], Some(known))
    }

    fn walk(
        repo: &gix::Repository,
        include: &[ObjectId],
        exclude: &[ObjectId],
        known: Option<&gix::hashtable::HashSet<ObjectId>>,
    ) -> Self {
        let hash = repo.object_hash();
        let mut buf = Vec::new();
        let mut errors = Vec::new();
        // In a shallow clone, parents past the boundary are missing by design; anywhere else a
        // missing commit is a broken history.
        let shallow = is_shallow(repo);
        let mut read = |id: &ObjectId| -> Option<(ObjectId, Vec<ObjectId>, i64)> {
            let data = match gix::objs::Find::try_find(&repo.objects, id, &mut buf) {
                Ok(Some(found)) => found,
                Ok(None) => {
                    if !shallow {
                        errors.push(format!("commit {id} is missing from the object database"));
                    }
                    return None;
                }
                Err(e) => {
                    errors.push(format!("commit {id} cannot be read: {e}"));
                    return None;
                }
            };
            let mut it = CommitRefIter::from_bytes(data.data, hash);
            let tree = match it.tree_id() {
                Ok(tree) => tree,
                Err(e) => {
                    errors.push(format!("commit {id} cannot be decoded: {e}"));
                    return None;
                }
            };
            let parents: Vec<ObjectId> = it.parent_ids().collect();
            let time = it.committer().map(|s| s.seconds()).unwrap_or(0);
            Some((tree, parents, time))
        };
        let mut walk = LimitWalk::default();
        {
            let is_known = |id: &ObjectId| known.is_some_and(|k| k.contains(id));
            let mut walk_read = |id: &ObjectId| if is_known(id) { None } else { read(id) };
            for id in exclude {
                walk.reach(*id, true, &mut walk_read);
            }
            for id in include {
                walk.reach(*id, false, &mut walk_read);
            }
            walk.run(&mut walk_read);
        }

        let mut g = CommitGraph::default();
        let mut index: gix::hashtable::HashMap<ObjectId, u32> = Default::default();
        let mut times: Vec<i64> = Vec::new();
        for &n in &walk.popped {
            let node = &walk.nodes[n as usize];
            if !node.uninteresting {
                index.insert(node.id, g.ids.len() as u32);
                g.ids.push(node.id);
                g.trees.push(node.tree);
                times.push(node.time);
            }
        }
        for &id in &g.ids {
            let node = &walk.nodes[walk.by_id[&id] as usize];
            let mut inside = Vec::new();
            let mut outside = Vec::new();
            for p in &node.parents {
                if let Some(&i) = index.get(p) {
                    inside.push(i);
                } else if let Some(&pn) = walk.by_id.get(p) {
                    outside.push(walk.nodes[pn as usize].tree);
                } else if let Some((tree, _, _)) = read(p) {
                    outside.push(tree);
                }
            }
            g.parents.push(inside);
            g.outside_parent_trees.push(outside);
        }
        (g.order, g.order_forced) = date_order(&g.parents, &times);
        errors.sort();
        errors.dedup();
        g.errors = errors;
        g.times = times;
        g
    }

    /// Number of commits.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the graph has no commits.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Commits taken after the last interesting one, so that a commit dated earlier than its
/// descendants (clock skew) is still painted uninteresting before the walk stops (git's `SLOP`).
const WALK_SLOP: usize = 5;

/// One commit met by [`LimitWalk`].
#[derive(Debug)]
struct WalkNode {
    id: ObjectId,
    tree: ObjectId,
    parents: Vec<ObjectId>,
    time: i64,
    uninteresting: bool,
    /// Taken from the queue: its parents have been reached.
    popped: bool,
}

/// The state of [`CommitGraph::load`]'s walk: every commit read so far, and a queue of those
/// whose parents are still to be reached, newest committer date first.
#[derive(Debug, Default)]
struct LimitWalk {
    nodes: Vec<WalkNode>,
    by_id: gix::hashtable::HashMap<ObjectId, u32>,
    queue: BinaryHeap<(i64, std::cmp::Reverse<u32>)>,
    /// Interesting commits in the queue.
    interesting_queued: usize,
    /// Nodes in the order they were taken from the queue.
    popped: Vec<u32>,
}

type ReadCommit<'a> = dyn FnMut(&ObjectId) -> Option<(ObjectId, Vec<ObjectId>, i64)> + 'a;

impl LimitWalk {
    /// Reaches commit `id` from an interesting or an uninteresting child (or tip).
    fn reach(&mut self, id: ObjectId, uninteresting: bool, read: &mut ReadCommit<'_>) {
        if let Some(&n) = self.by_id.get(&id) {
            if uninteresting {
                self.paint_uninteresting(n);
            }
            return;
        }
        // A missing commit is a shallow clone's boundary (or a broken history): stop there.
        let Some((tree, parents, time)) = read(&id) else {
            return;
        };
        let n = self.nodes.len() as u32;
        self.nodes.push(WalkNode {
            id,
            tree,
            parents,
            time,
            uninteresting,
            popped: false,
        });
        self.by_id.insert(id, n);
        self.queue.push((time, std::cmp::Reverse(n)));
        if !uninteresting {
            self.interesting_queued += 1;
        }
    }

    /// Paints `n` uninteresting, and every ancestor of it already taken from the queue (their
    /// parents were reached as interesting; the queued ones spread it when they are taken).
    fn paint_uninteresting(&mut self, n: u32) {
        let mut stack = vec![n];
        while let Some(n) = stack.pop() {
            let node = &mut self.nodes[n as usize];
            if node.uninteresting {
                continue;
            }
            node.uninteresting = true;
            if !node.popped {
                self.interesting_queued -= 1;
                continue;
            }
            let parents: Vec<u32> = node
                .parents
                .iter()
                .filter_map(|p| self.by_id.get(p).copied())
                .collect();
            stack.extend(parents);
        }
    }

    fn run(&mut self, read: &mut ReadCommit<'_>) {
        let mut slop = WALK_SLOP;
        while let Some((_, std::cmp::Reverse(n))) = self.queue.pop() {
            let node = &mut self.nodes[n as usize];
            node.popped = true;
            let uninteresting = node.uninteresting;
            if !uninteresting {
                self.interesting_queued -= 1;
            }
            self.popped.push(n);
            let parents = node.parents.clone();
            for p in parents {
                self.reach(p, uninteresting, read);
            }
            if self.interesting_queued == 0 {
                if slop == 0 {
                    break;
                }
                slop -= 1;
            } else {
                slop = WALK_SLOP;
            }
        }
    }
}

/// One decoded tree entry.
type Entry = (gix::objs::tree::EntryMode, ObjectId, BString);

/// A path (`/`-separated bytes) and the blob at it.
pub type PathBlob = (Vec<u8>, BlobId);

/// Reads the entries of tree `id`.
pub fn read_tree(repo: &gix::Repository, id: &ObjectId, buf: &mut Vec<u8>) -> Result<Vec<Entry>> {
    TreeRefIter::from_bytes(read_tree_data(repo, id, buf)?, repo.object_hash())
        .map(|e| e.map(|e| (e.mode, e.oid.to_owned(), e.filename.to_owned())))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| tree_decode_error(id, e))
}

/// Reads the undecoded bytes of tree `id` into `buf` (iterate them with [`TreeRefIter`]; a
/// decoding error is reported with [`tree_decode_error`]).
pub fn read_tree_data<'b>(
    repo: &gix::Repository,
    id: &ObjectId,
    buf: &'b mut Vec<u8>,
) -> Result<&'b [u8]> {
    let data = gix::objs::Find::try_find(&repo.objects, id, buf)
        .map_err(|e| Error::Git {
            context: format!("tree {id} cannot be read"),
            source: e.into(),
        })?
        .ok_or_else(|| Error::Git {
            context: format!("tree {id}"),
            source: "object is missing".into(),
        })?;
    Ok(data.data)
}

/// The error for tree `id` whose entries cannot be decoded.
pub fn tree_decode_error(
    id: &ObjectId,
    e: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::Git {
        context: format!("tree {id} cannot be decoded"),
        source: Box::new(e),
    }
}

/// Calls `visit(commit, path, blob, bases)` for every blob each commit of `graph` introduces, in
/// the graph's topological order: a blob at a path where no parent (in the graph or outside it)
/// has that same blob. `bases` are the parents' blobs at that path (none for a new file).
/// Subtrees equal to a parent's are skipped without being read; merges are diffed against every
/// parent, so content that exists only in a merge resolution is introduced by the merge. Gitlinks
/// (submodule commits) are not blobs and are skipped. Returns the trees that could not be read
/// (each read as empty).
pub fn walk_introductions(
    repo: &gix::Repository,
    graph: &CommitGraph,
    mut visit: impl FnMut(u32, &BStr, ObjectId, &[ObjectId]),
) -> Vec<String> {
    let mut buf = Vec::new();
    let mut errors = Vec::new();
    for &c in &graph.order {
        let mut bases: Vec<ObjectId> = graph.parents[c as usize]
            .iter()
            .map(|&p| graph.trees[p as usize])
            .collect();
        bases.extend(graph.outside_parent_trees[c as usize].iter().copied());
        let mut walk = Diff {
            repo,
            buf: &mut buf,
            path: BString::default(),
            errors: &mut errors,
            visit: &mut |p, b, bases| visit(c, p, b, bases),
        };
        walk.tree(graph.trees[c as usize], &bases);
    }
    errors
}

/// The state of one commit's diff against its parents.
struct Diff<'a> {
    repo: &'a gix::Repository,
    buf: &'a mut Vec<u8>,
    path: BString,
    errors: &'a mut Vec<String>,
    visit: &'a mut dyn FnMut(&BStr, ObjectId, &[ObjectId]),
}

impl Diff<'_> {
    /// Reads a tree; an unreadable one is recorded and read as empty.
    fn read(&mut self, id: &ObjectId) -> Vec<Entry> {
        read_tree(self.repo, id, self.buf).unwrap_or_else(|e| {
            self.errors.push(e.to_string());
            Vec::new()
        })
    }

    fn tree(&mut self, tree: ObjectId, bases: &[ObjectId]) {
        if bases.contains(&tree) {
            return;
        }
        let entries = self.read(&tree);
        let base_entries: Vec<Vec<Entry>> = bases.iter().map(|b| self.read(b)).collect();
        let by_name: Vec<HashMap<&BStr, &Entry>> = base_entries
            .iter()
            .map(|be| be.iter().map(|e| (e.2.as_bstr(), e)).collect())
            .collect();
        for (mode, oid, name) in &entries {
            let same: Vec<&Entry> = by_name
                .iter()
                .filter_map(|m| m.get(name.as_bstr()).copied())
                .collect();
            if same.iter().any(|e| e.1 == *oid) {
                continue;
            }
            let len = self.path.len();
            if !self.path.is_empty() {
                self.path.push_byte(b'/');
            }
            self.path.push_str(name);
            if mode.is_tree() {
                let sub: Vec<ObjectId> =
                    same.iter().filter(|e| e.0.is_tree()).map(|e| e.1).collect();
                self.tree(*oid, &sub);
            } else if mode.is_blob_or_symlink() {
                let bases: Vec<ObjectId> = same
                    .iter()
                    .filter(|e| e.0.is_blob_or_symlink())
                    .map(|e| e.1)
                    .collect();
                (self.visit)(self.path.as_bstr(), *oid, &bases);
            }
            self.path.truncate(len);
        }
    }
}

/// Parents before children; among ready commits the oldest date first (ties by index). The flag
/// says whether no two ready commits ever shared a date.
fn date_order(parents: &[Vec<u32>], times: &[i64]) -> (Vec<u32>, bool) {
    let n = parents.len();
    let mut children: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut waiting: Vec<usize> = vec![0; n];
    for (c, ps) in parents.iter().enumerate() {
        waiting[c] = ps.len();
        for &p in ps {
            children[p as usize].push(c as u32);
        }
    }
    let mut ready: BinaryHeap<std::cmp::Reverse<(i64, u32)>> = (0..n)
        .filter(|&c| waiting[c] == 0)
        .map(|c| std::cmp::Reverse((times[c], c as u32)))
        .collect();
    let mut order = Vec::with_capacity(n);
    let mut forced = true;
    while let Some(std::cmp::Reverse((t, c))) = ready.pop() {
        forced &= ready.peek().is_none_or(|std::cmp::Reverse((u, _))| *u != t);
        order.push(c);
        for &ch in &children[c as usize] {
            waiting[ch as usize] -= 1;
            if waiting[ch as usize] == 0 {
                ready.push(std::cmp::Reverse((times[ch as usize], ch)));
            }
        }
    }
    (order, forced)
}
