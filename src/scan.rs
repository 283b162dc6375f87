//! Wiring only: sources → rayon → matcher → findings → (provenance) → the caller's reporter. Each
//! distinct blob is matched once, whatever number of paths or commits carry it.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::blob::BlobId;
use crate::config::{HistoryMode, ScanConfig, Target};
use crate::error::{Error, Result};
use crate::finding::{BlobMatch, Finding, LineCursor, Origin};
use crate::matcher::{Match, Matcher};
use crate::provenance::find_provenance;
use crate::remediation::{group_by_secret, RemediationPlan};
use crate::report::progress::Progress;
use crate::report::{human_bytes, Diagnostics, Stats};
use crate::source::fs::{FsItem, FsSource};
use crate::source::git::{is_shallow, ref_problems, GitItem, GitSource};

/// The marker that suppresses a finding on its line (like `gitleaks:allow`).
pub const INLINE_ALLOW: &[u8] = b"keysweep:allow";

/// What one distinct blob produced; filled once, by whichever thread gets there first, while any
/// other thread holding the same blob waits for it.
type BlobSlot = Arc<OnceLock<Arc<Vec<BlobMatch>>>>;

/// Matches distinct blobs once and remembers what each one produced.
#[derive(Debug)]
pub struct BlobScanner<'r> {
    matcher: Matcher<'r>,
    seen: Mutex<HashMap<BlobId, BlobSlot>>,
    /// Counters for the summary.
    pub stats: Stats,
}

impl<'r> BlobScanner<'r> {
    /// A scanner over `matcher`.
    pub fn new(matcher: Matcher<'r>) -> BlobScanner<'r> {
        BlobScanner {
            matcher,
            seen: Mutex::new(HashMap::new()),
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

    /// Matches `bytes` (blob `id`) unless that blob was scanned before, and returns its matches.
    pub fn scan(&self, id: BlobId, bytes: &[u8]) -> Arc<Vec<BlobMatch>> {
        let slot = self.lock().entry(id).or_default().clone();
        let matches = slot.get_or_init(|| {
            Stats::add(&self.stats.blobs, 1);
            Stats::add(&self.stats.bytes, bytes.len() as u64);
            let found = self.matcher.scan(bytes);
            let mut lines = LineCursor::new(bytes);
            let mut allowed_line: Option<(usize, bool)> = None;
            let kept: Vec<&Match> = found
                .iter()
                .filter(|m| {
                    // Matches come sorted by start, so each line is searched for the marker once.
                    let line = lines.line_of(m.span.start);
                    let allowed = match allowed_line {
                        Some((start, allowed)) if start == line.start => allowed,
                        _ => {
                            let allowed =
                                memchr::memmem::find(&bytes[line.clone()], INLINE_ALLOW).is_some();
                            allowed_line = Some((line.start, allowed));
                            allowed
                        }
                    };
                    !allowed
                })
                .collect();
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
    /// Findings after allow lists and baseline, sorted by path, commit, line, column, rule.
    pub findings: Vec<Finding>,
}

/// Runs the scan described by `config`, reporting problems to `diags`.
pub fn run(config: &ScanConfig, diags: &Diagnostics) -> Result<ScanOutcome> {
    let started = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build()
        .map_err(|e| Error::Config(format!("cannot start worker threads: {e}")))?;
    let matcher = Matcher::new(&config.rules).with_prefilter(config.prefilter);
    let scanner = BlobScanner::new(matcher);
    for w in &config.warnings {
        diags.warn(w);
    }
    let mut findings = pool.install(|| -> Result<Vec<Finding>> {
        match &config.target {
            Target::Stdin => scan_stdin(&scanner),
            Target::Path(path) => scan_path(config, path, &scanner, diags),
        }
    })?;
    findings.retain(|f| is_reported(config, f));
    findings.sort_by(|a, b| {
        (&a.path, &a.commit, a.line, a.column, &a.rule_id)
            .cmp(&(&b.path, &b.commit, b.line, b.column, &b.rule_id))
    });
    attach_remediation(config, &mut findings);
    if config.redact {
        findings.iter_mut().for_each(Finding::redact);
    }
    diags.summary(&scanner.stats, findings.len(), started.elapsed());
    Ok(ScanOutcome { findings })
}

/// Scans a path: a git repository's history (unless `--no-history`) and its working tree (unless
/// `--history-only`), or a plain directory or file.
fn scan_path(
    config: &ScanConfig,
    path: &Path,
    scanner: &BlobScanner<'_>,
    diags: &Diagnostics,
) -> Result<Vec<Finding>> {
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
    let git = match config.history {
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
        HistoryMode::HistoryOnly => GitSource::try_open(path)?,
    };
    if git.is_none() && config.history == HistoryMode::HistoryOnly {
        return Err(Error::NotARepository {
            path: path.to_path_buf(),
        });
    }
    let mut findings = match &git {
        Some(git) => scan_history(config, git, scanner, diags)?,
        None => Vec::new(),
    };
    let worktree = match &git {
        Some(git) => git.workdir(),
        None => Some(path.to_path_buf()),
    };
    if let (Some(root), false) = (worktree, config.history == HistoryMode::HistoryOnly) {
        // Content already reported from history is not reported again from the working tree:
        // neither the same blob nor the same secret at the same path.
        let history_blobs: HashSet<String> = findings.iter().map(|f| f.blob_id.clone()).collect();
        let history_secrets: HashSet<(String, Option<String>)> = findings
            .iter()
            .map(|f| (f.fingerprint.clone(), f.path.clone()))
            .collect();
        let mut worktree = scan_worktree(config, &root, scanner, diags);
        let in_worktree: HashSet<String> = worktree.iter().map(|f| f.fingerprint.clone()).collect();
        for f in &mut findings {
            f.at_head = Some(in_worktree.contains(&f.fingerprint));
        }
        worktree.retain(|f| {
            !history_blobs.contains(&f.blob_id)
                && !history_secrets.contains(&(f.fingerprint.clone(), f.path.clone()))
        });
        for f in &mut worktree {
            f.at_head = Some(true);
        }
        findings.extend(worktree);
    }
    Ok(findings)
}

/// Sweeps every blob of the repository's object database (or the scope's commits) once, then joins
/// provenance to the blobs that produced matches.
pub fn scan_history(
    config: &ScanConfig,
    git: &GitSource,
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
    let progress = Progress::new("history", Some(git.packed_objects()), !config.no_progress);
    let hits: Mutex<Vec<BlobId>> = Mutex::new(Vec::new());
    let sweep = git.for_each_blob(&config.scope, config.max_blob_size, |item| {
        match item {
            GitItem::Blob(b) => {
                if !scanner.scan(b.id, b.bytes).is_empty() {
                    hits.lock().unwrap_or_else(|e| e.into_inner()).push(b.id);
                }
            }
            // Scanned so that a secret a file held before the scope is not reported as new.
            GitItem::Base(b) => {
                scanner.scan(b.id, b.bytes);
            }
            GitItem::Binary { .. } => Stats::add(&scanner.stats.binary_skipped, 1),
            GitItem::TooLarge { id, size } => {
                Stats::add(&scanner.stats.too_large_skipped, 1);
                diags.warn(format_args!(
                    "blob {id}: skipped: {} is over --max-blob-size ({})",
                    human_bytes(size),
                    human_bytes(config.max_blob_size)
                ));
            }
            GitItem::Error { message, .. } => diags.error(message),
        }
        progress.inc(
            1,
            scanner
                .stats
                .bytes
                .load(std::sync::atomic::Ordering::Relaxed),
        );
    });
    progress.finish();
    sweep?;
    let mut ids = hits.into_inner().unwrap_or_else(|e| e.into_inner());
    ids.sort();
    ids.dedup();
    let prov = find_provenance(git, &ids, &config.scope, &|m| diags.error(m))?;
    let rules = scanner.matcher().rules();
    let mut out: Vec<Finding> = Vec::new();
    // A secret kept through later edits of its file is in many blobs: report it once per path,
    // from the blob (and commit) that brought it in first.
    let mut first: HashMap<(String, Option<String>), (u32, usize)> = HashMap::new();
    for id in ids {
        let Some(p) = prov.get(&id) else { continue };
        let before_scope: Vec<Arc<Vec<BlobMatch>>> = p
            .bases
            .iter()
            .filter_map(|b| scanner.try_find_matches(b))
            .collect();
        let Some(matches) = scanner.try_find_matches(&id) else {
            continue;
        };
        for (origin, rank) in p.origins(config.scope.all_provenance) {
            for m in matches.iter() {
                let held_before = before_scope
                    .iter()
                    .any(|old| old.iter().any(|x| x.rule == m.rule && x.secret == m.secret));
                if held_before {
                    continue;
                }
                let f = Finding::new(rules, id, m, origin.clone());
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

/// Gives every finding the remediation steps of its secret (one plan per distinct secret, built
/// from all the places that secret was found).
fn attach_remediation(config: &ScanConfig, findings: &mut [Finding]) {
    let root = scan_root(config);
    let plans: HashMap<String, RemediationPlan> = group_by_secret(findings, &config.rules, &root)
        .into_iter()
        .filter_map(|g| Some((g.secret, g.remediation?)))
        .collect();
    for f in findings {
        f.remediation_steps = plans.get(&f.secret).cloned();
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
    !config.baseline.contains(&f.fingerprint)
        && !config.allow_secrets.iter().any(|re| re.is_match(&f.secret))
        && !f
            .path
            .as_deref()
            .is_some_and(|p| config.allow_paths.iter().any(|re| re.is_match(p)))
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
type PathHit = (String, BlobId, Arc<Vec<BlobMatch>>);

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
                let path = path.to_string_lossy().replace('\\', "/");
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
            let origin = Origin {
                path: Some(path),
                ..Origin::default()
            };
            matches
                .iter()
                .map(|m| Finding::new(rules, id, m, origin.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}
