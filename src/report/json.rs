//! `--format json` (one array) and `--format jsonl` (one record a line): the finding record of
//! shared/DESIGN.md, serialised as it is, plus `remediation_steps` (the steps of the finding's
//! secret, built from all the places that secret was found).
//!
//! The steps are most of each record's bytes (~2 KB of a 2.4 KB record) and nearly all of them are
//! the same for every secret of one remediation kind: only a sentence naming the places differs.
//! So a plan is written from fragments, each serialised once and then copied: its head (id,
//! summary, what it unlocks and breaks), each distinct step and its references
//! ([`PlanWriter`]). The bytes are those `serde_json` writes for the whole record (a test checks
//! it, compact and pretty).

use std::hash::{Hash, Hasher};
use std::io::{self, Write};

use foldhash::HashMap;
use serde::Serialize;

use super::{ReportContext, Reporter};
use crate::finding::Finding;
use crate::remediation::{RemediationPlan, Step};

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
    let plans: HashMap<&str, &RemediationPlan> = groups
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
            let mut plans = PlanWriter::new(!self.lines);
            let mut buf = Vec::with_capacity(4096);
            if self.lines {
                for r in records {
                    buf.clear();
                    write_record(&mut buf, r, &mut plans)?;
                    buf.push(b'\n');
                    out.write_all(&buf)?;
                }
            } else if records.is_empty() {
                out.write_all(b"[]\n")?;
            } else {
                out.write_all(b"[")?;
                for (i, r) in records.iter().enumerate() {
                    buf.clear();
                    if i > 0 {
                        buf.push(b',');
                    }
                    buf.extend_from_slice(b"\n  ");
                    write_record(&mut buf, r, &mut plans)?;
                    out.write_all(&buf)?;
                }
                out.write_all(b"\n]\n")?;
            }
            Ok(())
        })
    }
}

/// Appends record `r` to `buf` as `serde_json` would write it: compact, or pretty as an element
/// of the top-level array (nested one level, so every line after the first is indented by two
/// spaces).
fn write_record<'p>(
    buf: &mut Vec<u8>,
    r: &Record<'p>,
    plans: &mut PlanWriter<'p>,
) -> io::Result<()> {
    let start = buf.len();
    if plans.pretty {
        let mut one = Vec::with_capacity(1024);
        serde_json::to_writer_pretty(&mut one, r.finding)?;
        indent_into(buf, &one, 2);
    } else {
        serde_json::to_writer(&mut *buf, r.finding)?;
    }
    let Some(plan) = r.remediation_steps else {
        return Ok(());
    };
    // The finding's object is never empty (`rule_id` is always there): reopen it after its last
    // field and add `remediation_steps`.
    if plans.pretty {
        debug_assert!(buf[start..].ends_with(b"\n  }"));
        buf.truncate(buf.len() - 4);
        buf.extend_from_slice(b",\n    \"remediation_steps\": ");
        plans.write(buf, plan, 4)?;
        buf.extend_from_slice(b"\n  }");
    } else {
        debug_assert!(buf[start..].ends_with(b"}"));
        buf.truncate(buf.len() - 1);
        buf.extend_from_slice(b",\"remediation_steps\":");
        plans.write(buf, plan, 0)?;
        buf.push(b'}');
    }
    Ok(())
}

/// Appends `json` (pretty, written at nesting level 0) to `buf` with every line after the first
/// indented by `spaces` more: the same value written deeper in a document. Pretty JSON has no raw
/// newline inside a string, so every newline byte is a line break.
fn indent_into(buf: &mut Vec<u8>, json: &[u8], spaces: usize) {
    const PAD: &[u8] = b"                ";
    let mut rest = json;
    while let Some(nl) = memchr::memchr(b'\n', rest) {
        buf.extend_from_slice(&rest[..=nl]);
        buf.extend_from_slice(&PAD[..spaces]);
        rest = &rest[nl + 1..];
    }
    buf.extend_from_slice(rest);
}

/// The head of a plan: every field before `steps`. Hashed on its id, compared whole.
#[derive(Serialize, PartialEq, Eq)]
struct PlanHead<'p> {
    remediation_id: &'p str,
    summary: &'p str,
    unlocks: Option<&'p str>,
    breaks: &'p [String],
    purge_needed: bool,
}

impl Hash for PlanHead<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.remediation_id.hash(h);
        self.purge_needed.hash(h);
    }
}

/// A step as a map key, by address: plans share the steps that are the same
/// ([`crate::remediation::PlanCache`]), and a step built for one secret only is written once
/// either way.
struct StepKey<'p>(&'p Step);

impl PartialEq for StepKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for StepKey<'_> {}

impl Hash for StepKey<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        std::ptr::hash(self.0, h);
    }
}

/// Writes [`RemediationPlan`]s from fragments serialised once each (see the module docs). The
/// fragments are kept at nesting level 0 and re-indented where they go.
struct PlanWriter<'p> {
    pretty: bool,
    heads: HashMap<PlanHead<'p>, Vec<u8>>,
    steps: HashMap<StepKey<'p>, Vec<u8>>,
    references: HashMap<&'p [String], Vec<u8>>,
}

impl<'p> PlanWriter<'p> {
    fn new(pretty: bool) -> PlanWriter<'p> {
        PlanWriter {
            pretty,
            heads: HashMap::default(),
            steps: HashMap::default(),
            references: HashMap::default(),
        }
    }

    /// Appends `plan` to `buf`, as `serde_json` writes it at a place indented by `indent` spaces
    /// (pretty only).
    fn write(
        &mut self,
        buf: &mut Vec<u8>,
        plan: &'p RemediationPlan,
        indent: usize,
    ) -> io::Result<()> {
        let pretty = self.pretty;
        let head = PlanHead {
            remediation_id: &plan.remediation_id,
            summary: &plan.summary,
            unlocks: plan.unlocks.as_deref(),
            breaks: &plan.breaks,
            purge_needed: plan.purge_needed,
        };
        let head = fragment(&mut self.heads, head, pretty, |h| h)?;
        // The head's object without its closing brace (`\n}` when pretty).
        let cut = if pretty { 2 } else { 1 };
        let nl = |buf: &mut Vec<u8>, extra: usize| {
            if pretty {
                buf.push(b'\n');
                buf.extend(std::iter::repeat_n(b' ', indent + extra));
            }
        };
        // A serialised fragment placed `at` spaces in (pretty), and a key of the plan's object.
        let put = |buf: &mut Vec<u8>, bytes: &[u8], at: usize| {
            if pretty {
                indent_into(buf, bytes, at);
            } else {
                buf.extend_from_slice(bytes);
            }
        };
        let key = |buf: &mut Vec<u8>, name: &str| {
            buf.push(b',');
            nl(buf, 2);
            buf.push(b'"');
            buf.extend_from_slice(name.as_bytes());
            buf.extend_from_slice(if pretty { b"\": " } else { b"\":" });
        };
        put(buf, &head[..head.len() - cut], indent);
        key(buf, "steps");
        if plan.steps.is_empty() {
            buf.extend_from_slice(b"[]");
        } else {
            buf.push(b'[');
            for (i, step) in plan.steps.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                nl(buf, 4);
                // A step of this plan only is written as it is, not kept.
                let own;
                let bytes = if std::sync::Arc::strong_count(step) > 1 {
                    fragment(&mut self.steps, StepKey(step), pretty, |k| k.0)?
                } else {
                    own = to_vec(&**step, pretty)?;
                    &own[..]
                };
                put(buf, bytes, indent + 4);
            }
            nl(buf, 2);
            buf.push(b']');
        }
        key(buf, "references");
        let refs = fragment(&mut self.references, &plan.references[..], pretty, |r| r)?;
        put(buf, refs, indent + 2);
        nl(buf, 0);
        buf.push(b'}');
        Ok(())
    }
}

/// The serialised form of `key`'s value (`value(&key)`), from `cache` or written now.
fn fragment<K: Hash + Eq, V: Serialize + ?Sized>(
    cache: &mut HashMap<K, Vec<u8>>,
    key: K,
    pretty: bool,
    value: impl FnOnce(&K) -> &V,
) -> io::Result<&[u8]> {
    let bytes = match cache.entry(key) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => {
            let bytes = to_vec(value(e.key()), pretty)?;
            e.insert(bytes)
        }
    };
    Ok(bytes)
}

fn to_vec<V: Serialize + ?Sized>(value: &V, pretty: bool) -> serde_json::Result<Vec<u8>> {
    if pretty {
        serde_json::to_vec_pretty(value)
    } else {
        serde_json::to_vec(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remediation::Context;
    use crate::rules::remediation::{RemediationSpec, TEST_SPEC};

    fn plans() -> Vec<RemediationPlan> {
        let spec: RemediationSpec = serde_yaml::from_str(TEST_SPEC).expect("valid test yaml");
        let mut bare = spec.clone();
        bare.references.clear();
        bare.breaks.clear();
        bare.unlocks = None;
        let contexts = [
            Context {
                head_places: vec!["a/settings.py:3".into(), "b \"q\".env:1".into()],
                introduced_in: Some("0123456789abcdef0123456789abcdef01234567"),
                commits: 40,
                in_history: true,
                at_head: Some(true),
                scan_root: Some("/repo"),
            },
            Context {
                head_places: vec![".env:1".into()],
                at_head: Some(true),
                ..Context::default()
            },
            Context {
                in_history: true,
                at_head: Some(false),
                ..Context::default()
            },
        ];
        let mut out = Vec::new();
        // Built alone, and through one cache (which shares the steps that come out the same).
        let mut shared = crate::remediation::PlanCache::default();
        for spec in [&spec, &bare] {
            for ctx in &contexts {
                out.push(RemediationPlan::new(spec, ctx));
                out.push(shared.plan(spec, ctx));
                let mut elsewhere = ctx.clone();
                elsewhere.head_places = vec!["c/other.py:9".into()];
                out.push(shared.plan(spec, &elsewhere));
            }
        }
        assert!(
            out.iter()
                .any(|p| p.steps.iter().any(|s| std::sync::Arc::strong_count(s) > 1)),
            "some steps are shared"
        );
        let mut no_steps = out[0].clone();
        no_steps.steps.clear();
        out.push(no_steps);
        out
    }

    #[test]
    fn plans_written_from_fragments_are_the_bytes_serde_writes() {
        let plans = plans();
        for pretty in [false, true] {
            let mut writer = PlanWriter::new(pretty);
            // Twice over: the second round is written from the cached fragments.
            for plan in plans.iter().chain(&plans) {
                let mut buf = Vec::new();
                writer.write(&mut buf, plan, 0).expect("write");
                let want = if pretty {
                    serde_json::to_vec_pretty(plan)
                } else {
                    serde_json::to_vec(plan)
                }
                .expect("serialise");
                assert_eq!(
                    String::from_utf8_lossy(&buf),
                    String::from_utf8_lossy(&want),
                    "pretty: {pretty}"
                );
            }
        }
    }
}
