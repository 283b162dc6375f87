//! `ScanConfig`: everything a scan needs, validated. Built from the command line (`cli.rs`) and the
//! optional `.keysweep.yaml` at the scan root; nothing below this reads arguments or files of
//! settings.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::error::{Error, Result};
use crate::report::Format;
use crate::rules::{embedded_rule_files, gitleaks, syntax, RuleId, RuleSet, RuleSetBuilder};

/// The name of the per-repository configuration file looked up at the scan root.
pub const CONFIG_FILE_NAME: &str = ".keysweep.yaml";

/// What to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A directory, a file, or a git repository.
    Path(PathBuf),
    /// Standard input (`-`).
    Stdin,
}

/// Which parts of a git repository to scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryMode {
    /// History and the working tree (the default for a repository).
    #[default]
    Both,
    /// Only the files on disk (`--no-history`).
    WorktreeOnly,
    /// Only the object database (`--history-only`).
    HistoryOnly,
    /// Only what is staged in the index and differs from `HEAD` (`--staged`).
    Staged,
}

/// Limits on what history is swept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryScope {
    /// `A..B`: commits reachable from B and not from A.
    pub range: Option<String>,
    /// Commits after this one (exclusive), up to all refs.
    pub since_commit: Option<String>,
    /// Only commits reachable from this branch.
    pub branch: Option<String>,
    /// Revisions whose commits are in scope (with `exclude`: reachable from one of these and
    /// from none of `exclude`). Set by the hooks and the CI entry point, not by a flag.
    pub include: Vec<String>,
    /// Revisions whose commits (and their ancestors) are out of scope.
    pub exclude: Vec<String>,
    /// Report every branch and tag a secret is reachable from.
    pub all_provenance: bool,
}

impl HistoryScope {
    /// Whether the scope is the whole object database (no range, branch or revision limits).
    pub fn is_everything(&self) -> bool {
        self.range.is_none()
            && self.branch.is_none()
            && self.since_commit.is_none()
            && self.include.is_empty()
            && self.exclude.is_empty()
    }
}

/// Whether whole-history sweeps use the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Used when the git directory is writable; silently not used otherwise.
    #[default]
    Auto,
    /// `--cache`: used, and a cache that cannot be written is reported.
    On,
    /// `--no-cache`: neither read nor written.
    Off,
}

/// A validated scan configuration.
#[derive(Debug)]
pub struct ScanConfig {
    pub target: Target,
    pub format: Format,
    /// Print full secrets in human and SARIF output.
    pub show_secrets: bool,
    /// Mask secrets in JSON output too.
    pub redact: bool,
    pub respect_ignore: bool,
    pub max_file_size: u64,
    pub max_blob_size: u64,
    /// Worker threads (at least 1; `--threads 0` becomes one per core).
    pub threads: usize,
    /// Keyword prefilter on (default); off only for testing.
    pub prefilter: bool,
    pub quiet: bool,
    /// Force the progress bar off even on a terminal.
    pub no_progress: bool,
    pub history: HistoryMode,
    pub scope: HistoryScope,
    /// Whether whole-history sweeps read and write the history cache (`crate::cache`).
    pub cache: CacheMode,
    /// Findings whose fingerprint is listed here are not reported.
    pub baseline: HashSet<String>,
    /// The file `baseline` was read from, for `--report-unused`.
    pub baseline_file: Option<PathBuf>,
    /// The `.keysweepignore` of the scan root (or the hook's repository), if any.
    pub ignore: Option<crate::suppress::IgnoreList>,
    /// List baseline and ignore entries that suppressed nothing.
    pub report_unused: bool,
    /// Findings at paths matching any of these are not reported.
    pub allow_paths: Vec<Regex>,
    /// Findings whose secret matches any of these are not reported.
    pub allow_secrets: Vec<Regex>,
    /// Per-rule path conditions (from a gitleaks configuration's `path` and rule allow lists).
    pub rule_paths: Vec<RulePathFilter>,
    /// Problems with the configuration that did not stop it from loading (printed by the scan).
    pub warnings: Vec<String>,
    pub rules: RuleSet,
    /// Colour in the human report.
    pub color: crate::report::ColorChoice,
    /// List every place of each secret in the human report.
    pub verbose: bool,
    /// `--explain RULE_ID`: show only that rule's secrets and steps.
    pub explain: Option<String>,
}

/// Where one rule may report: only in paths matching `only` (if set), never in paths matching
/// one of `allow`.
#[derive(Debug, Clone)]
pub struct RulePathFilter {
    pub rule: RuleId,
    pub only: Option<Regex>,
    pub allow: Vec<Regex>,
}

impl RulePathFilter {
    /// Whether a finding of `rule` at `path` is kept by this filter.
    pub fn keeps(&self, rule: &RuleId, path: Option<&str>) -> bool {
        if *rule != self.rule {
            return true;
        }
        let Some(path) = path else {
            return self.only.is_none();
        };
        self.only.as_ref().is_none_or(|re| re.is_match(path))
            && !self.allow.iter().any(|re| re.is_match(path))
    }
}

/// The commented starter `.keysweep.yaml` that `keysweep config init` writes. Every key is the
/// real schema (an unknown key is an error naming the file), so the file parses as written.
pub const STARTER_CONFIG: &str = r#"# keysweep configuration (read from the root of the scanned repository or directory).
# An unknown key is an error. See `keysweep rules list` for rule ids.

# Rules to turn off, by id.
disable_rules: []
#  - generic.password-assignment

# Findings never to report.
allowlist:
  # Regexes on the reported path (relative to the root, `/`-separated).
  paths: []
  #  - '^tests/fixtures/'
  # Regexes on the secret itself.
  secrets: []
  #  - '^sk_test_'

# Extra rules, in the format of keysweep's patterns/*.yaml (`secret` names the capture group).
rules: []
#  - id: acme.api-key
#    name: ACME API key
#    keywords: [acme_]
#    pattern: '\b(?P<secret>acme_[A-Za-z0-9]{32})\b'
#    severity: high
#    confidence: high
#    remediation: acme-key
#    examples: ['ACME_KEY=acme_0123456789abcdefABCDEF0123456789']
#    negative_examples: ['acme_short']

# Remediation entries the extra rules point at.
remediations: []
#  - id: acme-key
#    summary: Revoke the key in the ACME console and issue a new one.

# Single findings are better suppressed by content than here: a `keysweep:allow` comment on
# the line, `keysweep ignore FINGERPRINT` (writes .keysweepignore), or a baseline
# (`keysweep baseline create`, then `--baseline .keysweep-baseline.json`).
"#;

/// Default `--max-file-size`: large enough for multi-megabyte fixtures and minified bundles.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 100 * 1024 * 1024;

/// Parses sizes such as `100M`, `2G`, `512k`, `4096`.
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = s[i..].to_ascii_lowercase();
            let mult = match unit.trim_end_matches("ib").trim_end_matches('b') {
                "" => 1,
                "k" => 1 << 10,
                "m" => 1 << 20,
                "g" => 1 << 30,
                _ => return Err(format!("unknown size unit in {s:?} (use K, M or G)")),
            };
            (&s[..i], mult)
        }
        None => (s, 1),
    };
    let n = num
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("invalid size {s:?} (e.g. 4096, 512K, 100M, 2G)"))?;
    match n.checked_mul(mult) {
        Some(0) => Err(format!(
            "size {s:?} is zero: nothing could be scanned (give a positive size)"
        )),
        Some(size) => Ok(size),
        None => Err(format!(
            "size {s:?} is too large (at most {} bytes)",
            u64::MAX
        )),
    }
}

/// The most worker threads a scan starts per core: more only adds contention (a 9-blob
/// repository took 11-18 s at 1,000 threads).
pub const MAX_THREADS_PER_CORE: usize = 4;

/// The worker thread count for `requested` (0: one per core), capped at
/// [`MAX_THREADS_PER_CORE`] per core; the second value is the warning when it was capped.
pub fn thread_count(requested: usize) -> (usize, Option<String>) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let max = cores * MAX_THREADS_PER_CORE;
    if requested == 0 {
        (cores, None)
    } else if requested > max {
        (
            max,
            Some(format!(
                "--threads {requested} is more than {MAX_THREADS_PER_CORE} per core; using {max} ({cores} core(s))"
            )),
        )
    } else {
        (requested, None)
    }
}

/// Rule selection and allow lists from the command line and the config file.
#[derive(Debug, Default)]
pub struct RuleOptions {
    /// Extra rule files (`--rules`).
    pub rule_files: Vec<PathBuf>,
    /// Rules to disable by id.
    pub disable: Vec<String>,
    /// Explicit config file (`--config`); otherwise `.keysweep.yaml` at the scan root if present.
    pub config: Option<PathBuf>,
    /// Leave the built-in rules out.
    pub no_default_rules: bool,
}

/// What the config file contributes besides rules.
#[derive(Debug, Default)]
pub struct Allowlists {
    pub paths: Vec<Regex>,
    pub secrets: Vec<Regex>,
    /// Per-rule path conditions (gitleaks configurations).
    pub rule_paths: Vec<RulePathFilter>,
    /// What the configuration asked for that keysweep could not do (gitleaks keys it does not
    /// translate), one sentence each.
    pub warnings: Vec<String>,
}

/// Loads the rule set (built-in, `--rules` files, the config file's rules), applies `disable`, and
/// returns the config file's allow lists.
pub fn load_rules(opts: &RuleOptions, root: Option<&Path>) -> Result<(RuleSet, Allowlists)> {
    let mut builder = RuleSetBuilder::default();
    if !opts.no_default_rules {
        // The shipped rules' examples are checked by `rules check` and the tests, never by a scan.
        for (path, text) in embedded_rule_files() {
            builder.add_embedded_file(&path, &syntax::strip_examples(&text));
        }
    }
    for (path, text) in RuleSet::read_files(&opts.rule_files)? {
        builder.add_file(&path, &text);
    }
    let config_path = opts.config.clone().or_else(|| {
        let p = root.filter(|r| r.is_dir())?.join(CONFIG_FILE_NAME);
        p.is_file().then_some(p)
    });
    let mut disable: Vec<String> = opts.disable.clone();
    let mut allow = Allowlists::default();
    if let Some(path) = config_path {
        let text = std::fs::read_to_string(&path).map_err(|source| Error::RuleFileRead {
            path: path.clone(),
            source,
        })?;
        let compile = |list: Vec<String>, what: &str| -> Result<Vec<Regex>> {
            list.into_iter()
                .map(|p| {
                    Regex::new(&p).map_err(|e| {
                        Error::Config(format!("{}: {what} pattern {p:?}: {e}", path.display()))
                    })
                })
                .collect()
        };
        if gitleaks::is_gitleaks_config(&path) {
            let import = gitleaks::translate(&text).map_err(|e| {
                Error::Config(format!(
                    "{}: not a gitleaks configuration: {e}",
                    path.display()
                ))
            })?;
            builder.add_rules(&path, import.rules, import.remediations);
            allow.paths = compile(import.allow_paths, "allowlist paths")?;
            allow.secrets = compile(import.allow_secrets, "allowlist regexes")?;
            for rp in import.rule_paths {
                let only = rp
                    .only
                    .map(|p| compile(vec![p], &format!("rule {} path", rp.rule)))
                    .transpose()?
                    .and_then(|mut v| v.pop());
                let allow_paths = compile(rp.allow, &format!("rule {} allowlist paths", rp.rule))?;
                allow.rule_paths.push(RulePathFilter {
                    rule: RuleId::from(rp.rule.as_str()),
                    only,
                    allow: allow_paths,
                });
            }
            allow.warnings = import
                .warnings
                .into_iter()
                .map(|w| format!("{}: {w}", path.display()))
                .collect();
        } else {
            let cfg = syntax::parse_config(&text).map_err(|source| Error::RuleFile {
                path: path.clone(),
                source,
            })?;
            builder.add_rules(&path, cfg.rules, cfg.remediations);
            disable.extend(cfg.disable_rules);
            allow.paths = compile(cfg.allowlist.paths, "allowlist.paths")?;
            allow.secrets = compile(cfg.allowlist.secrets, "allowlist.secrets")?;
        }
    }
    let set = builder.build()?;
    if let Some(unknown) = disable
        .iter()
        .find(|id| !set.rules().iter().any(|r| r.id.as_str() == id.as_str()))
    {
        return Err(Error::Config(format!(
            "cannot disable unknown rule {unknown:?}"
        )));
    }
    Ok((
        set.filtered(|r| !disable.iter().any(|d| d == r.id.as_str())),
        allow,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512K"), Ok(512 * 1024));
        assert_eq!(parse_size("100M"), Ok(100 * 1024 * 1024));
        assert_eq!(parse_size("2GiB"), Ok(2 * 1024 * 1024 * 1024));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("17179869184G").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("0K").is_err());
    }
}
