//! `--format human`: one block per distinct secret (one secret found in 40 commits is one
//! problem), with every place it was seen, where it was introduced, whether it is still at HEAD,
//! and the numbered remediation steps: rotate → move to the environment → purge history → verify.
//! Secrets are masked unless `--show-secrets`.

use std::io::{self, Write};

use super::{ReportContext, Reporter};
use crate::finding::{mask, Finding};

/// Readable text.
#[derive(Debug)]
pub struct HumanReporter;

/// At most this many locations are listed per secret; the rest are counted.
const MAX_LOCATIONS: usize = 10;

impl Reporter for HumanReporter {
    fn write(
        &self,
        findings: &[Finding],
        ctx: &ReportContext<'_>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        // Grouped by fingerprint (rule + secret) rather than secret text, which `--redact` masks.
        let mut order: Vec<&str> = Vec::new();
        let mut groups: std::collections::HashMap<&str, Vec<&Finding>> = Default::default();
        for f in findings {
            let g = groups.entry(f.fingerprint.as_str()).or_default();
            if g.is_empty() {
                order.push(f.fingerprint.as_str());
            }
            g.push(f);
        }
        // Most severe first, those with a context (test, docs, example) after the others;
        // otherwise in the findings' order (by path).
        order.sort_by_key(|k| {
            (
                std::cmp::Reverse(groups[k].iter().map(|f| f.severity).max()),
                groups[k].iter().all(|f| f.context.is_some()),
            )
        });
        for (n, key) in order.iter().enumerate() {
            let group = &groups[key];
            let lead = group[0];
            let secret = if ctx.show_secrets {
                lead.secret.clone()
            } else {
                mask(&lead.secret)
            };
            let label = lead
                .context
                .map(|c| format!(" [{}]", c.as_str()))
                .unwrap_or_default();
            writeln!(
                out,
                "[{}] {}{label}: {} ({})",
                n + 1,
                lead.severity.as_str().to_uppercase(),
                lead.rule_name,
                lead.rule_id
            )?;
            writeln!(out, "    secret: {secret}")?;
            if let Some(id) = &lead.paired_id {
                writeln!(out, "    paired with: {id}")?;
            }
            let shown = group.len().min(MAX_LOCATIONS);
            for f in &group[..shown] {
                let path = match &f.path {
                    Some(path) => path.clone(),
                    None => format!("blob {}", &f.blob_id[..f.blob_id.len().min(12)]),
                };
                match &f.commit {
                    Some(commit) => writeln!(
                        out,
                        "    at {path}:{}:{} in commit {} ({}, {})",
                        f.line,
                        f.column,
                        &commit[..commit.len().min(12)],
                        f.author.as_deref().unwrap_or("unknown author"),
                        f.date.as_deref().unwrap_or("unknown date")
                    )?,
                    // A history blob no commit reaches carries a note saying so.
                    None if f.note.is_some() => writeln!(
                        out,
                        "    at {path}:{}:{} (in history, no commit)",
                        f.line, f.column
                    )?,
                    None => writeln!(out, "    at {path}:{}:{} (working tree)", f.line, f.column)?,
                }
                if let Some(note) = &f.note {
                    writeln!(out, "       note: {note}")?;
                }
            }
            if group.len() > shown {
                writeln!(out, "    … and {} more place(s)", group.len() - shown)?;
            }
            let occurrences: usize = group
                .iter()
                .filter_map(|f| f.occurrences)
                .max()
                .unwrap_or(0);
            if occurrences > 1 {
                writeln!(
                    out,
                    "    carried by {occurrences} (commit, path) pairs in history"
                )?;
            }
            match group.iter().find_map(|f| f.at_head) {
                Some(true) => writeln!(out, "    still at HEAD: yes")?,
                Some(false) => writeln!(out, "    still at HEAD: no (history only)")?,
                None => {}
            }
            match &lead.remediation_steps {
                Some(plan) => write!(out, "{}", plan.render_human("    "))?,
                None => {
                    if let Some(fix) = &lead.remediation {
                        writeln!(out, "    fix: {fix}")?;
                    }
                }
            }
            writeln!(out)?;
        }
        Ok(())
    }
}
