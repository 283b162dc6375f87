//! Output: one [`Reporter`] per format writes findings to stdout; [`Diagnostics`] writes warnings,
//! errors and the closing summary to stderr. Nothing outside this module and `main.rs` prints.

pub mod github;
pub mod human;
pub mod json;
pub mod progress;
pub mod sarif;

use std::fmt::Display;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::finding::Finding;
use crate::rules::RuleSet;

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Readable text with remediation hints (default).
    #[default]
    Human,
    /// One JSON array of finding records.
    Json,
    /// One finding record per line.
    Jsonl,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
    /// GitHub Actions workflow commands (annotations) and the markdown job summary.
    Github,
}

/// What a reporter needs besides the findings.
#[derive(Debug)]
pub struct ReportContext<'a> {
    pub rules: &'a RuleSet,
    /// Whether secrets are shown in full (human output masks them by default).
    pub show_secrets: bool,
}

/// Writes findings in one format.
pub trait Reporter {
    /// Writes all findings to `out`.
    fn write(
        &self,
        findings: &[Finding],
        ctx: &ReportContext<'_>,
        out: &mut dyn Write,
    ) -> io::Result<()>;
}

/// The reporter for `format`.
pub fn reporter(format: Format) -> Box<dyn Reporter> {
    match format {
        Format::Human => Box::new(human::HumanReporter),
        Format::Json => Box::new(json::JsonReporter { lines: false }),
        Format::Jsonl => Box::new(json::JsonReporter { lines: true }),
        Format::Sarif => Box::new(sarif::SarifReporter::default()),
        Format::Github => Box::new(github::GithubReporter::from_env()),
    }
}

/// Counters of what a scan did, for the closing summary.
#[derive(Debug, Default)]
pub struct Stats {
    pub files: AtomicU64,
    pub blobs: AtomicU64,
    pub bytes: AtomicU64,
    pub binary_skipped: AtomicU64,
    pub too_large_skipped: AtomicU64,
    /// FIFOs, sockets and devices (and ignore files that are one) that were never opened.
    pub special_skipped: AtomicU64,
}

impl Stats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Warnings and errors met during a scan, printed to stderr as they happen. Errors make the exit
/// code 2 at the end; the scan goes on.
#[derive(Debug, Default)]
pub struct Diagnostics {
    quiet: bool,
    warnings: AtomicUsize,
    errors: AtomicUsize,
    /// Serialises lines from many threads.
    lock: Mutex<()>,
}

impl Diagnostics {
    /// Diagnostics that print warnings unless `quiet` (errors are always printed).
    pub fn new(quiet: bool) -> Diagnostics {
        Diagnostics {
            quiet,
            ..Diagnostics::default()
        }
    }

    /// Whether summary and progress output is suppressed.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// A problem that does not make the result incomplete in a way the user must act on.
    pub fn warn(&self, msg: impl Display) {
        self.warnings.fetch_add(1, Ordering::Relaxed);
        if !self.quiet {
            self.line(format_args!("warning: {msg}"));
        }
    }

    /// Something could not be scanned: the scan goes on, the exit code will be 2.
    pub fn error(&self, msg: impl Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.line(format_args!("error: {msg}"));
    }

    /// A line of information (the summary), suppressed by `quiet`.
    pub fn info(&self, msg: impl Display) {
        if !self.quiet {
            self.line(format_args!("{msg}"));
        }
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        self.errors.load(Ordering::Relaxed) > 0
    }

    /// The number of warnings recorded.
    pub fn warning_count(&self) -> usize {
        self.warnings.load(Ordering::Relaxed)
    }

    fn line(&self, args: std::fmt::Arguments<'_>) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(io::stderr().lock(), "{args}");
    }

    /// Prints the closing summary of a scan.
    pub fn summary(&self, stats: &Stats, findings: usize, elapsed: Duration) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let bytes = get(&stats.bytes);
        let secs = elapsed.as_secs_f64();
        let mut parts = vec![
            format!("{} files", get(&stats.files)),
            format!("{} blobs", get(&stats.blobs)),
            format!("{}", human_bytes(bytes)),
            format!("{secs:.2}s"),
        ];
        if secs > 0.0 {
            parts.push(format!("{}/s", human_bytes((bytes as f64 / secs) as u64)));
        }
        let skipped_binary = get(&stats.binary_skipped);
        let skipped_large = get(&stats.too_large_skipped);
        if skipped_binary > 0 {
            parts.push(format!("{skipped_binary} binary skipped"));
        }
        if skipped_large > 0 {
            parts.push(format!("{skipped_large} over size limit skipped"));
        }
        let skipped_special = get(&stats.special_skipped);
        if skipped_special > 0 {
            parts.push(format!("{skipped_special} not regular files skipped"));
        }
        self.info(format_args!(
            "scanned {}; {findings} finding(s)",
            parts.join(", ")
        ));
    }
}

/// `1.2 MiB`-style sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
