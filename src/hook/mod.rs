//! The git hooks: `keysweep hook pre-push` (client), `pre-commit` (the index), `pre-receive` and
//! `update` (server), and their installation (`install`). Each turns git's hook protocol into a
//! scan (a history scope, see `protocol`, or the staged changes), prints the standard report and
//! then, on stderr, how to proceed. This is the equivalent of `main.rs` for those subcommands,
//! so it prints.

pub mod install;
pub mod protocol;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use gix::ObjectId;

use crate::config::{HistoryMode, ScanConfig, Target};
use crate::error::{Error, Result};
use crate::finding::Finding;
use crate::report::{reporter, Diagnostics, ReportContext};
use crate::scan::ScanOutcome;
use crate::source::git::{ref_tips, GitSource};
use protocol::{push_scope, Known, PushScope, RefUpdate};

/// How a hook run ends, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing found: git goes on (exit 0).
    Pass,
    /// Secrets found: git refuses (exit 1).
    Refuse,
    /// The scan could not run completely: git refuses too (exit 2).
    Error,
}

/// Builds the scan of a hook run at a repository root (rules, config, suppressions of that root).
pub type MakeConfig<'a> = &'a dyn Fn(&Path, HistoryMode) -> Result<ScanConfig>;

/// Which hook is running, for the guidance printed with a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    PrePush,
    PreCommit,
    Server,
}

/// `keysweep hook pre-push [REMOTE [URL]]`, run by git in the work tree with the pushed refs on
/// stdin, or by the pre-commit framework with `PRE_COMMIT_*` variables (and no stdin).
pub fn pre_push(remote: Option<&str>, make_config: MakeConfig<'_>) -> Result<Verdict> {
    let root = std::env::current_dir()?;
    let git = open(&root)?;
    let repo = git.repo();
    let framework = framework_updates(&repo)?;
    let (updates, remote) = match framework {
        Some((updates, name)) => (updates, name.or_else(|| remote.map(str::to_string))),
        None => {
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input)?;
            (
                protocol::parse_pre_push(&input)?,
                remote.map(str::to_string),
            )
        }
    };
    let known = Known::RemoteTracking(remote.unwrap_or_default());
    let tips = ref_tips(&repo)?;
    let scope = push_scope(&repo, &tips, &updates, &known)?;
    let tips_pushed: Vec<(String, ObjectId)> = updates
        .iter()
        .filter_map(|u| Some((u.refname.clone(), u.new?)))
        .collect();
    let config = make_config(&root, HistoryMode::HistoryOnly)?;
    scan_scope(config, scope, Kind::PrePush, &tips_pushed)
}

/// The pre-commit framework's pre-push stage: it reads git's stdin itself and passes the range
/// as `PRE_COMMIT_FROM_REF`/`PRE_COMMIT_TO_REF` (no FROM when the push holds a root commit), with
/// `PRE_COMMIT_REMOTE_NAME`. `None` when not run by the framework.
fn framework_updates(repo: &gix::Repository) -> Result<Option<(Vec<RefUpdate>, Option<String>)>> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (to, name) = (var("PRE_COMMIT_TO_REF"), var("PRE_COMMIT_REMOTE_NAME"));
    if to.is_none() && name.is_none() {
        return Ok(None);
    }
    let resolve = |spec: &str| -> Result<ObjectId> {
        repo.rev_parse_single(spec)
            .map(|id| id.detach())
            .map_err(|e| Error::Config(format!("revision {spec:?}: {e}")))
    };
    let to = match (to, var("PRE_COMMIT_LOCAL_BRANCH")) {
        (Some(to), _) => to,
        (None, Some(local)) => local,
        (None, None) => "HEAD".to_string(),
    };
    let update = RefUpdate {
        refname: var("PRE_COMMIT_REMOTE_BRANCH").unwrap_or_else(|| to.clone()),
        old: var("PRE_COMMIT_FROM_REF")
            .map(|f| resolve(&f))
            .transpose()?,
        new: Some(resolve(&to)?),
    };
    Ok(Some((vec![update], name)))
}

/// `keysweep hook pre-commit`: the staged changes of the work tree git runs it in.
pub fn pre_commit(make_config: MakeConfig<'_>) -> Result<Verdict> {
    let root = std::env::current_dir()?;
    let config = make_config(&root, HistoryMode::Staged)?;
    let diags = Diagnostics::new(true);
    let outcome = crate::scan::run(&config, &diags)?;
    finish(&config, &outcome, &diags, Kind::PreCommit, &[])
}

/// `keysweep hook pre-receive`: run by `git receive-pack` in the repository, with
/// `<old> <new> <ref>` lines on stdin and the pushed objects in the quarantine directory.
pub fn pre_receive(make_config: MakeConfig<'_>) -> Result<Verdict> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    server(&protocol::parse_pre_receive(&input)?, make_config)
}

/// `keysweep hook update REF OLD NEW`: the server's per-ref hook.
pub fn update(refname: &str, old: &str, new: &str, make_config: MakeConfig<'_>) -> Result<Verdict> {
    server(&[protocol::update(refname, old, new)?], make_config)
}

fn server(updates: &[RefUpdate], make_config: MakeConfig<'_>) -> Result<Verdict> {
    // receive-pack runs hooks in the repository with GIT_DIR set (to `.` for a bare one).
    let root = match std::env::var_os("GIT_DIR") {
        Some(d) => std::env::current_dir()?.join(d),
        None => std::env::current_dir()?,
    };
    let view = QuarantineView::new(&root)?;
    let git = open(view.path().unwrap_or(&root))?;
    // Refs are the repository's own (the view has none); objects come through the view.
    let tips = ref_tips(&open(&root)?.repo())?;
    let scope = push_scope(&git.repo(), &tips, updates, &Known::AllRefs)?;
    let mut config = make_config(&root, HistoryMode::HistoryOnly)?;
    if let Some(p) = view.path() {
        config.target = Target::Path(p.to_path_buf());
    }
    let pushed: Vec<(String, ObjectId)> = updates
        .iter()
        .filter_map(|u| Some((u.refname.clone(), u.new?)))
        .collect();
    scan_scope(config, scope, Kind::Server, &pushed)
}

fn open(path: &Path) -> Result<GitSource> {
    GitSource::try_open(path)?.ok_or_else(|| Error::NotARepository {
        path: path.to_path_buf(),
    })
}

fn scan_scope(
    mut config: ScanConfig,
    scope: PushScope,
    kind: Kind,
    pushed: &[(String, ObjectId)],
) -> Result<Verdict> {
    for w in &scope.warnings {
        eprintln!("keysweep: warning: {w}");
    }
    if scope.include.is_empty() {
        // Only deletions (or nothing): no commit is added.
        return Ok(Verdict::Pass);
    }
    config.scope.include = scope.include.iter().map(|id| id.to_string()).collect();
    config.scope.exclude = scope.exclude.iter().map(|id| id.to_string()).collect();
    let diags = Diagnostics::new(true);
    let outcome = crate::scan::run(&config, &diags)?;
    finish(&config, &outcome, &diags, kind, pushed)
}

/// Prints the report and the guidance; decides the verdict.
fn finish(
    config: &ScanConfig,
    outcome: &ScanOutcome,
    diags: &Diagnostics,
    kind: Kind,
    pushed: &[(String, ObjectId)],
) -> Result<Verdict> {
    let findings = &outcome.findings;
    if !findings.is_empty() {
        let scan_root = crate::scan::scan_root(config);
        let ctx = ReportContext {
            show_secrets: config.show_secrets,
            present: outcome.present.as_deref(),
            color: config.color.resolve(true),
            verbose: config.verbose,
            ..ReportContext::new(&config.rules, &scan_root)
        };
        let mut out = std::io::stdout().lock();
        reporter(config.format).write(findings, &ctx, &mut out)?;
        out.flush()?;
        let mut err = std::io::stderr().lock();
        write!(err, "{}", guidance(findings, kind, pushed, config))?;
        return Ok(Verdict::Refuse);
    }
    if diags.has_errors() {
        let bypass = match kind {
            Kind::PrePush => "; to push anyway: git push --no-verify",
            Kind::PreCommit => "; to commit anyway: git commit --no-verify",
            Kind::Server => "",
        };
        eprintln!("keysweep: refusing: part of the change could not be scanned (see the errors above){bypass}");
        return Ok(Verdict::Error);
    }
    Ok(Verdict::Pass)
}

/// The "how to proceed" text printed after the report.
fn guidance(
    findings: &[Finding],
    kind: Kind,
    pushed: &[(String, ObjectId)],
    config: &ScanConfig,
) -> String {
    let mut secrets: Vec<&str> = findings.iter().map(|f| f.fingerprint.as_str()).collect();
    secrets.sort_unstable();
    secrets.dedup();
    let what = match kind {
        Kind::PrePush => "push refused",
        Kind::PreCommit => "commit refused",
        Kind::Server => "push rejected by the server",
    };
    let mut s = format!(
        "\nkeysweep: {what}: {} secret(s) in {}.\n\nHow to proceed:\n",
        secrets.len(),
        if kind == Kind::PreCommit {
            "the staged changes"
        } else {
            "the pushed commits"
        }
    );
    // The commits that introduced something, with the places.
    let mut by_commit: BTreeMap<Option<&str>, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        by_commit.entry(f.commit.as_deref()).or_default().push(f);
    }
    let place = |f: &Finding| {
        format!(
            "{}:{} ({})",
            f.path.as_deref().unwrap_or("?"),
            f.line,
            f.rule_id.as_str()
        )
    };
    if kind == Kind::PreCommit {
        s.push_str("  1. Remove the secret from the files, then stage them again:\n");
        for f in findings {
            s.push_str(&format!("       {}\n", place(f)));
        }
        let paths: Vec<&str> = unique(findings.iter().filter_map(|f| f.path.as_deref()));
        s.push_str(&format!(
            "     (edit, then) git add {}\n     Read it from the environment instead (see the steps above).\n",
            shell_words(&paths)
        ));
    } else {
        s.push_str("  1. Remove the secret and rewrite the commit that introduced it:\n");
        let repo = match &config.target {
            Target::Path(p) => GitSource::try_open(p).ok().flatten().map(|g| g.repo()),
            Target::Stdin => None,
        };
        for (commit, fs) in &by_commit {
            let paths: Vec<&str> = unique(fs.iter().filter_map(|f| f.path.as_deref()));
            let places: Vec<String> = fs.iter().map(|f| place(f)).collect();
            let Some(sha) = commit else {
                s.push_str(&format!("     {}\n", places.join(", ")));
                continue;
            };
            let short = &sha[..sha.len().min(12)];
            let info = repo.as_ref().and_then(|r| commit_info(r, sha));
            let subject = info
                .as_ref()
                .map_or(String::new(), |i| format!(" \"{}\"", i.0));
            s.push_str(&format!(
                "     {} introduced by commit {short}{subject}\n",
                places.join(", ")
            ));
            let tip = pushed
                .iter()
                .find(|(_, id)| id.to_hex().to_string().as_str() == *sha);
            let add = format!("git add {}", shell_words(&paths));
            if let Some((refname, _)) = tip {
                s.push_str(&format!(
                    "       it is the tip of {refname}: edit the file(s), then\n         {add} && git commit --amend --no-edit\n"
                ));
            } else {
                let base = match info {
                    Some((_, true)) => "--root".to_string(),
                    _ => format!("{short}~1"),
                };
                s.push_str(&format!(
                    "         git rebase -i {base}      # mark {short} as `edit`\n         (edit the file(s)) {add} && git commit --amend --no-edit && git rebase --continue\n"
                ));
            }
        }
        s.push_str("     Once it has been pushed anywhere, rotate it too (see the steps above).\n");
    }
    s.push_str(
        "  2. If it is not a secret (a test value, an example), allowlist it: put `keysweep:allow` in a\n     comment on its line, or record it in .keysweepignore (then commit that file):\n",
    );
    s.push_str(&format!(
        "       keysweep ignore {} --reason \"...\"\n",
        secrets.join(" ")
    ));
    match kind {
        Kind::PrePush => s.push_str(
            "  3. Last resort, to push it anyway (the secret leaves this machine): git push --no-verify\n",
        ),
        Kind::PreCommit => s.push_str(
            "  3. Last resort, to commit it anyway: git commit --no-verify (the pre-push hook still checks)\n",
        ),
        Kind::Server => {
            s.push_str("  The server refuses pushes that carry secrets; ask its administrators about exceptions.\n")
        }
    }
    s
}

/// The subject line of `sha` and whether it is a root commit.
fn commit_info(repo: &gix::Repository, sha: &str) -> Option<(String, bool)> {
    let id = ObjectId::from_hex(sha.as_bytes()).ok()?;
    let commit = repo.find_commit(id).ok()?;
    let subject = commit
        .message()
        .ok()
        .map(|m| m.summary().to_string())
        .unwrap_or_default();
    let is_root = commit.parent_ids().next().is_none();
    Some((subject, is_root))
}

fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = items.collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Paths quoted for a POSIX shell where needed.
fn shell_words(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| {
            if w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-+@%=:,".contains(&b))
            {
                w.to_string()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A repository directory that sees the objects of a push still in git's quarantine
/// (`GIT_QUARANTINE_PATH`, during pre-receive and update): an empty bare repository whose
/// alternates are the quarantine and the real object database. gix opens a repository's
/// `objects` directory only, so the quarantined objects are reached this way.
struct QuarantineView {
    dir: Option<tempfile::TempDir>,
}

impl QuarantineView {
    fn new(git_dir: &Path) -> Result<QuarantineView> {
        let Some(quarantine) = std::env::var_os("GIT_QUARANTINE_PATH") else {
            return Ok(QuarantineView { dir: None });
        };
        let cwd = std::env::current_dir()?;
        let abs = |p: PathBuf| if p.is_absolute() { p } else { cwd.join(p) };
        let dir = tempfile::Builder::new()
            .prefix("keysweep-quarantine-")
            .tempdir()?;
        let d = dir.path();
        std::fs::create_dir_all(d.join("refs/heads"))?;
        std::fs::create_dir_all(d.join("refs/tags"))?;
        std::fs::create_dir_all(d.join("objects/info"))?;
        std::fs::write(d.join("HEAD"), "ref: refs/heads/main\n")?;
        std::fs::write(
            d.join("config"),
            "[core]\n\trepositoryformatversion = 0\n\tbare = true\n",
        )?;
        let objects = abs(git_dir.join("objects"));
        let alternates = format!(
            "{}\n{}\n",
            abs(PathBuf::from(quarantine)).display(),
            objects.display()
        );
        std::fs::write(d.join("objects/info/alternates"), alternates)?;
        Ok(QuarantineView { dir: Some(dir) })
    }

    fn path(&self) -> Option<&Path> {
        self.dir.as_ref().map(|d| d.path())
    }
}
