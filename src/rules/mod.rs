//! Rules: what a secret looks like. Rules are data (`patterns/*.yaml`, embedded at build time, plus any
//! user files); this module parses them (`syntax`, `remediation`) and compiles them into [`Rule`]s
//! and a [`RuleSet`]. Matching itself is `matcher`'s job; running the rules' own examples through
//! the matcher is the `rules check` command's (`crate::rules_check`), which sits above both.
//!
//! Size (~650 lines): one type family (`Rule`, `Compiled`, `RuleSet`, its builder) and the validation
//! that must see all of them; the YAML mirror, remediation data and gitleaks import are already apart.

pub mod gitleaks;
pub mod remediation;
pub mod syntax;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use regex::bytes::{Regex as BytesRegex, RegexBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use remediation::RemediationSpec;
use syntax::{EntropySyntax, RuleFileSyntax, RuleSyntax};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/patterns.rs"));
}

/// The rule files compiled into the binary: `(name, contents)`.
pub fn embedded_rule_files() -> Vec<(PathBuf, String)> {
    embedded::EMBEDDED_RULE_FILES
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect()
}

/// A rule's id, e.g. `github.pat`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RuleId(Arc<str>);

impl RuleId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for RuleId {
    fn from(s: &str) -> Self {
        RuleId(Arc::from(s))
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RuleId({})", self.0)
    }
}

/// How bad it is if the secret is real.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The lowercase name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// How sure a rule is that a match is a real secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    /// The lowercase name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// What kind of secret a rule finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Django,
    Secret,
    Api,
    Cloud,
    PrivateKey,
    Database,
    Url,
    Webhook,
    Token,
    Generic,
    Entropy,
}

/// Minimum Shannon entropy (bits per character) per alphabet of the secret.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EntropyThresholds {
    /// Secrets made only of hex digits.
    pub hex: Option<f64>,
    /// Secrets made only of base64 / base64url characters (and not only hex).
    pub base64: Option<f64>,
    /// Any other secret.
    pub other: Option<f64>,
}

impl From<EntropySyntax> for EntropyThresholds {
    fn from(e: EntropySyntax) -> Self {
        match e {
            EntropySyntax::Min(m) => EntropyThresholds {
                hex: Some(m),
                base64: Some(m),
                other: Some(m),
            },
            EntropySyntax::PerAlphabet(t) => EntropyThresholds {
                hex: t.hex,
                base64: t.base64,
                other: t.other,
            },
        }
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: RuleId,
    pub name: String,
    /// Prefilter literals; at least one occurs inside every reported match.
    pub keywords: Vec<String>,
    pub ignore_case: bool,
    /// The regex source; see [`Rule::compiled`] for the compiled form.
    pub pattern_source: String,
    pub concat: bool,
    pub entropy: Option<EntropyThresholds>,
    pub min_distinct: Option<usize>,
    pub placeholders: bool,
    /// Filters see the percent-decoded secret (`percent_decode: true`).
    pub percent_decode: bool,
    pub allow_sources: Vec<String>,
    pub allow_match_sources: Vec<String>,
    pub downgrade_sources: Vec<String>,
    pub severity: Severity,
    pub confidence: Confidence,
    pub categories: Vec<Category>,
    pub references: Vec<String>,
    /// Id of the remediation entry for this rule.
    pub remediation: Option<String>,
    pub examples: Vec<String>,
    pub negative_examples: Vec<String>,
    /// The file the rule came from.
    pub source: PathBuf,
    /// Compiled on first use: building the regexes of every rule costs more than a pre-push scan of
    /// a few blobs (measured ~150 ms for the shipped set), and most blobs need only a few rules.
    compiled: Arc<OnceLock<Compiled>>,
}

/// A rule's regexes, compiled.
#[derive(Debug)]
pub struct Compiled {
    pub pattern: BytesRegex,
    /// Index of the `secret` capture group in `pattern`.
    pub secret_group: usize,
    /// Index of the optional `id` capture group: the identifier half of a paired credential
    /// (an AWS access key id next to its secret), reported as the finding's `paired_id`.
    pub id_group: Option<usize>,
    /// The filter lists, compiled when a match first needs them: they are Unicode-aware, so
    /// they cost more to build than the pattern itself (about a quarter of a pre-push scan of
    /// ten Django commits went into them), and most keyword hits never become a match.
    filters: OnceLock<Filters>,
    /// `allow`, `allow_match` and `downgrade` sources, for the deferred compilation.
    filter_sources: [Vec<String>; 3],
}

/// A rule's filter regexes.
#[derive(Debug)]
struct Filters {
    allow: Vec<BytesRegex>,
    allow_match: Vec<BytesRegex>,
    downgrade: Vec<BytesRegex>,
}

impl Compiled {
    /// Compiles a rule's regexes, returning every problem found.
    fn new(
        pattern: &str,
        allow: &[String],
        allow_match: &[String],
        downgrade: &[String],
    ) -> std::result::Result<Compiled, Vec<String>> {
        let mut problems = Vec::new();
        let filters = Compiled::filters(allow, allow_match, downgrade, &mut problems);
        match Compiled::deferred(pattern, &[], &[], &[]) {
            Ok(c) if problems.is_empty() => {
                let _ = c.filters.set(filters);
                Ok(c)
            }
            Ok(_) => Err(problems),
            Err(mut p) => {
                p.extend(problems);
                Err(p)
            }
        }
    }

    /// Compiles the pattern of a validated rule now and its filters on first use.
    fn deferred(
        pattern: &str,
        allow: &[String],
        allow_match: &[String],
        downgrade: &[String],
    ) -> std::result::Result<Compiled, Vec<String>> {
        let mut problems = Vec::new();
        match Compiled::pattern(pattern, &mut problems) {
            (Some(pattern), Some(secret_group)) if problems.is_empty() => Ok(Compiled {
                id_group: pattern.capture_names().position(|n| n == Some("id")),
                pattern,
                secret_group,
                filters: OnceLock::new(),
                filter_sources: [allow.to_vec(), allow_match.to_vec(), downgrade.to_vec()],
            }),
            _ => Err(problems),
        }
    }

    fn pattern(pattern: &str, problems: &mut Vec<String>) -> (Option<BytesRegex>, Option<usize>) {
        // Unicode mode off: rules describe ASCII tokens, and a Unicode-aware `\b` makes the lazy
        // DFA give up on the first non-ASCII byte and fall back to the PikeVM, measured at ~20x
        // slower on real source trees. Classes such as `[^"]` then match any byte, which is what
        // scanning bytes that may not be UTF-8 needs. The lazy DFA gets 32 MiB instead of the
        // default 2 MiB (a cap: a cache grows only as far as a rule's states need). Measured on a
        // Django history sweep: CPU 0.98 of the default's (3 pairs), peak RSS unchanged; which
        // rules gain was not measured.
        let pattern = match RegexBuilder::new(pattern)
            .unicode(false)
            .dfa_size_limit(32 << 20)
            .build()
        {
            Ok(re) => Some(re),
            Err(e) => {
                problems.push(format!("pattern does not compile: {e}"));
                None
            }
        };
        let secret_group = pattern.as_ref().and_then(|re| {
            let idx = re.capture_names().position(|n| n == Some("secret"));
            if idx.is_none() {
                problems.push("pattern has no named capture group `secret`".to_string());
            }
            idx
        });
        (pattern, secret_group)
    }

    fn filters(
        allow: &[String],
        allow_match: &[String],
        downgrade: &[String],
        problems: &mut Vec<String>,
    ) -> Filters {
        // Filters see the secret as text, so they keep Unicode classes (`\p{L}`). The shipped
        // rules share most filters (372 entries, 78 distinct), so each distinct one is compiled
        // once per process; a clone shares the compiled program.
        static CACHE: OnceLock<Mutex<HashMap<String, BytesRegex>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let compile = |p: &String| -> std::result::Result<BytesRegex, regex::Error> {
            let lock = || cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(re) = lock().get(p) {
                return Ok(re.clone());
            }
            let re = RegexBuilder::new(p).build()?;
            lock().insert(p.clone(), re.clone());
            Ok(re)
        };
        let mut compile_list = |field: &str, list: &[String]| -> Vec<BytesRegex> {
            list.iter()
                .filter_map(|p| match compile(p) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        problems.push(format!("{field} pattern {p:?} does not compile: {e}"));
                        None
                    }
                })
                .collect()
        };
        Filters {
            allow: compile_list("allow", allow),
            allow_match: compile_list("allow_match", allow_match),
            downgrade: compile_list("downgrade", downgrade),
        }
    }

    fn compiled_filters(&self) -> &Filters {
        self.filters.get_or_init(|| {
            let [a, m, d] = &self.filter_sources;
            let mut problems = Vec::new();
            let f = Compiled::filters(a, m, d, &mut problems);
            // Rules reach here only after validation (see `Rule::compiled`).
            assert!(
                problems.is_empty(),
                "a validated rule's filters compile: {problems:?}"
            );
            f
        })
    }

    /// Regexes on the secret: a match drops it.
    pub fn allow(&self) -> &[BytesRegex] {
        &self.compiled_filters().allow
    }

    /// Regexes on the whole match: a match drops it.
    pub fn allow_match(&self) -> &[BytesRegex] {
        &self.compiled_filters().allow_match
    }

    /// Regexes on the secret: a match reports it as low severity.
    pub fn downgrade(&self) -> &[BytesRegex] {
        &self.compiled_filters().downgrade
    }
}

impl Rule {
    /// Whether this rule is a catch-all (generic or entropy-based) detector, which loses to specific
    /// rules when both match the same secret.
    pub fn is_generic(&self) -> bool {
        self.categories
            .iter()
            .any(|c| matches!(c, Category::Generic | Category::Entropy))
    }

    /// Whether one of the rule's keywords occurs in `haystack` (ASCII-case-insensitively for
    /// `ignore_case` rules); always true for a rule without keywords.
    pub fn has_keyword_in(&self, haystack: &[u8]) -> bool {
        if self.keywords.is_empty() {
            return true;
        }
        if self.ignore_case {
            let lower = haystack.to_ascii_lowercase();
            self.keywords
                .iter()
                .any(|k| memchr::memmem::find(&lower, k.to_ascii_lowercase().as_bytes()).is_some())
        } else {
            self.keywords
                .iter()
                .any(|k| memchr::memmem::find(haystack, k.as_bytes()).is_some())
        }
    }

    /// The rule's compiled regexes, compiled on first use.
    pub fn compiled(&self) -> &Compiled {
        self.compiled.get_or_init(|| {
            Compiled::deferred(
                &self.pattern_source,
                &self.allow_sources,
                &self.allow_match_sources,
                &self.downgrade_sources,
            )
            // Rules reach here only after validation: user rules are compiled when loaded, and
            // every shipped rule is compiled by the test suite (`rules check`).
            .expect("a validated rule compiles")
        })
    }

    /// Builds a rule from its syntax, returning every problem found. With `eager`, the regexes
    /// are compiled (and so validated) now; otherwise on first use.
    fn compile(
        syn: RuleSyntax,
        source: &Path,
        eager: bool,
    ) -> std::result::Result<Rule, Vec<String>> {
        let at = |what: String| format!("{}: rule {}: {what}", source.display(), syn.id);
        let mut problems = Vec::new();
        if syn.keywords.iter().any(|k| k.is_empty()) {
            problems.push(at("empty keyword".to_string()));
        }
        let compiled = OnceLock::new();
        if eager {
            match Compiled::new(&syn.pattern, &syn.allow, &syn.allow_match, &syn.downgrade) {
                Ok(c) => {
                    let _ = compiled.set(c);
                }
                Err(p) => problems.extend(p.into_iter().map(at)),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Rule {
            id: RuleId::from(syn.id.as_str()),
            name: syn.name,
            keywords: syn.keywords,
            ignore_case: syn.ignore_case,
            pattern_source: syn.pattern,
            concat: syn.concat,
            entropy: syn.entropy.map(EntropyThresholds::from),
            min_distinct: syn.min_distinct,
            placeholders: syn.placeholders,
            percent_decode: syn.percent_decode,
            allow_sources: syn.allow,
            allow_match_sources: syn.allow_match,
            downgrade_sources: syn.downgrade,
            severity: syn.severity,
            confidence: syn.confidence,
            categories: syn.categories,
            references: syn.references,
            remediation: syn.remediation,
            examples: syn.examples,
            negative_examples: syn.negative_examples,
            source: source.to_path_buf(),
            compiled: Arc::new(compiled),
        })
    }
}

/// Index of a rule within its [`RuleSet`].
pub type RuleIdx = usize;

/// A validated, compiled set of rules with their remediation entries.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    remediations: BTreeMap<String, RemediationSpec>,
}

impl RuleSet {
    /// The rules compiled into the binary.
    pub fn builtin() -> Result<RuleSet> {
        let mut builder = RuleSetBuilder::default();
        for (path, text) in embedded_rule_files() {
            builder.add_embedded_file(&path, &text);
        }
        builder.build()
    }

    /// Parses and compiles rule files given as `(path, contents)`. Any problem in any file is an error
    /// listing every problem.
    pub fn from_files(files: &[(PathBuf, String)]) -> Result<RuleSet> {
        let mut builder = RuleSetBuilder::default();
        for (path, text) in files {
            builder.add_file(path, text);
        }
        builder.build()
    }

    /// Reads rule files from disk and compiles them.
    pub fn read_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, String)>> {
        paths
            .iter()
            .map(|p| {
                std::fs::read_to_string(p)
                    .map(|t| (p.clone(), t))
                    .map_err(|source| Error::RuleFileRead {
                        path: p.clone(),
                        source,
                    })
            })
            .collect()
    }

    /// All rules, indexed by [`RuleIdx`].
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule at `idx`.
    pub fn rule(&self, idx: RuleIdx) -> &Rule {
        &self.rules[idx]
    }

    /// Every remediation entry, by id.
    pub fn remediations(&self) -> impl Iterator<Item = &RemediationSpec> {
        self.remediations.values()
    }

    /// The remediation entry with `id`, if any.
    pub fn try_find_remediation(&self, id: &str) -> Option<&RemediationSpec> {
        self.remediations.get(id)
    }

    /// The remediation entry for a rule, if it has one.
    pub fn remediation_for(&self, idx: RuleIdx) -> Option<&RemediationSpec> {
        self.rules[idx]
            .remediation
            .as_deref()
            .and_then(|id| self.try_find_remediation(id))
    }

    /// A rule set with only the rules for which `keep` is true (remediations kept whole).
    pub fn filtered(&self, mut keep: impl FnMut(&Rule) -> bool) -> RuleSet {
        RuleSet {
            rules: self.rules.iter().filter(|r| keep(r)).cloned().collect(),
            remediations: self.remediations.clone(),
        }
    }

    /// Adds the rules and remediations of `other`; rules of `other` replace rules with the same id.
    pub fn extend(&mut self, other: RuleSet) {
        for rule in other.rules {
            match self.rules.iter_mut().find(|r| r.id == rule.id) {
                Some(slot) => *slot = rule,
                None => self.rules.push(rule),
            }
        }
        self.remediations.extend(other.remediations);
    }
}

/// Collects rule files, keeping every problem, then builds a [`RuleSet`].
#[derive(Debug, Default)]
pub struct RuleSetBuilder {
    rules: Vec<Rule>,
    remediations: BTreeMap<String, RemediationSpec>,
    problems: Vec<String>,
}

impl RuleSetBuilder {
    /// Parses and compiles one file, recording its problems.
    pub fn add_file(&mut self, path: &Path, text: &str) {
        self.add_file_with(path, text, true);
    }

    /// Parses one of the shipped rule files; its regexes are compiled on first use (the test suite
    /// compiles and checks every shipped rule).
    pub fn add_embedded_file(&mut self, path: &Path, text: &str) {
        self.add_file_with(path, text, false);
    }

    fn add_file_with(&mut self, path: &Path, text: &str, eager: bool) {
        let file: RuleFileSyntax = match syntax::parse_rule_file(text) {
            Ok(f) => f,
            Err(e) => {
                self.problems.push(format!("{}: {e}", path.display()));
                return;
            }
        };
        self.add_rules_with(path, file.rules, file.remediations, eager);
    }

    /// Compiles rules and remediation entries that came from `path`, recording their problems.
    pub fn add_rules(
        &mut self,
        path: &Path,
        rules: Vec<RuleSyntax>,
        remediations: Vec<RemediationSpec>,
    ) {
        self.add_rules_with(path, rules, remediations, true);
    }

    fn add_rules_with(
        &mut self,
        path: &Path,
        rules: Vec<RuleSyntax>,
        remediations: Vec<RemediationSpec>,
        eager: bool,
    ) {
        for rem in remediations {
            if self.remediations.contains_key(&rem.id) {
                self.problems.push(format!(
                    "{}: remediation {}: duplicate id",
                    path.display(),
                    rem.id
                ));
            }
            self.remediations.insert(rem.id.clone(), rem);
        }
        for syn in rules {
            if !is_valid_id(&syn.id) {
                self.problems.push(format!(
                    "{}: rule {:?}: id must be lowercase letters, digits, '.', '_' or '-'",
                    path.display(),
                    syn.id
                ));
            }
            if self.rules.iter().any(|r| r.id.as_str() == syn.id) {
                self.problems
                    .push(format!("{}: rule {}: duplicate id", path.display(), syn.id));
            }
            match Rule::compile(syn, path, eager) {
                Ok(rule) => self.rules.push(rule),
                Err(p) => self.problems.extend(p),
            }
        }
    }

    /// Problems found so far.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The rule set, or every problem found. A rule's remediation must name a known entry.
    pub fn build(self) -> Result<RuleSet> {
        let (set, problems) = self.build_lenient();
        if problems.is_empty() {
            Ok(set)
        } else {
            Err(Error::InvalidRules(problems))
        }
    }

    /// The rules that compiled, and every problem found (for `rules check`, which goes on to test
    /// the rules that did compile).
    pub fn build_lenient(mut self) -> (RuleSet, Vec<String>) {
        for rule in &self.rules {
            match &rule.remediation {
                None => self.problems.push(format!(
                    "{}: rule {}: no remediation",
                    rule.source.display(),
                    rule.id
                )),
                Some(id) if !self.remediations.contains_key(id) => self.problems.push(format!(
                    "{}: rule {}: remediation {id:?} is not defined in any rule file",
                    rule.source.display(),
                    rule.id
                )),
                Some(_) => {}
            }
        }
        (
            RuleSet {
                rules: self.rules,
                remediations: self.remediations,
            },
            self.problems,
        )
    }
}

fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}
