//! `--format json` (one array) and `--format jsonl` (one record a line): the finding record of
//! shared/DESIGN.md, serialised as it is, plus `remediation_steps` (the steps of the finding's
//! secret, built from all the places that secret was found).

use std::io::{self, Write};

use serde::Serialize;

use super::{ReportContext, Reporter};
use crate::finding::Finding;
use crate::remediation::RemediationPlan;

/// A finding record with its secret's steps.
#[derive(Serialize)]
struct Record<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    #[serde(skip_serializing_if = "Option::is_none")]
    remediation_steps: Option<&'a RemediationPlan>,
}

/// JSON array or JSON lines.
#[derive(Debug)]
pub struct JsonReporter {
    /// One object per line instead of an array.
    pub lines: bool,
}

/// The finding records as JSON values, each with its secret's `remediation_steps`.
pub fn records(
    findings: &[Finding],
    ctx: &ReportContext<'_>,
) -> serde_json::Result<Vec<serde_json::Value>> {
    with_steps(findings, ctx, |records| {
        records.iter().map(serde_json::to_value).collect()
    })
}

/// Calls `f` with the records of `findings` (the steps are borrowed from the groups).
fn with_steps<T>(
    findings: &[Finding],
    ctx: &ReportContext<'_>,
    f: impl FnOnce(&[Record<'_>]) -> T,
) -> T {
    let groups = ctx.groups(findings);
    let plans: std::collections::HashMap<&str, &RemediationPlan> = groups
        .iter()
        .filter_map(|g| Some((g.id, g.remediation.as_ref()?)))
        .collect();
    let records: Vec<Record<'_>> = findings
        .iter()
        .map(|finding| Record {
            finding,
            remediation_steps: plans.get(finding.secret_group.as_str()).copied(),
        })
        .collect();
    f(&records)
}

impl Reporter for JsonReporter {
    fn write(
        &self,
        findings: &[Finding],
        ctx: &ReportContext<'_>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        with_steps(findings, ctx, |records| -> io::Result<()> {
            if self.lines {
                for r in records {
                    serde_json::to_writer(&mut *out, r)?;
                    writeln!(out)?;
                }
            } else {
                serde_json::to_writer_pretty(&mut *out, records)?;
                writeln!(out)?;
            }
            Ok(())
        })
    }
}
