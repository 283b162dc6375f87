//! The shipped rules: every rule's examples through the real matcher, and the guarantee that neither
//! the prefilter nor the thread count changes what is found.

use std::fs;

use keysweep::rules::{embedded_rule_files, syntax, RuleSet};
use keysweep::rules_check as check;

use crate::util::cmd::Keysweep;

#[test]
fn shipped_rules_pass_their_own_examples() {
    let files = embedded_rule_files();
    assert!(!files.is_empty(), "no rule files embedded from patterns/");
    let report = check::check_files(&files);
    assert!(
        report.problems.is_empty(),
        "{} problem(s):\n{}",
        report.problems.len(),
        report.problems.join("\n")
    );
    assert!(
        report.rules >= 200,
        "only {} rules shipped (at least 200 expected)",
        report.rules
    );
}

/// Keys whose prefixes or setting names are shared by several providers are reported by the rule of
/// the provider they belong to, so the finding carries that provider's rotation steps.
#[test]
fn shared_prefixes_and_names_are_attributed_to_the_right_provider() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        // Paystack keys share Stripe's prefixes but are 40 lowercase hex.
        (
            "paystack.env",
            "PAYSTACK_SECRET_KEY=sk_live_4f9c2be07a61d835e0c94b7a2d16f3e85ab07c19\n",
            "paystack.secret-key.live",
        ),
        (
            "paystack_test.env",
            "PAYSTACK_SECRET_KEY=sk_test_0b8e51c7d2a94f36e1a07c5d9b2e48f6a1c3d750\n",
            "paystack.secret-key.test",
        ),
        (
            "stripe.env",
            "STRIPE_SECRET_KEY=sk_live_j1RhVuX7T4pmsT2lbxgLQukN\n",
            "stripe.secret-key.live",
        ),
        // Flask's config keys are read by the Django SECRET_KEY rules too.
        (
            "app.py",
            "app.config['SECRET_KEY'] = 'q8#v2m!x9_kd0w=b7z^p4r@t6n'\n",
            "flask.secret-key",
        ),
        (
            "settings.py",
            "SECRET_KEY = 'q8#v2m!x9_kd0w=b7z^p4r@t6nabcq8#v2m!x9_kd0w=b7z'\n",
            "django.secret-key.assignment",
        ),
        // A Cosmos DB connection string also has an AccountKey=.
        (
            "cosmos.env",
            "COSMOS=AccountEndpoint=https://shop.documents.azure.com:443/;AccountKey=Kq3fX0p9sLr8tVw2yZa4bCd6eFg8hJk0mNp2qRs4tUv6wXy8zA1bC3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY==;\n",
            "azure.cosmosdb.account-key",
        ),
        (
            "storage.env",
            "AZ=DefaultEndpointsProtocol=https;AccountName=shop;AccountKey=Kq3fX0p9sLr8tVw2yZa4bCd6eFg8hJk0mNp2qRs4tUv6wXy8zA1bC3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY==;EndpointSuffix=core.windows.net\n",
            "azure.storage.account-key",
        ),
        // Rails' secret_key_base is not a Django key, and not the generic rule's either.
        (
            "secrets.yml",
            "production:\n  secret_key_base: 5c1f0e9a7b3d2c48e6f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7\n",
            "rails.secret-key-base",
        ),
    ];
    for (name, text, _) in &cases {
        fs::write(dir.path().join(name), text).expect("write");
    }
    let run = Keysweep::new(dir.path())
        .args(["scan", ".", "--no-history", "--format", "json", "--quiet"])
        .run()
        .expect_code(1);
    let findings = run.json();
    for (name, _, rule) in &cases {
        let ids: Vec<&str> = findings
            .iter()
            .filter(|f| f["path"].as_str().is_some_and(|p| p.ends_with(name)))
            .filter_map(|f| f["rule_id"].as_str())
            .collect();
        assert_eq!(ids, vec![*rule], "{name}: {findings:#?}");
    }
}

#[test]
fn rules_check_command_accepts_the_shipped_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = Keysweep::new(dir.path())
        .args(["rules", "check"])
        .run()
        .expect_code(0);
    assert!(run.stdout.starts_with("ok:"), "{}", run.stdout);
    let run = Keysweep::new(dir.path())
        .args(["rules", "list"])
        .run()
        .expect_code(0);
    let set = RuleSet::builtin().expect("the shipped rules compile");
    assert_eq!(run.stdout.lines().count(), set.rules().len());
}

/// Writes every example and negative example of every shipped rule into a tree, one file each, plus
/// one file holding all of them, and scans it three ways.
#[test]
fn prefilter_and_thread_count_do_not_change_findings() {
    let set = RuleSet::builtin().expect("the shipped rules compile");
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("tree");
    fs::create_dir_all(&tree).expect("mkdir");
    let mut all = String::new();
    for (i, rule) in set.rules().iter().enumerate() {
        for (j, ex) in rule
            .examples
            .iter()
            .chain(&rule.negative_examples)
            .enumerate()
        {
            fs::write(tree.join(format!("r{i}_{j}.txt")), ex).expect("write");
            all.push_str(ex);
            all.push('\n');
        }
    }
    fs::write(tree.join("all.txt"), &all).expect("write");
    let run = |extra: &[&str]| {
        let mut args = vec!["scan", "tree", "--format", "json", "--quiet"];
        args.extend_from_slice(extra);
        let out = Keysweep::new(dir.path()).args(args).run().expect_code(1);
        let mut v = out.json();
        v.sort_by_key(|f| f.to_string());
        v
    };
    let default = run(&[]);
    assert!(
        default.len() >= set.rules().len(),
        "only {} findings",
        default.len()
    );
    assert_eq!(
        default,
        run(&["--threads", "1"]),
        "--threads 1 differs from the default"
    );
    assert_eq!(
        default,
        run(&["--no-prefilter"]),
        "the prefilter changes the findings"
    );
}

/// Keyword-dense minified code, on one long line and one unit a line: the generic rules' windows
/// coincide there and one pass of a set of their patterns per piece decides which of them run.
/// The few real assignments among thousands of empty look-alikes are all found, as with the
/// prefilter (and the set) off.
#[test]
fn generic_rules_in_keyword_dense_text_find_what_a_full_scan_finds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("tree");
    fs::create_dir_all(&tree).expect("mkdir");
    let (mut line, mut lines) = (String::new(), String::new());
    let mut planted = 0;
    for i in 0..3000 {
        let unit = if i % 97 == 0 {
            planted += 1;
            format!("var t{i}={{token:\"\",apiKey:\"Zq8{i:05}vLm3Rt7WpX2kN9sD\"}};")
        } else {
            format!("var t{i}={{token:\"\",secret:\"\",password:\"\"}};")
        };
        line.push_str(&unit);
        lines.push_str(&unit);
        lines.push('\n');
    }
    fs::write(tree.join("line.js"), line).expect("write");
    fs::write(tree.join("lines.js"), lines).expect("write");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "scan",
            "tree",
            "--format",
            "json",
            "--quiet",
            "--threads",
            "1",
        ];
        args.extend_from_slice(extra);
        let out = Keysweep::new(dir.path()).args(args).run().expect_code(1);
        let mut v = out.json();
        v.sort_by_key(|f| f.to_string());
        v
    };
    let default = run(&[]);
    assert_eq!(default.len(), 2 * planted, "{default:?}");
    assert!(default
        .iter()
        .all(|f| f["rule_id"] == "generic.secret.assignment"));
    assert_eq!(default, run(&["--no-prefilter"]));
}

/// A scan parses the shipped rule files without their examples; that must give the same rules.
#[test]
fn shipped_rules_without_examples_are_the_same_rules() {
    let files = embedded_rule_files();
    let stripped: Vec<_> = files
        .iter()
        .map(|(p, t)| (p.clone(), syntax::strip_examples(t)))
        .collect();
    for ((path, text), (_, lean)) in files.iter().zip(&stripped) {
        assert!(
            lean.len() < text.len(),
            "{}: nothing stripped",
            path.display()
        );
    }
    let full = RuleSet::from_files(&files).expect("the shipped rules compile");
    let lean = RuleSet::from_files(&stripped).expect("the stripped rules compile");
    assert_eq!(full.rules().len(), lean.rules().len());
    assert_eq!(full.remediations().count(), lean.remediations().count());
    for (a, b) in full.rules().iter().zip(lean.rules()) {
        let at = a.id.to_string();
        assert_eq!(a.id, b.id, "{at}");
        assert_eq!(a.pattern_source, b.pattern_source, "{at}");
        assert_eq!(a.keywords, b.keywords, "{at}");
        assert_eq!(a.allow_sources, b.allow_sources, "{at}");
        assert_eq!(a.allow_match_sources, b.allow_match_sources, "{at}");
        assert_eq!(a.downgrade_sources, b.downgrade_sources, "{at}");
        assert_eq!(a.severity, b.severity, "{at}");
        assert_eq!(a.confidence, b.confidence, "{at}");
        assert_eq!(a.concat, b.concat, "{at}");
        assert_eq!(a.placeholders, b.placeholders, "{at}");
        assert_eq!(a.min_distinct, b.min_distinct, "{at}");
        assert_eq!(a.references, b.references, "{at}");
        assert_eq!(a.remediation, b.remediation, "{at}");
        assert!(!a.examples.is_empty(), "{at}");
        assert!(
            b.examples.is_empty() && b.negative_examples.is_empty(),
            "{at}"
        );
    }
}
