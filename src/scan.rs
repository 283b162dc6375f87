//! Wiring only: sources → rayon → matcher → findings → (provenance) → the caller's reporter. Each
//! distinct blob is matched once, whatever number of paths or commits carry it.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::blob::BlobId;
use crate::config::{ScanConfig, Target};
use crate::error::{Error, Result};
use crate::finding::{BlobMatch, Finding, Origin};
use crate::matcher::Matcher;
use crate::report::{Diagnostics, Stats};
use crate::source::fs::{FsItem, FsSource};

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

    /// Whether blob `id` was already scanned (or is being scanned).
    pub fn has_seen(&self, id: &BlobId) -> bool {
        self.lock().contains_key(id)
    }

    /// The matches of a blob already scanned.
    pub fn try_find_matches(&self, id: &BlobId) -> Option<Arc<Vec<BlobMatch>>> {
        self.lock().get(id).and_then(|slot| slot.get().cloned())
    }

    /// Matches `bytes` (blob `id`) unless that blob was scanned before, and returns its matches.
    pub fn scan(&self, id: BlobId, bytes: &[u8]) -> Arc<Vec<BlobMatch>> {
        let slot = self.lock().entry(id).or_default().clone();
        let mut scanned_here = false;
        let matches = slot.get_or_init(|| {
            scanned_here = true;
            Stats::add(&self.stats.blobs, 1);
            Stats::add(&self.stats.bytes, bytes.len() as u64);
            Arc::new(
                self.matcher
                    .scan(bytes)
                    .iter()
                    .filter(|m| !line_has_inline_allow(bytes, m.span.start))
                    .map(|m| BlobMatch::locate(bytes, m))
                    .collect(),
            )
        });
        if !scanned_here {
            Stats::add(&self.stats.duplicate_blobs, 1);
        }
        matches.clone()
    }

    /// Ids of every scanned blob that had matches.
    pub fn blobs_with_matches(&self) -> Vec<BlobId> {
        self.lock()
            .iter()
            .filter(|(_, slot)| slot.get().is_some_and(|m| !m.is_empty()))
            .map(|(id, _)| *id)
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BlobId, BlobSlot>> {
        // A panic while holding the lock leaves the map consistent (inserts are atomic), so a
        // poisoned lock is still usable.
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn line_has_inline_allow(bytes: &[u8], pos: usize) -> bool {
    let start = bytes[..pos]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let end = bytes[pos..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| pos + p);
    bytes[start..end]
        .windows(INLINE_ALLOW.len())
        .any(|w| w == INLINE_ALLOW)
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
    let mut findings = pool.install(|| -> Result<Vec<Finding>> {
        match &config.target {
            Target::Stdin => scan_stdin(&scanner),
            Target::Path(path) => {
                if let Err(source) = std::fs::metadata(path) {
                    return Err(Error::Path {
                        path: path.clone(),
                        source,
                    });
                }
                Ok(scan_worktree(config, path, &scanner, diags))
            }
        }
    })?;
    findings.retain(|f| is_reported(config, f));
    findings.sort_by(|a, b| {
        (&a.path, &a.commit, a.line, a.column, &a.rule_id)
            .cmp(&(&b.path, &b.commit, b.line, b.column, &b.rule_id))
    });
    if config.redact {
        findings.iter_mut().for_each(Finding::redact);
    }
    diags.summary(&scanner.stats, findings.len(), started.elapsed());
    Ok(ScanOutcome { findings })
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
        FsItem::TooLarge { path, size } => {
            Stats::add(&scanner.stats.too_large_skipped, 1);
            diags.warn(format_args!(
                "{}: skipped: {} is over --max-file-size ({})",
                path.display(),
                crate::report::human_bytes(size),
                crate::report::human_bytes(config.max_file_size)
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
