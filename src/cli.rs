//! The command line: clap derive structs only, and their conversion into validated configuration
//! (`Cli::into_config`-style functions). The only module besides `main.rs` that knows about clap.
//!
//! Size (~670 lines): a flat list of clap argument structs, one per subcommand, with their conversion;
//! long like ripgrep's `defs.rs`, not deep.

use std::collections::HashSet;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{
    load_rules, parse_size, thread_count, CacheMode, HistoryMode, HistoryScope, RuleOptions,
    ScanConfig, Target, DEFAULT_MAX_FILE_SIZE,
};
use crate::error::{Error, Result};
use crate::report::Format;
use crate::suppress::{read_baseline, IgnoreList, IGNORE_FILE_NAME};

const EXIT_CODES: &str = "Exit codes: 0 = scan finished, nothing found; 1 = findings; \
2 = the scan could not run or something could not be read (bad arguments, missing path, broken \
rules or config, unreadable files or objects).";

/// Finds leaked secrets (Django SECRET_KEYs, credentials, high-entropy strings) in files and git
/// history, and tells you how to clean up.
#[derive(Debug, Parser)]
#[command(name = "keysweep", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan a directory, file, git repository or stdin (`-`) for secrets.
    #[command(after_help = EXIT_CODES)]
    Scan(ScanArgs),
    /// List or check detection rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Move credential literals out of Django settings into .env (working tree only).
    #[command(after_help = FIX_HELP)]
    Fix(FixArgs),
    /// Write a `git filter-repo --replace-text` file for the secrets found and print the commands.
    #[command(after_help = PURGE_HELP)]
    PurgePlan(PurgePlanArgs),
    /// Run in CI: decide from the CI event what to scan, annotate, summarise, write SARIF.
    #[command(subcommand)]
    Ci(CiCommand),
    /// Join JSON reports of several repositories into one, deduplicated by fingerprint.
    #[command(after_help = MERGE_HELP)]
    Merge(MergeArgs),
    /// Print the full clean-up steps for one rule (rotate, move to the environment, purge, verify).
    Explain(ExplainArgs),
    /// Install, remove or run git hooks (pre-push, pre-commit, pre-receive, update).
    #[command(subcommand)]
    Hook(HookCommand),
    /// Record today's findings so that only new ones are reported.
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// Add findings' fingerprints to .keysweepignore (they are no longer reported).
    Ignore(IgnoreArgs),
    /// Configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
}

const MERGE_HELP: &str = "Each REPORT is a JSON report (`keysweep scan --format json`, or \
`keysweep ci github --json-file`); NAME=REPORT names its repository (else the findings' \
`repository` key, else the file name). Secrets are masked in the output. Exit codes: 0 = no \
secret in any report; 1 = secrets; 2 = error.";

/// `keysweep ci ...`
#[derive(Debug, Subcommand)]
pub enum CiCommand {
    /// GitHub Actions: reads GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_WORKSPACE, GITHUB_OUTPUT
    /// and GITHUB_STEP_SUMMARY (the Action's action.yml runs this).
    #[command(after_help = CI_GITHUB_HELP)]
    Github(CiGithubArgs),
}

const CI_GITHUB_HELP: &str = "push: the commits in before..after (a new branch: what no other \
branch or tag has; a deleted branch or a push that moved nothing: nothing). pull_request and \
pull_request_target: merge-base..head. schedule, workflow_dispatch and other events: the whole \
history and the working tree. A shallow checkout is deepened with git fetch, or the step fails \
asking for fetch-depth: 0. Writes annotations to stdout, the job summary, the SARIF file, and the \
outputs findings, sarif-file (and json-file). Exit codes: 0 = clean (or findings with \
--fail-on-findings false); 1 = findings; 2 = error.";

/// `keysweep ci github ...`
#[derive(Debug, Args)]
pub struct CiGithubArgs {
    /// Configuration file (default: .keysweep.yaml in the workspace, if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Do not report findings whose fingerprint is in this JSON report of an earlier scan.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Where to write the SARIF file.
    #[arg(long, value_name = "FILE", default_value = "keysweep.sarif")]
    pub sarif_file: PathBuf,
    /// Also write the JSON report (secrets masked, with each finding's repository) here.
    #[arg(long, value_name = "FILE")]
    pub json_file: Option<PathBuf>,
    /// Exit 1 when there are findings (`false`: report them and exit 0).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub fail_on_findings: bool,
    /// The repository to scan (default: $GITHUB_WORKSPACE, else the current directory).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Act as for this event instead of $GITHUB_EVENT_NAME (e.g. `workflow_dispatch` for a full
    /// sweep of a repository the workflow did not start from).
    #[arg(long, value_name = "NAME")]
    pub event: Option<String>,
    /// The `owner/name` of the scanned repository, for SARIF and the JSON report (default:
    /// $GITHUB_REPOSITORY).
    #[arg(long, value_name = "OWNER/NAME")]
    pub repository: Option<String>,
    /// Further `keysweep scan` options (after `--`), e.g. `-- --disable-rule ID --max-file-size 10M`.
    #[arg(last = true, value_name = "SCAN OPTIONS")]
    pub scan_args: Vec<String>,
}

impl CiGithubArgs {
    /// The scan configuration for `workspace`: `keysweep scan` parsed from the extra options,
    /// plus `--config` and `--baseline`.
    pub fn scan_config(&self, workspace: &std::path::Path) -> Result<ScanConfig> {
        let mut argv: Vec<std::ffi::OsString> = vec!["keysweep".into(), "scan".into()];
        argv.extend(self.scan_args.iter().map(Into::into));
        let cli = Cli::try_parse_from(argv)
            .map_err(|e| Error::Config(format!("scan options {:?}: {e}", self.scan_args)))?;
        let Command::Scan(mut args) = cli.command else {
            return Err(Error::Config("scan options: not a scan".to_string()));
        };
        if args.path.as_os_str() != "." {
            return Err(Error::Config(format!(
                "scan options {:?}: no path may be given (the workspace is scanned)",
                self.scan_args
            )));
        }
        args.path = workspace.to_path_buf();
        if self.config.is_some() {
            args.rules.config = self.config.clone();
        }
        if self.baseline.is_some() {
            args.baseline = self.baseline.clone();
        }
        args.into_config()
    }
}

/// `keysweep merge ...`
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// JSON reports, as FILE or NAME=FILE.
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<String>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "json")]
    pub format: MergeFormat,
    /// Write the merged report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Output formats of `keysweep merge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MergeFormat {
    /// One JSON object: totals, per-repository counts, one entry per distinct secret.
    Json,
    /// Markdown tables (for a job summary).
    Markdown,
}

/// `keysweep explain ...`
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The rule id, as printed in a report (e.g. `github.pat`); `keysweep rules list` lists them.
    pub rule_id: String,
    #[command(flatten)]
    pub rules: RuleSelectArgs,
}

const HOOK_HELP: &str = "Exit codes: 0 = nothing found, the git operation goes on; 1 = secrets \
found, git refuses the push or commit; 2 = the scan could not run (git refuses too).";

/// `keysweep hook ...`
#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Write keysweep's hook into the repository's hooks directory (honours core.hooksPath and
    /// linked worktrees). An existing hook is kept and chained: it still runs and its failure
    /// still blocks. `keysweep hook uninstall` restores exactly what was there.
    Install(HookInstallArgs),
    /// Remove keysweep's hook(s) and restore the hook that was there before.
    Uninstall(HookInstallArgs),
    /// The pre-push hook: scans what the pushed commits introduce (stdin: git's pre-push lines).
    /// Without stdin lines, under the pre-commit framework, reads PRE_COMMIT_FROM_REF,
    /// PRE_COMMIT_TO_REF and PRE_COMMIT_REMOTE_NAME.
    #[command(after_help = HOOK_HELP)]
    PrePush {
        /// The remote's name (or URL when pushing to a URL).
        remote: Option<String>,
        /// The remote's URL.
        url: Option<String>,
        #[command(flatten)]
        scan: HookScanArgs,
    },
    /// The pre-commit hook: scans what is staged.
    #[command(after_help = HOOK_HELP)]
    PreCommit {
        #[command(flatten)]
        scan: HookScanArgs,
    },
    /// The server's pre-receive hook (stdin: `<old> <new> <ref>` lines), in a bare repository.
    #[command(after_help = HOOK_HELP)]
    PreReceive {
        #[command(flatten)]
        scan: HookScanArgs,
    },
    /// The server's update hook: one ref.
    #[command(after_help = HOOK_HELP)]
    Update {
        /// The ref being updated.
        refname: String,
        /// Its old value (all zeros: a new ref).
        old: String,
        /// Its new value (all zeros: a deletion).
        new: String,
        #[command(flatten)]
        scan: HookScanArgs,
    },
}

/// Which hooks `hook install` / `hook uninstall` handle, and where.
#[derive(Debug, Args)]
pub struct HookInstallArgs {
    /// The pre-commit hook instead of pre-push.
    #[arg(long, conflicts_with_all = ["both", "pre_receive"])]
    pub pre_commit: bool,
    /// Both pre-push and pre-commit.
    #[arg(long, conflicts_with = "pre_receive")]
    pub both: bool,
    /// The server-side pre-receive hook (in a bare repository).
    #[arg(long)]
    pub pre_receive: bool,
    /// Replace an existing hook instead of chaining it (it is kept for `uninstall`).
    #[arg(long)]
    pub force: bool,
    /// The repository (default: the current directory).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
}

/// Options of the hooks' scan.
#[derive(Debug, Args, Default)]
pub struct HookScanArgs {
    /// Do not report what is in this baseline (default: .keysweep-baseline.json at the
    /// repository root, if present).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Output format of the report.
    #[arg(long, short = 'f', value_enum, default_value = "human")]
    pub format: FormatArg,
    /// Show secrets in full.
    #[arg(long)]
    pub show_secrets: bool,
    /// Do not print the summary line.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub rules: RuleSelectArgs,
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorArg {
    /// On a terminal, unless NO_COLOR is set.
    #[default]
    Auto,
    /// Always (also into a pipe or a file).
    Always,
    /// Never.
    Never,
}

impl From<ColorArg> for crate::report::ColorChoice {
    fn from(c: ColorArg) -> Self {
        match c {
            ColorArg::Auto => crate::report::ColorChoice::Auto,
            ColorArg::Always => crate::report::ColorChoice::Always,
            ColorArg::Never => crate::report::ColorChoice::Never,
        }
    }
}

impl HookScanArgs {
    /// The scan of a hook run at `root`: rules, config and suppressions of `root`, history or
    /// the index only (the caller sets the scope).
    pub fn scan_config(&self, root: &std::path::Path, history: HistoryMode) -> Result<ScanConfig> {
        let baseline = self.baseline.clone().or_else(|| {
            let p = root.join(crate::suppress::BASELINE_FILE_NAME);
            p.is_file().then_some(p)
        });
        let mut config = ScanArgs {
            path: root.to_path_buf(),
            format: self.format,
            show_secrets: self.show_secrets,
            quiet: self.quiet,
            baseline,
            rules: self.rules.clone(),
            ..ScanArgs::default()
        }
        .into_config()?;
        config.history = history;
        config.no_progress = true;
        Ok(config)
    }
}

/// `keysweep baseline ...`
#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Scan and write every finding's fingerprint (a hash; never the secret) to FILE. Later
    /// scans with `--baseline FILE`, and the hooks, report only what is not in it; moving a
    /// secret to another line, rebasing or squashing does not make it new.
    Create {
        /// Where to write (default: .keysweep-baseline.json in the scanned directory).
        file: Option<PathBuf>,
        /// What to scan.
        #[arg(long, default_value = ".")]
        path: PathBuf,
        /// Only the files on disk, not the history.
        #[arg(long)]
        no_history: bool,
        #[command(flatten)]
        rules: RuleSelectArgs,
    },
}

/// `keysweep ignore ...`
#[derive(Debug, Args)]
pub struct IgnoreArgs {
    /// Fingerprints (the `fingerprint` of findings; `RULE:FINGERPRINT` also checks the rule).
    #[arg(required = true)]
    pub fingerprints: Vec<String>,
    /// Why they are not secrets (written as a comment above them).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Only at paths matching this glob (e.g. 'tests/**').
    #[arg(long, value_name = "GLOB")]
    pub path: Option<String>,
    /// The repository (default: the current directory); the file is its .keysweepignore.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
}

/// `keysweep config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write a commented starter .keysweep.yaml.
    Init {
        /// Directory to write it in.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

const FIX_HELP: &str =
    "Replaces SECRET_KEY, DATABASES passwords, EMAIL_HOST_PASSWORD, AWS keys and \
other credential literals in Django settings with environment lookups in the project's own style \
(django-environ, python-decouple, python-dotenv, else os.environ with a standard-library .env \
loader), drops literal defaults of lookups, and makes the settings load the .env they now need. \
Reuses the project's variable names and .env location. Writes a NEW random SECRET_KEY and the \
other values to .env (mode 0600, never overwriting an entry). Env files tracked by git are \
untracked (git rm --cached, left staged), ignored, then given a new key; tracked templates get \
placeholders. Adds .env to .gitignore and the names to .env.example. All or nothing; never \
touches history; a second run changes nothing. Warnings and errors go to stderr. Exit codes: \
0 = done (or nothing to do); 2 = error (including a settings file that could not be analysed).";

const PURGE_HELP: &str = "Scans PATH (history included), writes the expressions file (default: \
.git/keysweep-purge.txt, mode 0600) and prints the commands to rewrite a fresh mirror clone with \
git filter-repo, verify it with keysweep and force-push it. Binary files holding a secret \
(compiled Python, SQLite) are removed from history with --invert-paths, since text replacement \
cannot touch them. Runs nothing itself. Exit codes, as for scan: 0 = nothing to purge (no file \
written); 1 = plan written for the secrets found (like scan's findings); 2 = error (PATH is not a \
git repository, or something could not be read; nothing is written for a non-repository).";

/// How `keysweep fix` makes settings read the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StyleArg {
    /// django-environ if the project already uses it, else os.environ.
    Auto,
    /// django-environ: `env("VAR")`, with `environ.Env.read_env(BASE_DIR / ".env")`.
    Environ,
    /// `os.environ["VAR"]` (something else loads .env into the environment).
    Os,
}

impl From<StyleArg> for crate::fix::Style {
    fn from(s: StyleArg) -> Self {
        match s {
            StyleArg::Auto => crate::fix::Style::Auto,
            StyleArg::Environ => crate::fix::Style::Environ,
            StyleArg::Os => crate::fix::Style::Os,
        }
    }
}

/// `keysweep fix ...`
#[derive(Debug, Args)]
pub struct FixArgs {
    /// Project directory (or one settings file).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Print a unified diff of the changes (values masked) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How the settings read the environment.
    #[arg(long, value_enum, default_value = "auto")]
    pub style: StyleArg,
}

/// `keysweep purge-plan ...`
#[derive(Debug, Args)]
pub struct PurgePlanArgs {
    /// Repository to scan (history included).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Where to write the expressions file (default: .git/keysweep-purge.txt).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub rules: RuleSelectArgs,
}

impl PurgePlanArgs {
    /// The scan that collects the secrets: history and working tree, secrets in full.
    pub fn scan_config(&self) -> Result<ScanConfig> {
        ScanArgs {
            path: self.path.clone(),
            format: FormatArg::Json,
            show_secrets: true,
            quiet: true,
            color: ColorArg::Never,
            rules: self.rules.clone(),
            ..ScanArgs::default()
        }
        .into_config()
    }
}

/// `keysweep rules ...`
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the rules (built-in and from --rules files).
    List(RuleSelectArgs),
    /// Print every distinct prefilter keyword, one a line, as `s KEYWORD` (case-sensitive) or
    /// `i KEYWORD` (case-insensitive); used by scripts/bench-tree.sh to give rg the same work.
    #[command(hide = true)]
    Keywords(RuleSelectArgs),
    /// Validate rule files (the built-in rules when none are given): every problem is listed.
    Check {
        /// Rule files to check.
        files: Vec<PathBuf>,
    },
}

/// Rule selection shared by commands.
#[derive(Debug, Args, Default, Clone)]
pub struct RuleSelectArgs {
    /// Additional rule file(s) in the patterns/*.yaml format.
    #[arg(long = "rules", value_name = "FILE")]
    pub rule_files: Vec<PathBuf>,
    /// Disable a rule by id (repeatable).
    #[arg(long = "disable-rule", value_name = "ID")]
    pub disable: Vec<String>,
    /// Configuration file (default: .keysweep.yaml at the scan root, if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Do not load the built-in rules (use only --rules files and the config file's rules).
    #[arg(long)]
    pub no_default_rules: bool,
}

/// Output formats on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum FormatArg {
    #[default]
    Human,
    Json,
    Jsonl,
    Sarif,
    /// GitHub Actions annotations, and the job summary when `$GITHUB_STEP_SUMMARY` is set.
    Github,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Human => Format::Human,
            FormatArg::Json => Format::Json,
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Sarif => Format::Sarif,
            FormatArg::Github => Format::Github,
        }
    }
}

/// `keysweep scan ...`
#[derive(Debug, Args, Default)]
pub struct ScanArgs {
    /// What to scan: a directory, a file, a git repository, or `-` for stdin.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "human")]
    pub format: FormatArg,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Show secrets in full in human and SARIF output (they are masked by default).
    #[arg(long)]
    pub show_secrets: bool,
    /// Mask secrets in JSON output too.
    #[arg(long)]
    pub redact: bool,
    /// Also scan files ignored by .gitignore and similar files.
    #[arg(long)]
    pub no_ignore: bool,
    /// Skip files larger than this (e.g. 512K, 100M, 2G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_file_size: Option<u64>,
    /// Skip history blobs larger than this (default: the --max-file-size value).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_blob_size: Option<u64>,
    /// Worker threads: 0 (the default) = one per core; at most 4 per core (more is capped, with
    /// a warning).
    #[arg(long, short = 'j', value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Do not print warnings, progress or the summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Scan only the files on disk, not the git history.
    #[arg(long, conflicts_with = "history_only")]
    pub no_history: bool,
    /// Scan only the git history, not the files on disk.
    #[arg(long)]
    pub history_only: bool,
    /// Only commits in this range (A..B: reachable from B, not from A).
    #[arg(long, value_name = "A..B")]
    pub range: Option<String>,
    /// Only commits after this one.
    #[arg(long, value_name = "SHA")]
    pub since_commit: Option<String>,
    /// Only commits reachable from this branch.
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// List every branch and tag from which each secret is reachable.
    #[arg(long)]
    pub all_provenance: bool,
    /// Remember what a whole-history sweep read and found (under the git directory), so the next
    /// sweep reads only new packs and loose objects (the default when the git directory is writable).
    #[arg(long, conflicts_with = "no_cache")]
    pub cache: bool,
    /// Neither read nor write the history cache: sweep every object.
    #[arg(long)]
    pub no_cache: bool,
    /// Do not report findings in this baseline (`keysweep baseline create`) or JSON report of
    /// an earlier scan.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Colour in the human report: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    pub color: ColorArg,
    /// List every place of each secret (the human report shows the first few).
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Show only the secrets RULE_ID found, with that rule's full steps.
    #[arg(long, value_name = "RULE_ID")]
    pub explain: Option<String>,
    /// List baseline and .keysweepignore entries that no longer match anything (on stderr).
    #[arg(long)]
    pub report_unused: bool,
    /// Scan only what is staged (the next commit's changes), with paths and line numbers as
    /// they will be committed.
    #[arg(long, conflicts_with_all = ["no_history", "history_only", "range", "since_commit", "branch"])]
    pub staged: bool,
    /// Turn the keyword prefilter off (slow; for testing that it changes nothing).
    #[arg(long, hide = true)]
    pub no_prefilter: bool,
    #[command(flatten)]
    pub rules: RuleSelectArgs,
}

impl RuleSelectArgs {
    /// The rule options these arguments select.
    pub fn to_options(&self) -> RuleOptions {
        RuleOptions {
            rule_files: self.rule_files.clone(),
            disable: self.disable.clone(),
            config: self.config.clone(),
            no_default_rules: self.no_default_rules,
        }
    }
}

impl ScanArgs {
    /// Validates the arguments and loads rules and configuration.
    pub fn into_config(self) -> Result<ScanConfig> {
        let target = if self.path.as_os_str() == "-" {
            Target::Stdin
        } else {
            Target::Path(self.path.clone())
        };
        let root = match &target {
            Target::Path(p) => Some(p.as_path()),
            Target::Stdin => None,
        };
        let (rules, allow) = load_rules(&self.rules.to_options(), root)?;
        let baseline = match &self.baseline {
            Some(path) => read_baseline(path)?,
            None => HashSet::new(),
        };
        let ignore = match root.filter(|r| r.is_dir()) {
            Some(r) => IgnoreList::try_read(&r.join(IGNORE_FILE_NAME))?,
            None => None,
        };
        let history = if self.staged {
            HistoryMode::Staged
        } else if self.no_history {
            HistoryMode::WorktreeOnly
        } else if self.history_only {
            HistoryMode::HistoryOnly
        } else {
            HistoryMode::Both
        };
        let max_file_size = self.max_file_size.unwrap_or(DEFAULT_MAX_FILE_SIZE);
        let (threads, threads_warning) = thread_count(self.threads);
        Ok(ScanConfig {
            target,
            format: self.format.into(),
            show_secrets: self.show_secrets,
            redact: self.redact,
            respect_ignore: !self.no_ignore,
            max_file_size,
            max_blob_size: self.max_blob_size.unwrap_or(max_file_size),
            threads,
            prefilter: !self.no_prefilter,
            quiet: self.quiet,
            no_progress: self.quiet,
            history,
            scope: HistoryScope {
                range: self.range,
                since_commit: self.since_commit,
                branch: self.branch,
                include: Vec::new(),
                exclude: Vec::new(),
                all_provenance: self.all_provenance,
            },
            cache: if self.no_cache {
                CacheMode::Off
            } else if self.cache {
                CacheMode::On
            } else {
                CacheMode::Auto
            },
            baseline,
            baseline_file: self.baseline,
            ignore,
            report_unused: self.report_unused,
            allow_paths: allow.paths,
            allow_secrets: allow.secrets,
            rule_paths: allow.rule_paths,
            warnings: allow.warnings.into_iter().chain(threads_warning).collect(),
            rules,
            color: self.color.into(),
            verbose: self.verbose,
            explain: self.explain,
        })
    }
}
