//! Secret groups: the findings of one secret value, whatever rule found them and wherever (files
//! on disk, commits), with the steps for that secret. One secret found in 40 commits, or by two
//! rules, is one problem: the unit of the human report, and of `secret_group` and
//! `remediation_steps` in JSON. Grouping is by value, decided before any redaction, so two
//! different secrets are never merged, masked or not.

use foldhash::HashMap;

use crate::finding::Finding;
use crate::remediation::{short_sha, Context, PlanCache, RemediationPlan};
use crate::rules::remediation::RemediationSpec;
use crate::rules::RuleSet;
use crate::text::{escape, escape_bytes};

/// Gives every finding the id of its secret's group (`secret_group`): findings with the same secret
/// value, whatever rule found them, share the fingerprint of the finding of the most specific rule
/// among them ([`specificity`]). `present` (the working-tree findings) gets the same ids. Call it
/// before redacting: masked secrets can collide, values cannot.
pub fn assign_secret_groups(findings: &mut [Finding], present: &mut [Finding], rules: &RuleSet) {
    let generic = generic_rules(rules);
    // The index (into `findings` then `present`) of each value's best finding.
    let mut best: HashMap<&str, usize> = HashMap::default();
    let all: Vec<&Finding> = findings.iter().chain(present.iter()).collect();
    for (i, f) in all.iter().enumerate() {
        match best.get_mut(f.secret.as_str()) {
            Some(slot) if rank(all[*slot], &generic) >= rank(f, &generic) => {}
            Some(slot) => *slot = i,
            None => {
                best.insert(f.secret.as_str(), i);
            }
        }
    }
    let ids: Vec<String> = all
        .iter()
        .map(|f| all[best[f.secret.as_str()]].fingerprint.clone())
        .collect();
    drop(best);
    drop(all);
    for (f, id) in findings.iter_mut().chain(present.iter_mut()).zip(ids) {
        f.secret_group = id;
    }
}

/// [`specificity`] of `f`, with `generic` from [`generic_rules`].
fn rank<'f>(f: &'f Finding, generic: &HashMap<&str, bool>) -> Specificity<'f> {
    specificity(f, generic.get(f.rule_id.as_str()).copied())
}

/// Whether each rule (by id) is a generic or entropy rule.
fn generic_rules(rules: &RuleSet) -> HashMap<&str, bool> {
    rules
        .rules()
        .iter()
        .map(|r| (r.id.as_str(), r.is_generic()))
        .collect()
}

/// Orders the rules that found one secret: a provider rule before a generic or entropy rule, then
/// the more severe, then the more confident, then the rule id (so the choice is stable).
type Specificity<'f> = (
    bool,
    crate::rules::Severity,
    crate::rules::Confidence,
    std::cmp::Reverse<&'f str>,
);

fn specificity(f: &Finding, generic: Option<bool>) -> Specificity<'_> {
    (
        !generic.unwrap_or(false),
        f.severity,
        f.confidence,
        std::cmp::Reverse(f.rule_id.as_str()),
    )
}

/// One leaked secret with every place it was seen: the unit of the human report (one secret found
/// in 40 commits, or by two rules, is one problem) and of the structured steps in JSON.
#[derive(Debug, Clone)]
pub struct SecretGroup<'f> {
    /// The shared `secret_group` id.
    pub id: &'f str,
    /// The finding of the most specific rule: it names the secret.
    pub lead: &'f Finding,
    /// Ids of the other rules that found the same value.
    pub other_rules: Vec<&'f str>,
    /// Where it is now (working tree or HEAD's tree), with current path and line.
    pub present: Vec<&'f Finding>,
    /// Where history has it: one finding per path, from the commit that introduced it there (or a
    /// blob no commit reaches).
    pub history: Vec<&'f Finding>,
    /// The earliest commit (by author date) that carries it.
    pub introduced: Option<&'f Finding>,
    /// How many times history carries it, over commits and files.
    pub commits: usize,
    /// `Some(true)` when it is still present now, `None` when no working tree was scanned.
    pub at_head: Option<bool>,
    /// The steps, when the rule has a remediation entry.
    pub remediation: Option<RemediationPlan>,
}

impl SecretGroup<'_> {
    /// Every place, present ones first.
    pub fn places(&self) -> impl Iterator<Item = &Finding> {
        self.present.iter().chain(&self.history).copied()
    }

    /// The number of places.
    pub fn place_count(&self) -> usize {
        self.present.len() + self.history.len()
    }
}

/// Whether a finding comes from history (a commit, or a blob no commit reaches) rather than from
/// the files on disk.
pub fn is_from_history(f: &Finding) -> bool {
    f.commit.is_some() || f.note.is_some()
}

/// Groups findings by `secret_group`, most severe first (then those still present, then by first
/// appearance), and builds each group's steps. `findings` are the reported findings; `present` the
/// findings in the files on disk (`None` when no working tree was scanned: "still at HEAD" is then
/// unknown). Findings without a commit in `findings` are taken to be present. `scan_root` is the
/// path shown in the printed `keysweep` commands.
pub fn group_by_secret<'f>(
    findings: &'f [Finding],
    present: Option<&'f [Finding]>,
    rules: &RuleSet,
    scan_root: &str,
) -> Vec<SecretGroup<'f>> {
    let generic = generic_rules(rules);
    // Each rule's remediation entry, looked up once per rule rather than once per secret.
    let specs: HashMap<&str, &RemediationSpec> = rules
        .rules()
        .iter()
        .filter_map(|r| {
            let spec = rules.try_find_remediation(r.remediation.as_deref()?)?;
            Some((r.id.as_str(), spec))
        })
        .collect();
    let mut order: Vec<&str> = Vec::new();
    let mut members: HashMap<&str, (Vec<&Finding>, Vec<&Finding>)> = HashMap::default();
    let mut plans = PlanCache::default();
    for f in findings {
        let entry = members.entry(f.secret_group.as_str()).or_insert_with(|| {
            order.push(f.secret_group.as_str());
            Default::default()
        });
        if is_from_history(f) {
            entry.1.push(f);
        } else if present.is_none() {
            entry.0.push(f);
        }
    }
    for f in present.unwrap_or_default() {
        if let Some(entry) = members.get_mut(f.secret_group.as_str()) {
            entry.0.push(f);
        }
    }
    let mut groups: Vec<SecretGroup<'f>> = order
        .into_iter()
        .map(|id| {
            let (mut now, mut history) = members.remove(id).unwrap_or_default();
            let all = || now.iter().chain(&history).copied();
            let lead = all()
                .max_by_key(|f| rank(f, &generic))
                .expect("a group has at least one finding");
            let mut other_rules: Vec<&str> = all()
                .map(|f| f.rule_id.as_str())
                .filter(|r| *r != lead.rule_id.as_str())
                .collect();
            other_rules.sort_unstable();
            other_rules.dedup();
            // One place per (path, line, column, commit): several rules at one place are one place.
            now.sort_by(|a, b| place(a).cmp(&place(b)));
            now.dedup_by(|a, b| place(a) == place(b));
            history.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| place(a).cmp(&place(b))));
            history.dedup_by(|a, b| place(a) == place(b));
            let introduced = history
                .iter()
                .filter(|f| f.commit.is_some())
                .min_by(|a, b| a.date.cmp(&b.date))
                .copied();
            let mut commits: Vec<&str> =
                history.iter().filter_map(|f| f.commit.as_deref()).collect();
            commits.sort_unstable();
            commits.dedup();
            let carried = history
                .iter()
                .filter_map(|f| f.occurrences)
                .max()
                .unwrap_or(0);
            let at_head = match present {
                Some(_) => Some(!now.is_empty()),
                None if now.is_empty() => None,
                None => Some(true),
            };
            let ctx = Context {
                head_places: now.iter().map(|f| place_text(f)).collect(),
                introduced_in: introduced.and_then(|f| f.commit.as_deref()),
                commits: commits.len().max(carried),
                in_history: !history.is_empty(),
                at_head,
                scan_root: Some(scan_root),
            };
            let spec = specs.get(lead.rule_id.as_str());
            SecretGroup {
                id,
                lead,
                other_rules,
                introduced,
                commits: ctx.commits,
                at_head,
                remediation: spec.map(|s| plans.plan(s, &ctx)),
                present: now,
                history,
            }
        })
        .collect();
    // Real findings first; those with a context (test, docs, example) after all of them.
    groups.sort_by_key(|g| {
        (
            g.places().all(|f| f.context.is_some()),
            std::cmp::Reverse(g.lead.severity),
            g.at_head != Some(true),
        )
    });
    groups
}

/// What makes one place: several rules at one (path, line, column, commit) are one place.
type Place<'f> = (&'f Option<String>, usize, usize, &'f Option<String>);

fn place(f: &Finding) -> Place<'_> {
    (&f.path, f.line, f.column, &f.commit)
}

/// `path:line` of a finding (the blob id for a history blob without a path), escaped for display
/// (`crate::text`): it goes into the prose of the steps.
pub fn place_text(f: &Finding) -> String {
    match (&f.path_bytes, &f.path) {
        (Some(bytes), _) => format!("{}:{}", escape_bytes(bytes), f.line),
        (None, Some(p)) => format!("{}:{}", escape(p), f.line),
        (None, None) => format!("blob {}:{}", short_sha(&f.blob_id), f.line),
    }
}

/// The steps of one remediation kind for several secrets at once: the places, history and HEAD
/// status of all of them. The human report prints these once per kind, after the findings.
pub fn plan_for_groups(
    spec: &RemediationSpec,
    groups: &[&SecretGroup<'_>],
    scan_root: &str,
) -> RemediationPlan {
    let head_places: Vec<String> = groups
        .iter()
        .flat_map(|g| g.present.iter().map(|f| place_text(f)))
        .collect();
    let at_head = if groups.iter().any(|g| g.at_head == Some(true)) {
        Some(true)
    } else if groups.iter().all(|g| g.at_head.is_none()) {
        None
    } else {
        Some(false)
    };
    let single = (groups.len() == 1).then(|| groups[0]);
    let ctx = Context {
        head_places,
        introduced_in: single
            .and_then(|g| g.introduced)
            .and_then(|f| f.commit.as_deref()),
        commits: single.map_or(0, |g| g.commits),
        in_history: groups.iter().any(|g| !g.history.is_empty()),
        at_head,
        scan_root: Some(scan_root),
    };
    RemediationPlan::new(spec, &ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::remediation::TEST_SPEC as DJANGO;

    fn finding(secret: &str, path: &str, commit: Option<&str>, date: Option<&str>) -> Finding {
        Finding {
            rule_id: crate::rules::RuleId::from("t.token"),
            rule_name: "Test token".into(),
            severity: crate::rules::Severity::High,
            confidence: crate::rules::Confidence::High,
            secret: secret.into(),
            matched: secret.into(),
            path: Some(path.into()),
            path_bytes: None,
            line: 3,
            column: 1,
            commit: commit.map(str::to_owned),
            author: None,
            date: date.map(str::to_owned),
            blob_id: String::new(),
            fingerprint: format!("t.token:{secret}"),
            remediation: None,
            occurrences: None,
            refs: None,
            note: None,
            at_head: None,
            secret_group: secret.into(),
            tracked: None,
            binary: false,
            context: None,
            paired_id: None,
            decoded: None,
            encoded: None,
        }
    }

    #[test]
    fn findings_of_one_secret_make_one_group_with_history_context() {
        let yaml = format!(
            "rules:\n- id: t.token\n  name: Test token\n  keywords: [tok_]\n  pattern: '(?P<secret>tok_[a-z0-9]{{12}})'\n  severity: high\n  confidence: high\n  remediation: django-secret-key\n  examples: ['tok_a1b2c3d4e5f6']\n  negative_examples: ['tok_']\nremediations:\n- {}\n",
            DJANGO.trim().replace('\n', "\n  ")
        );
        let rules =
            RuleSet::from_files(&[(std::path::PathBuf::from("t.yaml"), yaml)]).expect("rules");
        let fs = [
            finding(
                "tok_a1b2c3d4e5f6",
                "app/settings.py",
                Some("bbbb"),
                Some("2024-02-01T00:00:00Z"),
            ),
            finding("tok_zzzzzzzzzzzz", "other.py", None, None),
            finding(
                "tok_a1b2c3d4e5f6",
                "old/settings.py",
                Some("aaaa"),
                Some("2024-01-01T00:00:00Z"),
            ),
            finding("tok_a1b2c3d4e5f6", "app/settings.py", None, None),
        ];
        let (history, present): (Vec<Finding>, Vec<Finding>) =
            fs.into_iter().partition(|f| f.commit.is_some());
        // As a scan reports them: history, plus what the files on disk add to it.
        let mut present = present;
        let mut reported = history;
        reported.extend(
            present
                .iter()
                .filter(|f| f.path.as_deref() == Some("other.py"))
                .cloned(),
        );
        assign_secret_groups(&mut reported, &mut present, &rules);
        let groups = group_by_secret(&reported, Some(&present), &rules, "repo");
        assert_eq!(groups.len(), 2);
        let g = groups
            .iter()
            .find(|g| g.lead.secret == "tok_a1b2c3d4e5f6")
            .expect("kept secret");
        assert_eq!(g.place_count(), 3);
        assert_eq!(g.present.len(), 1);
        let introduced = g.introduced.expect("introduced");
        assert_eq!(introduced.commit.as_deref(), Some("aaaa"));
        assert_eq!(introduced.path.as_deref(), Some("old/settings.py"));
        assert_eq!((g.commits, g.at_head), (2, Some(true)));
        let plan = g.remediation.as_ref().expect("plan");
        assert!(plan.purge_needed);
        let text = plan.render_human("");
        assert!(text.contains("$ keysweep purge-plan repo"), "{text}");
        assert!(text.contains("still in app/settings.py:3"), "{text}");
        let other = groups
            .iter()
            .find(|g| g.lead.secret == "tok_zzzzzzzzzzzz")
            .expect("other secret");
        assert!(other.history.is_empty() && other.at_head == Some(true));
    }

    #[test]
    fn one_value_found_by_two_rules_is_one_group_named_by_the_specific_rule() {
        let mut a = finding("tok_a1b2c3d4e5f6", "a.py", Some("c1"), Some("2024-01-01"));
        let mut b = a.clone();
        b.rule_id = crate::rules::RuleId::from("generic.thing");
        b.severity = crate::rules::Severity::Critical;
        a.fingerprint = "fa".into();
        b.fingerprint = "fb".into();
        let mut c = finding("tok_other000000", "a.py", Some("c1"), Some("2024-01-01"));
        c.fingerprint = "fc".into();
        let yaml = format!(
            "rules:\n- id: generic.thing\n  name: G\n  keywords: [tok_]\n  pattern: '(?P<secret>tok_\\w+)'\n  categories: [generic]\n  severity: critical\n  confidence: low\n  remediation: django-secret-key\n  examples: ['tok_a']\n  negative_examples: ['x']\nremediations:\n- {}\n",
            DJANGO.trim().replace('\n', "\n  ")
        );
        let rules =
            RuleSet::from_files(&[(std::path::PathBuf::from("g.yaml"), yaml)]).expect("rules");
        let mut fs = vec![a, b, c];
        assign_secret_groups(&mut fs, &mut [], &rules);
        assert_eq!(fs[0].secret_group, fs[1].secret_group);
        assert_ne!(fs[0].secret_group, fs[2].secret_group);
        for f in &mut fs {
            f.redact();
        }
        let groups = group_by_secret(&fs, None, &rules, ".");
        assert_eq!(groups.len(), 2, "masked alike, still two secrets");
        let g = groups
            .iter()
            .find(|g| g.place_count() == 1 && !g.other_rules.is_empty());
        let g = g.expect("the merged group");
        assert_eq!(g.lead.rule_id.as_str(), "t.token");
        assert_eq!(g.other_rules, ["generic.thing"]);
    }
}
