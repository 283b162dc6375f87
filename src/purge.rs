//! `keysweep purge-plan`: the history purge, planned but not run.
//!
//! From the secrets found it builds a `git filter-repo --replace-text` expressions file (each
//! distinct secret → `***REMOVED***`) and the text to print: the exact commands (fresh mirror
//! clone, filter-repo, verify with `keysweep scan`, force push) and the warnings that matter
//! (rotation is what protects you; every clone, fork and pull-request ref keeps the old history).
//! Rewriting history is left to the user: keysweep never runs it.
//!
//! Expression lines: `literal:SECRET==>***REMOVED***` for a one-line secret. filter-repo splits
//! a line on its *last* `==>`, so a secret containing `==>` is safe. A secret spanning lines (a
//! PEM block) cannot be a literal line: it gets a `regex:` that allows `\r\n` / `\n` / an escaped
//! `\\n` and indentation between its lines, plus a `literal:` for each long body line, so the
//! same key reformatted elsewhere is caught too.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What replaces each secret.
pub const REPLACEMENT: &str = "***REMOVED***";
/// Secrets shorter than this also replace unrelated text that happens to be equal.
const SHORT_SECRET: usize = 8;
/// Body lines of a multi-line secret at least this long get a literal line of their own.
const MIN_LINE_LITERAL: usize = 16;

/// One secret to purge, as found (the lead maps each `Finding` to one of these).
#[derive(Debug, Clone, Copy)]
pub struct PurgeSecret<'a> {
    /// The secret text.
    pub secret: &'a str,
    /// Rule that found it.
    pub rule_id: &'a str,
    /// A path holding it.
    pub path: Option<&'a str>,
    /// Commit that introduced it (`None`: working tree only).
    pub commit: Option<&'a str>,
    /// The whole matched text (the finding's `match`): when the secret was joined from several
    /// string literals (`concat` rules) it does not occur as such, and its pieces are purged.
    pub matched: Option<&'a str>,
    /// Found in a binary file (compiled Python, SQLite, an archive): `--replace-text` does not
    /// touch binary blobs, so the file is removed from history instead.
    pub binary: bool,
}

/// The expressions file and what to tell the user about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgePlan {
    /// Contents of the `--replace-text` file.
    pub expressions: String,
    /// Number of distinct secrets.
    pub secrets: usize,
    /// Number of those seen in at least one commit.
    pub in_history: usize,
    /// Things to check before running it (short secrets, ...).
    pub warnings: Vec<String>,
    /// Paths of binary files holding a secret, removed from every commit by the plan.
    pub binary_paths: BTreeSet<String>,
}

impl PurgePlan {
    /// Builds the expressions for the distinct secrets of `found`, in order of first appearance.
    pub fn new(found: &[PurgeSecret<'_>]) -> PurgePlan {
        let mut plan = PurgePlan::default();
        let mut seen = BTreeSet::new();
        let mut committed = BTreeSet::new();
        let mut lines: Vec<String> = Vec::new();
        for f in found {
            if f.commit.is_some() {
                committed.insert(f.secret);
            }
            if f.binary {
                if let Some(p) = f.path {
                    plan.binary_paths.insert(p.to_owned());
                }
            }
            if f.secret.is_empty() || !seen.insert(f.secret) {
                continue;
            }
            let at = f.path.map(|p| format!(" ({p})")).unwrap_or_default();
            if f.secret.chars().count() < SHORT_SECRET {
                plan.warnings.push(format!(
                    "rule {}{at}: the secret is shorter than {SHORT_SECRET} characters; the purge \
                     also replaces any other text equal to it, review the result",
                    f.rule_id
                ));
            }
            let pieces = f
                .matched
                .filter(|m| !m.contains(f.secret))
                .map(|m| concat_pieces(m, f.secret));
            if let Some(pieces) = pieces {
                for p in pieces {
                    if p.chars().count() < SHORT_SECRET {
                        plan.warnings.push(format!(
                            "rule {}{at}: the secret is split into string pieces; {p:?} is too short to \
                             purge safely and is left alone",
                            f.rule_id
                        ));
                    } else {
                        lines.push(format!("literal:{p}==>{REPLACEMENT}"));
                    }
                }
            } else if let Some(parts) = secret_lines(f.secret) {
                // filter-repo applies every `literal:` before any `regex:`, and regexes in file
                // order: so the body lines are regexes too, after the whole-block one. The block
                // (armour lines included) goes first; a copy reformatted elsewhere loses its body.
                lines.push(format!("regex:{}==>{REPLACEMENT}", multiline_regex(&parts)));
                for l in parts {
                    let body = !l.starts_with("-----") && l.chars().count() >= MIN_LINE_LITERAL;
                    if body {
                        lines.push(format!("regex:{}==>{REPLACEMENT}", py_escape(l)));
                    }
                }
            } else {
                lines.push(format!(
                    "literal:{}==>{REPLACEMENT}",
                    f.secret.trim_end_matches('\r')
                ));
            }
        }
        plan.secrets = seen.len();
        plan.in_history = committed.len();
        let mut dedup = BTreeSet::new();
        for l in lines {
            if dedup.insert(l.clone()) {
                plan.expressions.push_str(&l);
                plan.expressions.push('\n');
            }
        }
        plan
    }

    /// The text to print: what was written, the warnings and the exact commands.
    pub fn instructions(&self, target: &Target, out: &Path) -> String {
        let mut s = String::new();
        let out_shown = out.display();
        if self.secrets == 0 {
            s.push_str("No secrets found: nothing to purge.\n");
            return s;
        }
        let _ = writeln!(
            s,
            "Wrote {out_shown}: {} expression(s) for {} distinct secret(s), {} of them in history.\n\
             It holds the secrets in clear: it is private (mode 0600), never commit it, delete it when done.\n",
            self.expressions.lines().count(),
            self.secrets,
            self.in_history
        );
        s.push_str(
            "Before you purge:\n\
             - Rotate every one of these secrets first. Purging does not un-leak anything: every\n\
             \x20 existing clone, fork, pull-request ref, CI cache and backup keeps the old commits.\n\
             \x20 Rotation is what actually protects you; the purge only stops further spread.\n\
             - Move the live values out of the code first (`keysweep fix` for Django settings) and\n\
             \x20 commit that, or the rewritten files will contain ***REMOVED*** where code needs a value.\n",
        );
        for w in &self.warnings {
            let _ = writeln!(s, "- {w}");
        }
        if !self.binary_paths.is_empty() {
            s.push_str(
                "- Binary files hold secrets, which text replacement cannot touch: the plan removes\n\
                 \x20 these paths from every commit (--invert-paths), including the latest one; keep a\n\
                 \x20 copy if you need it, and stop committing them (.gitignore):\n",
            );
            for p in &self.binary_paths {
                let _ = writeln!(s, "  {p}");
            }
        }
        let mirror = &target.mirror_dir;
        let clone_flags = if target.is_local { " --no-local" } else { "" };
        s.push_str("\nRun (needs git-filter-repo >= 2.47: `pip install git-filter-repo`):\n");
        let _ = writeln!(
            s,
            "$ git clone --mirror{clone_flags} {} {}",
            sh_quote(&target.url),
            sh_quote(mirror)
        );
        let _ = writeln!(s, "$ cd {}", sh_quote(mirror));
        let _ = writeln!(
            s,
            "$ git filter-repo --sensitive-data-removal --replace-text {}{}",
            sh_quote(&out.display().to_string()),
            self.path_args()
        );
        s.push_str("$ keysweep scan .\n");
        s.push_str("$ git push --force --mirror origin\n");
        s.push_str(
            "\nThe scan must report nothing before you push. The push rewrites every branch and tag\n\
             on the remote (force push): tell everyone first. Afterwards:\n\
             - Every collaborator must re-clone (or hard-reset every branch); a merge or pull of an\n\
             \x20 old clone brings the secrets back. Forks are not rewritten.\n\
             - Hosts keep pull-request refs and cached views (GitHub rejects pushes to refs/pull/*):\n\
             \x20 ask the host's support to purge them and run garbage collection; filter-repo prints\n\
             \x20 the details for your host at the end of its run.\n\
             - The remote keeps the old objects, unreachable, until it runs garbage collection.\n",
        );
        let _ = writeln!(
            s,
            "- Verify from a fresh clone: `git clone{clone_flags} {} check && keysweep scan check`.",
            sh_quote(&target.url)
        );
        s
    }
}

impl PurgePlan {
    /// ` --path-glob '*.pyc' --path db.sqlite3 --invert-paths` for the binary files, or nothing.
    fn path_args(&self) -> String {
        if self.binary_paths.is_empty() {
            return String::new();
        }
        let mut globs = BTreeSet::new();
        let mut paths = BTreeSet::new();
        for p in &self.binary_paths {
            let name = p.rsplit('/').next().unwrap_or(p);
            match name.rsplit_once('.') {
                // compiled Python is never source: every copy goes
                Some((_, ext)) if matches!(ext, "pyc" | "pyo") => {
                    globs.insert(format!("*.{ext}"));
                }
                _ => {
                    paths.insert(p.clone());
                }
            }
        }
        let mut s = String::new();
        for g in globs {
            let _ = write!(s, " --path-glob {}", sh_quote(&g));
        }
        for p in paths {
            let _ = write!(s, " --path {}", sh_quote(&p));
        }
        s.push_str(" --invert-paths");
        s
    }
}

/// Where the purge runs: the remote to mirror and the name of the mirror directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// URL (or local path) of the repository to rewrite: `origin` when it has one.
    pub url: String,
    /// `url` is a local path (`git clone --no-local`, so the clone is packed as filter-repo wants).
    pub is_local: bool,
    /// Directory of the fresh mirror clone.
    pub mirror_dir: String,
}

impl Target {
    /// Reads `remote.origin.url` from the repository's own config (`.git/config`, or `config` of
    /// a bare repository); without one, the repository itself is the target.
    pub fn detect(repo: &Path) -> Target {
        let abs = fs::canonicalize(repo).unwrap_or_else(|_| repo.to_path_buf());
        let name = abs
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".git").to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "repo".to_owned());
        let config = [abs.join(".git").join("config"), abs.join("config")]
            .iter()
            .find_map(|p| fs::read_to_string(p).ok());
        let url = config.as_deref().and_then(origin_url);
        let (url, is_local) = match url {
            Some(u) => {
                let local = !u.contains("://") && !is_scp_like(&u);
                let u = if local && Path::new(&u).is_relative() {
                    abs.join(&u).display().to_string()
                } else {
                    u
                };
                (u, local)
            }
            None => (abs.display().to_string(), true),
        };
        Target {
            url,
            is_local,
            mirror_dir: format!("{name}-purge.git"),
        }
    }
}

fn is_scp_like(u: &str) -> bool {
    // user@host:path
    match (u.find(':'), u.find('/')) {
        (Some(c), Some(s)) => c < s && u[..c].contains('@'),
        (Some(_), None) => u.contains('@'),
        _ => false,
    }
}

/// `url` of `[remote "origin"]` in a git config file.
fn origin_url(config: &str) -> Option<String> {
    let mut in_origin = false;
    for line in config.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_origin = l.replace(' ', "") == "[remote\"origin\"]";
            continue;
        }
        if in_origin {
            if let Some((k, v)) = l.split_once('=') {
                if k.trim() == "url" {
                    return Some(v.trim().trim_matches('"').to_owned());
                }
            }
        }
    }
    None
}

/// The git directory of `repo` (`repo/.git`, or `repo` itself when bare); `None` when `repo`
/// is not a repository, where there is no history to purge.
pub fn git_dir(repo: &Path) -> Option<PathBuf> {
    let dotgit = repo.join(".git");
    if dotgit.is_dir() {
        return Some(dotgit);
    }
    if repo.join("HEAD").is_file() && repo.join("objects").is_dir() {
        return Some(repo.to_path_buf());
    }
    None
}

/// Default location of the expressions file: inside the git directory (never committed, never
/// in the working tree).
pub fn default_out(git_dir: &Path) -> PathBuf {
    git_dir.join("keysweep-purge.txt")
}

/// The contents of the quoted string pieces of `matched` that make up `secret` (in order).
fn concat_pieces(matched: &str, secret: &str) -> Vec<String> {
    let re = regex::Regex::new(r#"'([^'\n]*)'|"([^"\n]*)""#)
        .expect("static regex compiles because it is a literal in this file");
    re.captures_iter(matched)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)))
        .map(|m| m.as_str().to_owned())
        .filter(|p| !p.is_empty() && secret.contains(p.as_str()))
        .collect()
}

/// Writes the expressions file with mode 0600 (replacing an older one) and returns its absolute
/// path, which is what the printed commands must use (they run from the mirror clone).
pub fn write_expressions(path: &Path, plan: &PurgePlan) -> std::io::Result<PathBuf> {
    let _ = fs::remove_file(path);
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    let mut f = o.open(path)?;
    f.write_all(plan.expressions.as_bytes())?;
    fs::canonicalize(path)
}

/// The lines of a secret spanning lines: split on real line breaks, or on `\n` escapes for a
/// PEM block kept in a JSON/YAML string; trimmed, empty ones dropped. `None` for one line.
fn secret_lines(secret: &str) -> Option<Vec<&str>> {
    let parts: Vec<&str> = if secret.contains('\n') {
        secret.lines().collect()
    } else if secret.starts_with("-----BEGIN") && secret.contains("\\n") {
        secret.split("\\n").collect()
    } else {
        return None;
    };
    Some(
        parts
            .into_iter()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect(),
    )
}

/// A Python `re` pattern matching the lines of a secret separated by any newline style, an
/// escaped `\n` (a PEM in a JSON string) and any indentation.
fn multiline_regex(lines: &[&str]) -> String {
    let escaped: Vec<String> = lines.iter().map(|l| py_escape(l)).collect();
    escaped.join(r"(?:[ \t]*\r?\n[ \t]*|\\n)")
}

/// Escapes for Python's `re`: every ASCII character but letters, digits and `_` gets a
/// backslash (always literal in Python), so `==>` never appears in the output either.
fn py_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if c.is_ascii() && !c.is_ascii_alphanumeric() && c != '_' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Quotes a shell word only when it needs it.
fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:@%+=,-".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s<'a>(secret: &'a str, commit: Option<&'a str>) -> PurgeSecret<'a> {
        PurgeSecret {
            secret,
            rule_id: "test.rule",
            path: Some("a.py"),
            commit,
            matched: None,
            binary: false,
        }
    }

    #[test]
    fn distinct_secrets_become_literal_lines() {
        let tok = format!("ghp_{}", "k7Qm2".repeat(7) + "x");
        let p = PurgePlan::new(&[
            s(&tok, Some("c1")),
            s(&tok, Some("c2")),
            s("pa==>ss=", None),
        ]);
        assert_eq!(p.secrets, 2);
        assert_eq!(p.in_history, 1);
        assert_eq!(
            p.expressions,
            format!("literal:{tok}==>***REMOVED***\nliteral:pa==>ss===>***REMOVED***\n")
        );
        // filter-repo splits on the last `==>`
        let line = p.expressions.lines().nth(1).expect("line");
        let (lhs, rhs) = line.rsplit_once("==>").expect("sep");
        assert_eq!((lhs, rhs), ("literal:pa==>ss=", REPLACEMENT));
    }

    #[test]
    // issue 9 item 7: every part of the block is a regex, the whole block first (filter-repo
    // applies literals before regexes, so a literal body line would break the block's match).
    fn multiline_secret_gets_regex_and_body_lines() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7v+x/y==\nq9Zr3Lw8Kd2Hs6Tn1Vb4Mx\n-----END RSA PRIVATE KEY-----";
        let p = PurgePlan::new(&[s(pem, Some("c"))]);
        let mut lines = p.expressions.lines();
        let re = lines.next().expect("regex");
        assert!(
            re.starts_with(r"regex:\-\-\-\-\-BEGIN\ RSA\ PRIVATE\ KEY\-\-\-\-\-(?:"),
            "{re}"
        );
        assert!(re.contains(r"MIIEpAIBAAKCAQEA7v\+x\/y\=\="), "{re}");
        assert_eq!(re.matches("==>").count(), 1);
        assert_eq!(
            lines.next(),
            Some(r"regex:MIIEpAIBAAKCAQEA7v\+x\/y\=\===>***REMOVED***")
        );
        assert_eq!(
            lines.next(),
            Some("regex:q9Zr3Lw8Kd2Hs6Tn1Vb4Mx==>***REMOVED***")
        );
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn concatenated_secret_is_purged_piece_by_piece() {
        let matched =
            "SECRET_KEY = (\n    'k3#v9!w$q2@zr8^m1'\n    \"&x7*p0(t-_=+)e4y6\"\n    'ab'\n)";
        let mut f = s("k3#v9!w$q2@zr8^m1&x7*p0(t-_=+)e4y6ab", Some("c"));
        f.matched = Some(matched);
        let p = PurgePlan::new(&[f]);
        assert_eq!(
            p.expressions,
            "literal:k3#v9!w$q2@zr8^m1==>***REMOVED***\nliteral:&x7*p0(t-_=+)e4y6==>***REMOVED***\n"
        );
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    }

    #[test]
    fn escaped_pem_in_a_json_string_is_split_too() {
        let pem = r"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIKDYTdVk4RIov0qjq1w5Wfh\n-----END EC PRIVATE KEY-----";
        let p = PurgePlan::new(&[s(pem, Some("c"))]);
        let lines: Vec<_> = p.expressions.lines().collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("regex:"));
        assert_eq!(
            lines[1],
            "regex:MHcCAQEEIKDYTdVk4RIov0qjq1w5Wfh==>***REMOVED***"
        );
    }

    #[test]
    fn short_secret_warns() {
        let p = PurgePlan::new(&[s("abc12", Some("c"))]);
        assert_eq!(p.warnings.len(), 1);
    }

    #[test]
    fn instructions_name_the_commands() {
        let p = PurgePlan::new(&[s("0123456789abcdefXYZ", Some("c"))]);
        let t = Target {
            url: "git@github.com:o/r.git".into(),
            is_local: false,
            mirror_dir: "r-purge.git".into(),
        };
        let text = p.instructions(&t, Path::new("/tmp/x y/p.txt"));
        assert!(
            text.contains("$ git clone --mirror git@github.com:o/r.git r-purge.git\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "$ git filter-repo --sensitive-data-removal --replace-text '/tmp/x y/p.txt'\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("$ keysweep scan .\n$ git push --force --mirror origin\n"),
            "{text}"
        );
        assert!(text.contains("Rotate every one"));
    }

    #[test]
    fn origin_url_is_read_from_config() {
        let cfg = "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = a\n[remote \"origin\"]\n\turl = https://h/o/r.git\n";
        assert_eq!(origin_url(cfg).as_deref(), Some("https://h/o/r.git"));
        assert!(is_scp_like("git@github.com:o/r.git"));
        assert!(!is_scp_like("/srv/git/r.git"));
    }
}
