//! What a push adds: git's hook protocols (pre-push, pre-receive, update) turned into one
//! history scope, `include` (the new tips) and `exclude` (what the other side already has), for
//! `HistoryScope` and so for `GitSource::scope_commits`, the one range walk every entry point
//! shares.
//!
//! The range rules: a deletion adds nothing. For a ref the other side has, and whose old tip is
//! present here, the push adds what `old..new` introduces (a force push too: commits of `new`
//! not reachable from `old`). For a new ref, or an old tip this repository does not have, it adds
//! the commits reachable from `new` and from no ref of the other side: the remote's
//! remote-tracking refs on the client, falling back to every remote-tracking ref and then to
//! nothing (the whole history of `new`); every ref on the server. Several refs in one push make
//! one scope: a commit the other side has through any of them is not new.

use gix::ObjectId;

use crate::error::{Error, Result};

/// One ref a push changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// The ref as the receiving side names it (`refs/heads/main`).
    pub refname: String,
    /// Its value on the receiving side; `None` when it does not exist there (all zeros).
    pub old: Option<ObjectId>,
    /// Its new value; `None` for a deletion (all zeros).
    pub new: Option<ObjectId>,
}

/// Where the commits the other side already has are known from, besides the old tips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// The client: this remote's remote-tracking refs (`refs/remotes/NAME/*`), else every
    /// remote-tracking ref, else none.
    RemoteTracking(String),
    /// The server: every ref of the repository.
    AllRefs,
}

/// The history a push adds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushScope {
    /// The new tips (commits).
    pub include: Vec<ObjectId>,
    /// Commits the other side has, with their ancestors.
    pub exclude: Vec<ObjectId>,
    /// Problems with single refs (a tip that is not a commit); the rest is still scanned.
    pub warnings: Vec<String>,
}

fn parse_id(word: &str, what: &str, line: &str) -> Result<Option<ObjectId>> {
    let id = ObjectId::from_hex(word.as_bytes())
        .map_err(|e| Error::Config(format!("hook input {line:?}: {what} {word:?}: {e}")))?;
    Ok((!id.is_null()).then_some(id))
}

/// Parses git's pre-push stdin: `<local ref> <local sha> <remote ref> <remote sha>` a line.
pub fn parse_pre_push(input: &str) -> Result<Vec<RefUpdate>> {
    input
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let w: Vec<&str> = line.split_whitespace().collect();
            let [_local_ref, local, remote_ref, remote] = w[..] else {
                return Err(Error::Config(format!(
                    "pre-push input {line:?}: expected `<local ref> <local sha> <remote ref> <remote sha>`"
                )));
            };
            Ok(RefUpdate {
                refname: remote_ref.to_string(),
                old: parse_id(remote, "remote sha", line)?,
                new: parse_id(local, "local sha", line)?,
            })
        })
        .collect()
}

/// Parses git's pre-receive stdin: `<old> <new> <ref>` a line.
pub fn parse_pre_receive(input: &str) -> Result<Vec<RefUpdate>> {
    input
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let w: Vec<&str> = line.split_whitespace().collect();
            let [old, new, refname] = w[..] else {
                return Err(Error::Config(format!(
                    "pre-receive input {line:?}: expected `<old sha> <new sha> <ref>`"
                )));
            };
            update(refname, old, new)
        })
        .collect()
}

/// One ref update from its parts (the update hook's arguments).
pub fn update(refname: &str, old: &str, new: &str) -> Result<RefUpdate> {
    let line = format!("{old} {new} {refname}");
    Ok(RefUpdate {
        refname: refname.to_string(),
        old: parse_id(old, "old sha", &line)?,
        new: parse_id(new, "new sha", &line)?,
    })
}

/// `id` peeled to a commit, if this repository has it and it leads to one.
fn try_peel_commit(repo: &gix::Repository, id: ObjectId) -> Option<ObjectId> {
    let object = repo.try_find_object(id).ok()??;
    object.peel_to_commit().ok().map(|c| c.id)
}

/// The scope of `updates` in `repo`, whose refs are `tips` (name, peeled id).
pub fn push_scope(
    repo: &gix::Repository,
    tips: &[(String, ObjectId)],
    updates: &[RefUpdate],
    known: &Known,
) -> Result<PushScope> {
    let mut scope = PushScope::default();
    let mut need_known_refs = false;
    for u in updates {
        let Some(new) = u.new else { continue };
        match try_peel_commit(repo, new) {
            Some(c) => scope.include.push(c),
            None if repo.try_find_object(new).ok().flatten().is_some() => {
                scope.warnings.push(format!(
                    "{}: {new} is not a commit (a tag of a tree or blob); its content is not scanned",
                    u.refname
                ));
                continue;
            }
            None => {
                return Err(Error::Config(format!(
                    "{}: the pushed object {new} is not in this repository",
                    u.refname
                )))
            }
        }
        match u.old.and_then(|old| try_peel_commit(repo, old)) {
            Some(old) => scope.exclude.push(old),
            None => need_known_refs = true,
        }
    }
    if need_known_refs && !scope.include.is_empty() {
        let is_commit = |id: &ObjectId| {
            repo.find_header(*id)
                .is_ok_and(|h| h.kind() == gix::objs::Kind::Commit)
        };
        let pick = |prefix: &str| -> Vec<ObjectId> {
            tips.iter()
                .filter(|(name, id)| name.starts_with(prefix) && is_commit(id))
                .map(|(_, id)| *id)
                .collect()
        };
        let known_ids = match known {
            Known::AllRefs => pick(""),
            Known::RemoteTracking(remote) => {
                let own = pick(&format!("refs/remotes/{remote}/"));
                if own.is_empty() {
                    pick("refs/remotes/")
                } else {
                    own
                }
            }
        };
        scope.exclude.extend(known_ids);
    }
    scope.include.sort();
    scope.include.dedup();
    scope.exclude.sort();
    scope.exclude.dedup();
    Ok(scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_push_lines_parse_and_zeros_are_none() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let input =
            format!("refs/heads/x {a} refs/heads/x {z}\nrefs/heads/y {z} refs/heads/y {a}\n");
        let u = parse_pre_push(&input).expect("parses");
        assert_eq!(u.len(), 2);
        assert!(u[0].old.is_none() && u[0].new.is_some());
        assert!(u[1].new.is_none());
        assert!(parse_pre_push("refs/heads/x abc").is_err());
        assert!(parse_pre_receive(&format!("{z} {a}")).is_err());
    }
}
