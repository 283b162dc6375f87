//! `keysweep hook install` / `uninstall`: writes keysweep's hook scripts into the hooks
//! directory git uses (`git rev-parse --git-path hooks`, which honours `core.hooksPath` and
//! linked worktrees, from whatever config the user has: that is git's decision, not ours).
//!
//! An existing hook is never silently overwritten: it is renamed `<hook>.keysweep-chained` and
//! the installed script runs it first, with the same arguments and stdin, so its failure still
//! blocks. `--force` renames it `<hook>.keysweep-saved` and does not run it. `uninstall` removes
//! keysweep's script and renames either back, so what was there before is restored exactly
//! (content and mode). The script finds keysweep at the absolute path it was installed from,
//! then on `PATH`, and says what to do when neither works.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// A line every script keysweep installs carries, so `install` and `uninstall` know their own.
const MARKER: &str = "# installed by `keysweep hook install`";

/// A hook keysweep can install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookName {
    PrePush,
    PreCommit,
    PreReceive,
}

impl HookName {
    /// git's file name of the hook.
    pub fn file_name(self) -> &'static str {
        match self {
            HookName::PrePush => "pre-push",
            HookName::PreCommit => "pre-commit",
            HookName::PreReceive => "pre-receive",
        }
    }

    /// Whether git feeds the hook lines on stdin (which the chained hook must see too).
    fn reads_stdin(self) -> bool {
        !matches!(self, HookName::PreCommit)
    }
}

/// The hooks directory git uses for the repository at `repo`.
pub fn hooks_dir(repo: &Path) -> Result<PathBuf> {
    let out = Command::new("git")
        .args(["rev-parse", "--git-path", "hooks"])
        .current_dir(repo)
        .output()
        .map_err(|e| Error::Config(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(Error::NotARepository {
            path: repo.to_path_buf(),
        });
    }
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Ok(if p.is_absolute() { p } else { repo.join(p) })
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Path {
        path: path.to_path_buf(),
        source,
    }
}

fn backup(hook: &Path, kind: &str) -> PathBuf {
    let mut name = hook.as_os_str().to_owned();
    name.push(format!(".keysweep-{kind}"));
    PathBuf::from(name)
}

fn is_ours(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.contains(MARKER))
}

/// Installs `hook` in `dir`, running `exe`. Returns what was done, for the user.
pub fn install(dir: &Path, hook: HookName, exe: &Path, force: bool) -> Result<String> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join(hook.file_name());
    let chained = backup(&path, "chained");
    let saved = backup(&path, "saved");
    let mut note = String::new();
    let exists = path.symlink_metadata().is_ok();
    if exists && !is_ours(&path) {
        let (to, what) = if force {
            (&saved, "replaced; the old one is kept as")
        } else {
            (&chained, "chained: it still runs first, as")
        };
        if chained.symlink_metadata().is_ok() || saved.symlink_metadata().is_ok() {
            return Err(Error::Config(format!(
                "{}: a previous hook is already kept beside it; remove {} or {} first",
                path.display(),
                chained.display(),
                saved.display()
            )));
        }
        std::fs::rename(&path, to).map_err(io_err(&path))?;
        note = format!(" (the existing hook was {what} {})", to.display());
    } else if exists && force && chained.exists() {
        // Re-installing with --force: the chained hook stops running but is kept.
        std::fs::rename(&chained, &saved).map_err(io_err(&chained))?;
        note = format!(
            " (the chained hook no longer runs; kept as {})",
            saved.display()
        );
    }
    let run_chained = chained.exists();
    let script = script(hook, exe, run_chained);
    std::fs::write(&path, script).map_err(io_err(&path))?;
    set_executable(&path)?;
    Ok(format!(
        "installed the {} hook: {}{note}",
        hook.file_name(),
        path.display()
    ))
}

/// Removes keysweep's `hook` from `dir` and restores the hook it replaced or chained.
pub fn uninstall(dir: &Path, hook: HookName) -> Result<String> {
    let path = dir.join(hook.file_name());
    if path.symlink_metadata().is_err() {
        return Err(Error::Config(format!(
            "{}: no hook installed",
            path.display()
        )));
    }
    if !is_ours(&path) {
        return Err(Error::Config(format!(
            "{}: not installed by keysweep; left alone",
            path.display()
        )));
    }
    std::fs::remove_file(&path).map_err(io_err(&path))?;
    for kept in [backup(&path, "chained"), backup(&path, "saved")] {
        if kept.symlink_metadata().is_ok() {
            std::fs::rename(&kept, &path).map_err(io_err(&kept))?;
            return Ok(format!(
                "removed keysweep's {} hook and restored the previous one: {}",
                hook.file_name(),
                path.display()
            ));
        }
    }
    Ok(format!(
        "removed keysweep's {} hook: {}",
        hook.file_name(),
        path.display()
    ))
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(io_err(path))
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> Result<()> {
    Ok(())
}

/// `'text'` for a POSIX shell.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The hook script.
fn script(hook: HookName, exe: &Path, run_chained: bool) -> String {
    let name = hook.file_name();
    let exe = quote(&exe.to_string_lossy());
    let bypass = match hook {
        HookName::PrePush => "; to push once without it: git push --no-verify",
        HookName::PreCommit => "; to commit once without it: git commit --no-verify",
        HookName::PreReceive => "",
    };
    let mut s = format!(
        r#"#!/bin/sh
# keysweep {name} hook: scans for secrets and refuses the change when it finds one.
{MARKER}; `keysweep hook uninstall` removes it and
# restores the hook that was here before (kept beside it as {name}.keysweep-chained or -saved).
keysweep_bin={exe}
if [ ! -x "$keysweep_bin" ]; then
  keysweep_bin=$(command -v keysweep 2>/dev/null) || keysweep_bin=
fi
if [ -z "$keysweep_bin" ]; then
  echo "keysweep: the {name} hook cannot find keysweep (not at "{exe}", not on PATH)." >&2
  echo "keysweep: install it again (cargo install keysweep, or cargo install --path <checkout>)," >&2
  echo "keysweep: or remove this hook: keysweep hook uninstall, or rm \"$0\"{bypass}" >&2
  exit 1
fi
"#
    );
    let sub = match hook {
        HookName::PrePush => "hook pre-push \"$@\"",
        HookName::PreCommit => "hook pre-commit",
        HookName::PreReceive => "hook pre-receive",
    };
    if hook.reads_stdin() {
        s.push_str("input=$(cat)\n");
        if run_chained {
            s.push_str(&format!(
                "chained=\"$(dirname \"$0\")/{name}.keysweep-chained\"\nif [ -x \"$chained\" ]; then\n  printf '%s\\n' \"$input\" | \"$chained\" \"$@\" || exit $?\nfi\n"
            ));
        }
        s.push_str(&format!(
            "printf '%s\\n' \"$input\" | \"$keysweep_bin\" {sub}\n"
        ));
    } else {
        if run_chained {
            s.push_str(&format!(
                "chained=\"$(dirname \"$0\")/{name}.keysweep-chained\"\nif [ -x \"$chained\" ]; then\n  \"$chained\" \"$@\" || exit $?\nfi\n"
            ));
        }
        s.push_str(&format!("exec \"$keysweep_bin\" {sub}\n"));
    }
    s
}
