//! Writing a [`FixPlan`], all or nothing: every target is checked first (inside the root, a
//! regular file or absent, writable); then `.gitignore` is written before anything else, tracked
//! env files leave the index, and only then are `.env` files given values and settings rewritten.
//! If any step fails, the steps done are undone (files restored, index entries put back) and the
//! error is returned.

use std::fs;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use super::{envfile, io_err, slash, EnvValue, FixError, FixPlan};

/// Django's `get_random_secret_key()` alphabet (50 characters).
const SECRET_KEY_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)";
/// Length of a generated SECRET_KEY, as Django's.
const SECRET_KEY_LEN: usize = 50;

/// What [`apply`] wrote.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Files written, relative to the root.
    pub written: Vec<PathBuf>,
    /// Files removed from git's index (left staged).
    pub untracked: Vec<PathBuf>,
    /// Problems found while writing that did not stop it (e.g. a group-readable `.env`).
    pub warnings: Vec<String>,
}

/// One step done, and how to undo it.
enum Undo {
    /// Restore the contents (or remove the file when it did not exist).
    File(PathBuf, Option<Vec<u8>>),
    /// Put the index entry back (`git update-index --cacheinfo`).
    Index(String),
}

/// A file write, replaceable in tests to inject failures.
type Writer<'a> = dyn FnMut(&Path, &[u8], bool) -> Result<(), FixError> + 'a;

/// Writes the plan. Refuses any path that leaves the root or is not a regular file. Generates the
/// new SECRET_KEYs.
pub fn apply(plan: &FixPlan) -> Result<Applied, FixError> {
    apply_with(plan, &mut write_file)
}

fn apply_with(plan: &FixPlan, write: &mut Writer<'_>) -> Result<Applied, FixError> {
    let mut applied = Applied::default();
    // Check every target before writing anything; compute every new content.
    let mut steps: Vec<(PathBuf, PathBuf, Vec<u8>, bool)> = Vec::new(); // rel, abs, bytes, private
    for f in &plan.files {
        let path = checked_target(&plan.root, &f.path)?;
        steps.push((f.path.clone(), path, f.new.clone().into_bytes(), false));
    }
    for e in &plan.env_files {
        let path = checked_target(&plan.root, &e.path)?;
        let mut text = match &e.old {
            None => String::new(),
            Some(_) => String::from_utf8_lossy(&super::input::read_regular(&path)?).into_owned(),
        };
        for var in &e.regenerate {
            let line = envfile::line(var, &new_secret_key()?, e.plain_quotes);
            text = envfile::set_value(&text, var, &line);
        }
        if !e.entries.is_empty() {
            let mut add = String::from("# Added by keysweep fix\n");
            for entry in &e.entries {
                let value = match &entry.value {
                    EnvValue::NewSecretKey => new_secret_key()?,
                    EnvValue::Literal(v) => v.clone(),
                };
                add.push_str(&envfile::line(&entry.var, &value, e.plain_quotes));
            }
            text = envfile::append(&text, &add);
        }
        steps.push((e.path.clone(), path, text.into_bytes(), true));
    }
    for (_, path, _, _) in &steps {
        check_writable(path)?;
    }
    for u in &plan.untrack {
        checked_target(&plan.root, u)?;
    }
    // Order: .gitignore files, then the index, then env files, then the rest.
    let is_gitignore = |p: &Path| p.file_name().is_some_and(|n| n == ".gitignore");
    let mut undo: Vec<Undo> = Vec::new();
    let result = (|| -> Result<(), FixError> {
        for (rel, path, bytes, private) in steps.iter().filter(|s| is_gitignore(&s.0)) {
            write_step(rel, path, bytes, *private, write, &mut undo, &mut applied)?;
        }
        for u in &plan.untrack {
            let entry = git(&plan.root, &["ls-files", "-s", "--", &slash(u)])?;
            git(&plan.root, &["rm", "--cached", "-q", "--", &slash(u)])?;
            if let Some((meta, _)) = entry.trim_end().split_once('\t') {
                let mut f = meta.split(' ');
                let (mode, sha) = (f.next().unwrap_or(""), f.next().unwrap_or(""));
                undo.push(Undo::Index(format!("{mode},{sha},{}", slash(u))));
            }
            applied.untracked.push(u.clone());
        }
        let rest = |private: bool| {
            steps
                .iter()
                .filter(move |s| !is_gitignore(&s.0) && s.3 == private)
        };
        for (rel, path, bytes, private) in rest(true).chain(rest(false)) {
            write_step(rel, path, bytes, *private, write, &mut undo, &mut applied)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        for u in undo.into_iter().rev() {
            // Best effort: the original error is what the user needs to see.
            let _ = match u {
                Undo::File(p, Some(old)) => fs::write(&p, old).map_err(io_err(&p)),
                Undo::File(p, None) => fs::remove_file(&p).map_err(io_err(&p)),
                Undo::Index(info) => git(
                    &plan.root,
                    &["update-index", "--add", "--cacheinfo", info.as_str()],
                )
                .map(|_| ()),
            };
        }
        return Err(e);
    }
    Ok(applied)
}

fn write_step(
    rel: &Path,
    path: &Path,
    bytes: &[u8],
    private: bool,
    write: &mut Writer<'_>,
    undo: &mut Vec<Undo>,
    applied: &mut Applied,
) -> Result<(), FixError> {
    let old = match fs::symlink_metadata(path) {
        Ok(_) => Some(super::input::read_regular(path)?),
        Err(_) => None,
    };
    let created = old.is_none();
    undo.push(Undo::File(path.to_path_buf(), old));
    write(path, bytes, private && created)?;
    #[cfg(unix)]
    if private && !created {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(path)
            .map_err(io_err(path))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            applied.warnings.push(format!(
                "{}: readable by others (mode {:o}); consider chmod 600",
                slash(rel),
                mode & 0o777
            ));
        }
    }
    applied.written.push(rel.to_path_buf());
    Ok(())
}

/// Writes `bytes` to `path`; a new private file is created with mode 0600.
fn write_file(path: &Path, bytes: &[u8], create_private: bool) -> Result<(), FixError> {
    if create_private {
        let mut o = fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            o.mode(0o600);
        }
        let mut f = o.open(path).map_err(io_err(path))?;
        f.write_all(bytes).map_err(io_err(path))
    } else {
        fs::write(path, bytes).map_err(io_err(path))
    }
}

/// Fails unless `path` can be written: an existing file opens for appending (nothing is changed),
/// a new one can be created in its directory.
fn check_writable(path: &Path) -> Result<(), FixError> {
    if fs::symlink_metadata(path).is_ok() {
        fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
            .map_err(io_err(path))
    } else {
        let dir = path.parent().unwrap_or(Path::new("."));
        let probe = dir.join(format!(".keysweep-fix-probe-{}", std::process::id()));
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .map_err(io_err(path))?;
        fs::remove_file(&probe).map_err(io_err(&probe))
    }
}

fn git(root: &Path, args: &[&str]) -> Result<String, FixError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(|e| FixError::Git {
            what: format!("git {}", args.join(" ")),
            stderr: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(FixError::Git {
            what: format!("git {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `root/rel`, provided it stays inside `root`: no `..`, its directory and (if it exists) the file
/// itself resolve inside `root` (a symlink pointing out is refused), and it is a regular file.
fn checked_target(root: &Path, rel: &Path) -> Result<PathBuf, FixError> {
    let outside = || FixError::OutsideRoot {
        path: rel.to_path_buf(),
    };
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(outside());
    }
    let root = fs::canonicalize(root).map_err(io_err(root))?;
    let path = root.join(rel);
    let parent = path.parent().ok_or_else(outside)?;
    let parent = fs::canonicalize(parent).map_err(io_err(parent))?;
    if !parent.starts_with(&root) {
        return Err(outside());
    }
    if fs::symlink_metadata(&path).is_ok() {
        let real = fs::canonicalize(&path).map_err(|_| outside())?;
        if !real.starts_with(&root) {
            return Err(outside());
        }
        if !fs::metadata(&real).is_ok_and(|m| m.is_file()) {
            return Err(FixError::SpecialFile { path });
        }
    }
    Ok(path)
}

/// A new Django SECRET_KEY: 50 characters of Django's alphabet from the OS random number
/// generator (rejection sampling, so every character is equally likely). The first character is
/// never `$`, which django-environ would read as a reference to another variable.
pub fn new_secret_key() -> Result<String, FixError> {
    let n = SECRET_KEY_ALPHABET.len();
    let limit = (256 / n * n) as u8; // 250: bytes at or above are rejected
    let mut key = String::with_capacity(SECRET_KEY_LEN);
    let mut buf = [0u8; 64];
    while key.len() < SECRET_KEY_LEN {
        getrandom::fill(&mut buf).map_err(|e| FixError::Random(e.to_string()))?;
        for &b in &buf {
            if b >= limit || key.len() == SECRET_KEY_LEN {
                continue;
            }
            let c = SECRET_KEY_ALPHABET[usize::from(b) % n] as char;
            if key.is_empty() && c == '$' {
                continue;
            }
            key.push(c);
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::{EnvEntry, EnvFileChange, FileChange};

    #[test]
    fn secret_keys_are_django_shaped_and_fresh() {
        let a = new_secret_key().expect("rng");
        let b = new_secret_key().expect("rng");
        assert_eq!(a.len(), 50);
        assert!(a.bytes().all(|c| SECRET_KEY_ALPHABET.contains(&c)));
        assert!(!a.starts_with('$'));
        assert_ne!(a, b);
    }

    #[test]
    fn targets_outside_root_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            checked_target(dir.path(), Path::new("../x")),
            Err(FixError::OutsideRoot { .. })
        ));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path().join("target"), dir.path().join(".env"))
                .expect("symlink");
            fs::write(outside.path().join("target"), "").expect("write");
            assert!(matches!(
                checked_target(dir.path(), Path::new(".env")),
                Err(FixError::OutsideRoot { .. })
            ));
        }
        assert!(checked_target(dir.path(), Path::new("ok.txt")).is_ok());
    }

    // issue 13 item 14: a write failing half-way leaves every file as it was.
    #[test]
    fn r13_a_failed_write_rolls_back_the_ones_done() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        fs::write(root.join(".gitignore"), "*.pyc\n").expect("write");
        fs::write(root.join("settings.py"), "SECRET_KEY = 'x'\n").expect("write");
        let plan = FixPlan {
            root: root.clone(),
            files: vec![
                FileChange {
                    path: ".gitignore".into(),
                    old: Some("*.pyc\n".into()),
                    new: "*.pyc\n.env\n".into(),
                },
                FileChange {
                    path: "settings.py".into(),
                    old: Some("SECRET_KEY = 'x'\n".into()),
                    new: "SECRET_KEY = os.environ['K']\n".into(),
                },
            ],
            env_files: vec![EnvFileChange {
                path: ".env".into(),
                old: None,
                entries: vec![EnvEntry {
                    var: "DB_PASSWORD".into(),
                    value: EnvValue::Literal("moved-password".into()),
                    from: "settings.py:1".into(),
                }],
                regenerate: vec![],
                plain_quotes: false,
            }],
            ..FixPlan::default()
        };
        let mut order = Vec::new();
        let mut failing = |p: &Path, b: &[u8], private: bool| {
            order.push(p.file_name().expect("name").to_string_lossy().into_owned());
            if p.ends_with("settings.py") {
                return Err(FixError::Io {
                    path: p.to_path_buf(),
                    source: std::io::Error::other("injected failure"),
                });
            }
            write_file(p, b, private)
        };
        assert!(apply_with(&plan, &mut failing).is_err());
        assert_eq!(order, [".gitignore", ".env", "settings.py"]);
        assert_eq!(
            fs::read_to_string(root.join(".gitignore")).expect("read"),
            "*.pyc\n"
        );
        assert!(!root.join(".env").exists(), ".env left behind");
        assert_eq!(
            fs::read_to_string(root.join("settings.py")).expect("read"),
            "SECRET_KEY = 'x'\n"
        );
    }
}
