//! `--format sarif`: SARIF 2.1.0 as GitHub code scanning reads it (checked with Microsoft's SARIF
//! Multitool, with and without its GitHub rules, by the tests). One run, the rules that produced
//! findings as `reportingDescriptor`s, one result per finding with a partial fingerprint (rule +
//! secret, so code scanning tracks an alert across commits and the same scan twice gives the same
//! fingerprints). Secrets are always masked here, whatever `--show-secrets` says: a SARIF file is
//! uploaded to code scanning and kept as a build artifact.
//!
//! History findings carry the commit in the message and in `properties`; a finding whose file no
//! longer exists keeps the path it had in that commit; a blob no ref reaches is located at its
//! place in the object database (`.git/objects/…`), named in the message with the command that
//! shows it.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{json, Value};

use super::mask_secret as mask;
use super::{ReportContext, Reporter};
use crate::finding::Finding;
use crate::rules::{Rule, Severity};

/// What the run analysed, for `versionControlProvenance` (set by the CI entry point).
#[derive(Debug, Clone, Default)]
pub struct VersionControl {
    /// `https://github.com/owner/name`.
    pub repository_uri: String,
    /// The commit analysed.
    pub revision_id: Option<String>,
    /// The branch or ref analysed.
    pub branch: Option<String>,
}

/// SARIF output.
#[derive(Debug, Default)]
pub struct SarifReporter {
    /// The repository and revision analysed, when known.
    pub version_control: Option<VersionControl>,
}

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

/// SARIF's `name` is a Pascal-case identifier: "GitHub personal access token (classic)" becomes
/// `GitHubPersonalAccessTokenClassic`.
fn pascal_case(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            cs.next()
                .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn descriptor(rule: &Rule, help: &str) -> Value {
    let help = if help.is_empty() { &rule.name } else { help };
    let mut tags = vec!["security".to_string(), "secret".to_string()];
    for c in rule.categories.iter() {
        if let Some(c) = serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
        {
            if !tags.contains(&c) && tags.len() < 10 {
                tags.push(c);
            }
        }
    }
    let mut d = json!({
        "id": rule.id.as_str(),
        "name": pascal_case(&rule.name),
        "shortDescription": { "text": rule.name },
        "fullDescription": { "text": format!("{} (confidence: {})", rule.name, rule.confidence.as_str()) },
        "help": { "text": help, "markdown": help },
        "defaultConfiguration": { "level": level(rule.severity) },
        "properties": {
            "tags": tags,
            "precision": rule.confidence.as_str(),
            "security-severity": security_severity(rule.severity),
        },
    });
    // The schema wants a string here: a rule without references has no `helpUri` at all.
    if let Some(uri) = rule.references.first() {
        d["helpUri"] = json!(uri);
    }
    d
}

/// The result message: what, where it came from, and for a blob no ref reaches how to see it.
fn message(f: &Finding) -> String {
    let mut m = format!("{} found: {}.", f.rule_name, mask(&f.secret));
    if let Some(note) = f.decoded_note() {
        m.push_str(&format!(" The secret is encoded there ({note})."));
    }
    match &f.commit {
        Some(commit) => {
            m.push_str(&format!(" Introduced in commit {commit}"));
            if let Some(author) = &f.author {
                m.push_str(&format!(" by {author}"));
            }
            if let Some(date) = &f.date {
                m.push_str(&format!(" on {date}"));
            }
            m.push('.');
            if f.at_head == Some(false) {
                m.push_str(" No longer in the working tree: it stays in history until purged.");
            }
        }
        None if f.note.is_some() || f.path.is_none() => {
            m.push_str(&format!(
                " In git blob {} ({}); see it with `git cat-file -p {}`.",
                f.blob_id,
                f.note.as_deref().unwrap_or("no commit reaches it"),
                f.blob_id
            ));
        }
        None => {}
    }
    if let Some(r) = &f.remediation {
        m.push(' ');
        m.push_str(r);
    }
    m
}

/// Where the result is: the path (as it was in the introducing commit for history findings), or
/// for a blob without a path its place in the object database.
fn uri(f: &Finding) -> String {
    match f.path.as_deref() {
        Some(p) if p != "-" => p.to_string(),
        Some(_) => "stdin".to_string(),
        None if f.blob_id.len() > 2 => {
            format!(".git/objects/{}/{}", &f.blob_id[..2], &f.blob_id[2..])
        }
        None => ".git/objects".to_string(),
    }
}

fn result(f: &Finding, rule_index: Option<&usize>) -> Value {
    let masked = mask(&f.secret);
    let snippet = if f.secret.is_empty() {
        masked.clone()
    } else {
        f.masked_match(&masked)
    };
    let mut region = json!({ "startLine": f.line, "startColumn": f.column });
    // The snippet is the matched text with the secret masked (never the secret itself); a
    // multi-line match (a PEM block) is left out rather than cut.
    if !snippet.contains('\n') {
        region["snippet"] = json!({ "text": snippet });
    }
    json!({
        "ruleId": f.rule_id.as_str(),
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": { "text": message(f) },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": uri(f) },
                "region": region,
            }
        }],
        "partialFingerprints": { "keysweep/v1": f.fingerprint },
        "properties": {
            "commit": f.commit,
            "author": f.author,
            "date": f.date,
            "blob_id": f.blob_id,
            "severity": f.severity.as_str(),
            "confidence": f.confidence.as_str(),
            "at_head": f.at_head,
            "in_history": f.commit.is_some() || f.note.is_some(),
            "occurrences": f.occurrences,
        },
    })
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
            rules.push(descriptor(
                rule,
                f.remediation.as_deref().unwrap_or_default(),
            ));
        }
        // The results are written one at a time into their place in the document (see
        // `splice_results`), not held as one tree: 80,000 results as `Value`s are ~1 GB.
        let results: Vec<Value> = Vec::new();
        let mut run = json!({
            "tool": { "driver": {
                "name": "keysweep",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/keysweep/keysweep",
                "rules": rules,
            }},
            "results": results,
        });
        if let Some(vc) = &self.version_control {
            let mut v = json!({ "repositoryUri": vc.repository_uri });
            if let Some(rev) = &vc.revision_id {
                v["revisionId"] = json!(rev);
            }
            if let Some(branch) = &vc.branch {
                v["branch"] = json!(branch);
            }
            run["versionControlProvenance"] = json!([v]);
        }
        let doc = json!({
            "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
            "version": "2.1.0",
            "runs": [run],
        });
        let doc = serde_json::to_vec_pretty(&doc)?;
        splice_results(&doc, findings, &rule_index, out)?;
        writeln!(out)
    }
}

/// Writes `doc` (pretty, with an empty `results` array) with the results of `findings` in that
/// array: the bytes `serde_json` writes for the whole document with the results in it. The keys
/// of a `Value` object are written sorted, so `results` is the first key of the run, before any
/// text taken from the rules; each result is written at level 0 and indented to its place (pretty
/// JSON has no raw newline inside a string).
fn splice_results(
    doc: &[u8],
    findings: &[Finding],
    rule_index: &BTreeMap<&str, usize>,
    out: &mut dyn Write,
) -> io::Result<()> {
    const EMPTY: &[u8] = b"\"results\": []";
    let at = memchr::memmem::find(doc, EMPTY).filter(|_| !findings.is_empty());
    let Some(at) = at else {
        return out.write_all(doc);
    };
    // `$schema`, `runs` (4 spaces in), the run (6): each result is 8 spaces in.
    const RESULT: &[u8] = b"\n        ";
    let open = at + EMPTY.len() - 1;
    out.write_all(&doc[..open])?;
    let mut buf = Vec::with_capacity(2048);
    let mut one = Vec::with_capacity(2048);
    for (i, f) in findings.iter().enumerate() {
        buf.clear();
        one.clear();
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(RESULT);
        serde_json::to_writer_pretty(&mut one, &result(f, rule_index.get(f.rule_id.as_str())))?;
        for (j, line) in one.split(|&b| b == b'\n').enumerate() {
            if j > 0 {
                buf.extend_from_slice(RESULT);
            }
            buf.extend_from_slice(line);
        }
        out.write_all(&buf)?;
    }
    out.write_all(b"\n      ")?;
    out.write_all(&doc[open..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_become_pascal_case() {
        assert_eq!(
            pascal_case("GitHub personal access token (classic)"),
            "GitHubPersonalAccessTokenClassic"
        );
        assert_eq!(pascal_case("django SECRET_KEY"), "DjangoSECRETKEY");
    }
}
