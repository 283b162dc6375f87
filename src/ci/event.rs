//! The GitHub Actions event that started a workflow run, read from `$GITHUB_EVENT_NAME` and the
//! webhook payload at `$GITHUB_EVENT_PATH`, and what it asks keysweep to scan. Only the payload
//! fields keysweep needs are read (`ref`, `before`, `after`, `deleted` of a push;
//! `pull_request.head.sha` / `base.sha` of a pull request); the rest is ignored.

use serde::Deserialize;

use crate::error::{Error, Result};

/// The all-zero sha GitHub sends as `before` of a new branch and `after` of a deleted one.
const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// The fields of a `push` payload that keysweep reads.
#[derive(Debug, Clone, Deserialize)]
pub struct PushPayload {
    /// `refs/heads/main`, `refs/tags/v1`.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The ref's tip before the push (zeros for a new ref).
    pub before: String,
    /// The ref's tip after the push (zeros for a deleted ref).
    pub after: String,
    /// Whether the push deleted the ref.
    #[serde(default)]
    pub deleted: bool,
}

/// One side of a pull request.
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequestRef {
    /// The commit.
    pub sha: String,
    /// The branch name (`main`, `feature`).
    #[serde(rename = "ref")]
    pub name: String,
}

/// The `pull_request` object of a pull request payload.
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    pub head: PullRequestRef,
    pub base: PullRequestRef,
}

/// The fields of a `pull_request` / `pull_request_target` payload that keysweep reads.
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequestPayload {
    /// The pull request number.
    pub number: u64,
    pub pull_request: PullRequest,
}

/// The event, as far as scanning is concerned.
#[derive(Debug, Clone)]
pub enum Event {
    /// A push to a branch or tag.
    Push(PushPayload),
    /// A pull request (also `pull_request_target`): the PR's own commits are scanned.
    PullRequest {
        /// `pull_request` or `pull_request_target`.
        name: String,
        payload: PullRequestPayload,
    },
    /// `schedule`, `workflow_dispatch` and any other event: the whole history.
    Sweep {
        /// The event name.
        name: String,
    },
}

/// What an event asks to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing is new (a deleted ref, a push that moved nothing): exit 0 with this note.
    Nothing(String),
    /// Commits reachable from `include` and from none of `exclude`.
    Range {
        include: Vec<String>,
        exclude: Vec<String>,
        /// One line for the job summary.
        describe: String,
    },
    /// A new ref: the commits of `tip` that no other ref has (the caller lists the other refs).
    NewRef {
        tip: String,
        /// The pushed ref (`refs/heads/feature`), which is not an "other" ref.
        git_ref: String,
        describe: String,
    },
    /// The whole history and the working tree.
    Everything(String),
}

fn is_zero(sha: &str) -> bool {
    sha.is_empty() || sha == ZERO_SHA || sha.bytes().all(|b| b == b'0')
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

impl Event {
    /// Parses the event called `name` from its webhook payload (the text of
    /// `$GITHUB_EVENT_PATH`; `None` when the runner gave no payload file).
    pub fn parse(name: &str, payload: Option<&str>) -> Result<Event> {
        let need = |what: &str| -> Result<&str> {
            payload.ok_or_else(|| {
                Error::Config(format!(
                    "{what} event without a payload: GITHUB_EVENT_PATH is not set or unreadable"
                ))
            })
        };
        let bad = |e: serde_json::Error| {
            Error::Config(format!(
                "GITHUB_EVENT_PATH: not a {name} event payload: {e}"
            ))
        };
        match name {
            "push" => Ok(Event::Push(serde_json::from_str(need(name)?).map_err(bad)?)),
            "pull_request" | "pull_request_target" => Ok(Event::PullRequest {
                name: name.to_string(),
                payload: serde_json::from_str(need(name)?).map_err(bad)?,
            }),
            "" => Err(Error::Config(
                "GITHUB_EVENT_NAME is not set: run this in a GitHub Actions workflow, or use \
                 `keysweep scan`"
                    .to_string(),
            )),
            other => Ok(Event::Sweep {
                name: other.to_string(),
            }),
        }
    }

    /// The commits that must be in the local repository for the plan to be computed.
    pub fn needed_commits(&self) -> Vec<String> {
        match self {
            Event::Push(p) => [&p.after, &p.before]
                .into_iter()
                .filter(|s| !is_zero(s))
                .cloned()
                .collect(),
            Event::PullRequest { payload, .. } => vec![
                payload.pull_request.head.sha.clone(),
                payload.pull_request.base.sha.clone(),
            ],
            Event::Sweep { .. } => Vec::new(),
        }
    }

    /// What to scan. `before_available` says whether a push's `before` commit is in the local
    /// repository: after a force push it may be gone from the remote, and then the push is scanned
    /// like a new branch (what no other ref has).
    pub fn plan(&self, before_available: bool) -> Plan {
        match self {
            Event::Push(p) if p.deleted || is_zero(&p.after) => {
                Plan::Nothing(format!("push deleted {}: nothing to scan", p.git_ref))
            }
            Event::Push(p) if p.before == p.after => Plan::Nothing(format!(
                "push to {} did not move it ({}): nothing new to scan",
                p.git_ref,
                short(&p.after)
            )),
            Event::Push(p) if is_zero(&p.before) => Plan::NewRef {
                tip: p.after.clone(),
                git_ref: p.git_ref.clone(),
                describe: format!(
                    "push of new ref {} at {}: commits no other branch or tag has",
                    p.git_ref,
                    short(&p.after)
                ),
            },
            Event::Push(p) if !before_available => Plan::NewRef {
                tip: p.after.clone(),
                git_ref: p.git_ref.clone(),
                describe: format!(
                    "push to {} ({}..{}); the old tip is not in the repository (a forced \
                     push?), so: commits of {} no other branch or tag has",
                    p.git_ref,
                    short(&p.before),
                    short(&p.after),
                    short(&p.after)
                ),
            },
            Event::Push(p) => Plan::Range {
                include: vec![p.after.clone()],
                exclude: vec![p.before.clone()],
                describe: format!(
                    "push to {}: commits in {}..{}",
                    p.git_ref,
                    short(&p.before),
                    short(&p.after)
                ),
            },
            Event::PullRequest { name, payload } => {
                let pr = &payload.pull_request;
                Plan::Range {
                    include: vec![pr.head.sha.clone()],
                    exclude: vec![pr.base.sha.clone()],
                    describe: format!(
                        "{name} #{} ({} into {}): commits in merge-base..{}",
                        payload.number,
                        pr.head.name,
                        pr.base.name,
                        short(&pr.head.sha)
                    ),
                }
            }
            Event::Sweep { name } => Plan::Everything(format!(
                "{name}: full sweep of the history (every blob of every ref) and the working tree"
            )),
        }
    }

    /// The local branch name a push's ref implies (`refs/heads/x` → `x`).
    pub fn pushed_branch(git_ref: &str) -> Option<&str> {
        git_ref.strip_prefix("refs/heads/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(before: &str, after: &str) -> Event {
        Event::parse(
            "push",
            Some(&format!(
                r#"{{"ref":"refs/heads/main","before":"{before}","after":"{after}","deleted":false,"repository":{{"full_name":"o/r"}}}}"#
            )),
        )
        .expect("a push payload")
    }

    #[test]
    fn push_plans() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        assert!(matches!(push(&a, &a).plan(true), Plan::Nothing(_)));
        assert!(matches!(push(&a, ZERO_SHA).plan(true), Plan::Nothing(_)));
        assert!(matches!(push(ZERO_SHA, &b).plan(true), Plan::NewRef { .. }));
        assert!(matches!(push(&a, &b).plan(false), Plan::NewRef { .. }));
        match push(&a, &b).plan(true) {
            Plan::Range {
                include, exclude, ..
            } => {
                assert_eq!(include, vec![b.clone()]);
                assert_eq!(exclude, vec![a.clone()]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_events_sweep_and_a_missing_payload_is_an_error() {
        assert!(matches!(
            Event::parse("schedule", None).map(|e| e.plan(true)),
            Ok(Plan::Everything(_))
        ));
        assert!(Event::parse("push", None).is_err());
        assert!(Event::parse("push", Some("{}")).is_err());
        assert!(Event::parse("", None).is_err());
    }
}
