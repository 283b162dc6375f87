//! Runs the real `keysweep` binary and, when an expectation fails, prints the command, its working
//! directory, exit code and stderr (like ripgrep's `TestCommand`).

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A `keysweep` invocation under construction.
pub struct Keysweep {
    cmd: Command,
    cwd: PathBuf,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
}

/// The result of a run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub describe: String,
}

impl Keysweep {
    /// `keysweep` run in `cwd`.
    pub fn new(cwd: &Path) -> Keysweep {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keysweep"));
        cmd.current_dir(cwd)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            // Colour is decided by the tests' own flags, not the environment they run in.
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR")
            .env_remove("CLICOLOR_FORCE");
        Keysweep {
            cmd,
            cwd: cwd.to_path_buf(),
            args: Vec::new(),
            stdin: None,
        }
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Keysweep
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self.args.push(a.as_ref().to_string_lossy().into_owned());
            self.cmd.arg(a);
        }
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Keysweep {
        self.cmd.env(key, value);
        self
    }

    /// Feeds `bytes` on stdin.
    pub fn stdin(mut self, bytes: &[u8]) -> Keysweep {
        self.stdin = Some(bytes.to_vec());
        self
    }

    /// Runs to completion.
    pub fn run(mut self) -> Run {
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = self.cmd.spawn().expect("the keysweep binary starts");
        if let Some(bytes) = self.stdin.take() {
            let mut stdin = child.stdin.take().expect("stdin is piped");
            stdin.write_all(&bytes).expect("stdin accepts input");
        }
        let Output {
            status,
            stdout,
            stderr,
        } = child.wait_with_output().expect("keysweep finishes");
        let describe = format!(
            "keysweep {} (in {})",
            self.args.join(" "),
            self.cwd.display()
        );
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            describe,
        }
    }
}

impl Run {
    /// Panics with the full context unless the exit code is `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "{}\nexit code {} (expected {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.describe, self.code, self.stdout, self.stderr
        );
        self
    }

    /// Parses stdout as a JSON array of findings.
    pub fn json(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "{}\nstdout is not a JSON array ({e}):\n{}\n--- stderr\n{}",
                self.describe, self.stdout, self.stderr
            )
        })
    }
}

/// `(path, secret)` of each finding, sorted.
pub fn path_secrets(findings: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = findings
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().to_string(),
                f["secret"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}
