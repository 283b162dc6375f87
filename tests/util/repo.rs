//! `TestRepo`: real git repositories built with the `git` CLI in a temp directory, with the user's
//! and the system's git configuration shut out and fixed author/committer names and dates, so
//! commit ids are the same on every run.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::cmd::Keysweep;

use crate::util::TEST_RULES as RULES;

/// A synthetic token in GitHub's classic PAT format, different for each `n` (not a credential).
pub fn token(n: u32) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = 0x9E37_79B9_7F4A_7C15_u64 ^ u64::from(n).wrapping_mul(0xD1B5_4A32_D192_ED03);
    let body: String = (0..36)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % ALPHABET.len() as u64) as usize] as char
        })
        .collect();
    format!("ghp_{body}")
}

/// A git repository in a temp directory.
pub struct TestRepo {
    _dir: tempfile::TempDir,
    root: PathBuf,
    rules: PathBuf,
    /// Commits made so far: each gets a date one minute after the previous one.
    ticks: u32,
}

impl TestRepo {
    /// `git init` of an empty repository with branch `main`.
    pub fn new() -> TestRepo {
        TestRepo::init(false)
    }

    /// `git init --bare`.
    pub fn bare() -> TestRepo {
        TestRepo::init(true)
    }

    fn init(bare: bool) -> TestRepo {
        let dir = tempfile::tempdir().expect("a temp dir");
        let root = dir.path().join("repo");
        std::fs::create_dir_all(&root).expect("mkdir repo");
        let rules = dir.path().join("rules.yaml");
        std::fs::write(&rules, RULES).expect("write rules");
        let repo = TestRepo {
            _dir: dir,
            root,
            rules,
            ticks: 0,
        };
        let mut args = vec!["init", "-q", "-b", "main"];
        if bare {
            args.push("--bare");
        }
        repo.git(&args);
        repo
    }

    /// The repository's directory (the work tree, or the git dir of a bare repository).
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// A `git` command in the repository with the test environment.
    pub fn git_command(&self, args: &[&str]) -> Command {
        let date = format!("{} +0000", 1_700_000_000 + 60 * u64::from(self.ticks));
        let mut cmd = Command::new("git");
        cmd.args(args)
            .current_dir(&self.root)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Ada Author")
            .env("GIT_AUTHOR_EMAIL", "ada@example.com")
            .env("GIT_COMMITTER_NAME", "Cy Committer")
            .env("GIT_COMMITTER_EMAIL", "cy@example.com")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date);
        cmd
    }

    /// Writes the objects `ids` into one new pack (`git pack-objects`); loose copies stay.
    pub fn pack_objects(&self, ids: &[&str]) {
        use std::io::Write as _;
        let mut pack = self
            .git_command(&["pack-objects", "-q", ".git/objects/pack/pack"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("git pack-objects runs");
        let mut input = pack.stdin.take().expect("stdin");
        input
            .write_all(format!("{}\n", ids.join("\n")).as_bytes())
            .expect("write ids");
        drop(input);
        assert!(pack.wait().expect("pack-objects ends").success());
    }

    /// Runs `git args`, panicking with the command, directory and stderr if it fails; returns
    /// stdout, trimmed.
    pub fn git(&self, args: &[&str]) -> String {
        let out = self
            .git_command(args)
            .output()
            .expect("git runs (is it installed?)");
        assert!(
            out.status.success(),
            "git {} (in {}) failed: {}\n--- stderr\n{}",
            args.join(" "),
            self.root.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes a file (creating directories) in the work tree.
    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> &TestRepo {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
        std::fs::write(p, bytes).expect("write");
        self
    }

    /// Writes `files`, stages everything (deletions included) and commits; returns the sha.
    pub fn commit(&mut self, message: &str, files: &[(&str, &str)]) -> String {
        for (rel, text) in files {
            self.write(rel, text);
        }
        self.commit_staged_all(message)
    }

    /// Removes `paths` from the work tree and commits; returns the sha.
    pub fn remove_and_commit(&mut self, message: &str, paths: &[&str]) -> String {
        for p in paths {
            std::fs::remove_file(self.root.join(p)).expect("remove");
        }
        self.commit_staged_all(message)
    }

    /// `git add -A` then commit (empty commits allowed); returns the sha.
    pub fn commit_staged_all(&mut self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.ticks += 1;
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    /// Runs a git command that creates a commit (merge, cherry-pick, ...) at the next date.
    pub fn git_commit(&mut self, args: &[&str]) -> String {
        self.ticks += 1;
        self.git(args);
        self.head()
    }

    /// The sha of `HEAD`.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// The git blob id of `text`.
    pub fn blob_id(&self, text: &str) -> String {
        let mut cmd = self.git_command(&["hash-object", "--stdin"]);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("git hash-object runs");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), text.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("git hash-object finishes");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `keysweep scan <repo> --format json` with the test rules only.
    pub fn scan(&self) -> Keysweep {
        self.scan_as("json")
    }

    /// `keysweep scan <repo> --format FORMAT` with the test rules only.
    pub fn scan_as(&self, format: &str) -> Keysweep {
        let format = format!("--format={format}");
        let args: [&OsStr; 6] = [
            OsStr::new("scan"),
            self.root.as_os_str(),
            OsStr::new(&format),
            OsStr::new("--no-default-rules"),
            OsStr::new("--rules"),
            self.rules.as_os_str(),
        ];
        Keysweep::new(&self.root).args(args)
    }
}
