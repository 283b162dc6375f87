//! `--format json` (one array) and `--format jsonl` (one record a line): the finding record of
//! shared/DESIGN.md, serialised as it is.

use std::io::{self, Write};

use super::{ReportContext, Reporter};
use crate::finding::Finding;

/// JSON array or JSON lines.
#[derive(Debug)]
pub struct JsonReporter {
    /// One object per line instead of an array.
    pub lines: bool,
}

impl Reporter for JsonReporter {
    fn write(
        &self,
        findings: &[Finding],
        _ctx: &ReportContext<'_>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        if self.lines {
            for f in findings {
                serde_json::to_writer(&mut *out, f)?;
                writeln!(out)?;
            }
        } else {
            serde_json::to_writer_pretty(&mut *out, findings)?;
            writeln!(out)?;
        }
        Ok(())
    }
}
