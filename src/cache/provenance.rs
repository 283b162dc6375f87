//! Provenance across re-sweeps: the introductions and occurrence counts of the blobs with
//! findings, as of the ref tips of the last sweep, extended by walking only the commits that are
//! new since (reachable from today's tips and not from those).
//!
//! The walk order of the whole history is parents before children, the oldest committer date
//! first among ready commits (`CommitGraph::load`). When every new commit is dated after every old
//! one, all old commits still come first in that order, so an old introduction stays the first,
//! and the new commits follow in the order their own walk gives them, as long as that order has
//! no ties (two ready commits with the same date). Anything else falls back to the walk over the
//! whole graph: a ref that moved backwards or was deleted (old commits unreachable), a new commit
//! dated before an old one (a rebase with kept dates, a clock off), a tie, a shallow or partial
//! clone (old commits' objects may arrive later), a ref naming a tree or a blob, any unreadable
//! commit or tree, a blob with findings that no new commit and no old introduction places
//! (unreachable blobs are placed by the full walk), and `--all-provenance`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use gix::bstr::BString;
use gix::ObjectId;
use serde::{Deserialize, Serialize};

use crate::blob::BlobId;
use crate::config::HistoryScope;
use crate::error::Result;
use crate::provenance::{
    find_provenance_summarized, introduction, Introduction, Provenance, TreeIndex,
};
use crate::source::git::{is_shallow, ref_tips, CommitGraph, GitSource};

/// The provenance of the blobs with findings as of some ref tips.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProvenanceSnapshot {
    /// The commit ids the refs named.
    tips: Vec<String>,
    /// Commits walked in all, and the latest committer time among them.
    commits: u32,
    max_time: i64,
    blobs: Vec<BlobRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BlobRecord {
    id: String,
    occurrences: usize,
    introductions: Vec<IntroRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IntroRecord {
    commit: String,
    author: String,
    date: String,
    path: String,
    path_bytes: Option<Vec<u8>>,
    rank: u32,
}

/// The provenance of `blobs` over the whole history, from `snapshot` plus the new commits when
/// that gives what the full walk gives, else by the full walk; with the snapshot to keep for the
/// next sweep (`None` when this history cannot be built on).
pub fn whole_history_provenance(
    git: &GitSource,
    blobs: &[BlobId],
    snapshot: Option<&ProvenanceSnapshot>,
    on_error: &(dyn Fn(String) + Sync),
) -> Result<(HashMap<BlobId, Provenance>, Option<ProvenanceSnapshot>)> {
    let repo = git.repo();
    let eligible = !is_shallow(&repo) && !is_partial_clone(git);
    let tips: Vec<ObjectId> = {
        let mut t: Vec<ObjectId> = ref_tips(&repo)?.into_iter().map(|(_, id)| id).collect();
        t.sort();
        t.dedup();
        t
    };
    if let (true, Some(snapshot)) = (eligible, snapshot) {
        if let Some(done) = extend(git, &repo, blobs, &tips, snapshot) {
            return Ok(done);
        }
    }
    let failed = AtomicBool::new(false);
    let note_error = |m: String| {
        failed.store(true, Ordering::Relaxed);
        on_error(m)
    };
    let (prov, summary) =
        find_provenance_summarized(git, blobs, &HistoryScope::default(), &note_error)?;
    let placed = prov
        .values()
        .all(|p| p.unreachable.is_none() && !p.introductions.is_empty());
    let keep = eligible && summary.complete && placed && !failed.load(Ordering::Relaxed);
    let snapshot = keep.then(|| ProvenanceSnapshot {
        tips: tips.iter().map(|t| t.to_string()).collect(),
        commits: summary.commits as u32,
        max_time: summary.max_time,
        blobs: records(&prov),
    });
    Ok((prov, snapshot))
}

/// `snapshot` extended by the commits new since, or `None` when that would not give what the
/// full walk gives.
fn extend(
    git: &GitSource,
    repo: &gix::Repository,
    blobs: &[BlobId],
    tips: &[ObjectId],
    snapshot: &ProvenanceSnapshot,
) -> Option<(HashMap<BlobId, Provenance>, Option<ProvenanceSnapshot>)> {
    let is_commit = |id: &ObjectId| {
        repo.find_header(*id)
            .is_ok_and(|h| h.kind() == gix::objs::Kind::Commit)
    };
    if !tips.iter().all(is_commit) {
        return None;
    }
    let old: Vec<ObjectId> = snapshot
        .tips
        .iter()
        .map(|h| ObjectId::from_hex(h.as_bytes()).ok())
        .collect::<Option<_>>()?;
    // Every old commit must still be reachable: the old tips that are tips no more must be
    // ancestors of today's.
    let current: HashSet<&ObjectId> = tips.iter().collect();
    let gone: Vec<ObjectId> = old
        .iter()
        .filter(|t| !current.contains(t))
        .copied()
        .collect();
    if !gone.is_empty() {
        let lost = CommitGraph::load(repo, &gone, tips);
        if !lost.is_empty() || !lost.errors.is_empty() {
            return None;
        }
    }
    let new = CommitGraph::load(repo, tips, &old);
    if !new.errors.is_empty()
        || new.times.iter().any(|&t| t <= snapshot.max_time)
        || !new.order_forced
    {
        return None;
    }
    let wanted: HashMap<ObjectId, u32> = blobs
        .iter()
        .enumerate()
        .map(|(i, b)| (b.0, i as u32))
        .collect();
    let known: HashMap<&str, &BlobRecord> =
        snapshot.blobs.iter().map(|b| (b.id.as_str(), b)).collect();
    let mut out: Vec<Provenance> = Vec::with_capacity(blobs.len());
    let mut placed: HashSet<(u32, BString)> = HashSet::new();
    for (i, b) in blobs.iter().enumerate() {
        let mut p = Provenance::default();
        if let Some(r) = known.get(b.to_string().as_str()) {
            p.occurrences = r.occurrences;
            for x in &r.introductions {
                let commit = ObjectId::from_hex(x.commit.as_bytes()).ok()?;
                let path: BString = x
                    .path_bytes
                    .clone()
                    .unwrap_or_else(|| x.path.clone().into_bytes())
                    .into();
                placed.insert((i as u32, path));
                p.introductions.push(Introduction {
                    commit,
                    author: x.author.clone(),
                    date: x.date.clone(),
                    path: x.path.clone(),
                    path_bytes: x.path_bytes.clone(),
                    rank: x.rank,
                });
            }
        }
        out.push(p);
    }
    let failed = AtomicBool::new(false);
    let on_error = |_: String| failed.store(true, Ordering::Relaxed);
    let trees = TreeIndex::new(&wanted, &on_error);
    let mut buf = Vec::new();
    for (at, &c) in new.order.iter().enumerate() {
        for &(b, path) in trees.hits(repo, new.trees[c as usize], &mut buf).iter() {
            let p = &mut out[b as usize];
            p.occurrences += 1;
            let path = trees.path(path);
            if placed.insert((b, path.clone())) {
                let mut intro = introduction(repo, new.ids[c as usize], path).ok()?;
                intro.rank = snapshot.commits + at as u32;
                p.introductions.push(intro);
            }
        }
    }
    if failed.load(Ordering::Relaxed) || out.iter().any(|p| p.introductions.is_empty()) {
        return None;
    }
    for p in &mut out {
        p.introductions
            .sort_by(|x, y| (x.rank, &x.path).cmp(&(y.rank, &y.path)));
        p.introduced = p.introductions.first().cloned();
    }
    let prov: HashMap<BlobId, Provenance> = blobs.iter().copied().zip(out).collect();
    let _ = git;
    let next = ProvenanceSnapshot {
        tips: tips.iter().map(|t| t.to_string()).collect(),
        commits: snapshot.commits + new.len() as u32,
        max_time: new.times.iter().copied().fold(snapshot.max_time, i64::max),
        blobs: records(&prov),
    };
    Some((prov, Some(next)))
}

/// A partial clone (objects of old commits may be fetched later): git marks its packs with
/// `.promisor` files.
fn is_partial_clone(git: &GitSource) -> bool {
    std::fs::read_dir(git.common_dir().join("objects").join("pack")).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "promisor"))
    })
}

fn records(prov: &HashMap<BlobId, Provenance>) -> Vec<BlobRecord> {
    let mut out: Vec<BlobRecord> = prov
        .iter()
        .map(|(id, p)| BlobRecord {
            id: id.to_string(),
            occurrences: p.occurrences,
            introductions: p
                .introductions
                .iter()
                .map(|i| IntroRecord {
                    commit: i.commit.to_string(),
                    author: i.author.clone(),
                    date: i.date.clone(),
                    path: i.path.clone(),
                    path_bytes: i.path_bytes.clone(),
                    rank: i.rank,
                })
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}
