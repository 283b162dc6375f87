//! `--format sarif`: SARIF 2.1.0 as GitHub code scanning reads it. One run, the rules that produced
//! findings as `reportingDescriptor`s, one result per finding with a partial fingerprint so code
//! scanning tracks an alert across commits.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{json, Value};

use super::{ReportContext, Reporter};
use crate::finding::{mask, Finding};
use crate::rules::Severity;

/// SARIF output.
#[derive(Debug)]
pub struct SarifReporter;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub's `security-severity` property (a CVSS-like score) drives the alert's severity label.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
    }
}

impl Reporter for SarifReporter {
    fn write(
        &self,
        findings: &[Finding],
        ctx: &ReportContext<'_>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let mut rule_index: BTreeMap<&str, usize> = BTreeMap::new();
        let mut rules: Vec<Value> = Vec::new();
        for f in findings {
            if rule_index.contains_key(f.rule_id.as_str()) {
                continue;
            }
            let Some(rule) = ctx.rules.rules().iter().find(|r| r.id == f.rule_id) else {
                continue;
            };
            rule_index.insert(f.rule_id.as_str(), rules.len());
            let help = f.remediation.clone().unwrap_or_default();
            rules.push(json!({
                "id": rule.id.as_str(),
                "name": rule.name,
                "shortDescription": { "text": rule.name },
                "fullDescription": { "text": format!("{} (confidence: {})", rule.name, rule.confidence.as_str()) },
                "help": { "text": help, "markdown": help },
                "helpUri": rule.references.first(),
                "defaultConfiguration": { "level": level(rule.severity) },
                "properties": {
                    "tags": ["security", "secret"],
                    "precision": rule.confidence.as_str(),
                    "security-severity": security_severity(rule.severity),
                },
            }));
        }
        let results: Vec<Value> = findings
            .iter()
            .map(|f| {
                let secret = if ctx.show_secrets { f.secret.clone() } else { mask(&f.secret) };
                let mut message = format!("{} found: {secret}", f.rule_name);
                if let Some(commit) = &f.commit {
                    message.push_str(&format!(" (introduced in commit {commit})"));
                }
                json!({
                    "ruleId": f.rule_id.as_str(),
                    "ruleIndex": rule_index.get(f.rule_id.as_str()),
                    "level": level(f.severity),
                    "message": { "text": message },
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": { "uri": f.path.as_deref().unwrap_or("unknown") },
                            "region": { "startLine": f.line, "startColumn": f.column },
                        }
                    }],
                    "partialFingerprints": { "keysweep/v1": f.fingerprint },
                    "properties": { "commit": f.commit, "blob_id": f.blob_id, "severity": f.severity.as_str() },
                })
            })
            .collect();
        let doc = json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": { "driver": {
                    "name": "keysweep",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://github.com/keysweep/keysweep",
                    "rules": rules,
                }},
                "results": results,
            }],
        });
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)
    }
}
