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

use gix::bstr::{BString, ByteVec};
use gix::objs::TreeRefIter;
use gix::ObjectId;

use crate::source::commits::{read_tree_data, tree_decode_error};
use crate::source::tree_walk::{PackTrees, Prepared, Target};

/// Blobs (by index into the wanted list) below a tree, with their paths relative to it.
pub(crate) type Hits = Arc<Vec<(u32, BString)>>;

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
            none: Arc::new(Vec::new()),
            on_error,
        }
    }

    /// An index that first decodes every tree of `repo`'s packs on `threads` threads.
    pub(crate) fn with_packs(
        wanted: &HashMap<ObjectId, u32>,
        on_error: &'a (dyn Fn(String) + Sync),
        repo: &gix::Repository,
        threads: usize,
    ) -> Self {
        Self::with_prepared(wanted, on_error, Prepared::new(repo), threads)
    }

    /// [`with_packs`](Self::with_packs), from packs prepared beforehand.
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
        let mut direct: Vec<(u32, BString)> = Vec::new();
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
                        direct.push((b, entry.filename.to_owned()));
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
            prefixed(&mut hits, name, &self.hits(repo, oid, buf));
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
                Target::Blob(b) => hits.push((b, BString::from(name))),
                Target::Tree(m) => prefixed(&mut hits, name, &self.packed_hits(p, repo, m, buf)),
                Target::Other(id) => prefixed(&mut hits, name, &self.hits(repo, *id, buf)),
            }
        }
        // Computed outside the cell, so that a thread never waits on another's subtree; two
        // threads racing on a tree compute the same hits.
        p.memo[n as usize].get_or_init(|| self.share(hits)).clone()
    }

    fn share(&self, hits: Vec<(u32, BString)>) -> Hits {
        if hits.is_empty() {
            self.none.clone()
        } else {
            Arc::new(hits)
        }
    }
}

/// Appends the hits of a subtree named `name`, with their paths under it.
fn prefixed(hits: &mut Vec<(u32, BString)>, name: &[u8], below: &[(u32, BString)]) {
    for (b, p) in below {
        let mut full = BString::from(Vec::with_capacity(name.len() + 1 + p.len()));
        full.push_str(name);
        full.push_byte(b'/');
        full.push_str(p);
        hits.push((*b, full));
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

    fn git(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
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

    fn write(dir: &Path, path: &str, text: &str) {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn commit(dir: &Path, message: &str) {
        git(dir, &["add", "-A"], None);
        git(dir, &["commit", "-q", "-m", message], None);
    }

    /// Renames, a merge and a deletion, packed; then a commit whose trees are loose, a pack that
    /// holds a root tree but not its subtree (loose), and another loose commit.
    fn history(dir: &Path) {
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
                let mut got = index.hits(&repo, tree(c), &mut buf).to_vec();
                got.sort();
                assert_eq!(got, expected, "commit {c}");
            }
        }
    }
}
