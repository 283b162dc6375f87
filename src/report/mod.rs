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
use crate::group::{group_by_secret, SecretGroup};
use crate::rules::RuleSet;
pub use crate::text::{escape, escape_bytes, mask_secret};

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

/// When the human report uses colour and bold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set (or `CLICOLOR_FORCE` forces it).
    #[default]
    Auto,
    /// Always, even into a pipe or a file.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// Whether to use colour for output written to stdout (`to_stdout`) or to a file.
    pub fn resolve(self, to_stdout: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                to_stdout
                    && !matches!(
                        anstream::AutoStream::choice(&io::stdout()),
                        anstream::ColorChoice::Never
                    )
            }
        }
    }
}

/// What a reporter needs besides the findings.
#[derive(Debug)]
pub struct ReportContext<'a> {
    pub rules: &'a RuleSet,
    /// Whether secrets are shown in full (human output masks them by default).
    pub show_secrets: bool,
    /// The scanned path as given, for the `keysweep` commands printed in the steps.
    pub scan_root: &'a str,
    /// The findings in the files on disk now (`ScanOutcome::present`): where each secret still is.
    pub present: Option<&'a [Finding]>,
    /// What was scanned; the human report ends with it.
    pub totals: Option<&'a ScanTotals>,
    /// Colour and bold in the human report (decided from `--color`, `NO_COLOR` and the terminal).
    pub color: bool,
    /// List every place of a secret instead of the first few.
    pub verbose: bool,
    /// `--explain RULE_ID`: the human report shows only the secrets that rule found, with its
    /// steps.
    pub explain: Option<&'a str>,
}

impl<'a> ReportContext<'a> {
    /// A context with no working-tree information, no totals, no colour.
    pub fn new(rules: &'a RuleSet, scan_root: &'a str) -> ReportContext<'a> {
        ReportContext {
            rules,
            show_secrets: false,
            scan_root,
            present: None,
            totals: None,
            color: false,
            verbose: false,
            explain: None,
        }
    }

    /// The findings grouped by secret, with their steps (see `remediation::group_by_secret`).
    pub fn groups<'f>(&self, findings: &'f [Finding]) -> Vec<SecretGroup<'f>>
    where
        'a: 'f,
    {
        group_by_secret(findings, self.present, self.rules, self.scan_root)
    }
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
    /// Blobs whose encoded text went past the decoding cap (the rest was not decoded).
    pub decode_capped: AtomicU64,
}

impl Stats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters as they are now, with the time taken.
    pub fn totals(&self, elapsed: Duration) -> ScanTotals {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ScanTotals {
            files: get(&self.files),
            blobs: get(&self.blobs),
            bytes: get(&self.bytes),
            binary_skipped: get(&self.binary_skipped),
            too_large_skipped: get(&self.too_large_skipped),
            special_skipped: get(&self.special_skipped),
            decode_capped: get(&self.decode_capped),
            elapsed,
        }
    }
}

/// What a finished scan did: the figures of the closing summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanTotals {
    /// Files read from disk.
    pub files: u64,
    /// Distinct contents matched (files and history blobs).
    pub blobs: u64,
    /// Bytes matched.
    pub bytes: u64,
    /// Binary files and blobs skipped.
    pub binary_skipped: u64,
    /// Files and blobs over the size limit, skipped.
    pub too_large_skipped: u64,
    /// FIFOs, sockets and devices skipped (never opened).
    pub special_skipped: u64,
    /// Blobs whose encoded text went past the decoding cap.
    pub decode_capped: u64,
    /// Wall time of the scan.
    pub elapsed: Duration,
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

    /// Writes one line: messages name files, objects and refs taken from the scanned input, so
    /// every control character in them (a newline or an escape sequence in a file name) is
    /// escaped, and a message can never forge another line.
    fn line(&self, args: std::fmt::Arguments<'_>) {
        let text = args.to_string();
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(io::stderr().lock(), "{}", escape(&text));
    }

    /// Prints the closing summary of a scan (for the machine formats; the human report ends with
    /// its own).
    pub fn summary(&self, totals: &ScanTotals, findings: usize) {
        self.info(format_args!(
            "scanned {}; {findings} finding(s)",
            totals.describe()
        ));
    }
}

impl ScanTotals {
    /// `12 files, 40 blobs, 1.2 MiB, 0.31s, 3.9 MiB/s, 1 binary skipped`.
    pub fn describe(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let mut parts = vec![
            format!("{} files", self.files),
            format!("{} blobs", self.blobs),
            human_bytes(self.bytes),
            format!("{secs:.2}s"),
        ];
        if secs > 0.0 {
            parts.push(format!(
                "{}/s",
                human_bytes((self.bytes as f64 / secs) as u64)
            ));
        }
        if self.binary_skipped > 0 {
            parts.push(format!("{} binary skipped", self.binary_skipped));
        }
        if self.too_large_skipped > 0 {
            parts.push(format!(
                "{} over size limit skipped",
                self.too_large_skipped
            ));
        }
        if self.special_skipped > 0 {
            parts.push(format!(
                "{} not regular files skipped",
                self.special_skipped
            ));
        }
        parts.join(", ")
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
