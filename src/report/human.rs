//! `--format human`: a compact report in the manner of compiler diagnostics. Per distinct secret
//! (one secret found in 40 commits, or by two rules, is one problem) a header line (severity, what
//! it is, the masked value, how many places, whether it is still in the files on disk), one line
//! per place (files on disk first, then history: commit, author, date), capped unless `--verbose`,
//! and one line saying what to do. The full numbered steps (rotate → move to the environment →
//! purge history → verify) follow once per remediation kind, naming the secrets they apply to,
//! then a summary. Everything taken from the scanned input is escaped (`crate::text`); secrets are
//! masked unless `--show-secrets`.

use std::collections::HashMap;
use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::{escape, escape_bytes, human_bytes, mask_secret, ReportContext, Reporter, ScanTotals};
use crate::finding::Finding;
use crate::group::{plan_for_groups, SecretGroup};
use crate::remediation::{Context, RemediationPlan};
use crate::rules::{Rule, RuleSet, Severity};

/// Readable text.
#[derive(Debug)]
pub struct HumanReporter;

/// Places listed per secret without `--verbose`; the rest are counted.
const MAX_PLACES: usize = 3;

/// The styles of the report; all plain when colour is off.
struct Styles {
    severity: [Style; 4],
    dim: Style,
    bold: Style,
}

impl Styles {
    fn new(color: bool) -> Styles {
        if !color {
            let plain = Style::new();
            return Styles {
                severity: [plain; 4],
                dim: plain,
                bold: plain,
            };
        }
        let sev = |c: AnsiColor| Style::new().bold().fg_color(Some(c.into()));
        Styles {
            severity: [
                sev(AnsiColor::Cyan),
                sev(AnsiColor::Yellow),
                sev(AnsiColor::Red),
                sev(AnsiColor::BrightRed),
            ],
            dim: Style::new().dimmed(),
            bold: Style::new().bold(),
        }
    }

    fn severity(&self, s: Severity) -> Style {
        self.severity[s as usize]
    }
}

impl Reporter for HumanReporter {
    fn write(
        &self,
        findings: &[Finding],
        ctx: &ReportContext<'_>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let st = Styles::new(ctx.color);
        let mut groups = ctx.groups(findings);
        if let Some(id) = ctx.explain {
            groups.retain(|g| g.lead.rule_id.as_str() == id || g.other_rules.contains(&id));
            if groups.is_empty() {
                writeln!(out, "No secrets found by {}.\n", escape(id))?;
                if let Some(rule) = ctx.rules.rules().iter().find(|r| r.id.as_str() == id) {
                    write_explain(out, ctx.rules, rule, ctx.color)?;
                }
                return Ok(());
            }
        }
        // Remediation kinds in order of first use, each with the secrets (by number) it covers,
        // and for each secret the letter of its kind.
        let mut kinds: Vec<(&str, Vec<usize>)> = Vec::new();
        let mut letters: Vec<Option<char>> = Vec::with_capacity(groups.len());
        for (n, g) in groups.iter().enumerate() {
            let kind = g.remediation.as_ref().map(|plan| {
                match kinds.iter().position(|(id, _)| *id == plan.remediation_id) {
                    Some(k) => {
                        kinds[k].1.push(n);
                        k
                    }
                    None => {
                        kinds.push((plan.remediation_id.as_str(), vec![n]));
                        kinds.len() - 1
                    }
                }
            });
            letters.push(kind.map(|k| char::from(b'A' + (k % 26) as u8)));
        }
        for (n, g) in groups.iter().enumerate() {
            write_group(out, &st, ctx, n + 1, g, letters[n])?;
        }
        for (k, (id, members)) in kinds.iter().enumerate() {
            let Some(spec) = ctx.rules.try_find_remediation(id) else {
                continue;
            };
            let covered: Vec<&SecretGroup<'_>> = members.iter().map(|&n| &groups[n]).collect();
            let plan = plan_for_groups(spec, &covered, ctx.scan_root);
            let numbers = number_ranges(members);
            writeln!(
                out,
                "{b}Steps {} for {}{b:#}",
                char::from(b'A' + (k % 26) as u8),
                numbers,
                b = st.bold
            )?;
            write!(out, "{}", escape_block(&plan.render_human("  ")))?;
            writeln!(out)?;
        }
        write_summary(out, &st, &groups, findings.len(), ctx.totals)
    }
}

fn write_group(
    out: &mut dyn Write,
    st: &Styles,
    ctx: &ReportContext<'_>,
    number: usize,
    g: &SecretGroup<'_>,
    steps: Option<char>,
) -> io::Result<()> {
    let lead = g.lead;
    let secret = if ctx.show_secrets {
        lead.secret.clone()
    } else {
        mask_secret(&lead.secret)
    };
    let rows = rows(g);
    let places = rows.len();
    let mut status = format!("{places} place{}", if places == 1 { "" } else { "s" });
    match g.at_head {
        Some(true) => {
            let tracked = g.present.iter().filter(|f| f.tracked == Some(true)).count();
            status.push_str(
                if tracked == 0 && g.present.iter().all(|f| f.tracked.is_none()) {
                    "; still in the files on disk"
                } else if tracked == g.present.len() {
                    "; still at HEAD, tracked by git"
                } else if tracked == 0 {
                    "; still in the files on disk, not tracked by git"
                } else {
                    "; still in the files on disk, some tracked by git"
                },
            );
        }
        Some(false) => status.push_str("; only in history, not at HEAD"),
        None if !g.history.is_empty() => status.push_str("; in history"),
        None => {}
    }
    let sev = st.severity(lead.severity);
    let label = lead
        .context
        .map(|c| format!(" [{}]", c.as_str()))
        .unwrap_or_default();
    writeln!(
        out,
        "{b}[{number}]{b:#} {sev}{}{sev:#}{label} {b}{}{b:#} {} {d}({}){d:#}",
        lead.severity.as_str().to_uppercase(),
        escape(&lead.rule_name),
        escape(&secret),
        status,
        b = st.bold,
        d = st.dim,
    )?;
    if let Some(id) = &lead.paired_id {
        writeln!(out, "    paired with: {}", escape(id))?;
    }
    let shown = if ctx.verbose {
        places
    } else {
        places.min(MAX_PLACES)
    };
    let lines = &rows[..shown];
    let width = lines
        .iter()
        .map(|(p, _)| p.chars().count())
        .max()
        .unwrap_or(0)
        .min(48);
    for (place, from) in lines {
        writeln!(out, "    {place:<width$}  {d}{from}{d:#}", d = st.dim)?;
    }
    if places > shown {
        writeln!(
            out,
            "    {d}… and {} more place{} (--verbose lists them){d:#}",
            places - shown,
            if places - shown == 1 { "" } else { "s" },
            d = st.dim
        )?;
    }
    let mut todo = match (&g.remediation, steps) {
        (Some(plan), Some(letter)) => format!("{} See steps {letter} below.", plan.summary),
        (Some(plan), None) => plan.summary.clone(),
        (None, _) => lead.remediation.clone().unwrap_or_default(),
    };
    if !g.other_rules.is_empty() {
        todo = format!(
            "{todo} (rule {}; also matched by {})",
            lead.rule_id,
            g.other_rules.join(", ")
        );
    } else {
        todo = format!("{todo} (rule {})", lead.rule_id);
    }
    writeln!(out, "    → {}", escape(todo.trim()))?;
    writeln!(out)
}

/// `path:line:col` of a finding, escaped; the original bytes when the path is not UTF-8.
fn place(f: &Finding) -> String {
    let path = match (&f.path_bytes, &f.path) {
        (Some(bytes), _) => escape_bytes(bytes),
        (None, Some(path)) => escape(path).into_owned(),
        (None, None) => format!("(no path; blob {})", short(&f.blob_id)),
    };
    format!("{path}:{}:{}", f.line, f.column)
}

/// One line per place: `path:line:col` and where it comes from. A file on disk that history
/// also has at the same path is one place, with the commit that brought the secret there; a
/// history place whose file no longer holds the secret says so.
fn rows(g: &SecretGroup<'_>) -> Vec<(String, String)> {
    let mut used = vec![false; g.history.len()];
    let mut out = Vec::with_capacity(g.place_count());
    for f in &g.present {
        let mut from = on_disk(f).to_owned();
        let same = g
            .history
            .iter()
            .enumerate()
            .find(|(i, h)| !used[*i] && h.path == f.path && h.commit.is_some());
        if let Some((i, h)) = same {
            used[i] = true;
            from.push_str("; ");
            from.push_str(&committed(h));
        }
        push_decoded(&mut from, f);
        out.push((place(f), from));
    }
    let known = g.at_head.is_some();
    for (h, _) in g.history.iter().zip(&used).filter(|(_, used)| !**used) {
        let mut from = match &h.commit {
            Some(_) => committed(h),
            None => "in history, in no commit that a branch or tag reaches".to_owned(),
        };
        if known && h.path.is_some() {
            from.push_str("; no longer in this file");
        }
        push_decoded(&mut from, h);
        out.push((place(h), from));
    }
    out
}

/// `; decoded from base64` for a secret found inside encoded text.
fn push_decoded(from: &mut String, f: &Finding) {
    if let Some(note) = f.decoded_note() {
        from.push_str("; ");
        from.push_str(&note);
    }
}

fn on_disk(f: &Finding) -> &'static str {
    match f.tracked {
        Some(true) => "tracked by git",
        Some(false) => "not tracked by git",
        None => "on disk",
    }
}

/// `committed in 1a2b3c4d5e by Ada Author, 2023-11-14`.
fn committed(f: &Finding) -> String {
    let author = f
        .author
        .as_deref()
        .map(|a| a.split(" <").next().unwrap_or(a))
        .unwrap_or("unknown author");
    let date = f
        .date
        .as_deref()
        .map(|d| d.get(..10).unwrap_or(d))
        .unwrap_or("unknown date");
    format!(
        "committed in {} by {}, {date}",
        short(f.commit.as_deref().unwrap_or_default()),
        escape(author)
    )
}

fn short(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}

/// `[1]-[4], [7], [9]-[10]` for the 0-based block indices `members` (ascending).
fn number_ranges(members: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < members.len() {
        let start = members[i];
        let mut end = start;
        while i + 1 < members.len() && members[i + 1] == end + 1 {
            i += 1;
            end = members[i];
        }
        parts.push(if end > start {
            format!("[{}]-[{}]", start + 1, end + 1)
        } else {
            format!("[{}]", start + 1)
        });
        i += 1;
    }
    parts.join(", ")
}

/// Escapes each line of a multi-line block (the steps carry rule-file text and paths).
fn escape_block(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        out.push_str(&escape(line));
        out.push('\n');
    }
    out
}

fn write_summary(
    out: &mut dyn Write,
    st: &Styles,
    groups: &[SecretGroup<'_>],
    findings: usize,
    totals: Option<&ScanTotals>,
) -> io::Result<()> {
    if groups.is_empty() {
        writeln!(out, "{b}No secrets found.{b:#}", b = st.bold)?;
    } else {
        let mut by_severity: HashMap<Severity, usize> = HashMap::new();
        for g in groups {
            *by_severity.entry(g.lead.severity).or_default() += 1;
        }
        let severities: Vec<String> = [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
        ]
        .iter()
        .filter_map(|s| by_severity.get(s).map(|n| format!("{n} {}", s.as_str())))
        .collect();
        let now = groups.iter().filter(|g| g.at_head == Some(true)).count();
        let gone = groups.iter().filter(|g| g.at_head == Some(false)).count();
        let secrets = groups.len();
        let mut line = format!(
            "{secrets} secret{} ({}) in {findings} finding{}",
            if secrets == 1 { "" } else { "s" },
            severities.join(", "),
            if findings == 1 { "" } else { "s" }
        );
        if now + gone > 0 {
            line.push_str(&format!(
                ": {now} still in the files on disk, {gone} only in history"
            ));
        }
        writeln!(out, "{b}{line}.{b:#}", b = st.bold)?;
    }
    if let Some(t) = totals {
        let secs = t.elapsed.as_secs_f64();
        let mut line = format!(
            "Scanned {} file{} and {} distinct content{} ({}) in {secs:.2}s",
            t.files,
            if t.files == 1 { "" } else { "s" },
            t.blobs,
            if t.blobs == 1 { "" } else { "s" },
            human_bytes(t.bytes)
        );
        if t.binary_skipped > 0 {
            line.push_str(&format!("; {} binary skipped", t.binary_skipped));
        }
        if t.too_large_skipped > 0 {
            line.push_str(&format!(
                "; {} over the size limit skipped",
                t.too_large_skipped
            ));
        }
        writeln!(out, "{d}{line}.{d:#}", d = st.dim)?;
    }
    Ok(())
}

/// `keysweep explain RULE_ID`: what the rule finds and its full steps, for a secret that was
/// committed (so the purge step is included).
pub fn write_explain(
    out: &mut dyn Write,
    rules: &RuleSet,
    rule: &Rule,
    color: bool,
) -> io::Result<()> {
    let st = Styles::new(color);
    let sev = st.severity(rule.severity);
    writeln!(
        out,
        "{b}{}{b:#} ({}): {sev}{}{sev:#}, {} confidence",
        escape(&rule.name),
        rule.id,
        rule.severity.as_str(),
        rule.confidence.as_str(),
        b = st.bold
    )?;
    let Some(spec) = rule
        .remediation
        .as_deref()
        .and_then(|id| rules.try_find_remediation(id))
    else {
        return writeln!(out, "  No remediation steps are defined for this rule.");
    };
    let ctx = Context {
        in_history: true,
        scan_root: Some("."),
        ..Context::default()
    };
    let plan = RemediationPlan::new(spec, &ctx);
    write!(out, "{}", escape_block(&plan.render_human("  ")))
}
