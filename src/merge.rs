//! `keysweep merge REPORT.json...`: joins per-repository JSON reports (as `keysweep scan --format
//! json` or `keysweep ci github --json-file` write them) into one, deduplicated by fingerprint (of
//! rule and secret): a secret leaked into three repositories is one entry listing the three, and each
//! repository keeps its own counts. This is the last step of an organisation sweep, where each
//! repository was scanned by its own job.
//!
//! A finding's repository is its `repository` key (written by `ci github`), else the name given as
//! `NAME=FILE` on the command line, else the report file's name without its extension (or its
//! directory's name when the file is called `keysweep.json`, as in a downloaded artifact). Secrets
//! are masked in the output whatever the input holds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::text::mask_secret as mask;

/// One input: a report file and, optionally, the repository it covers.
#[derive(Debug, Clone)]
pub struct MergeInput {
    pub path: PathBuf,
    pub repository: Option<String>,
}

impl MergeInput {
    /// Parses `FILE` or `NAME=FILE` (when `FILE` does not exist as given and `NAME=` prefixes it).
    pub fn parse(arg: &str) -> MergeInput {
        match arg.split_once('=') {
            Some((name, file)) if !Path::new(arg).exists() && !name.is_empty() => MergeInput {
                path: PathBuf::from(file),
                repository: Some(name.to_string()),
            },
            _ => MergeInput {
                path: PathBuf::from(arg),
                repository: None,
            },
        }
    }

    fn default_repository(&self) -> String {
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = self
            .path
            .parent()
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().into_owned());
        match dir {
            Some(dir) if stem == "keysweep" || stem.is_empty() => dir,
            _ => stem,
        }
    }
}

/// Counts for one repository.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepositoryCount {
    pub repository: String,
    /// Findings in its report.
    pub findings: usize,
    /// Distinct secrets (fingerprints) among them.
    pub secrets: usize,
    /// Distinct secrets per severity.
    pub by_severity: BTreeMap<String, usize>,
}

/// One place a secret was found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct MergedLocation {
    pub repository: String,
    pub path: Option<String>,
    pub line: Option<u64>,
    pub commit: Option<String>,
}

/// One distinct secret across all reports.
#[derive(Debug, Clone, Serialize)]
pub struct MergedSecret {
    pub fingerprint: String,
    pub rule_id: String,
    pub rule_name: String,
    pub severity: String,
    /// Masked.
    pub secret: String,
    /// Repositories it was found in, sorted.
    pub repositories: Vec<String>,
    /// Findings of it, over all reports.
    pub findings: usize,
    pub locations: Vec<MergedLocation>,
    /// The first remediation step, when a report carried the steps.
    pub first_step: Option<String>,
}

/// Totals over all reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub repositories: usize,
    pub findings: usize,
    pub secrets: usize,
}

/// The merged report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MergedReport {
    pub totals: Totals,
    pub repositories: Vec<RepositoryCount>,
    /// Most severe first, then by number of repositories.
    pub secrets: Vec<MergedSecret>,
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}

/// The records of a JSON (array) or JSON-lines report, as written by `--format json`/`jsonl`.
pub fn read_records(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Path {
        path: path.to_path_buf(),
        source,
    })?;
    parse_records(path, &text)
}

/// The records of a report already read from `path` (named in errors).
pub fn parse_records(path: &Path, text: &str) -> Result<Vec<Value>> {
    let bad = |e: serde_json::Error| {
        Error::Config(format!(
            "{}: not a keysweep JSON report: {e}",
            path.display()
        ))
    };
    let records: Vec<Value> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(bad)?
    } else {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()
            .map_err(bad)?
    };
    Ok(records)
}

fn read_report(path: &Path) -> Result<Vec<Value>> {
    let records = read_records(path)?;
    if let Some(i) = records
        .iter()
        .position(|r| r["fingerprint"].as_str().is_none())
    {
        return Err(Error::Config(format!(
            "{}: record {} has no fingerprint: not a keysweep finding",
            path.display(),
            i + 1
        )));
    }
    Ok(records)
}

/// Reads and merges the reports.
pub fn merge(inputs: &[MergeInput]) -> Result<MergedReport> {
    let mut secrets: BTreeMap<String, MergedSecret> = BTreeMap::new();
    let mut repos: BTreeMap<String, (usize, BTreeMap<String, String>)> = BTreeMap::new();
    for input in inputs {
        let fallback = input
            .repository
            .clone()
            .unwrap_or_else(|| input.default_repository());
        // A report with no findings still counts its repository.
        repos.entry(fallback.clone()).or_default();
        for r in read_report(&input.path)? {
            let text = |k: &str| r[k].as_str().map(str::to_string);
            let repository = input
                .repository
                .clone()
                .or_else(|| text("repository"))
                .unwrap_or_else(|| fallback.clone());
            let fingerprint = text("fingerprint").unwrap_or_default();
            let severity = text("severity").unwrap_or_default();
            let entry = repos.entry(repository.clone()).or_default();
            entry.0 += 1;
            entry.1.insert(fingerprint.clone(), severity.clone());
            let s = secrets
                .entry(fingerprint.clone())
                .or_insert_with(|| MergedSecret {
                    fingerprint,
                    rule_id: text("rule_id").unwrap_or_default(),
                    rule_name: text("rule_name").unwrap_or_default(),
                    severity: severity.clone(),
                    secret: mask(r["secret"].as_str().unwrap_or_default()),
                    repositories: Vec::new(),
                    findings: 0,
                    locations: Vec::new(),
                    first_step: r["remediation_steps"]["steps"][0]["title"]
                        .as_str()
                        .or(r["remediation"].as_str())
                        .map(str::to_string),
                });
            if severity_rank(&severity) > severity_rank(&s.severity) {
                s.severity = severity;
            }
            s.findings += 1;
            if !s.repositories.contains(&repository) {
                s.repositories.push(repository.clone());
                s.repositories.sort();
            }
            s.locations.push(MergedLocation {
                repository,
                path: text("path"),
                line: r["line"].as_u64(),
                commit: text("commit"),
            });
        }
    }
    let repositories: Vec<RepositoryCount> = repos
        .into_iter()
        .map(|(repository, (findings, fps))| {
            let mut by_severity = BTreeMap::new();
            for sev in fps.values() {
                *by_severity.entry(sev.clone()).or_insert(0) += 1;
            }
            RepositoryCount {
                repository,
                findings,
                secrets: fps.len(),
                by_severity,
            }
        })
        .collect();
    let mut secrets: Vec<MergedSecret> = secrets.into_values().collect();
    for s in &mut secrets {
        s.locations.sort();
        s.locations.dedup();
    }
    secrets.sort_by(|a, b| {
        (
            severity_rank(&b.severity),
            b.repositories.len(),
            &a.fingerprint,
        )
            .cmp(&(
                severity_rank(&a.severity),
                a.repositories.len(),
                &b.fingerprint,
            ))
    });
    Ok(MergedReport {
        totals: Totals {
            repositories: repositories.len(),
            findings: repositories.iter().map(|r| r.findings).sum(),
            secrets: secrets.len(),
        },
        repositories,
        secrets,
    })
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'").replace('\n', " ")
}

impl MergedReport {
    /// The report as markdown (for a job summary).
    pub fn markdown(&self) -> String {
        let mut md = String::from("## keysweep: organisation sweep\n\n");
        let _ = writeln!(
            md,
            "**{}** distinct secret(s) in **{}** finding(s) across **{}** repositories.\n",
            self.totals.secrets, self.totals.findings, self.totals.repositories
        );
        md.push_str("| repository | secrets | findings | critical | high | medium | low |\n");
        md.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
        for r in &self.repositories {
            let n = |s: &str| r.by_severity.get(s).copied().unwrap_or(0);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                cell(&r.repository),
                r.secrets,
                r.findings,
                n("critical"),
                n("high"),
                n("medium"),
                n("low")
            );
        }
        if !self.secrets.is_empty() {
            md.push_str(
                "\n| severity | rule | secret | repositories | first seen | first step |\n",
            );
            md.push_str("|---|---|---|---|---|---|\n");
            for s in &self.secrets {
                let first = s.locations.first().map_or(String::new(), |l| {
                    format!(
                        "{}: `{}`:{}",
                        l.repository,
                        cell(l.path.as_deref().unwrap_or("(no path)")),
                        l.line.unwrap_or(0)
                    )
                });
                let _ = writeln!(
                    md,
                    "| {} | {} | `{}` | {} | {} | {} |",
                    s.severity,
                    cell(&s.rule_id),
                    cell(&s.secret),
                    cell(&s.repositories.join(", ")),
                    first,
                    cell(s.first_step.as_deref().unwrap_or(""))
                );
            }
        }
        md
    }
}
