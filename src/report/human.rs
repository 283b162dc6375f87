//! `--format human`: one block per finding with its location, rule, severity, the secret (masked
//! unless `--show-secrets`), where it came from in history, and a one-line remediation hint.

use std::io::{self, Write};

use super::{ReportContext, Reporter};
use crate::finding::{mask, Finding};

/// Readable text.
#[derive(Debug)]
pub struct HumanReporter;

impl Reporter for HumanReporter {
    fn write(
        &self,
        findings: &[Finding],
        ctx: &ReportContext<'_>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        for f in findings {
            let path = f.path.as_deref().unwrap_or("<unknown path>");
            let secret = if ctx.show_secrets {
                f.secret.clone()
            } else {
                mask(&f.secret)
            };
            writeln!(
                out,
                "{path}:{}:{}: {} [{}] {}",
                f.line,
                f.column,
                f.rule_id,
                f.severity.as_str(),
                f.rule_name
            )?;
            writeln!(out, "    secret: {secret}")?;
            if let Some(commit) = &f.commit {
                let who = f.author.as_deref().unwrap_or("unknown author");
                let when = f.date.as_deref().unwrap_or("unknown date");
                writeln!(out, "    introduced in {commit} by {who} on {when}")?;
            }
            if let Some(note) = &f.note {
                writeln!(out, "    note: {note}")?;
            }
            if let Some(fix) = &f.remediation {
                writeln!(out, "    fix: {fix}")?;
            }
            writeln!(out)?;
        }
        Ok(())
    }
}
