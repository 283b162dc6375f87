//! Wiring only: sources → rayon → matcher → findings → (provenance) → the caller's reporter. Each
//! distinct blob is matched once, whatever number of paths or commits carry it.
//!
//! Size (~800 lines): the scan modes (history, working tree, staged, stdin) share the blob scanner and the
//! reporting of items; each mode is a short function here, and the history sweep also wires in the
//! history cache (replaying cached results, recording new ones). The next mode should move the modes into `scan/`.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::blob::BlobId;
use crate::cache::provenance::whole_history_provenance;
use crate::cache::{cache_key, CachedBlob, HistoryCache, SweepRecord};
use crate::config::{CacheMode, HistoryMode, ScanConfig, Target};
use crate::decode::{self, Found};
use crate::error::{Error, Result};
use crate::finding::{BlobMatch, Finding, LineCursor, Origin};
use crate::group::assign_secret_groups;
use crate::matcher::{Cut, Matcher};
use crate::provenance::find_provenance;
use crate::report::progress::Progress;
use crate::report::{human_bytes, Diagnostics, ScanTotals, Stats};
use crate::source::fs::{FsItem, FsSource};
use crate::source::git::{is_shallow, ref_problems, GitItem, GitSource, Skip};
use crate::source::staged::staged_changes;
use crate::suppress::has_inline_marker;

/// A hash set with a fast hasher, for the per-finding sets of finding assembly (80,000 findings
/// of one file go through them).
type FastSet<T> = foldhash::HashSet<T>;

/// Binary blobs up to this size are scanned too (string constants in compiled Python or SQLite
/// are raw bytes); larger ones (images, archives of builds) are counted as skipped.
const MAX_BINARY_SCAN: u64 = 4 << 20;

/// keysweep's marker that suppresses a finding on its line; `gitleaks:allow` and
/// `pragma: allowlist secret` work too (see [`crate::suppress::INLINE_MARKERS`]).
pub const INLINE_ALLOW: &[u8] = b"keysweep:allow";

/// What one distinct blob produced; filled once, by whichever thread gets there first, while any
/// other thread holding the same blob waits for it.
type BlobSlot = Arc<OnceLock<Arc<Vec<BlobMatch>>>>;

/// Matches distinct blobs once and remembers what each one produced.
#[derive(Debug)]
pub struct BlobScanner<'r> {
    matcher: Matcher<'r>,
    seen: Mutex<HashMap<BlobId, BlobSlot>>,
    /// What every blob without matches shares (most blobs: one allocation each would be 6 MB on
    /// git/git's history).
    no_matches: Arc<Vec<BlobMatch>>,
    /// Counters for the summary.
    pub stats: Stats,
}

impl<'r> BlobScanner<'r> {
    /// A scanner over `matcher`.
    pub fn new(matcher: Matcher<'r>) -> BlobScanner<'r> {
        BlobScanner {
            matcher,
            seen: Mutex::new(HashMap::new()),
            no_matches: Arc::default(),
            stats: Stats::default(),
        }
    }

    /// The matcher in use.
    pub fn matcher(&self) -> &Matcher<'r> {
        &self.matcher
    }

    /// The matches of a blob already scanned.
    pub fn try_find_matches(&self, id: &BlobId) -> Option<Arc<Vec<BlobMatch>>> {
        self.lock().get(id).and_then(|slot| slot.get().cloned())
    }

    /// Records `matches` as what blob `id` produces (read from the history cache), so it is not
    /// matched again.
    pub fn remember(&self, id: BlobId, matches: Vec<BlobMatch>) {
        let slot = self.lock().entry(id).or_default().clone();
        let _ = slot.set(Arc::new(matches));
    }

    /// Matches `bytes` (blob `id`) unless that blob was scanned before, and returns its matches.
    pub fn scan(&self, id: BlobId, bytes: &[u8]) -> Arc<Vec<BlobMatch>> {
        self.scan_cut(id, bytes, Cut::Bytes)
    }

    /// As [`BlobScanner::scan`], for a blob of a history sweep: most are near-copies of blobs
    /// scanned before, so windows are cut at lines ([`Cut::Lines`]), whose small pieces the
    /// matcher's memo finds again.
    pub fn scan_history_blob(&self, id: BlobId, bytes: &[u8]) -> Arc<Vec<BlobMatch>> {
        self.scan_cut(id, bytes, Cut::Lines)
    }

    fn scan_cut(&self, id: BlobId, bytes: &[u8], cut: Cut) -> Arc<Vec<BlobMatch>> {
        let slot = self.lock().entry(id).or_default().clone();
        let matches = slot.get_or_init(|| {
            Stats::add(&self.stats.blobs, 1);
            Stats::add(&self.stats.bytes, bytes.len() as u64);
            let found = self.matcher.scan_cut(bytes, cut);
            let (found, capped) = decode::scan(&self.matcher, bytes, found);
            if capped {
                Stats::add(&self.stats.decode_capped, 1);
            }
            let mut lines = LineCursor::new(bytes);
            let mut allowed_line: Option<(usize, bool)> = None;
            let kept: Vec<&Found> = found
                .iter()
                .filter(|Found { m, .. }| {
                    // Matches come sorted by start, so each line is searched for the marker once.
                    let line = lines.line_of(m.span.start);
                    let allowed = match allowed_line {
                        Some((start, allowed)) if start == line.start => allowed,
                        _ => {
                            let allowed = has_inline_marker(&bytes[line.clone()]);
                            allowed_line = Some((line.start, allowed));
                            allowed
                        }
                    };
                    !allowed
                })
                .collect();
            if kept.is_empty() {
                return self.no_matches.clone();
            }
            Arc::new(BlobMatch::locate_all(bytes, &kept))
        });
        matches.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BlobId, BlobSlot>> {
        // A panic while holding the lock leaves the map consistent (inserts are atomic), so a
        // poisoned lock is still usable.
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The result of a scan.
#[derive(Debug)]
pub struct ScanOutcome {
    /// Findings after allow lists and baseline: those without a context first, then by path,
    /// commit, line, column, rule.
    pub findings: Vec<Finding>,
    /// What the files on disk hold now (every working-tree finding, also those whose content is
    /// already reported from history), with current paths and lines; `None` when no working tree
    /// was scanned (`--history-only`, a bare repository). "Still at HEAD" is decided from this.
    pub present: Option<Vec<Finding>>,
    /// What was scanned, for the summary.
    pub totals: ScanTotals,
    /// With `report_unused`: the baseline and `.keysweepignore` entries that suppressed nothing,
    /// each described with its file (and line).
    pub unused_suppressions: Vec<String>,
}

/// Runs the scan described by `config`, reporting problems to `diags`.
pub fn run(config: &ScanConfig, diags: &Diagnostics) -> Result<ScanOutcome> {
    let started = Instant::now();
    for w in &config.warnings {
        diags.warn(w);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build()
        .map_err(|e| Error::Config(format!("cannot start worker threads: {e}")))?;
    let matcher = Matcher::new(&config.rules).with_prefilter(config.prefilter);
    let scanner = BlobScanner::new(matcher);
    let (mut findings, mut present) =
        pool.install(|| -> Result<(Vec<Finding>, Option<Vec<Finding>>)> {
            match &config.target {
                Target::Stdin => scan_stdin(&scanner).map(|f| (f.clone(), Some(f))),
                Target::Path(path) => scan_path(config, path, &scanner, diags),
            }
        })?;
    let unused_suppressions = if config.report_unused {
        unused_suppressions(config, &findings)
    } else {
        Vec::new()
    };
    findings.retain(|f| is_reported(config, f));
    // Findings with a context (test, docs, example) come after the real ones.
    findings.sort_by(|a, b| {
        (
            a.context.is_some(),
            &a.path,
            &a.commit,
            a.line,
            a.column,
            &a.rule_id,
        )
            .cmp(&(
                b.context.is_some(),
                &b.path,
                &b.commit,
                b.line,
                b.column,
                &b.rule_id,
            ))
    });
    if let Some(present) = &mut present {
        present.retain(|f| is_reported(config, f));
        present.sort_by(|a, b| {
            (&a.path, a.line, a.column, &a.rule_id).cmp(&(&b.path, b.line, b.column, &b.rule_id))
        });
        // "Still at HEAD" is one check, by secret value, whatever rule found it.
        let now: FastSet<&str> = present.iter().map(|f| f.secret.as_str()).collect();
        for f in &mut findings {
            f.at_head = Some(now.contains(f.secret.as_str()));
        }
        for f in present.iter_mut() {
            f.at_head = Some(true);
        }
    }
    let mut no_present = Vec::new();
    assign_secret_groups(
        &mut findings,
        present.as_mut().unwrap_or(&mut no_present),
        &config.rules,
    );
    if config.redact {
        findings.iter_mut().for_each(Finding::redact);
        present.iter_mut().flatten().for_each(Finding::redact);
    }
    let totals = scanner.stats.totals(started.elapsed());
    if totals.decode_capped > 0 {
        diags.warn(format_args!(
            "{} file version(s) held more encoded text than the {} decoding cap per file; \
             what lay beyond the cap was scanned as written but not decoded",
            totals.decode_capped,
            human_bytes(decode::MAX_DECODED as u64)
        ));
    }
    Ok(ScanOutcome {
        findings,
        present,
        totals,
        unused_suppressions,
    })
}

/// Scans a path: a git repository's history (unless `--no-history`) and its working tree (unless
/// `--history-only`), or a plain directory or file.
fn scan_path(
    config: &ScanConfig,
    path: &Path,
    scanner: &BlobScanner<'_>,
    diags: &Diagnostics,
) -> Result<(Vec<Finding>, Option<Vec<Finding>>)> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Path {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_file() && !meta.is_dir() {
        // A FIFO would block the scan and a device never ends: neither is opened.
        return Err(Error::Config(format!(
            "{}: not a regular file or directory",
            path.display()
        )));
    }
    let mut git = match config.history {
        HistoryMode::WorktreeOnly => None,
        HistoryMode::Both => match GitSource::try_open(path) {
            Ok(git) => git,
            // A broken repository (a `.git` file naming a missing gitdir, ...) still has files
            // on disk: report it and scan those.
            Err(e) => {
                diags.error(format_args!("{e}; scanning the files on disk only"));
                None
            }
        },
        HistoryMode::HistoryOnly | HistoryMode::Staged => GitSource::try_open(path)?,
    };
    if git.is_none()
        && matches!(
            config.history,
            HistoryMode::HistoryOnly | HistoryMode::Staged
        )
    {
        return Err(Error::NotARepository {
            path: path.to_path_buf(),
        });
    }
    if let (Some(git), HistoryMode::Staged) = (&git, config.history) {
        return scan_staged(git, scanner, diags).map(|f| (f, None));
    }
    let mut findings = match &mut git {
        Some(git) => scan_history(config, git, scanner, diags)?,
        None => Vec::new(),
    };
    let worktree = match &git {
        Some(git) => git.workdir(),
        None => Some(path.to_path_buf()),
    };
    let mut present = None;
    if let Some(git) = &git {
        if worktree.is_none() || config.history == HistoryMode::HistoryOnly {
            present = head_findings(git, scanner, &findings, diags);
        }
    }
    if let (Some(root), false) = (worktree, config.history == HistoryMode::HistoryOnly) {
        // Content already reported from history is not reported again from the working tree:
        // neither the same blob nor the same secret at the same path. It stays in `present`.
        let history_blobs: FastSet<&str> = findings.iter().map(|f| f.blob_id.as_str()).collect();
        let history_secrets: FastSet<(&str, Option<&str>)> = findings
            .iter()
            .map(|f| (f.fingerprint.as_str(), f.path.as_deref()))
            .collect();
        let mut worktree = scan_worktree(config, &root, scanner, diags);
        if let Some(git) = &git {
            match git.tracked_paths() {
                Ok(tracked) => {
                    for f in &mut worktree {
                        let path = f
                            .path_bytes
                            .clone()
                            .or_else(|| f.path.as_ref().map(|p| p.as_bytes().to_vec()));
                        f.tracked = path.map(|p| tracked.contains(&p));
                    }
                }
                Err(e) => diags.warn(e),
            }
        }
        let new: Vec<Finding> = worktree
            .iter()
            .filter(|f| {
                !history_blobs.contains(f.blob_id.as_str())
                    && !history_secrets.contains(&(f.fingerprint.as_str(), f.path.as_deref()))
            })
            .cloned()
            .collect();
        findings.extend(new);
        present = Some(worktree);
    }
    Ok((findings, present))
}

/// Without a work tree (a bare repository, `--history-only`), what HEAD's tree holds stands for
/// "now": the findings of the blobs at HEAD, at their HEAD paths (tracked by definition).
fn head_findings(
    git: &GitSource,
    scanner: &BlobScanner<'_>,
    findings: &[Finding],
    diags: &Diagnostics,
) -> Option<Vec<Finding>> {
    let wanted: HashSet<BlobId> = findings
        .iter()
        .filter_map(|f| BlobId::parse(&f.blob_id))
        .collect();
    let at_head = match git.head_blobs(&wanted) {
        Ok(Some(pairs)) => pairs,
        Ok(None) => return None,
        Err(e) => {
            diags.error(e);
            return None;
        }
    };
    let rules = scanner.matcher().rules();
    let mut out = Vec::new();
    for (path, id) in at_head {
        let (path, path_bytes) = match String::from_utf8(path) {
            Ok(p) => (p, None),
            Err(e) => (
                String::from_utf8_lossy(e.as_bytes()).into_owned(),
                Some(e.into_bytes()),
            ),
        };
        let origin = Origin {
            path: Some(path),
            path_bytes,
            ..Origin::default()
        };
        for m in scanner.try_find_matches(&id).iter().flat_map(|m| m.iter()) {
            let mut f = Finding::new(rules, id, m, origin.clone());
            f.tracked = Some(true);
            out.push(f);
        }
    }
    Some(out)
}

/// Sweeps every blob of the repository's object database (or the scope's commits) once, then joins
/// provenance to the blobs that produced matches.
pub fn scan_history(
    config: &ScanConfig,
    git: &mut GitSource,
    scanner: &BlobScanner<'_>,
    diags: &Diagnostics,
) -> Result<Vec<Finding>> {
    let repo = git.repo();
    if is_shallow(&repo) {
        diags.warn(format_args!(
            "{}: shallow clone: history is truncated, so secrets in older commits are not seen; run `git fetch --unshallow` for the full history",
            git.workdir().unwrap_or_else(|| repo.git_dir().to_path_buf()).display()
        ));
    }
    for problem in ref_problems(&repo) {
        diags.error(problem);
    }
    let progress = Progress::new("history", !config.no_progress);
    let hits: Mutex<Vec<BlobId>> = Mutex::new(Vec::new());
    let binary_hits: Mutex<HashSet<BlobId>> = Mutex::new(HashSet::new());
    let too_large: Mutex<HashMap<BlobId, u64>> = Mutex::new(HashMap::new());
    let warn_too_large = |id: BlobId, size: u64| {
        Stats::add(&scanner.stats.too_large_skipped, 1);
        diags.warn(format_args!(
            "blob {id}: skipped: {} is over --max-blob-size ({})",
            human_bytes(size),
            human_bytes(config.max_blob_size)
        ));
    };
    let cache = open_cache(config, git, diags);
    let mut skip = Skip::default();
    let mut loose_before = Vec::new();
    if let Some(cache) = &cache {
        skip = cache.skip(git);
        loose_before = git.loose_ids(&mut |_| {});
        for (id, blob) in cache.blobs(git) {
            if blob.binary {
                lock(&binary_hits).insert(id);
            }
            scanner.remember(id, blob.matches);
            lock(&hits).push(id);
        }
        for (id, size) in cache.too_large(git) {
            lock(&too_large).insert(id, size);
            warn_too_large(id, size);
        }
    }
    let sweep = git.for_each_blob_skipping(&config.scope, config.max_blob_size, &skip, |item| {
        match item {
            GitItem::Blob(b) => {
                if !scanner.scan_history_blob(b.id, b.bytes).is_empty() {
                    lock(&hits).push(b.id);
                }
            }
            // Scanned so that a secret a file held before the scope is not reported as new.
            GitItem::Base(b) => {
                scanner.scan_history_blob(b.id, b.bytes);
            }
            // Compiled Python and SQLite files keep string constants as raw bytes: scan binary
            // blobs too, up to a bound, so that a purge plan knows they hold secrets.
            GitItem::Binary(b) if b.bytes.len() as u64 <= MAX_BINARY_SCAN => {
                if !scanner.scan_history_blob(b.id, b.bytes).is_empty() {
                    lock(&hits).push(b.id);
                    lock(&binary_hits).insert(b.id);
                }
            }
            GitItem::Binary(_) => Stats::add(&scanner.stats.binary_skipped, 1),
            GitItem::TooLarge { id, size } => {
                if lock(&too_large).insert(id, size).is_none() {
                    warn_too_large(id, size);
                }
            }
            GitItem::Error { message, .. } => diags.error(message),
        }
        let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        progress.set(get(&scanner.stats.blobs), get(&scanner.stats.bytes));
    });
    progress.finish();
    let sweep = sweep?;
    let packs_swept = git.pack_files();
    // Provenance needs neither the packs' mappings nor the matcher's memo: free both before it
    // maps the packs again for its walk, and hand what the sweep freed back to the system.
    git.release_packs();
    scanner.matcher().forget();
    return_freed_memory();
    let mut ids = hits.into_inner().unwrap_or_else(|e| e.into_inner());
    let binary_hits = binary_hits.into_inner().unwrap_or_else(|e| e.into_inner());
    ids.sort();
    ids.dedup();
    let on_error = |m: String| diags.error(m);
    let mut snapshot = None;
    let prov = match &cache {
        Some(cache) if !config.scope.all_provenance => {
            let (prov, next) = whole_history_provenance(git, &ids, cache.provenance(), &on_error)?;
            snapshot = next;
            prov
        }
        _ => find_provenance(git, &ids, &config.scope, &on_error)?,
    };
    if let (Some(cache), 0) = (cache, sweep.errors) {
        let record = SweepRecord {
            packs: packs_swept,
            loose: loose_before,
            blobs: ids
                .iter()
                .filter_map(|id| {
                    Some(CachedBlob {
                        id: id.to_string(),
                        binary: binary_hits.contains(id),
                        matches: scanner.try_find_matches(id)?.to_vec(),
                    })
                })
                .collect(),
            provenance: snapshot,
            too_large: too_large
                .into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .into_iter()
                .collect(),
        };
        if let Err(e) = cache.store(record) {
            diags.warn(e);
        }
    }
    let rules = scanner.matcher().rules();
    let mut out: Vec<Finding> = Vec::new();
    // A secret kept through later edits of its file is in many blobs: report it once per path,
    // from the blob (and commit) that brought it in first.
    let mut first: foldhash::HashMap<(String, Option<String>), (u32, usize)> = Default::default();
    for id in ids {
        let Some(p) = prov.get(&id) else { continue };
        let before_scope: Vec<Arc<Vec<BlobMatch>>> = p
            .bases
            .iter()
            .filter_map(|b| scanner.try_find_matches(b))
            .collect();
        let held = HeldSecrets::new(before_scope.iter().map(|m| &m[..]));
        let Some(matches) = scanner.try_find_matches(&id) else {
            continue;
        };
        for (origin, rank) in p.origins(config.scope.all_provenance) {
            for m in matches.iter() {
                if held.holds(m) {
                    continue;
                }
                let mut f = Finding::new(rules, id, m, origin.clone());
                f.binary = binary_hits.contains(&id);
                let key = (f.fingerprint.clone(), f.path.clone());
                match first.get(&key) {
                    Some(&(r, _)) if r <= rank => {}
                    Some(&(_, at)) => {
                        first.insert(key, (rank, at));
                        out[at] = f;
                    }
                    None => {
                        first.insert(key, (rank, out.len()));
                        out.push(f);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The history cache for a whole-history sweep (unless `--no-cache`), with its note on stderr
/// when it cannot be used.
fn open_cache(config: &ScanConfig, git: &GitSource, diags: &Diagnostics) -> Option<HistoryCache> {
    if config.cache == CacheMode::Off || !config.scope.is_everything() {
        return None;
    }
    let key = cache_key(
        &config.rules,
        config.max_blob_size,
        config.prefilter,
        MAX_BINARY_SCAN,
    );
    let (cache, note) = HistoryCache::open(git, key, config.cache);
    if let Some(note) = note {
        diags.info(format_args!("note: {note}"));
    }
    Some(cache)
}

/// Returns the heap memory freed so far to the system. glibc's allocator keeps what threads freed
/// in their arenas for reuse; after the sweep (its delta tree, the matcher's memo, per-thread
/// buffers: about 100 MB on git/git's history) that memory would stay resident through the
/// provenance walk, whose allocations come from other arenas, and count in the peak.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Values are inserted whole, so a poisoned lock is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The secrets (each with the rule that found it) that earlier versions of a file hold: a match
/// of a later version that one of them holds is not new. A set, so a file of 80,000 secrets
/// edited once is not 80,000 × 80,000 comparisons.
struct HeldSecrets<'m>(FastSet<(usize, &'m str)>);

impl<'m> HeldSecrets<'m> {
    fn new(versions: impl IntoIterator<Item = &'m [BlobMatch]>) -> HeldSecrets<'m> {
        HeldSecrets(
            versions
                .into_iter()
                .flatten()
                .map(|x| (x.rule, x.secret.as_str()))
                .collect(),
        )
    }

    fn holds(&self, m: &BlobMatch) -> bool {
        self.0.contains(&(m.rule, m.secret.as_str()))
    }
}

/// The scanned path as the user gave it, for the commands printed in remediation steps.
pub fn scan_root(config: &ScanConfig) -> String {
    match &config.target {
        Target::Path(p) => p.display().to_string(),
        Target::Stdin => ".".to_string(),
    }
}

fn is_reported(config: &ScanConfig, f: &Finding) -> bool {
    config
        .rule_paths
        .iter()
        .all(|rp| rp.keeps(&f.rule_id, f.path.as_deref()))
        && !config.baseline.contains(&f.fingerprint)
        && config.ignore.as_ref().is_none_or(|l| l.find(f).is_none())
        && !config.allow_secrets.iter().any(|re| re.is_match(&f.secret))
        && !f
            .path
            .as_deref()
            .is_some_and(|p| config.allow_paths.iter().any(|re| re.is_match(p)))
}

/// The baseline and ignore entries that none of `findings` (before suppression) matches.
fn unused_suppressions(config: &ScanConfig, findings: &[Finding]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(list) = &config.ignore {
        let mut used = vec![false; list.entries.len()];
        for f in findings {
            for (i, e) in list.entries.iter().enumerate() {
                used[i] |= e.matches(f);
            }
        }
        for (e, used) in list.entries.iter().zip(used) {
            if !used {
                out.push(format!("{}:{}: {}", list.file.display(), e.line, e.text));
            }
        }
    }
    let found: HashSet<&str> = findings.iter().map(|f| f.fingerprint.as_str()).collect();
    let mut stale: Vec<&String> = config
        .baseline
        .iter()
        .filter(|fp| !found.contains(fp.as_str()))
        .collect();
    stale.sort();
    let file = config
        .baseline_file
        .as_ref()
        .map_or("baseline".to_string(), |p| p.display().to_string());
    out.extend(stale.into_iter().map(|fp| format!("{file}: {fp}")));
    out
}

/// Scans what the index would commit: each staged blob that differs from `HEAD`, reported at its
/// path with the staged blob's line numbers. A secret `HEAD`'s version of the file already held
/// is not new and is not reported.
fn scan_staged(
    git: &GitSource,
    scanner: &BlobScanner<'_>,
    diags: &Diagnostics,
) -> Result<Vec<Finding>> {
    let staged = staged_changes(git)?;
    if staged.is_empty() {
        diags.info("nothing staged: no changes to scan (stage them with `git add`)");
        return Ok(Vec::new());
    }
    let repo = git.repo();
    let mut read = |id: &gix::ObjectId| -> Option<Arc<Vec<BlobMatch>>> {
        let bid = BlobId(*id);
        if let Some(m) = scanner.try_find_matches(&bid) {
            return Some(m);
        }
        match repo.find_object(*id) {
            Ok(o) if crate::source::fs::is_binary(&o.data) => {
                Stats::add(&scanner.stats.binary_skipped, 1);
                None
            }
            Ok(o) => Some(scanner.scan(bid, &o.data)),
            Err(e) => {
                diags.error(format_args!("staged blob {id} cannot be read: {e}"));
                None
            }
        }
    };
    let rules = scanner.matcher().rules();
    let mut out = Vec::new();
    for s in &staged {
        Stats::add(&scanner.stats.files, 1);
        let Some(matches) = read(&s.id) else { continue };
        let before = s.base.as_ref().and_then(&mut read);
        let held = HeldSecrets::new(before.iter().map(|m| &m[..]));
        for m in matches.iter() {
            if held.holds(m) {
                continue;
            }
            let origin = Origin {
                path: Some(s.path.clone()),
                ..Origin::default()
            };
            out.push(Finding::new(rules, BlobId(s.id), m, origin));
        }
    }
    Ok(out)
}

fn scan_stdin(scanner: &BlobScanner<'_>) -> Result<Vec<Finding>> {
    let mut bytes = Vec::new();
    std::io::stdin().lock().read_to_end(&mut bytes)?;
    let id = BlobId::of_bytes(&bytes);
    Stats::add(&scanner.stats.files, 1);
    let matches = scanner.scan(id, &bytes);
    let origin = Origin {
        path: Some("-".to_string()),
        ..Origin::default()
    };
    Ok(matches
        .iter()
        .map(|m| Finding::new(scanner.matcher().rules(), id, m, origin.clone()))
        .collect())
}

/// A file with matches: its path, its blob id and what the blob produced.
type PathHit = (std::path::PathBuf, BlobId, Arc<Vec<BlobMatch>>);

/// A relative path as reported (`/`-separated), and its bytes when it is not UTF-8.
fn report_path(path: &Path) -> (String, Option<Vec<u8>>) {
    let text = path.to_string_lossy().replace('\\', "/");
    #[cfg(unix)]
    let bytes = path.to_str().is_none().then(|| {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    });
    #[cfg(not(unix))]
    let bytes = None;
    (text, bytes)
}

/// Walks the files under `root` and returns the findings in them. Files whose content was already
/// scanned (same git blob id) are not matched again.
pub fn scan_worktree(
    config: &ScanConfig,
    root: &std::path::Path,
    scanner: &BlobScanner<'_>,
    diags: &Diagnostics,
) -> Vec<Finding> {
    let source = FsSource::new(root, config.max_file_size, config.threads)
        .respect_ignore(config.respect_ignore);
    let hits: Mutex<Vec<PathHit>> = Mutex::new(Vec::new());
    source.walk(|item| match item {
        FsItem::File { path, bytes } => {
            Stats::add(&scanner.stats.files, 1);
            let id = BlobId::of_bytes(&bytes);
            let matches = scanner.scan(id, &bytes);
            if !matches.is_empty() {
                hits.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((path, id, matches));
            }
        }
        FsItem::Binary { .. } => Stats::add(&scanner.stats.binary_skipped, 1),
        FsItem::Special { path } => {
            Stats::add(&scanner.stats.special_skipped, 1);
            diags.warn(format_args!(
                "{}: skipped: not a regular file (a FIFO, socket or device is never opened)",
                path.display()
            ));
        }
        FsItem::UnreadIgnoreFile { path } => {
            Stats::add(&scanner.stats.special_skipped, 1);
            diags.warn(format_args!(
                "{}: not a regular file, never opened: ignore files are not honoured in this walk, so ignored files are scanned too",
                path.display()
            ));
        }
        FsItem::TooLarge { path, size } => {
            Stats::add(&scanner.stats.too_large_skipped, 1);
            diags.warn(format_args!(
                "{}: skipped: {} is over --max-file-size ({})",
                path.display(),
                human_bytes(size),
                human_bytes(config.max_file_size)
            ));
        }
        FsItem::Error { path, message } => {
            diags.error(format_args!("{}: {message}", path.display()))
        }
    });
    let rules = scanner.matcher().rules();
    hits.into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flat_map(|(path, id, matches)| {
            let (path, path_bytes) = report_path(&path);
            let origin = Origin {
                path: Some(path),
                path_bytes,
                ..Origin::default()
            };
            matches
                .iter()
                .map(|m| Finding::new(rules, id, m, origin.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}
