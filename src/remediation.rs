//! Remediation plans: a rule's remediation entry (the data of `patterns/*.yaml`, parsed and
//! checked in `rules::remediation`) applied to the findings of one leaked secret.
//!
//! The entry says what the credential unlocks, how to rotate it, what breaks when it is rotated,
//! how to load it from the environment instead and whether history must be purged. This module
//! renders an entry plus the context of one leaked secret (where it is, whether it is in history /
//! still at HEAD) into ordered steps:
//! rotate → move to the environment → purge history → verify ([`RemediationPlan`], serialisable
//! for `--format json`, [`RemediationPlan::render_human`] for the human report). Grouping findings
//! by secret and printing are the reporters' job.

use std::fmt::Write as _;
use std::sync::Arc;

use foldhash::HashMap;
use serde::Serialize;

pub use crate::rules::remediation::is_env_var_name;
use crate::rules::remediation::{PurgeNeed, RemediationSpec, RotateStep, Snippet};

/// Where one leaked secret (or the several secrets a set of steps is printed for) is, as known to
/// the reporter.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// `path:line` of every place it is now (the working tree, or HEAD's tree in a bare
    /// repository): the same check as "still at HEAD".
    pub head_places: Vec<String>,
    /// Full sha of the commit that introduced it, if it is in history.
    pub introduced_in: Option<&'a str>,
    /// How many times history carries it, counted over commits and files (0 when unknown).
    pub commits: usize,
    /// Found in at least one commit.
    pub in_history: bool,
    /// Still present now (`head_places` is not empty), or `None` when that cannot be told (no
    /// working tree was scanned).
    pub at_head: Option<bool>,
    /// The path given to `keysweep scan` (used in the printed verify commands); `.` if `None`.
    pub scan_root: Option<&'a str>,
}

/// The kind of a remediation step, in the order they are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// Revoke or rotate the credential at its provider.
    Rotate,
    /// Replace the literal with an environment lookup.
    MoveToEnv,
    /// Rewrite git history.
    PurgeHistory,
    /// Check that the old value is gone and rejected.
    Verify,
}

/// One numbered step of a [`RemediationPlan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What kind of step.
    pub kind: StepKind,
    /// One line.
    pub title: String,
    /// Sentences, in order.
    pub details: Vec<String>,
    /// Shell commands, in order.
    pub commands: Vec<String>,
    /// Console pages and documentation.
    pub links: Vec<String>,
    /// Code to paste.
    pub snippets: Vec<Snippet>,
    /// The rotation steps of the remediation entry, in order (rotate step only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub substeps: Vec<RotateStep>,
}

/// The remediation of one leaked secret: a rule's [`RemediationSpec`] applied to its [`Context`].
/// This is the structured form of the steps carried by `--format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemediationPlan {
    /// Id of the remediation entry.
    pub remediation_id: String,
    /// One-line summary.
    pub summary: String,
    /// What the credential unlocks.
    pub unlocks: Option<String>,
    /// What rotation breaks.
    pub breaks: Vec<String>,
    /// Whether history must be purged for this secret.
    pub purge_needed: bool,
    /// rotate → move to env → purge history (when needed) → verify. Shared between the plans
    /// of a [`PlanCache`] where they are the same.
    pub steps: Vec<Arc<Step>>,
    /// Further reading.
    pub references: Vec<String>,
}

impl RemediationPlan {
    /// Builds the steps for one secret.
    pub fn new(spec: &RemediationSpec, ctx: &Context<'_>) -> RemediationPlan {
        PlanCache::default().plan(spec, ctx)
    }

    /// Numbered steps for the human report. Each line is prefixed with `indent`.
    pub fn render_human(&self, indent: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{indent}Remediation: {}", self.summary);
        if let Some(unlocks) = &self.unlocks {
            let _ = writeln!(out, "{indent}Unlocks: {unlocks}");
        }
        for (n, step) in self.steps.iter().enumerate() {
            let _ = writeln!(out, "{indent}{}. {}", n + 1, step.title);
            let sub = format!("{indent}   ");
            for (i, r) in step.substeps.iter().enumerate() {
                let letter = char::from(b'a' + (i % 26) as u8);
                let _ = writeln!(out, "{sub}{letter}) {}", r.step.trim());
                if let Some(c) = &r.command {
                    for line in c.trim_end().lines() {
                        let _ = writeln!(out, "{sub}     $ {line}");
                    }
                }
                if let Some(u) = &r.url {
                    let _ = writeln!(out, "{sub}     console: {u}");
                }
                if let Some(d) = &r.docs {
                    let _ = writeln!(out, "{sub}     docs: {d}");
                }
            }
            for d in &step.details {
                let _ = writeln!(out, "{sub}- {d}");
            }
            for c in &step.commands {
                let _ = writeln!(out, "{sub}  $ {c}");
            }
            for s in &step.snippets {
                let _ = writeln!(out, "{sub}  {}:", s.label);
                for line in s.code.trim_end().lines() {
                    let _ = writeln!(out, "{sub}    {line}");
                }
            }
            for l in &step.links {
                let _ = writeln!(out, "{sub}  see {l}");
            }
        }
        if !self.references.is_empty() {
            let _ = writeln!(out, "{indent}References: {}", self.references.join(" "));
        }
        out
    }
}

impl Step {
    fn new(kind: StepKind, title: &str) -> Step {
        Step {
            kind,
            title: title.to_owned(),
            details: Vec::new(),
            commands: Vec::new(),
            links: Vec::new(),
            snippets: Vec::new(),
            substeps: Vec::new(),
        }
    }
}

/// Builds [`RemediationPlan`]s for many secrets, sharing the steps that come out the same: the
/// rotate, purge and verify steps depend on the remediation entry and a few facts (in history or
/// not, the introducing commit, the scanned path), not on where each secret is, so 80,000 secrets
/// of one kind share one of each. Only the move-to-env step, which names the places, is built per
/// secret. Entries are told apart by the address of their [`RemediationSpec`], which outlives
/// the cache.
#[derive(Debug, Default)]
pub struct PlanCache<'s> {
    rotate: HashMap<(SpecRef<'s>, bool), Arc<Step>>,
    purge: HashMap<(SpecRef<'s>, Option<&'s str>, usize, &'s str), Arc<Step>>,
    verify: HashMap<(bool, &'s str), Arc<Step>>,
}

/// A remediation entry compared and hashed by address.
#[derive(Debug, Clone, Copy)]
struct SpecRef<'s>(&'s RemediationSpec);

impl PartialEq for SpecRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for SpecRef<'_> {}

impl std::hash::Hash for SpecRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::ptr::hash(self.0, h);
    }
}

impl<'s> PlanCache<'s> {
    /// The steps of `spec` for one secret whose situation is `ctx`: the same as building them
    /// afresh.
    pub fn plan(&mut self, spec: &'s RemediationSpec, ctx: &Context<'s>) -> RemediationPlan {
        let scan_root = ctx.scan_root.unwrap_or(".");
        let mut steps = Vec::with_capacity(4);
        steps.push(
            self.rotate
                .entry((SpecRef(spec), ctx.in_history))
                .or_insert_with(|| Arc::new(rotate_step(spec, ctx)))
                .clone(),
        );
        steps.push(Arc::new(env_step(spec, ctx, scan_root)));
        let purge_needed = ctx.in_history && spec.purge.needed == PurgeNeed::IfCommitted;
        if ctx.in_history {
            let key = (SpecRef(spec), ctx.introduced_in, ctx.commits, scan_root);
            let step = self
                .purge
                .entry(key)
                .or_insert_with(|| Arc::new(purge_step(spec, ctx, purge_needed, scan_root)));
            steps.push(step.clone());
        }
        steps.push(
            self.verify
                .entry((ctx.in_history, scan_root))
                .or_insert_with(|| Arc::new(verify_step(ctx, scan_root)))
                .clone(),
        );
        RemediationPlan {
            remediation_id: spec.id.clone(),
            summary: spec.summary.trim().to_owned(),
            unlocks: spec.unlocks.as_ref().map(|s| s.trim().to_owned()),
            breaks: spec.breaks.clone(),
            purge_needed,
            steps,
            references: spec.references.clone(),
        }
    }
}

fn rotate_step(spec: &RemediationSpec, ctx: &Context<'_>) -> Step {
    let mut rotate = Step::new(
        StepKind::Rotate,
        if ctx.in_history {
            "Rotate it first: it is in git history, so treat it as leaked"
        } else {
            "Rotate it: anyone who saw this file may have copied it"
        },
    );
    rotate.substeps = spec.rotate.clone();
    if !spec.breaks.is_empty() {
        rotate
            .details
            .push(format!("Rotating breaks: {}", join_items(&spec.breaks)));
    }
    rotate
}

fn env_step(spec: &RemediationSpec, ctx: &Context<'_>, scan_root: &str) -> Step {
    let var = spec.env.as_ref().map(|e| e.var.as_str());
    let mut env = Step::new(
        StepKind::MoveToEnv,
        &match var {
            Some(v) => format!("Load the new value from the environment variable {v}"),
            None => "Load the new value from the environment, not from the source".to_owned(),
        },
    );
    match ctx.at_head {
        Some(true) => {
            env.details.push(format!(
                "It is still in {}: replace it there.",
                list_places(&ctx.head_places)
            ));
            if ctx.head_places.iter().any(|p| is_python_settings(p)) {
                env.details.push(
                    "`keysweep fix` does this for Django settings: it writes a new SECRET_KEY \
                     and the other values to .env (mode 0600, git-ignored)."
                        .to_owned(),
                );
                env.commands
                    .push(format!("keysweep fix --dry-run {scan_root}"));
            }
        }
        Some(false) => env.details.push(
            "It is no longer in the files on disk; make sure whatever used it now reads its \
             replacement from the environment."
                .to_owned(),
        ),
        None => env.details.push(
            "Wherever it is still used, read its replacement from the environment instead."
                .to_owned(),
        ),
    }
    if let Some(advice) = &spec.env {
        env.details
            .extend(advice.note.iter().map(|n| n.trim().to_owned()));
        env.snippets.extend(advice.snippets.iter().cloned());
    }
    env.details.push(
        "Keep .env out of git (.gitignore) and commit only a .env.example with the names; \
         in production use the platform's secret store."
            .to_owned(),
    );
    env
}

fn purge_step(
    spec: &RemediationSpec,
    ctx: &Context<'_>,
    purge_needed: bool,
    scan_root: &str,
) -> Step {
    let mut purge = Step::new(
        StepKind::PurgeHistory,
        if purge_needed {
            "Purge it from git history"
        } else {
            "Optionally purge it from git history"
        },
    );
    let mut where_ = String::from("It is in git history");
    if let Some(commit) = ctx.introduced_in {
        let _ = write!(where_, ", first committed in {}", short_sha(commit));
    }
    if ctx.commits > 1 {
        let _ = write!(
            where_,
            ", found {} times across commits and files",
            ctx.commits
        );
    }
    where_.push('.');
    purge.details.push(where_);
    purge.details.push(
        "Rewriting history does not un-leak it: every existing clone, fork and pull-request \
         ref keeps the old commits. Rotation is what protects you; purging stops further spread."
            .to_owned(),
    );
    purge
        .details
        .extend(spec.purge.note.iter().map(|n| n.trim().to_owned()));
    purge
        .commands
        .push(format!("keysweep purge-plan {scan_root}"));
    purge
        .links
        .push("https://github.com/newren/git-filter-repo".to_owned());
    purge
}

fn verify_step(ctx: &Context<'_>, scan_root: &str) -> Step {
    let mut verify = Step::new(StepKind::Verify, "Verify");
    verify
        .details
        .push("Check that the old value is rejected by the service (try it once).".to_owned());
    verify
        .commands
        .push(format!("keysweep scan --no-history {scan_root}"));
    if ctx.in_history {
        verify.commands.push(format!("keysweep scan {scan_root}"));
    }
    verify
}

fn join_items(items: &[String]) -> String {
    items
        .iter()
        .map(|s| s.trim().trim_end_matches('.'))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The first 12 hex digits of a commit id.
pub fn short_sha(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// `path:line` or `path` (a line suffix is ignored when looking at the extension).
fn is_python_settings(place: &str) -> bool {
    let path = place.rsplit_once(':').map_or(place, |(p, line)| {
        if line.bytes().all(|b| b.is_ascii_digit()) {
            p
        } else {
            place
        }
    });
    path.ends_with(".py") && path.contains("settings")
}

/// `a.py:3, b.env:1 and 4 more`.
fn list_places(places: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut out = places
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if places.len() > SHOWN {
        let _ = write!(out, " and {} more", places.len() - SHOWN);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::rules::remediation::TEST_SPEC as DJANGO;

    fn spec() -> RemediationSpec {
        serde_yaml::from_str(DJANGO).expect("valid test yaml")
    }

    #[test]
    fn secret_in_history_gets_purge_step_and_history_verify() {
        let ctx = Context {
            head_places: vec!["mysite/settings.py:23".into()],
            introduced_in: Some("0123456789abcdef0123456789abcdef01234567"),
            commits: 40,
            in_history: true,
            at_head: Some(true),
            scan_root: None,
        };
        let plan = RemediationPlan::new(&spec(), &ctx);
        let kinds: Vec<_> = plan.steps.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                StepKind::Rotate,
                StepKind::MoveToEnv,
                StepKind::PurgeHistory,
                StepKind::Verify
            ]
        );
        assert!(plan.purge_needed);
        let text = plan.render_human("  ");
        assert!(text.contains("1. Rotate it first"), "{text}");
        assert!(text.contains("mysite/settings.py:23"), "{text}");
        assert!(
            text.contains(
                "first committed in 0123456789ab, found 40 times across commits and files."
            ),
            "{text}"
        );
        assert!(text.contains("$ keysweep fix --dry-run ."), "{text}");
        assert!(text.contains("get_random_secret_key()"), "{text}");
        let json = serde_json::to_value(&plan).expect("serialise");
        assert_eq!(json["steps"][2]["kind"], "purge-history");
    }

    #[test]
    fn working_tree_only_secret_has_no_purge_step() {
        let ctx = Context {
            head_places: vec![".env.local:1".into()],
            at_head: Some(true),
            ..Context::default()
        };
        let plan = RemediationPlan::new(&spec(), &ctx);
        assert!(!plan.purge_needed);
        assert!(plan.steps.iter().all(|s| s.kind != StepKind::PurgeHistory));
        assert!(!plan.render_human("").contains("keysweep fix"));
    }

    #[test]
    fn a_secret_gone_from_disk_is_not_said_to_be_still_there() {
        let ctx = Context {
            in_history: true,
            at_head: Some(false),
            ..Context::default()
        };
        let text = RemediationPlan::new(&spec(), &ctx).render_human("");
        assert!(text.contains("no longer in the files on disk"), "{text}");
        assert!(!text.contains("still in"), "{text}");
    }
}
