//! `keysweep fix` end to end on a project made by `django-admin startproject`, checked with
//! Django itself (`manage.py check`, the settings' values) and with `keysweep scan`.
//!
//! Django, django-environ and git-filter-repo come from a virtualenv: `$KEYSWEEP_TEST_VENV` if
//! set (`.ci/run` prepares one), else one created under `CARGO_TARGET_TMPDIR` on first use. When
//! they cannot be installed the Python-backed tests print why and skip, unless
//! `KEYSWEEP_REQUIRE_PYTHON=1`, where they fail instead.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::util::cmd::Keysweep;

/// A `bin` directory holding `python3`/`python`, `django-admin` and `git-filter-repo`, with
/// django, django-environ and git-filter-repo importable: `$KEYSWEEP_TEST_VENV/bin` if set, else
/// the system `python3`'s when it has them (`.ci/run` installs tests/requirements.txt there),
/// else a virtualenv created under `CARGO_TARGET_TMPDIR` on first use. `None` (after printing
/// why) when they cannot be installed.
pub fn python_bin() -> Option<&'static Path> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let ready = |bin: &Path| {
        ["django-admin", "git-filter-repo"]
            .iter()
            .all(|s| bin.join(s).is_file())
            && Command::new(python(bin))
                .args(["-c", "import django, environ, git_filter_repo"])
                .output()
                .is_ok_and(|o| o.status.success())
    };
    let got = BIN.get_or_init(|| {
        if let Some(venv) = std::env::var_os("KEYSWEEP_TEST_VENV") {
            let bin = PathBuf::from(venv).join("bin");
            return if ready(&bin) {
                Ok(bin)
            } else {
                Err(format!(
                    "KEYSWEEP_TEST_VENV: {} lacks the packages",
                    bin.display()
                ))
            };
        }
        let system = Command::new("python3")
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_path('scripts'))",
            ])
            .output()
            .ok()
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        if let Some(bin) = system.filter(|b| ready(b)) {
            return Ok(bin);
        }
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("keysweep-pyvenv");
        let bin = venv.join("bin");
        if ready(&bin) {
            return Ok(bin);
        }
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/requirements.txt");
        run(Command::new(bin.join("pip"))
            .args(["install", "-q", "-r"])
            .arg(requirements))?;
        if ready(&bin) {
            Ok(bin)
        } else {
            Err("installed, but `import django, environ, git_filter_repo` fails".to_owned())
        }
    });
    match got {
        Ok(bin) => Some(bin.as_path()),
        Err(why) => {
            assert!(
                std::env::var_os("KEYSWEEP_REQUIRE_PYTHON").is_none_or(|v| v != "1"),
                "KEYSWEEP_REQUIRE_PYTHON=1 but Django/django-environ/git-filter-repo are missing: {why}"
            );
            eprintln!(
                "SKIPPED: Django, django-environ and git-filter-repo could not be installed ({why})"
            );
            None
        }
    }
}

/// Runs `cmd`; its stderr as the error unless it succeeds.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// The Python interpreter in `bin`.
pub fn python(bin: &Path) -> PathBuf {
    let p3 = bin.join("python3");
    if p3.is_file() {
        p3
    } else {
        bin.join("python")
    }
}

/// A command with a clean environment: no user git config, no inherited secrets.
pub fn clean_command(program: &Path, cwd: &Path) -> Command {
    let mut c = Command::new(program);
    c.current_dir(cwd)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", cwd)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    c
}

/// Runs `cmd`, panicking with its output unless it succeeds; returns stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A deterministic, realistic-looking password of `n` characters (not a real credential).
fn synthetic(seed: u64, n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789-_";
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ALPHABET[(x >> 33) as usize % ALPHABET.len()] as char
        })
        .collect()
}

/// Every file under `dir` (but `.git`, `__pycache__`, `db.sqlite3`) and its bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("readable dir") {
            let p = e.expect("dir entry").path();
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            if name == ".git" || name == "__pycache__" || name == "db.sqlite3" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), fs::read(&p).expect("readable file"));
            }
        }
    }
    out
}

/// `.env` entries, single quotes removed (what `keysweep fix` writes for these values).
fn read_env(path: &Path) -> BTreeMap<String, String> {
    fs::read_to_string(path)
        .expect(".env exists")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect()
}

struct Project {
    _dir: tempfile::TempDir,
    root: PathBuf,
    leaked_key: String,
    db_password: String,
    email_password: String,
}

/// `django-admin startproject mysite .` in a fresh git repository, plus a literal database
/// password and EMAIL_HOST_PASSWORD.
fn startproject(bin: &Path) -> Project {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("proj");
    fs::create_dir(&root).expect("mkdir");
    ok(clean_command(Path::new("git"), &root).args(["init", "-q"]));
    ok(clean_command(&bin.join("django-admin"), &root).args(["startproject", "mysite", "."]));
    let settings = root.join("mysite/settings.py");
    let text = fs::read_to_string(&settings).expect("settings.py");
    let leaked_key = text
        .lines()
        .find_map(|l| l.strip_prefix("SECRET_KEY = '"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("startproject writes SECRET_KEY = '...'")
        .to_owned();
    let db_password = format!("pg-{}", synthetic(1, 20));
    let email_password = synthetic(2, 24);
    let name_line = "        'NAME': BASE_DIR / 'db.sqlite3',\n";
    assert!(
        text.contains(name_line),
        "startproject template changed:\n{text}"
    );
    let text = text.replace(
        name_line,
        &format!("{name_line}        'PASSWORD': '{db_password}',\n"),
    ) + &format!(
        "\nEMAIL_HOST_USER = 'app@example.org'\nEMAIL_HOST_PASSWORD = '{email_password}'\n"
    );
    fs::write(&settings, text).expect("write settings");
    Project {
        _dir: dir,
        root,
        leaked_key,
        db_password,
        email_password,
    }
}

/// The three settings as Django loads them, with `env` as the whole environment.
fn django_values(bin: &Path, root: &Path, env: &BTreeMap<String, String>) -> Vec<String> {
    let code = "import django; django.setup(); from django.conf import settings as s; \
                print(s.SECRET_KEY); print(s.DATABASES['default']['PASSWORD']); \
                print(s.EMAIL_HOST_PASSWORD)";
    let out = ok(clean_command(&python(bin), root)
        .envs(env)
        .env("DJANGO_SETTINGS_MODULE", "mysite.settings")
        .args(["-c", code]));
    out.lines().map(str::to_owned).collect()
}

fn fix_project(style: &[&str]) {
    let Some(bin) = python_bin() else { return };
    let p = startproject(bin);
    let found = Keysweep::new(&p.root)
        .args(["scan", "--no-history", "--format", "json", "."])
        .run()
        .expect_code(1)
        .json();
    for secret in [&p.leaked_key, &p.db_password, &p.email_password] {
        assert!(
            found.iter().any(|f| f["secret"] == secret.as_str()),
            "scan before the fix misses {secret}: {found:#?}"
        );
    }

    let before = snapshot(&p.root);
    let dry = Keysweep::new(&p.root)
        .args(["fix", "--dry-run", "."])
        .args(style)
        .run()
        .expect_code(0);
    assert!(
        dry.stdout
            .contains(&format!("-SECRET_KEY = '{}'\n", p.leaked_key)),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("+++ b/.env\n"), "{}", dry.stdout);
    let added_values = dry.stdout.lines().filter(|l| {
        l.starts_with('+') && (l.contains(&p.db_password) || l.contains(&p.email_password))
    });
    assert_eq!(
        added_values.count(),
        0,
        "dry run shows a value:\n{}",
        dry.stdout
    );
    assert_eq!(snapshot(&p.root), before, "--dry-run changed files");

    Keysweep::new(&p.root)
        .args(["fix", "."])
        .args(style)
        .run()
        .expect_code(0);
    let env_path = p.root.join(".env");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(&env_path).expect(".env").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, ".env mode");
    }
    let env = read_env(&env_path);
    let new_key = &env["DJANGO_SECRET_KEY"];
    assert_ne!(new_key, &p.leaked_key);
    assert_eq!(new_key.len(), 50);
    assert_eq!(env["DATABASE_PASSWORD"], p.db_password);
    assert_eq!(env["EMAIL_HOST_PASSWORD"], p.email_password);
    let settings = fs::read_to_string(p.root.join("mysite/settings.py")).expect("settings");
    for old in [&p.leaked_key, &p.db_password, &p.email_password] {
        assert!(
            !settings.contains(old.as_str()),
            "{old} still in settings.py:\n{settings}"
        );
    }
    let gitignore = fs::read_to_string(p.root.join(".gitignore")).expect(".gitignore");
    assert!(gitignore.lines().any(|l| l == ".env"), "{gitignore}");
    let example = fs::read_to_string(p.root.join(".env.example")).expect(".env.example");
    for var in [
        "DJANGO_SECRET_KEY=",
        "DATABASE_PASSWORD=",
        "EMAIL_HOST_PASSWORD=",
    ] {
        assert!(
            example.lines().any(|l| l == var),
            "{var} missing:\n{example}"
        );
    }
    assert!(!example.contains(&p.db_password) && !example.contains(new_key.as_str()));

    // Django reads the values from .env itself (django-environ, or the standard-library loader
    // fix adds): nothing is exported.
    let process_env = BTreeMap::new();
    let manage_check = ok(clean_command(&python(bin), &p.root).args(["manage.py", "check"]));
    assert!(manage_check.contains("no issues"), "{manage_check}");
    assert_eq!(
        django_values(bin, &p.root, &process_env),
        [
            new_key.clone(),
            p.db_password.clone(),
            p.email_password.clone()
        ]
    );

    Keysweep::new(&p.root)
        .args(["scan", "--no-history", "."])
        .run()
        .expect_code(0);

    let after = snapshot(&p.root);
    let again = Keysweep::new(&p.root)
        .args(["fix", "."])
        .args(style)
        .run()
        .expect_code(0);
    assert_eq!(
        snapshot(&p.root),
        after,
        "second fix changed files:\n{}",
        again.stdout
    );
}

#[test]
fn fix_moves_startproject_secrets_to_os_environ_and_loads_dotenv() {
    fix_project(&[]);
}

#[test]
fn fix_with_style_environ_loads_dotenv_in_settings() {
    fix_project(&["--style", "environ"]);
}

#[cfg(unix)]
#[test]
fn fix_refuses_a_dotenv_symlink_leaving_the_repository() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("repo");
    fs::create_dir_all(root.join(".git")).expect("mkdir");
    let settings = "SECRET_KEY = 'k3#v9!w$q2@zr8^m1&x7*p0(t-_=+)e4y6u5i8o2a1s3d9f7g'\n";
    fs::write(root.join("settings.py"), settings).expect("write");
    let outside = dir.path().join("outside.env");
    fs::write(&outside, "KEEP=1\n").expect("write");
    std::os::unix::fs::symlink(&outside, root.join(".env")).expect("symlink");
    let run = Keysweep::new(&root).args(["fix", "."]).run().expect_code(2);
    assert!(
        run.stderr.contains("outside the repository"),
        "{}",
        run.stderr
    );
    assert_eq!(fs::read_to_string(&outside).expect("read"), "KEEP=1\n");
    assert_eq!(
        fs::read_to_string(root.join("settings.py")).expect("read"),
        settings
    );
}

#[test]
fn fix_without_literals_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = "import os\nSECRET_KEY = os.environ['DJANGO_SECRET_KEY']\n";
    fs::write(dir.path().join("settings.py"), settings).expect("write");
    let run = Keysweep::new(dir.path())
        .args(["fix", "."])
        .run()
        .expect_code(0);
    assert!(run.stdout.contains("Nothing to fix"), "{}", run.stdout);
    let names: Vec<_> = fs::read_dir(dir.path())
        .expect("readdir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["settings.py"]);
}

/// Runs the keysweep binary with a 60 s limit (a hang becomes a failure, exit 124).
fn keysweep_with_timeout(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_keysweep"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("timeout runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// issue 13 item 4: a FIFO where fix reads or writes (.env, .gitignore) is refused, never opened;
// nothing is written.
#[cfg(unix)]
#[test]
fn r13_fix_refuses_fifo_env_and_gitignore_without_hanging() {
    for name in [".env", ".gitignore", "proj/.env"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::create_dir_all(root.join(".git")).expect("mkdir");
        fs::create_dir_all(root.join("proj")).expect("mkdir");
        let settings = "SECRET_KEY = 'k3#v9!w$q2@zr8^m1&x7*p0(t-_=+)e4y6u5i8o2a1s3d9f7g'\n";
        fs::write(root.join("proj/settings.py"), settings).expect("write");
        ok(Command::new("mkfifo").arg(root.join(name)));
        let (code, stdout, stderr) = keysweep_with_timeout(root, &["fix", "."]);
        assert_eq!(code, 2, "{name}: exit {code}\n{stdout}\n{stderr}");
        assert!(
            stderr.contains("not a regular file") && stderr.contains(name),
            "{name}: {stderr}"
        );
        assert_eq!(
            fs::read_to_string(root.join("proj/settings.py")).expect("read"),
            settings,
            "{name}"
        );
        let mut entries: Vec<_> = fs::read_dir(root)
            .expect("readdir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        entries.sort();
        let mut expected = vec![".git", "proj"];
        if !name.contains('/') {
            expected.insert(0, name);
            expected.sort();
        }
        assert_eq!(entries, expected, "{name}: something was written");
    }
}

// issue 13 item 16: a settings module that is not valid Python or not UTF-8 is an error (exit 2,
// on stderr), not "Nothing to fix"; the other modules are still fixed.
#[test]
fn r13_fix_reports_unanalysable_settings_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    fs::create_dir_all(root.join("proj/settings")).expect("mkdir");
    fs::write(
        root.join("proj/settings/broken.py"),
        "SECRET_KEY = 'k3#v9!w$q2@zr8^m1&x7*p0(t-_=+)e4y6u5i8o2a1s3d9f7g\n",
    )
    .expect("write");
    fs::write(
        root.join("proj/settings/latin1.py"),
        b"# caf\xe9\nEMAIL_HOST_PASSWORD = 'pw-9f8e7d6c5b4a'\n",
    )
    .expect("write");
    fs::write(
        root.join("proj/settings/ok.py"),
        "EMAIL_HOST_PASSWORD = 'Zq8-mail-pass-w0rd'\n",
    )
    .expect("write");
    let (code, stdout, stderr) = keysweep_with_timeout(root, &["fix", "."]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("proj/settings/broken.py: not valid Python"),
        "{stderr}"
    );
    assert!(
        stderr.contains("proj/settings/latin1.py: not valid UTF-8"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("warning") && !stdout.contains("error"),
        "{stdout}"
    );
    assert!(!stdout.contains("Nothing to fix"), "{stdout}");
    let ok_py = fs::read_to_string(root.join("proj/settings/ok.py")).expect("read");
    assert!(!ok_py.contains("Zq8-mail-pass-w0rd"), "{ok_py}");
}

// issue 13 item 15: purge-plan on a directory that is not a git repository exits 2 and writes
// nothing (no expressions file with secrets in clear in the current directory).
#[test]
fn r13_purge_plan_on_a_non_repository_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    fs::create_dir(root.join("code")).expect("mkdir");
    fs::write(
        root.join("code/settings.py"),
        "SECRET_KEY = 'django-insecure-k3#v9!w$q2@zr8^m1&x7*p0(t-_=+)e4y6u5i8o2a1s3d9f7g'\n",
    )
    .expect("write");
    let (code, stdout, stderr) = keysweep_with_timeout(root, &["purge-plan", "code"]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("not a git repository"), "{stderr}");
    assert!(!stdout.contains("git clone"), "{stdout}");
    let mut entries: Vec<_> = fs::read_dir(root)
        .expect("readdir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    entries.sort();
    assert_eq!(entries, ["code"]);
    assert_eq!(fs::read_dir(root.join("code")).expect("readdir").count(), 1);
}
