//! `keysweep fix` on the layouts real Django projects have (issue 9): split settings with
//! django-environ reading `settings/.env`, django-environ 0.4.5, docker-compose `env_file` /
//! `environment`, a literal `os.environ.get` default with no env library, python-decouple, and
//! committed `.env` files with python-dotenv. Each project is a git repository; real Django from
//! PyPI runs `manage.py check` in a clean environment (PATH only, nothing exported by the test)
//! before and after the fix, and afterwards: the project starts, `settings.SECRET_KEY` is new,
//! the `.env` is git-ignored, no tracked file holds a leaked value, `keysweep scan --no-history`
//! finds nothing, and a second `fix` changes nothing.
//!
//! One virtualenv per library combination, built once under `CARGO_TARGET_TMPDIR` and shared by
//! the tests (a per-name lock in this process, a `ready` marker across runs). When pip cannot
//! install the packages the tests skip with a message, unless `KEYSWEEP_REQUIRE_PYTHON=1`
//! (`.ci/run`), where they fail.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use crate::fix::{clean_command, ok, run, snapshot};
use crate::purge::{synthetic, BASE62, DJANGO};
use crate::util::cmd::Keysweep;

/// A virtualenv's `bin` with Django and `packages` installed, built on first use.
fn venv(name: &str, packages: &[&str]) -> Option<PathBuf> {
    type Slot = Arc<OnceLock<Result<PathBuf, String>>>;
    static SLOTS: OnceLock<Mutex<BTreeMap<String, Slot>>> = OnceLock::new();
    let slot = {
        let mut slots = SLOTS
            .get_or_init(Default::default)
            .lock()
            .expect("venv lock is never poisoned: builders do not panic while holding it");
        slots.entry(name.to_owned()).or_default().clone()
    };
    let got = slot.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("keysweep-venvs")
            .join(name);
        let bin = dir.join("bin");
        if dir.join("ready").is_file() {
            return Ok(bin);
        }
        let _ = fs::remove_dir_all(&dir);
        run(Command::new("python3").arg("-m").arg("venv").arg(&dir))?;
        run(Command::new(bin.join("pip"))
            .args([
                "install",
                "-q",
                "--disable-pip-version-check",
                "Django>=4.2",
            ])
            .args(packages))?;
        fs::write(dir.join("ready"), packages.join("\n")).map_err(|e| e.to_string())?;
        Ok(bin)
    });
    match got {
        Ok(bin) => Some(bin.clone()),
        Err(why) => {
            assert!(
                std::env::var_os("KEYSWEEP_REQUIRE_PYTHON").is_none_or(|v| v != "1"),
                "KEYSWEEP_REQUIRE_PYTHON=1 but the virtualenv {name} could not be built: {why}"
            );
            eprintln!("SKIPPED: virtualenv {name} could not be built ({why})");
            None
        }
    }
}

/// A synthetic Django-style key (not a real credential), deterministic in `seed`.
fn django_key(seed: u64) -> String {
    format!("django-insecure-{}", synthetic(seed, 50, DJANGO))
}

/// A synthetic password (not a real credential).
fn password(seed: u64) -> String {
    synthetic(seed + 100, 22, BASE62)
}

const MANAGE_PY: &str = r#"#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{module}")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
"#;

/// Settings every project shares (apps, urls, sqlite).
const COMMON: &str = r#"
DEBUG = True
ALLOWED_HOSTS = ["localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
]
ROOT_URLCONF = "proj.urls"
USE_TZ = True
"#;

/// A git repository holding `files`, committed.
struct Project {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Project {
    fn new(module: &str, files: &[(&str, String)]) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("proj-repo");
        fs::create_dir(&root).expect("mkdir");
        let mut all: Vec<(String, String)> = vec![
            ("manage.py".into(), MANAGE_PY.replace("{module}", module)),
            ("proj/__init__.py".into(), String::new()),
            ("proj/urls.py".into(), "urlpatterns = []\n".into()),
        ];
        all.extend(files.iter().map(|(p, t)| ((*p).to_owned(), t.clone())));
        for (p, t) in &all {
            let path = root.join(p);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(path, t).expect("write");
        }
        let p = Project { _dir: dir, root };
        p.git(&["init", "-q"]);
        p.git(&["add", "-A"]);
        p.git(&["commit", "-q", "-m", "project"]);
        p
    }

    fn git(&self, args: &[&str]) -> String {
        ok(clean_command(Path::new("git"), &self.root)
            .env("GIT_AUTHOR_NAME", "Dev")
            .env("GIT_AUTHOR_EMAIL", "dev@example.org")
            .env("GIT_COMMITTER_NAME", "Dev")
            .env("GIT_COMMITTER_EMAIL", "dev@example.org")
            .args(args))
    }

    /// `manage.py check --settings=module` in a clean environment; panics unless it succeeds.
    fn check(&self, bin: &Path, module: &str) {
        let out = ok(clean_command(&bin.join("python"), &self.root).args([
            "manage.py",
            "check",
            &format!("--settings={module}"),
        ]));
        assert!(out.contains("no issues"), "{out}");
    }

    /// A setting's value as Django sees it, in a clean environment.
    fn setting(&self, bin: &Path, module: &str, expr: &str) -> String {
        let out = ok(clean_command(&bin.join("python"), &self.root).args([
            "manage.py",
            "shell",
            &format!("--settings={module}"),
            "-c",
            &format!("from django.conf import settings; print(settings.{expr})"),
        ]));
        // Django 5.2's shell first prints how many objects it imported
        out.trim_end().lines().last().unwrap_or_default().to_owned()
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }
}

/// Runs `keysweep fix` and everything the issue asks of the result: the project starts (each
/// module), SECRET_KEY is new, `env_file` is ignored, no tracked file holds a leaked value, the
/// scan of the working tree is clean, and a second fix changes nothing. Returns fix's stdout.
fn fix_and_verify(
    p: &Project,
    bin: &Path,
    modules: &[&str],
    leaked_key: &str,
    leaked: &[&str],
    env_file: &str,
) -> String {
    for m in modules {
        p.check(bin, m);
        assert_eq!(p.setting(bin, m, "SECRET_KEY"), leaked_key, "before fix");
    }
    let run = Keysweep::new(&p.root)
        .args(["fix", "."])
        .run()
        .expect_code(0);
    for m in modules {
        p.check(bin, m);
        let key = p.setting(bin, m, "SECRET_KEY");
        assert_ne!(key, leaked_key, "{m}: SECRET_KEY unchanged\n{}", run.stdout);
        assert_eq!(key.len(), 50, "{m}: {key}");
    }
    let env = p.read(env_file);
    assert!(
        env.contains(&p.setting(bin, modules[0], "SECRET_KEY")),
        "the new key is not in {env_file}"
    );
    p.git(&["check-ignore", "-q", env_file]);
    for value in leaked.iter().chain([&leaked_key]) {
        let grep = clean_command(Path::new("git"), &p.root)
            .args(["grep", "-n", "-F", "-e", value])
            .output()
            .expect("git grep runs");
        assert!(
            !grep.status.success(),
            "a tracked file still holds a leaked value:\n{}\n--- fix said\n{}{}",
            String::from_utf8_lossy(&grep.stdout),
            run.stdout,
            run.stderr
        );
    }
    Keysweep::new(&p.root)
        .args(["scan", "--no-history", "."])
        .run()
        .expect_code(0);
    let after = snapshot(&p.root);
    let again = Keysweep::new(&p.root)
        .args(["fix", "."])
        .run()
        .expect_code(0);
    assert!(
        again.stdout.contains("Nothing to fix"),
        "second fix:\n{}",
        again.stdout
    );
    assert_eq!(snapshot(&p.root), after, "second fix changed files");
    run.stdout
}

// issue 9 items 2, 3: split settings, django-environ reading settings/.env, the variable name
// production.py already reads, the literal in base.py.
#[test]
fn r9_split_settings_with_environ_reading_settings_dotenv() {
    let Some(bin) = venv("environ-current", &["django-environ"]) else {
        return;
    };
    let key = django_key(1);
    let mail = password(2);
    let base = format!(
        "from pathlib import Path\n\nimport environ\n\nBASE_DIR = Path(__file__).resolve().parent.parent.parent\nenv = environ.Env()\nenviron.Env.read_env(str(Path(__file__).resolve().parent / \".env\"))\n\nSECRET_KEY = '{key}'\n{COMMON}"
    );
    let production = format!(
        "from .base import *  # noqa\n\nSECRET_KEY = env(\"DJANGO_SECRET_KEY\", default=SECRET_KEY)\nDEBUG = False\nEMAIL_HOST_USER = \"app@example.org\"\nEMAIL_HOST_PASSWORD = \"{mail}\"\n"
    );
    let p = Project::new(
        "proj.settings.dev",
        &[
            ("requirements.txt", "Django>=4.2\ndjango-environ\n".into()),
            ("proj/settings/__init__.py", String::new()),
            ("proj/settings/base.py", base),
            (
                "proj/settings/dev.py",
                "from .base import *  # noqa\n".into(),
            ),
            ("proj/settings/production.py", production),
            (".gitignore", "__pycache__/\n".into()),
        ],
    );
    let modules = ["proj.settings.dev", "proj.settings.production"];
    let out = fix_and_verify(&p, &bin, &modules, &key, &[&mail], "proj/settings/.env");
    let env = p.read("proj/settings/.env");
    assert!(env.contains("DJANGO_SECRET_KEY="), "{env}");
    assert!(
        !p.root.join(".env").exists(),
        "values went to the root\n{out}"
    );
    assert_eq!(
        p.setting(&bin, "proj.settings.production", "EMAIL_HOST_PASSWORD"),
        mail
    );
    assert!(p
        .read("proj/settings/base.py")
        .contains("env('DJANGO_SECRET_KEY')"));
}

// issue 9 item 3: django-environ 0.4.5 rejects a pathlib.Path in read_env; the generated call
// passes a str.
#[test]
fn r9_old_django_environ_gets_a_str_path() {
    let Some(bin) = venv("environ-0.4.5", &["django-environ==0.4.5"]) else {
        return;
    };
    let key = django_key(3);
    let db = password(4);
    let settings = format!(
        "import environ\nfrom pathlib import Path\n\nBASE_DIR = Path(__file__).resolve().parent.parent\nenv = environ.Env()\n\nSECRET_KEY = \"{key}\"\nDATABASES = {{\n    \"default\": {{\n        \"ENGINE\": \"django.db.backends.sqlite3\",\n        \"NAME\": str(BASE_DIR / \"db.sqlite3\"),\n        \"PASSWORD\": \"{db}\",\n    }}\n}}\n{COMMON}"
    );
    let p = Project::new(
        "proj.settings",
        &[
            ("requirements.txt", "Django\ndjango-environ==0.4.5\n".into()),
            ("proj/settings.py", settings),
        ],
    );
    fix_and_verify(&p, &bin, &["proj.settings"], &key, &[&db], ".env");
    let s = p.read("proj/settings.py");
    assert!(
        s.contains("environ.Env.read_env(str(BASE_DIR / \".env\"))"),
        "{s}"
    );
    assert_eq!(
        p.setting(&bin, "proj.settings", "DATABASES['default']['PASSWORD']"),
        db
    );
}

// issue 9 items 1, 2, 5: no env library; `os.environ.get("SECRET_KEY", "<literal>")`, the same
// literal in docker-compose `environment:` and in a commented-out line; compose `env_file: .env`.
#[test]
fn r9_compose_and_a_literal_default_without_an_env_library() {
    let Some(bin) = venv("django", &[]) else {
        return;
    };
    let key = django_key(5);
    let settings = format!(
        "import os\nfrom pathlib import Path\n\nBASE_DIR = Path(__file__).resolve().parent.parent\n\n# SECRET_KEY = '{key}'\nSECRET_KEY = os.environ.get(\"SECRET_KEY\", \"{key}\")\n{COMMON}"
    );
    let compose = format!(
        "services:\n  web:\n    build: .\n    env_file: .env\n    environment:\n      - SECRET_KEY={key}\n      - DEBUG=1\n"
    );
    let p = Project::new(
        "proj.settings",
        &[
            ("proj/settings.py", settings),
            ("docker-compose.yml", compose),
        ],
    );
    let out = fix_and_verify(&p, &bin, &["proj.settings"], &key, &[], ".env");
    let env = p.read(".env");
    assert!(
        env.contains("SECRET_KEY=") && !env.contains("DJANGO_SECRET_KEY"),
        "{env}"
    );
    let compose = p.read("docker-compose.yml");
    assert!(
        compose.contains("- SECRET_KEY=${SECRET_KEY}\n"),
        "{compose}"
    );
    let s = p.read("proj/settings.py");
    assert!(
        s.contains("SECRET_KEY = os.environ.get(\"SECRET_KEY\")\n"),
        "{s}"
    );
    assert!(s.contains("os.environ.setdefault(name, value)"), "{s}");
    assert!(out.contains("standard library"), "{out}");
    // A real environment variable still wins over .env.
    let real = ok(clean_command(&bin.join("python"), &p.root)
        .env("SECRET_KEY", "from-the-real-environment-0123456789")
        .args([
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings; print(settings.SECRET_KEY)",
        ]));
    assert_eq!(
        real.trim_end().lines().last(),
        Some("from-the-real-environment-0123456789")
    );
}

// issue 9 items 1, 5: python-decouple with `config(..., default=<literal>)` and a literal
// database password.
#[test]
fn r9_python_decouple_defaults_are_dropped() {
    let Some(bin) = venv("decouple", &["python-decouple"]) else {
        return;
    };
    let key = django_key(6);
    let db = password(7);
    let settings = format!(
        "from pathlib import Path\n\nfrom decouple import config\n\nBASE_DIR = Path(__file__).resolve().parent.parent\nSECRET_KEY = config(\"SECRET_KEY\", default=\"{key}\")\nDATABASES = {{\n    \"default\": {{\n        \"ENGINE\": \"django.db.backends.sqlite3\",\n        \"NAME\": BASE_DIR / \"db.sqlite3\",\n        \"PASSWORD\": \"{db}\",\n    }}\n}}\n{COMMON}"
    );
    let p = Project::new(
        "proj.settings",
        &[
            ("requirements.txt", "Django\npython-decouple\n".into()),
            ("proj/settings.py", settings),
        ],
    );
    fix_and_verify(&p, &bin, &["proj.settings"], &key, &[&db], ".env");
    let s = p.read("proj/settings.py");
    assert!(s.contains("SECRET_KEY = config(\"SECRET_KEY\")\n"), "{s}");
    assert!(s.contains("config(\"DATABASE_PASSWORD\")"), "{s}");
    assert_eq!(
        p.setting(&bin, "proj.settings", "DATABASES['default']['PASSWORD']"),
        db
    );
}

// issue 9 item 4: committed .env and .env.production holding the key and a password, a
// committed .env.example holding a copy; python-dotenv loads .env.
#[test]
fn r9_tracked_dotenv_files_are_untracked_then_given_a_new_key() {
    let Some(bin) = venv("dotenv", &["python-dotenv"]) else {
        return;
    };
    let key = django_key(8);
    let db = password(9);
    let settings = format!(
        "import os\nfrom pathlib import Path\n\nfrom dotenv import load_dotenv\n\nBASE_DIR = Path(__file__).resolve().parent.parent\nload_dotenv(BASE_DIR / \".env\")\n\nSECRET_KEY = os.environ[\"DJANGO_SECRET_KEY\"]\nDATABASE_PASSWORD = os.environ.get(\"DATABASE_PASSWORD\")\n{COMMON}"
    );
    let p = Project::new(
        "proj.settings",
        &[
            ("requirements.txt", "Django\npython-dotenv\n".into()),
            ("proj/settings.py", settings),
            (
                ".env",
                format!("DJANGO_SECRET_KEY={key}\nDATABASE_PASSWORD={db}\nDEBUG=1\n"),
            ),
            (
                ".env.production",
                format!("DJANGO_SECRET_KEY={key}\nDATABASE_PASSWORD={db}\n"),
            ),
            (
                ".env.example",
                format!("DJANGO_SECRET_KEY={key}\nDATABASE_PASSWORD=\nDEBUG=1\n"),
            ),
        ],
    );
    let out = fix_and_verify(&p, &bin, &["proj.settings"], &key, &[&db], ".env");
    assert!(out.contains(".env: tracked by git"), "{out}");
    assert!(out.contains("git rm --cached"), "{out}");
    let tracked = p.git(&["ls-files"]);
    assert!(
        !tracked
            .lines()
            .any(|l| l == ".env" || l == ".env.production"),
        "{tracked}"
    );
    assert!(tracked.lines().any(|l| l == ".env.example"), "{tracked}");
    let staged = p.git(&["diff", "--cached", "--name-status"]);
    assert!(
        staged.contains("D\t.env\n") && staged.contains("D\t.env.production\n"),
        "untracking is left staged: {staged}"
    );
    p.git(&["check-ignore", "-q", ".env.production"]);
    assert!(p.read(".env.example").contains("DJANGO_SECRET_KEY=\n"));
    // The password stays where the project reads it (rotate it: fix cannot).
    assert_eq!(p.setting(&bin, "proj.settings", "DATABASE_PASSWORD"), db);
}
