//! The provenance walk's view of trees: which wanted blobs lie below each tree, and at which
//! paths, computed once per tree and remembered.
//!
//! A whole-history walk first decodes every tree of the packs once, in pack order
//! (`source::tree_walk`), keeping only subtrees and wanted blobs; a tree is then expanded from
//! that index, without touching the object store. Trees that the index does not hold (loose
//! trees, those of a pack whose traversal failed) and every tree of the walks that meet few trees
//! (the commits new since a cached sweep, dangling commits) are read from the object store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use gix::bstr::BString;
use gix::objs::TreeRefIter;
use gix::ObjectId;

use crate::source::commits::{read_tree_data, tree_decode_error};
use crate::source::tree_walk::{PackTrees, Prepared, Target};

/// Blobs (by index into the wanted list) below a tree, with their paths relative to it (by
/// number: [`TreeIndex::path`]).
pub(crate) type Hits = Arc<Vec<(u32, u32)>>;

/// The paths of hits, each stored once: the same relative path recurs in every version of the
/// trees above a blob (on git/git, 466,000 hits of the reachable root trees and as many of the
/// dangling ones, as separately allocated strings, were about 100 MB of the walk's peak memory).
#[derive(Default)]
struct Paths {
    numbers: HashMap<Vec<u8>, u32>,
    names: Vec<Vec<u8>>,
}

impl Paths {
    fn number(&mut self, path: &[u8]) -> u32 {
        if let Some(&n) = self.numbers.get(path) {
            return n;
        }
        let n = self.names.len() as u32;
        self.names.push(path.to_vec());
        self.numbers.insert(path.to_vec(), n);
        n
    }
}

/// Number of independently locked parts of the memo of trees read from the object store.
const SHARDS: usize = 64;

/// The wanted blobs, looked up once per blob entry of every tree read (56 million times on
/// git/git's history): a bit per value of an id's first two bytes turns almost every entry away
/// before the map (whose hasher takes the id's first bytes as they are) is consulted.
pub(crate) struct Wanted {
    /// Bit `u16::from_be_bytes(id[..2])` is set when a wanted id starts with those bytes.
    prefixes: Box<[u64; 1024]>,
    index: gix::hashtable::HashMap<ObjectId, u32>,
}

impl Wanted {
    pub(crate) fn new(wanted: &HashMap<ObjectId, u32>) -> Self {
        let mut prefixes = Box::new([0u64; 1024]);
        for id in wanted.keys() {
            let p = Self::prefix(id);
            prefixes[p / 64] |= 1 << (p % 64);
        }
        Wanted {
            prefixes,
            index: wanted.iter().map(|(id, b)| (*id, *b)).collect(),
        }
    }

    fn prefix(id: &gix::oid) -> usize {
        let b = id.as_bytes();
        usize::from(b[0]) << 8 | usize::from(b[1])
    }

    pub(crate) fn get(&self, id: &gix::oid) -> Option<u32> {
        let p = Self::prefix(id);
        if self.prefixes[p / 64] & (1 << (p % 64)) == 0 {
            return None;
        }
        self.index.get(id).copied()
    }
}

/// The decoded trees of the packs, with a memo per tree number.
struct Packed {
    trees: PackTrees,
    memo: Vec<OnceLock<Hits>>,
}

/// Expands trees once each (give or take a race between threads), remembering which wanted
/// blobs lie below each. Shared by all threads of the walk.
pub(crate) struct TreeIndex<'a> {
    wanted: Wanted,
    packed: Option<Packed>,
    memo: Vec<Mutex<gix::hashtable::HashMap<ObjectId, Hits>>>,
    paths: Mutex<Paths>,
    none: Hits,
    on_error: &'a (dyn Fn(String) + Sync),
}

impl<'a> TreeIndex<'a> {
    /// An index that reads every tree from the object store, when asked.
    pub(crate) fn new(
        wanted: &HashMap<ObjectId, u32>,
        on_error: &'a (dyn Fn(String) + Sync),
    ) -> Self {
        TreeIndex {
            wanted: Wanted::new(wanted),
            packed: None,
            memo: (0..SHARDS).map(|_| Mutex::default()).collect(),
            paths: Mutex::default(),
            none: Arc::new(Vec::new()),
            on_error,
        }
    }

    /// An index that first decodes every tree of `repo`'s packs on `threads` threads.
    #[cfg(test)]
    pub(crate) fn with_packs(
        wanted: &HashMap<ObjectId, u32>,
        on_error: &'a (dyn Fn(String) + Sync),
        repo: &gix::Repository,
        threads: usize,
    ) -> Self {
        Self::with_prepared(wanted, on_error, Prepared::new(repo), threads)
    }

    /// An index that first decodes every tree of the packs `prepared` found, on `threads`
    /// threads.
    pub(crate) fn with_prepared(
        wanted: &HashMap<ObjectId, u32>,
        on_error: &'a (dyn Fn(String) + Sync),
        prepared: Prepared,
        threads: usize,
    ) -> Self {
        let mut index = Self::new(wanted, on_error);
        let w = &index.wanted;
        let trees = prepared.decode(&|id| w.get(id), threads);
        let memo = (0..trees.len()).map(|_| OnceLock::new()).collect();
        index.packed = Some(Packed { trees, memo });
        index
    }

    /// The path numbered `n` in hits.
    pub(crate) fn path(&self, n: u32) -> BString {
        self.paths().names[n as usize].clone().into()
    }

    fn paths(&self) -> std::sync::MutexGuard<'_, Paths> {
        self.paths.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends the hits of a subtree named `name`, with their paths under it.
    fn prefixed(&self, hits: &mut Vec<(u32, u32)>, name: &[u8], below: &[(u32, u32)]) {
        if below.is_empty() {
            return;
        }
        let mut paths = self.paths();
        let mut full = Vec::new();
        for &(b, p) in below {
            full.clear();
            full.extend_from_slice(name);
            full.push(b'/');
            full.extend_from_slice(&paths.names[p as usize]);
            let n = paths.number(&full);
            hits.push((b, n));
        }
    }

    fn shard(
        &self,
        id: &ObjectId,
    ) -> std::sync::MutexGuard<'_, gix::hashtable::HashMap<ObjectId, Hits>> {
        self.memo[id.as_bytes()[0] as usize % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The wanted blobs below tree `id`. An unreadable tree is reported and counts as empty.
    pub(crate) fn hits(&self, repo: &gix::Repository, id: ObjectId, buf: &mut Vec<u8>) -> Hits {
        if let Some(p) = &self.packed {
            if let Some(n) = p.trees.number(&id) {
                return self.packed_hits(p, repo, n, buf);
            }
        }
        if let Some(h) = self.shard(&id).get(&id) {
            return h.clone();
        }
        // The blobs in this tree, and its subtrees: their ids, where their names end in `names`,
        // and how many of the blobs come before them (`buf` is reused by the subtrees' reads).
        let mut direct: Vec<(u32, u32)> = Vec::new();
        let mut subtrees: Vec<(ObjectId, usize, usize)> = Vec::new();
        let mut names: Vec<u8> = Vec::new();
        let read = read_tree_data(repo, &id, buf).and_then(|data| {
            for entry in TreeRefIter::from_bytes(data, repo.object_hash()) {
                let entry = entry.map_err(|e| tree_decode_error(&id, e))?;
                if entry.mode.is_tree() {
                    names.extend_from_slice(entry.filename);
                    subtrees.push((entry.oid.to_owned(), names.len(), direct.len()));
                } else if entry.mode.is_blob_or_symlink() {
                    if let Some(b) = self.wanted.get(entry.oid) {
                        direct.push((b, self.paths().number(entry.filename)));
                    }
                }
            }
            Ok(())
        });
        if let Err(e) = read {
            (self.on_error)(e.to_string());
            direct.clear();
            subtrees.clear();
        }
        // In entry order, as the tree lists them.
        let mut hits = Vec::new();
        let mut direct = direct.into_iter();
        let (mut start, mut taken) = (0, 0);
        for (oid, end, before) in subtrees {
            hits.extend(direct.by_ref().take(before - taken));
            taken = before;
            let name = &names[start..end];
            start = end;
            let below = self.hits(repo, oid, buf);
            self.prefixed(&mut hits, name, &below);
        }
        hits.extend(direct);
        let hits = self.share(hits);
        self.shard(&id).insert(id, hits.clone());
        hits
    }

    /// The wanted blobs below tree number `n` of the decoded trees.
    fn packed_hits(&self, p: &Packed, repo: &gix::Repository, n: u32, buf: &mut Vec<u8>) -> Hits {
        if let Some(h) = p.memo[n as usize].get() {
            return h.clone();
        }
        let mut hits = Vec::new();
        for (target, name) in p.trees.entries(n) {
            match target {
                Target::Blob(b) => hits.push((b, self.paths().number(name))),
                Target::Tree(m) => {
                    let below = self.packed_hits(p, repo, m, buf);
                    self.prefixed(&mut hits, name, &below);
                }
                Target::Other(id) => {
                    let below = self.hits(repo, *id, buf);
                    self.prefixed(&mut hits, name, &below);
                }
            }
        }
        // Computed outside the cell, so that a thread never waits on another's subtree; two
        // threads racing on a tree compute the same hits.
        p.memo[n as usize].get_or_init(|| self.share(hits)).clone()
    }

    fn share(&self, hits: Vec<(u32, u32)>) -> Hits {
        if hits.is_empty() {
            self.none.clone()
        } else {
            Arc::new(hits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(hex: &str) -> ObjectId {
        ObjectId::from_hex(hex.as_bytes()).unwrap()
    }

    #[test]
    fn wanted_blobs_are_found_and_others_sharing_their_prefix_are_not() {
        let a = id("abcd000000000000000000000000000000000001");
        let b = id("0000ffffffffffffffffffffffffffffffffffff");
        let wanted: HashMap<ObjectId, u32> = [(a, 0), (b, 1)].into_iter().collect();
        let w = Wanted::new(&wanted);
        assert_eq!(w.get(&a), Some(0));
        assert_eq!(w.get(&b), Some(1));
        // Same first two bytes as `a`: passes the bit set, not the map.
        assert_eq!(w.get(&id("abcd000000000000000000000000000000000002")), None);
        assert_eq!(w.get(&id("abce000000000000000000000000000000000001")), None);
        assert_eq!(w.get(&id("ffff000000000000000000000000000000000000")), None);
    }
}

#[cfg(test)]
mod walk_tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    pub(super) fn git(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
        let mut cmd = Command::new("git");
        cmd.arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("git runs");
        if let Some(input) = stdin {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub(super) fn write(dir: &Path, path: &str, text: &str) {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub(super) fn commit(dir: &Path, message: &str) {
        git(dir, &["add", "-A"], None);
        git(dir, &["commit", "-q", "-m", message], None);
    }

    /// Renames, a merge and a deletion, packed; then a commit whose trees are loose, a pack that
    /// holds a root tree but not its subtree (loose), and another loose commit.
    pub(super) fn history(dir: &Path) {
        git(dir, &["init", "-q", "-b", "main"], None);
        write(dir, "a.txt", "one secret\n");
        write(dir, "b/c.txt", "two secret\n");
        write(dir, "b/x/y.txt", "filler\n");
        commit(dir, "first");
        std::fs::create_dir_all(dir.join("d")).unwrap();
        git(dir, &["mv", "b/c.txt", "d/c.txt"], None);
        commit(dir, "rename");
        git(dir, &["checkout", "-q", "-b", "side"], None);
        write(dir, "e/f.txt", "three secret\n");
        commit(dir, "side");
        git(dir, &["checkout", "-q", "main"], None);
        write(dir, "b/x/z.txt", "two secret\n");
        commit(dir, "copy");
        git(
            dir,
            &["merge", "-q", "--no-ff", "-m", "merge", "side"],
            None,
        );
        git(dir, &["rm", "-q", "a.txt"], None);
        commit(dir, "delete");
        git(dir, &["repack", "-a", "-d", "-q"], None);
        write(dir, "g/h.txt", "one secret\n");
        commit(dir, "loose");
        let root = git(dir, &["rev-parse", "HEAD^{tree}"], None);
        git(
            dir,
            &["pack-objects", "-q", ".git/objects/pack/pack"],
            Some(&format!("{root}\n")),
        );
        std::fs::create_dir_all(dir.join("g/i")).unwrap();
        git(dir, &["mv", "g/h.txt", "g/i/h.txt"], None);
        commit(dir, "loose rename");
    }

    #[test]
    fn packed_and_loose_trees_give_what_git_lists() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        history(dir);
        let blob = |text: &str| {
            ObjectId::from_hex(git(dir, &["hash-object", "--stdin"], Some(text)).as_bytes())
                .unwrap()
        };
        let secrets = ["one secret\n", "two secret\n", "three secret\n"];
        let wanted: HashMap<ObjectId, u32> = secrets
            .iter()
            .enumerate()
            .map(|(i, s)| (blob(s), i as u32))
            .collect();
        let repo = gix::open_opts(dir, gix::open::Options::isolated()).unwrap();
        let on_error = |m: String| panic!("{m}");
        let packed = TreeIndex::with_packs(&wanted, &on_error, &repo, 2);
        let read = TreeIndex::new(&wanted, &on_error);
        let p = &packed.packed.as_ref().unwrap().trees;
        let tree = |rev: &str| {
            ObjectId::from_hex(
                git(dir, &["rev-parse", &format!("{rev}^{{tree}}")], None).as_bytes(),
            )
            .unwrap()
        };
        // Packed by the repack, by the second pack (without its subtree), and loose.
        assert!(p.number(&tree("HEAD~2")).is_some());
        assert!(p.number(&tree("HEAD~1")).is_some());
        assert!(p.number(&tree("HEAD")).is_none());
        let subtree = |rev: &str, path: &str| {
            ObjectId::from_hex(git(dir, &["rev-parse", &format!("{rev}:{path}")], None).as_bytes())
                .unwrap()
        };
        assert!(p.number(&subtree("HEAD~1", "g")).is_none());
        assert!(p.number(&subtree("HEAD~2", "b/x")).is_some());
        let commits = git(dir, &["rev-list", "--all"], None);
        let mut buf = Vec::new();
        for c in commits.lines() {
            // What git lists below the commit's tree, for the wanted blobs.
            let mut expected: Vec<(u32, BString)> = git(dir, &["ls-tree", "-r", c], None)
                .lines()
                .filter_map(|l| {
                    let (meta, path) = l.split_once('\t')?;
                    let id = ObjectId::from_hex(meta.split(' ').nth(2)?.as_bytes()).ok()?;
                    Some((*wanted.get(&id)?, BString::from(path)))
                })
                .collect();
            expected.sort();
            for index in [&packed, &read] {
                let mut got: Vec<(u32, BString)> = index
                    .hits(&repo, tree(c), &mut buf)
                    .iter()
                    .map(|&(b, p)| (b, index.path(p)))
                    .collect();
                got.sort();
                assert_eq!(got, expected, "commit {c}");
            }
        }
    }
}

#[cfg(test)]
mod outside_tests {
    use super::walk_tests::{commit, git, history, write};
    use crate::source::commits::CommitGraph;
    use gix::ObjectId;

    /// The walk that places dangling commits stops at the reachable ones without reading them,
    /// and finds what the excluding walk finds: the same commits, parents and order.
    #[test]
    fn a_walk_stopping_at_known_commits_equals_one_excluding_them() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        history(dir);
        // Two dangling lines: one off the main line with a merge of it, one off the side branch.
        git(dir, &["checkout", "-q", "-b", "lost", "main~2"], None);
        write(dir, "lost/a.txt", "lost one\n");
        commit(dir, "lost one");
        git(
            dir,
            &["merge", "-q", "--no-ff", "-m", "lost merge", "main"],
            None,
        );
        write(dir, "lost/b.txt", "lost two\n");
        commit(dir, "lost two");
        let lost = git(dir, &["rev-parse", "HEAD"], None);
        git(dir, &["checkout", "-q", "-b", "gone", "side"], None);
        write(dir, "gone.txt", "gone\n");
        commit(dir, "gone");
        let gone = git(dir, &["rev-parse", "HEAD"], None);
        git(dir, &["checkout", "-q", "main"], None);
        git(dir, &["branch", "-q", "-D", "lost", "gone"], None);
        git(dir, &["reflog", "expire", "--expire=now", "--all"], None);
        let repo = gix::open_opts(dir, gix::open::Options::isolated()).unwrap();
        let ids = |text: String| -> Vec<ObjectId> {
            text.lines()
                .map(|l| ObjectId::from_hex(l.as_bytes()).unwrap())
                .collect()
        };
        let tips = ids(git(dir, &["rev-parse", "main", "side"], None));
        let known = CommitGraph::load(&repo, &tips, &[]);
        let dangling = ids(format!("{lost}\n{gone}"));
        let set = known.ids.iter().copied().collect();
        let outside = CommitGraph::load_outside(&repo, &dangling, &set);
        let excluding = CommitGraph::load(&repo, &dangling, &known.ids);
        assert_eq!(outside.len(), 4, "{:?}", outside.ids);
        assert_eq!(outside.ids, excluding.ids);
        assert_eq!(outside.trees, excluding.trees);
        assert_eq!(outside.parents, excluding.parents);
        assert_eq!(outside.outside_parent_trees, excluding.outside_parent_trees);
        assert_eq!(outside.order, excluding.order);
        assert!(outside.errors.is_empty(), "{:?}", outside.errors);
    }
}
