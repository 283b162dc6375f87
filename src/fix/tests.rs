//! Unit tests of planning, on strings.

use super::*;
use std::path::{Path, PathBuf};

const STARTPROJECT: &str = r#""""
Django settings for mysite project.
"""

from pathlib import Path

# Build paths inside the project like this: BASE_DIR / 'subdir'.
BASE_DIR = Path(__file__).resolve().parent.parent


# SECURITY WARNING: keep the secret key used in production secret!
SECRET_KEY = 'django-insecure-9x!k2m#q8w@e4r5t6y7u8i9o0p-a1s2d3f4g5h6j7k8l9z0x1c2v3b'

DEBUG = True

DATABASES = {
'default': {
    'ENGINE': 'django.db.backends.sqlite3',
    'NAME': BASE_DIR / 'db.sqlite3',
    'PASSWORD': ('db-pass-'
                 'w0rd'),
}
}

EMAIL_HOST_PASSWORD = r"mail\pass'word"
"#;

fn input(style_environ_in_project: bool) -> FixInput {
    let mut i = FixInput {
        root: PathBuf::from("/nonexistent-root"),
        settings: vec![TextFile {
            path: PathBuf::from("mysite/settings.py"),
            text: STARTPROJECT.to_owned(),
        }],
        manage_dirs: vec![PathBuf::new()],
        ..FixInput::default()
    };
    i.libs.environ = style_environ_in_project;
    i.existing
        .insert(PathBuf::from(".gitignore"), "__pycache__/\n".to_owned());
    i
}

fn settings_after(plan: &FixPlan) -> &str {
    &plan
        .files
        .iter()
        .find(|f| f.path == Path::new("mysite/settings.py"))
        .expect("settings changed")
        .new
}

#[test]
fn os_style_replaces_literals_and_adds_import() {
    let p = plan(&input(false), &FixOptions::default());
    let s = settings_after(&p);
    assert!(
        s.contains("SECRET_KEY = os.environ['DJANGO_SECRET_KEY']"),
        "{s}"
    );
    assert!(
        s.contains("'PASSWORD': os.environ['DATABASE_PASSWORD'],"),
        "{s}"
    );
    assert!(
        s.contains(r#"EMAIL_HOST_PASSWORD = os.environ["EMAIL_HOST_PASSWORD"]"#),
        "{s}"
    );
    assert!(s.contains("from pathlib import Path\nimport os\n"), "{s}");
    assert!(!s.contains("django-insecure"));
    let env = &p.env_files[0];
    assert_eq!(env.path, Path::new(".env"));
    assert!(env.old.is_none());
    let vars: Vec<_> = env
        .entries
        .iter()
        .map(|e| (e.var.as_str(), e.value.clone()))
        .collect();
    assert_eq!(
        vars,
        [
            ("DJANGO_SECRET_KEY", EnvValue::NewSecretKey),
            (
                "DATABASE_PASSWORD",
                EnvValue::Literal("db-pass-w0rd".into())
            ),
            (
                "EMAIL_HOST_PASSWORD",
                EnvValue::Literal(r"mail\pass'word".into())
            ),
        ]
    );
    let gi = p
        .files
        .iter()
        .find(|f| f.path == Path::new(".gitignore"))
        .expect("gitignore");
    assert!(
        gi.new.starts_with("__pycache__/\n") && gi.new.ends_with("\n.env\n"),
        "{}",
        gi.new
    );
    let ex = p
        .files
        .iter()
        .find(|f| f.path == Path::new(".env.example"))
        .expect("example");
    assert!(ex
        .new
        .contains("DJANGO_SECRET_KEY=\nDATABASE_PASSWORD=\nEMAIL_HOST_PASSWORD=\n"));
    assert!(!ex.new.contains("w0rd"));
}

#[test]
fn environ_style_sets_up_env_after_base_dir() {
    let p = plan(&input(true), &FixOptions::default());
    let s = settings_after(&p);
    assert!(
        s.contains("from pathlib import Path\nimport environ\n"),
        "{s}"
    );
    assert!(
        s.contains("parent.parent\n# Credentials come from the environment; in development from .env (not committed).\nenv = environ.Env()\nenviron.Env.read_env(str(BASE_DIR / \".env\"))\n"),
        "{s}"
    );
    assert!(s.contains("SECRET_KEY = env('DJANGO_SECRET_KEY')"), "{s}");
    assert!(!s.contains("import os"), "{s}");
}

#[test]
fn second_plan_after_applying_changes_nothing() {
    let first = plan(&input(false), &FixOptions::default());
    let mut again = input(false);
    again.settings[0].text = settings_after(&first).to_owned();
    for f in &first.files {
        again.existing.insert(f.path.clone(), f.new.clone());
    }
    again
        .existing
        .insert(PathBuf::from(".env"), "DJANGO_SECRET_KEY='x'\n".to_owned());
    let second = plan(&again, &FixOptions::default());
    assert!(second.is_empty(), "{}", second.diff());
}

#[test]
fn existing_env_entries_are_never_overwritten() {
    let mut i = input(false);
    i.existing.insert(
        PathBuf::from(".env"),
        "DATABASE_PASSWORD=other\nDJANGO_SECRET_KEY=kept\n".to_owned(),
    );
    i.existing
        .insert(PathBuf::from(".gitignore"), "*.env\n.env\n".to_owned());
    let p = plan(&i, &FixOptions::default());
    let vars: Vec<_> = p.env_files[0]
        .entries
        .iter()
        .map(|e| e.var.as_str())
        .collect();
    assert_eq!(vars, ["EMAIL_HOST_PASSWORD"]);
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("DATABASE_PASSWORD is already in .env")),
        "{:?}",
        p.warnings
    );
    assert!(p.files.iter().all(|f| f.path != Path::new(".gitignore")));
}

#[test]
fn values_already_in_env_still_get_gitignore_and_example() {
    let mut i = input(false);
    i.existing.insert(
        PathBuf::from(".env"),
        "DJANGO_SECRET_KEY=a\nDATABASE_PASSWORD=db-pass-w0rd\nEMAIL_HOST_PASSWORD=\"mail\\\\pass'word\"\n".to_owned(),
    );
    let p = plan(&i, &FixOptions::default());
    assert!(p.env_files.is_empty(), "{:?}", p.env_files);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let paths: Vec<_> = p.files.iter().map(|f| slash(&f.path)).collect();
    assert_eq!(paths, [".gitignore", "mysite/settings.py", ".env.example"]);
}

#[test]
fn dry_run_diff_hides_values() {
    let d = plan(&input(false), &FixOptions::default()).diff();
    assert!(d.contains("-SECRET_KEY = 'django-insecure-"), "{d}");
    assert!(
        d.contains("+DATABASE_PASSWORD=<value from mysite/settings.py:"),
        "{d}"
    );
    assert!(!d.contains("+DATABASE_PASSWORD=db-pass"), "{d}");
    let mut i = input(false);
    i.existing
        .insert(PathBuf::from(".env"), "OTHER=s3cr3t-value\n".to_owned());
    let d = plan(&i, &FixOptions::default()).diff();
    assert!(
        d.contains(" OTHER=<hidden>\n") && !d.contains("s3cr3t-value"),
        "{d}"
    );
}

#[test]
fn same_variable_with_different_values_gets_a_suffix() {
    let mut i = input(false);
    i.settings.push(TextFile {
        path: PathBuf::from("mysite/settings_prod.py"),
        text: "EMAIL_HOST_PASSWORD = 'prod-mail-pass'\n".to_owned(),
    });
    let p = plan(&i, &FixOptions::default());
    let prod = &p
        .files
        .iter()
        .find(|f| f.path == Path::new("mysite/settings_prod.py"))
        .expect("prod")
        .new;
    assert!(prod.starts_with("import os\n"), "{prod}");
    assert!(
        prod.ends_with("\n_read_env_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), \"..\", \".env\"))\nEMAIL_HOST_PASSWORD = os.environ['EMAIL_HOST_PASSWORD_2']\n"),
        "{prod}"
    );
}

#[test]
fn crlf_files_get_crlf_insertions_and_fallbacks_warn() {
    let mut i = input(false);
    i.settings[0].text = "import sys\r\nSECRET_KEY = 'k3#v9!w$q2@zr8^m1&x7*p0(t-_=+)e4y6u'\r\nSECRET_KEY_FALLBACKS = ['old-key-1234567890abcdefghij']\r\n".to_owned();
    let p = plan(&i, &FixOptions::default());
    let s = settings_after(&p);
    assert!(
        s.starts_with("import sys\r\nimport os\r\n\r\n\r\ndef _read_env_file(path):\r\n"),
        "{s}"
    );
    assert!(s.ends_with("\r\nSECRET_KEY = os.environ['DJANGO_SECRET_KEY']\r\nSECRET_KEY_FALLBACKS = ['old-key-1234567890abcdefghij']\r\n"), "{s}");
    assert!(!s.replace("\r\n", "").contains('\n'), "a bare LF: {s:?}");
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("mysite/settings.py:3: SECRET_KEY_FALLBACKS")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn placeholders_are_reported_not_moved() {
    let mut i = input(false);
    i.settings[0].text =
        "SECRET_KEY = 'dummy-secret-for-tests'\nEMAIL_HOST_PASSWORD = 'xxxxxxxx'\n".to_owned();
    let p = plan(&i, &FixOptions::default());
    assert!(p.is_empty(), "{}", p.diff());
    assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
}
