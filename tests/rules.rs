//! The shipped rules: every rule's examples through the real matcher, and the guarantee that neither
//! the prefilter nor the thread count changes what is found.

use std::fs;

use keysweep::rules::{embedded_rule_files, RuleSet};
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
    assert!(report.rules >= 30, "only {} rules shipped", report.rules);
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
