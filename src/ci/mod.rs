//! `keysweep ci github`: the GitHub Action's engine. Reads what the runner provides
//! (`GITHUB_EVENT_NAME`, the payload at `GITHUB_EVENT_PATH`, `GITHUB_WORKSPACE`, `GITHUB_OUTPUT`,
//! `GITHUB_STEP_SUMMARY`), decides from the event what to scan ([`event::Plan`]), makes sure the
//! checkout has the history that needs (deepening a shallow clone with `git fetch`, or failing with
//! a message naming `fetch-depth: 0`), runs the one scan engine over that scope and writes the
//! annotations (stdout), the job summary, the SARIF file, an optional JSON report and the step
//! outputs (`findings`, `sarif-file`, `json-file`).
//!
//! This is the equivalent of `main` for a subcommand: it prints notes to stderr and runs `git
//! fetch` (the only git subprocess keysweep runs: fetching is a network operation on the runner's
//! credentials, not part of the scan).

pub mod event;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::{HistoryMode, ScanConfig};
use crate::error::{Error, Result};
use crate::finding::Finding;
use crate::report::github::{summary_markdown, write_annotations};
use crate::report::sarif::{SarifReporter, VersionControl};
use crate::report::{Diagnostics, ReportContext, Reporter};
use crate::source::git::ref_tips;

use event::{Event, Plan};

/// What the runner tells a step, read from its environment.
#[derive(Debug, Clone, Default)]
pub struct Runner {
    /// `GITHUB_EVENT_NAME`.
    pub event_name: String,
    /// `GITHUB_EVENT_PATH`: the webhook payload.
    pub event_path: Option<PathBuf>,
    /// `GITHUB_WORKSPACE`: the checkout (else the current directory).
    pub workspace: PathBuf,
    /// `GITHUB_OUTPUT`: the step's outputs file.
    pub output: Option<PathBuf>,
    /// `GITHUB_STEP_SUMMARY`: the job summary file.
    pub summary: Option<PathBuf>,
    /// `GITHUB_SERVER_URL` + `/` + `GITHUB_REPOSITORY`.
    pub repository_uri: Option<String>,
    /// `GITHUB_REPOSITORY` (`owner/name`).
    pub repository: Option<String>,
    /// `GITHUB_SHA`.
    pub sha: Option<String>,
    /// `GITHUB_REF`.
    pub git_ref: Option<String>,
}

impl Runner {
    /// Reads the runner's variables; empty ones count as unset.
    pub fn from_env() -> Runner {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let repository = var("GITHUB_REPOSITORY");
        Runner {
            event_name: var("GITHUB_EVENT_NAME").unwrap_or_default(),
            event_path: var("GITHUB_EVENT_PATH").map(PathBuf::from),
            workspace: var("GITHUB_WORKSPACE").map_or_else(|| PathBuf::from("."), PathBuf::from),
            output: var("GITHUB_OUTPUT").map(PathBuf::from),
            summary: var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            repository_uri: repository.as_ref().map(|r| {
                let server =
                    var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".to_string());
                format!("{}/{r}", server.trim_end_matches('/'))
            }),
            repository,
            sha: var("GITHUB_SHA"),
            git_ref: var("GITHUB_REF"),
        }
    }
}

impl Runner {
    /// The runner with the command line's `--workspace`, `--event` and `--repository` applied. A
    /// different event drops the payload (it belongs to the event that started the run).
    pub fn with_overrides(
        mut self,
        workspace: Option<PathBuf>,
        event: Option<String>,
        repository: Option<String>,
    ) -> Runner {
        if let Some(ws) = workspace {
            self.workspace = ws;
        }
        if let Some(event) = event.filter(|e| *e != self.event_name) {
            self.event_name = event;
            self.event_path = None;
        }
        if let Some(repo) = repository {
            let server = self
                .repository_uri
                .as_deref()
                .and_then(|u| u.strip_suffix(self.repository.as_deref().unwrap_or("")))
                .map(str::to_string)
                .unwrap_or_else(|| "https://github.com/".to_string());
            self.repository_uri = Some(format!("{server}{repo}"));
            self.repository = Some(repo);
            // GITHUB_SHA and GITHUB_REF describe the workflow's own repository.
            self.sha = None;
            self.git_ref = None;
        }
        self
    }
}

/// The files and switches of `keysweep ci github` (the Action's inputs).
#[derive(Debug, Clone)]
pub struct GithubOptions {
    /// Where to write the SARIF file.
    pub sarif_file: PathBuf,
    /// Where to write the JSON report (secrets masked), if anywhere.
    pub json_file: Option<PathBuf>,
    /// Exit 1 when there are findings.
    pub fail_on_findings: bool,
}

/// How a CI run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CiOutcome {
    /// Findings reported.
    pub findings: usize,
    /// Something could not be read (exit 2).
    pub errors: bool,
    /// Whether the step should fail for the findings (`fail-on-findings`).
    pub fail: bool,
}

/// Runs `git args` in `dir`, quietly; whether it succeeded, with its stderr.
fn git(dir: &Path, args: &[&str]) -> std::result::Result<(), String> {
    match Command::new("git").arg("-C").arg(dir).args(args).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        Err(e) => Err(format!("cannot run git: {e}")),
    }
}

fn open(workspace: &Path) -> Result<gix::Repository> {
    gix::open_opts(workspace, gix::open::Options::isolated()).map_err(|_| Error::NotARepository {
        path: workspace.to_path_buf(),
    })
}

fn has_commit(repo: &gix::Repository, sha: &str) -> bool {
    gix::ObjectId::from_hex(sha.as_bytes())
        .ok()
        .and_then(|id| repo.find_header(id).ok())
        .is_some_and(|h| h.kind() == gix::objs::Kind::Commit)
}

const FETCH_DEPTH_HINT: &str = "check out with `fetch-depth: 0` (actions/checkout `with: \
fetch-depth: 0`) so the history keysweep must scan is there";

/// Makes sure the checkout is not shallow and holds `needed` (fetching what it can from
/// `origin`); returns the commits still missing. A shallow clone that cannot be deepened is an
/// error naming `fetch-depth: 0`.
fn ensure_history(
    workspace: &Path,
    needed: &[String],
    extra_refspecs: &[String],
    diags: &Diagnostics,
) -> Result<Vec<String>> {
    let repo = open(workspace)?;
    let shallow = repo
        .is_shallow()
        .unwrap_or_else(|_| repo.git_dir().join("shallow").exists());
    if shallow {
        diags.info(
            "keysweep: the checkout is shallow; fetching the full history (git fetch --unshallow)",
        );
        git(
            workspace,
            &["fetch", "--quiet", "--unshallow", "--tags", "origin"],
        )
        .map_err(|e| {
            Error::Config(format!(
                "the checkout in {} is shallow and cannot be deepened ({e}): {FETCH_DEPTH_HINT}",
                workspace.display()
            ))
        })?;
    }
    let repo = open(workspace)?;
    let missing: Vec<&String> = needed.iter().filter(|s| !has_commit(&repo, s)).collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    for sha in &missing {
        diags.info(format_args!(
            "keysweep: commit {sha} is not in the checkout; fetching it"
        ));
        let _ = git(workspace, &["fetch", "--quiet", "origin", sha]);
    }
    for spec in extra_refspecs {
        let _ = git(workspace, &["fetch", "--quiet", "origin", spec]);
    }
    let repo = open(workspace)?;
    Ok(missing
        .into_iter()
        .filter(|s| !has_commit(&repo, s))
        .cloned()
        .collect())
}

/// The refs whose commits a new ref's push does not need to rescan: every branch (local and
/// `origin`'s) and tag except the pushed ref itself and `origin/HEAD`.
fn other_refs(workspace: &Path, git_ref: &str) -> Result<Vec<String>> {
    let repo = open(workspace)?;
    let branch = Event::pushed_branch(git_ref);
    let remote_same = branch.map(|b| format!("refs/remotes/origin/{b}"));
    Ok(ref_tips(&repo)?
        .into_iter()
        .filter(|(name, _)| {
            (name.starts_with("refs/heads/")
                || name.starts_with("refs/remotes/origin/")
                || name.starts_with("refs/tags/"))
                && name != git_ref
                && Some(name) != remote_same.as_ref()
                && name != "refs/remotes/origin/HEAD"
        })
        .filter(|(_, id)| {
            repo.find_header(*id)
                .is_ok_and(|h| h.kind() == gix::objs::Kind::Commit)
        })
        .map(|(_, id)| id.to_string())
        .collect())
}

/// Decides the scope for the event, fetching missing history first.
fn decide(runner: &Runner, diags: &Diagnostics) -> Result<Plan> {
    let payload = match &runner.event_path {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|source| Error::Path {
            path: p.clone(),
            source,
        })?),
        None => None,
    };
    let event = Event::parse(&runner.event_name, payload.as_deref())?;
    if let Plan::Nothing(note) = event.plan(true) {
        return Ok(Plan::Nothing(note));
    }
    let extra: Vec<String> = match &event {
        Event::PullRequest { payload, .. } => vec![format!("pull/{}/head", payload.number)],
        _ => Vec::new(),
    };
    let missing = ensure_history(&runner.workspace, &event.needed_commits(), &extra, diags)?;
    let before_available = match &event {
        Event::Push(p) => !missing.contains(&p.before),
        _ => true,
    };
    let required: Vec<&String> = missing
        .iter()
        .filter(|s| !matches!(&event, Event::Push(p) if &p.before == *s))
        .collect();
    if let Some(sha) = required.first() {
        return Err(Error::Config(format!(
            "commit {sha} named by the {} event is not in the checkout and cannot be fetched: \
             {FETCH_DEPTH_HINT}",
            runner.event_name
        )));
    }
    Ok(match event.plan(before_available) {
        Plan::NewRef {
            tip,
            git_ref,
            describe,
        } => {
            let exclude = other_refs(&runner.workspace, &git_ref)?;
            let describe = if exclude.is_empty() {
                format!("{describe} (no other ref: its whole history)")
            } else {
                describe
            };
            Plan::Range {
                include: vec![tip],
                exclude,
                describe,
            }
        }
        plan => plan,
    })
}

/// Runs the Action: decides the scope from the event, scans it with `config` (built for the
/// workspace by the caller from the Action's inputs; `make_config` gets the workspace path),
/// and writes annotations to `out` and the summary, SARIF, JSON and outputs files.
pub fn run_github(
    runner: &Runner,
    opts: &GithubOptions,
    make_config: impl FnOnce(&Path) -> Result<ScanConfig>,
    out: &mut dyn Write,
) -> Result<CiOutcome> {
    let diags = Diagnostics::new(false);
    let plan = decide(runner, &diags)?;
    let mut config = make_config(&runner.workspace)?;
    if !config.scope.is_everything() {
        return Err(Error::Config(
            "--range, --branch and --since-commit cannot be given to `ci github`: the event decides \
             what is scanned"
                .to_string(),
        ));
    }
    // Nothing unmasked leaves the runner: annotations, summary and SARIF mask the secrets, and
    // the JSON report is redacted (the findings stay whole in memory so they are masked once).
    config.redact = false;
    let scan = |config: &ScanConfig| -> Result<Vec<Finding>> {
        let outcome = crate::scan::run(config, &diags)?;
        diags.summary(&outcome.totals, outcome.findings.len());
        Ok(outcome.findings)
    };
    let (findings, describe) = match &plan {
        Plan::Nothing(note) => (Vec::new(), note.clone()),
        Plan::Range {
            include,
            exclude,
            describe,
        } => {
            // Only the new commits: the working tree (their tip) would report what the branch
            // already held.
            config.history = HistoryMode::HistoryOnly;
            config.scope.include = include.clone();
            config.scope.exclude = exclude.clone();
            diags.info(format_args!("keysweep: {describe}"));
            (scan(&config)?, describe.clone())
        }
        Plan::NewRef { .. } => {
            return Err(Error::Config(
                "internal: a new ref's scope was not resolved".to_string(),
            ))
        }
        Plan::Everything(describe) => {
            diags.info(format_args!("keysweep: {describe}"));
            (scan(&config)?, describe.clone())
        }
    };
    if let Plan::Nothing(note) = &plan {
        diags.info(format_args!("keysweep: {note}"));
    }
    write_annotations(&findings, out)?;
    if let Some(path) = &runner.summary {
        append(path, &summary_markdown(&findings, Some(&describe)))?;
    }
    let ctx = ReportContext::new(&config.rules, ".");
    write_sarif(runner, &opts.sarif_file, &findings, &ctx)?;
    if let Some(path) = &opts.json_file {
        write_json(path, &findings, &ctx, runner.repository.as_deref())?;
    }
    if let Some(path) = &runner.output {
        let mut lines = format!(
            "findings={}\nsarif-file={}\n",
            findings.len(),
            one_line(&opts.sarif_file)?
        );
        if let Some(json) = &opts.json_file {
            lines.push_str(&format!("json-file={}\n", one_line(json)?));
        }
        append(path, &lines)?;
    }
    Ok(CiOutcome {
        findings: findings.len(),
        errors: diags.has_errors(),
        fail: opts.fail_on_findings && !findings.is_empty(),
    })
}

fn one_line(path: &Path) -> Result<String> {
    let s = path.display().to_string();
    if s.contains('\n') || s.contains('\r') {
        return Err(Error::Config(format!(
            "{s:?}: a path for a step output must be one line"
        )));
    }
    Ok(s)
}

fn append(path: &Path, text: &str) -> Result<()> {
    let io = |source| Error::Path {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)
}

fn create(path: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Path {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::File::create(path)
        .map(std::io::BufWriter::new)
        .map_err(|source| Error::Path {
            path: path.to_path_buf(),
            source,
        })
}

fn write_sarif(
    runner: &Runner,
    path: &Path,
    findings: &[Finding],
    ctx: &ReportContext<'_>,
) -> Result<()> {
    let reporter = SarifReporter {
        version_control: runner.repository_uri.as_ref().map(|uri| VersionControl {
            repository_uri: uri.clone(),
            revision_id: runner.sha.clone(),
            branch: runner.git_ref.clone(),
        }),
    };
    let mut f = create(path)?;
    reporter.write(findings, ctx, &mut f)?;
    f.flush()?;
    Ok(())
}

/// The JSON report (secrets masked), each finding with the `repository` it came from, for
/// `keysweep merge`.
fn write_json(
    path: &Path,
    findings: &[Finding],
    ctx: &ReportContext<'_>,
    repository: Option<&str>,
) -> Result<()> {
    // Grouping goes by `secret_group`, set before redaction, so masked secrets stay apart.
    let mut redacted = findings.to_vec();
    redacted.iter_mut().for_each(Finding::redact);
    let mut values = crate::report::json::records(&redacted, ctx).map_err(std::io::Error::other)?;
    for v in &mut values {
        if let (Some(obj), Some(repo)) = (v.as_object_mut(), repository) {
            obj.insert("repository".to_string(), repo.into());
        }
    }
    let mut f = create(path)?;
    serde_json::to_writer_pretty(&mut f, &values).map_err(std::io::Error::other)?;
    writeln!(f)?;
    f.flush()?;
    Ok(())
}
