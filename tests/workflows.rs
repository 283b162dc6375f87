//! `action.yml` and every workflow under `.github/workflows/` pass `check-jsonschema` with its
//! vendored GitHub schemas (`vendor.github-actions`, `vendor.github-workflows`; they work
//! offline), and the shell of every `run:` step, and the Action's entry script, passes
//! `shellcheck` (issue 8). `${{ ... }}` expressions are replaced by a word before shellcheck
//! sees a step, as the runner substitutes them before bash does.
//!
//! Without `check-jsonschema` (PyPI) or `shellcheck` (Debian) these tests skip, unless
//! `KEYSWEEP_REQUIRE_TOOLS=1` (`.ci/run` sets it and installs both).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{find_program, tool_missing};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn workflows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(".github/workflows"))
        .expect(".github/workflows exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 2,
        "the dogfood and org-sweep workflows: {files:?}"
    );
    files
}

fn check_jsonschema() -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from("check-jsonschema")];
    if let Ok(out) = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
    {
        candidates.push(
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("check-jsonschema"),
        );
    }
    let found = find_program(&candidates, &["--version"]);
    if found.is_none() {
        tool_missing(
            "check-jsonschema (pip install check-jsonschema)",
            "not on PATH",
        );
    }
    found
}

fn shellcheck() -> Option<PathBuf> {
    let found = find_program(&[PathBuf::from("shellcheck")], &["--version"]);
    if found.is_none() {
        tool_missing("shellcheck (apt-get install shellcheck)", "not on PATH");
    }
    found
}

fn assert_schema(tool: &Path, schema: &str, file: &Path) {
    let out = Command::new(tool)
        .args(["--builtin-schema", schema])
        .arg(file)
        .output()
        .expect("check-jsonschema runs");
    assert!(
        out.status.success(),
        "{} does not pass {schema}:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn action_and_workflows_pass_their_schemas() {
    let Some(tool) = check_jsonschema() else {
        return;
    };
    assert_schema(&tool, "vendor.github-actions", &root().join("action.yml"));
    for wf in workflows() {
        assert_schema(&tool, "vendor.github-workflows", &wf);
    }
    // The schemas are really applied: a step with an unknown key fails.
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n",
    )
    .expect("write");
    let out = Command::new(&tool)
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(&bad)
        .output()
        .expect("check-jsonschema runs");
    assert!(
        !out.status.success(),
        "a broken workflow must fail the schema"
    );
}

/// The `run:` scripts of a workflow or action file, with expressions replaced.
fn run_scripts(file: &Path) -> Vec<(String, String)> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(file).expect("read")).expect("YAML");
    let mut steps: Vec<(String, &serde_yaml::Value)> = Vec::new();
    if let Some(list) = doc["runs"]["steps"].as_sequence() {
        steps.extend(
            list.iter()
                .enumerate()
                .map(|(i, s)| (format!("runs.steps[{i}]"), s)),
        );
    }
    if let Some(jobs) = doc["jobs"].as_mapping() {
        for (name, job) in jobs {
            let name = name.as_str().unwrap_or("?").to_string();
            if let Some(list) = job["steps"].as_sequence() {
                steps.extend(
                    list.iter()
                        .enumerate()
                        .map(|(i, s)| (format!("jobs.{name}.steps[{i}]"), s)),
                );
            }
        }
    }
    let expr = regex::Regex::new(r"\$\{\{[^}]*\}\}").expect("regex");
    steps
        .into_iter()
        .filter_map(|(at, s)| {
            s["run"]
                .as_str()
                .map(|run| (at, expr.replace_all(run, "EXPR").into_owned()))
        })
        .collect()
}

#[test]
fn shell_in_the_action_and_workflows_passes_shellcheck() {
    let Some(tool) = shellcheck() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = vec![root().join("scripts/action-entry.sh")];
    let mut sources = vec![root().join("action.yml")];
    sources.extend(workflows());
    let mut steps = 0;
    for source in &sources {
        for (at, script) in run_scripts(source) {
            steps += 1;
            let name = format!(
                "{}-{}.sh",
                source.file_stem().and_then(|s| s.to_str()).unwrap_or("x"),
                at.replace(['[', ']', '.'], "_")
            );
            let path = dir.path().join(name);
            // GitHub runs `shell: bash` steps as `bash --noprofile --norc -eo pipefail {0}`.
            std::fs::write(
                &path,
                format!("#!/usr/bin/env bash\nset -eo pipefail\n{script}"),
            )
            .expect("write");
            files.push(path);
        }
    }
    assert!(
        steps >= 8,
        "the run steps of action.yml and the workflows: {steps}"
    );
    let out = Command::new(&tool)
        .args(["--shell=bash", "--severity=style"])
        .args(&files)
        .output()
        .expect("shellcheck runs");
    assert!(
        out.status.success(),
        "shellcheck:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
