//! `--format github`: GitHub Actions workflow commands (`::error file=…,line=…,col=…,title=…::…`),
//! one per finding, so findings show as annotations on the changed lines; and, when the runner
//! names a job summary file (`$GITHUB_STEP_SUMMARY`), a markdown summary appended to it: counts by
//! severity and one row per distinct secret with its file, line, commit and first remediation step.
//! Secrets are masked in both, always, whatever `--show-secrets` says: a workflow log and a job
//! summary are read by everyone with read access to the repository.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::PathBuf;

use super::mask_secret as mask;
use super::{ReportContext, Reporter};
use crate::finding::Finding;
use crate::rules::Severity;

/// At most this many annotations are written; GitHub displays only the first few per step
/// anyway, and the job summary lists every secret.
pub const MAX_ANNOTATIONS: usize = 200;

/// At most this many rows in the job summary's table of secrets.
const MAX_SUMMARY_ROWS: usize = 500;

/// Workflow commands on stdout, and the job summary when `summary` is set.
#[derive(Debug, Default)]
pub struct GithubReporter {
    /// The file to append the markdown job summary to (`$GITHUB_STEP_SUMMARY`).
    pub summary: Option<PathBuf>,
    /// A line saying what was scanned (e.g. the push range), shown at the top of the summary.
    pub scope: Option<String>,
}

impl GithubReporter {
    /// The reporter for a workflow step: the summary goes to `$GITHUB_STEP_SUMMARY` when the
    /// runner sets it (it is how the runner hands a step its summary file).
    pub fn from_env() -> GithubReporter {
        GithubReporter {
            summary: std::env::var_os("GITHUB_STEP_SUMMARY")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            scope: None,
        }
    }
}

impl Reporter for GithubReporter {
    fn write(
        &self,
        findings: &[Finding],
        _ctx: &ReportContext<'_>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        write_annotations(findings, out)?;
        if let Some(path) = &self.summary {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            file.write_all(summary_markdown(findings, self.scope.as_deref()).as_bytes())?;
        }
        Ok(())
    }
}

/// The workflow command for a severity.
fn command(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "notice",
    }
}

/// Escapes the message of a workflow command (as the runner's toolkit does).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value of a workflow command.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// What to do about a finding, in one line (its remediation summary).
fn first_step(f: &Finding) -> Option<&str> {
    f.remediation.as_deref()
}

/// Writes one workflow command per finding (at most [`MAX_ANNOTATIONS`], then a notice saying
/// how many were left out).
pub fn write_annotations(findings: &[Finding], out: &mut dyn Write) -> io::Result<()> {
    for f in findings.iter().take(MAX_ANNOTATIONS) {
        let mut props = Vec::new();
        if let Some(path) = f.path.as_deref().filter(|p| *p != "-") {
            props.push(format!("file={}", escape_property(path)));
            props.push(format!("line={}", f.line));
            props.push(format!("col={}", f.column));
        }
        props.push(format!(
            "title={}",
            escape_property(&format!("keysweep: {} ({})", f.rule_name, f.rule_id))
        ));
        let mut msg = format!("{} found: {}", f.rule_name, mask(&f.secret));
        match (&f.commit, &f.note) {
            (Some(commit), _) => {
                let _ = write!(msg, "\nintroduced in commit {commit}");
                if let Some(author) = &f.author {
                    let _ = write!(msg, " by {author}");
                }
            }
            (None, Some(note)) => {
                let _ = write!(msg, "\nblob {}: {note}", f.blob_id);
            }
            (None, None) => {}
        }
        if let Some(step) = first_step(f) {
            let _ = write!(msg, "\nfirst step: {step}");
        }
        writeln!(
            out,
            "::{} {}::{}",
            command(f.severity),
            props.join(","),
            escape_data(&msg)
        )?;
    }
    if findings.len() > MAX_ANNOTATIONS {
        writeln!(
            out,
            "::notice title=keysweep::{} more finding(s) are not annotated; the job summary and the SARIF file list them all",
            findings.len() - MAX_ANNOTATIONS
        )?;
    }
    Ok(())
}

/// Escapes text for a markdown table cell.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('`', "'")
        .replace(['\n', '\r'], " ")
}

/// The markdown job summary: what was scanned, counts by severity, one row per distinct secret
/// (masked) with where it was first seen, its commit and the first remediation step.
pub fn summary_markdown(findings: &[Finding], scope: Option<&str>) -> String {
    let mut md = String::from("## keysweep\n\n");
    if let Some(scope) = scope {
        let _ = writeln!(md, "{}\n", cell(scope));
    }
    // One row per distinct secret: grouped by fingerprint (rule + secret), as the human report is.
    let mut order: Vec<&str> = Vec::new();
    let mut groups: std::collections::HashMap<&str, Vec<&Finding>> = Default::default();
    for f in findings {
        let g = groups.entry(f.fingerprint.as_str()).or_default();
        if g.is_empty() {
            order.push(f.fingerprint.as_str());
        }
        g.push(f);
    }
    if order.is_empty() {
        md.push_str("No secrets found.\n");
        return md;
    }
    order.sort_by_key(|k| std::cmp::Reverse(groups[k].iter().map(|f| f.severity).max()));
    let _ = writeln!(
        md,
        "**{} secret(s)** in {} finding(s).\n",
        order.len(),
        findings.len()
    );
    md.push_str("| severity | secrets | findings |\n|---|---:|---:|\n");
    for s in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ] {
        let secrets = order
            .iter()
            .filter(|k| groups[*k].iter().map(|f| f.severity).max() == Some(s))
            .count();
        let n = findings.iter().filter(|f| f.severity == s).count();
        if secrets > 0 || n > 0 {
            let _ = writeln!(md, "| {} | {secrets} | {n} |", s.as_str());
        }
    }
    md.push_str(
        "\n| # | severity | rule | secret | file | line | commit | first step |\n\
         |---:|---|---|---|---|---:|---|---|\n",
    );
    for (n, key) in order.iter().take(MAX_SUMMARY_ROWS).enumerate() {
        let group = &groups[key];
        // Where it came in: the earliest commit (by date), else the first place listed.
        let lead = group
            .iter()
            .filter(|f| f.commit.is_some())
            .min_by(|a, b| a.date.cmp(&b.date))
            .copied()
            .unwrap_or(group[0]);
        let path = match &lead.path {
            Some(p) => format!("`{}`", cell(p)),
            None => format!("blob `{}` (no commit reaches it)", short(&lead.blob_id)),
        };
        let more = if group.len() > 1 {
            format!(" (+{} more)", group.len() - 1)
        } else {
            String::new()
        };
        let commit = lead
            .commit
            .as_deref()
            .map_or_else(|| "working tree".to_string(), |c| format!("`{}`", short(c)));
        let _ = writeln!(
            md,
            "| {} | {} | {} | `{}` | {path}{more} | {} | {commit} | {} |",
            n + 1,
            lead.severity.as_str(),
            cell(lead.rule_id.as_str()),
            cell(&mask(&lead.secret)),
            lead.line,
            cell(first_step(lead).unwrap_or("")),
        );
    }
    if order.len() > MAX_SUMMARY_ROWS {
        let _ = writeln!(
            md,
            "\n… and {} more secret(s); the SARIF file lists them all.",
            order.len() - MAX_SUMMARY_ROWS
        );
    }
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_values_are_escaped() {
        assert_eq!(escape_data("a%b\nc\rd"), "a%25b%0Ac%0Dd");
        assert_eq!(escape_property("x:y,z"), "x%3Ay%2Cz");
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
