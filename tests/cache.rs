//! The history cache (issue 12): a re-sweep reads only the packs and loose objects that are new
//! since the last sweep, and reports exactly what a sweep without the cache (`--no-cache`)
//! reports. A changed rule set, a repack, a pruned blob, a corrupt or unwritable cache file must
//! never change the answer.

use crate::util::cmd::Run;
use crate::util::repo::{token, TestRepo};

/// A history-only sweep with extra arguments (findings expected: exit 1).
fn sweep(repo: &TestRepo, extra: &[&str]) -> Run {
    repo.scan()
        .args(["--history-only"])
        .args(extra)
        .run()
        .expect_code(1)
}

/// How many blobs the sweep says it scanned (from the summary on stderr).
fn blobs_scanned(run: &Run) -> u64 {
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("scanned "))
        .unwrap_or_else(|| panic!("no summary on stderr:\n{}", run.stderr));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| w.starts_with("blobs"))
        .unwrap_or_else(|| panic!("no blob count in {line:?}"));
    words[at - 1].parse().expect("a count")
}

/// Asserts that the default (cached) sweep prints exactly what `--no-cache` prints, and returns
/// the cached run.
fn assert_same_as_uncached(repo: &TestRepo) -> Run {
    let cached = sweep(repo, &[]);
    let fresh = sweep(repo, &["--no-cache"]);
    assert_eq!(
        cached.stdout, fresh.stdout,
        "cached and uncached sweeps differ\n--- cached stderr\n{}\n--- uncached stderr\n{}",
        cached.stderr, fresh.stderr
    );
    cached
}

/// A repository with packed history (one secret per file, some files deleted) and a cache
/// written by a first sweep.
fn swept_repo() -> TestRepo {
    let mut repo = TestRepo::new();
    for i in 0..6 {
        let path = format!("app/config{i}.py");
        repo.commit(
            &format!("config {i}"),
            &[(path.as_str(), &format!("TOKEN = '{}'\n", token(i)))],
        );
    }
    repo.remove_and_commit("drop one", &["app/config2.py"]);
    repo.git(&["gc", "-q"]);
    sweep(&repo, &[]);
    assert!(
        repo.path().join(".git/keysweep/cache").is_file(),
        "the first sweep writes the cache"
    );
    repo
}

#[test]
fn resweep_after_new_commits_reads_only_them_and_reports_the_whole_history() {
    let mut repo = swept_repo();
    let full = sweep(&repo, &["--no-cache"]);
    for i in 10..13 {
        let path = format!("new/secret{i}.env");
        repo.commit("more", &[(path.as_str(), &format!("T={}\n", token(i)))]);
    }
    let cached = assert_same_as_uncached(&repo);
    let uncached = sweep(&repo, &["--no-cache"]);
    let findings = cached.json();
    assert_eq!(findings.len(), 9, "{findings:#?}");
    for i in [0, 2, 5, 10, 12] {
        assert!(
            findings.iter().any(|f| f["secret"] == token(i).as_str()),
            "token {i} missing from {findings:#?}"
        );
    }
    // The packed history was not read again: only the three new blobs (loose objects).
    assert_eq!(blobs_scanned(&cached), 3, "{}", cached.stderr);
    assert_eq!(blobs_scanned(&uncached), blobs_scanned(&full) + 3);
    // A sweep with nothing new reads nothing and still reports everything.
    let again = assert_same_as_uncached(&repo);
    assert_eq!(blobs_scanned(&again), 0, "{}", again.stderr);
}

#[test]
fn changed_rules_mean_a_full_sweep_with_a_note() {
    let mut repo = swept_repo();
    repo.commit("more", &[("x.env", &format!("T={}\n", token(20)))]);
    let rules = repo.path().parent().expect("a parent").join("rules.yaml");
    let text = std::fs::read_to_string(&rules).expect("rules");
    // Same rule, a stricter pattern: tokens ending in a digit only.
    std::fs::write(&rules, text.replace("{36})\\b", "{35}[0-9])\\b")).expect("rules");
    let cached = sweep(&repo, &[]);
    assert!(
        cached.stderr.contains("note: history cache")
            && cached.stderr.contains("other rules or options"),
        "{}",
        cached.stderr
    );
    let fresh = sweep(&repo, &["--no-cache"]);
    assert_eq!(cached.stdout, fresh.stdout);
    assert_eq!(blobs_scanned(&cached), blobs_scanned(&fresh));
    // An option that changes matching is part of the key too.
    let small = repo
        .scan()
        .args(["--history-only", "--max-blob-size", "10"])
        .run();
    assert!(
        small.stderr.contains("other rules or options"),
        "{}",
        small.stderr
    );
}

#[test]
fn a_corrupt_or_truncated_cache_means_a_full_sweep_with_a_note() {
    let mut repo = swept_repo();
    let file = repo.path().join(".git/keysweep/cache");
    let good = std::fs::read(&file).expect("cache");
    repo.commit("more", &[("y.env", &format!("T={}\n", token(30)))]);
    let expected = sweep(&repo, &["--no-cache"]).stdout;
    let mut flipped = good.clone();
    let at = flipped.len() - 10;
    flipped[at] ^= 0x20;
    for bad in [
        flipped,
        good[..good.len() / 2].to_vec(),
        b"\0\0garbage".to_vec(),
    ] {
        std::fs::write(&file, &bad).expect("corrupt the cache");
        let run = sweep(&repo, &[]);
        assert!(
            run.stderr.contains("note: history cache") && run.stderr.contains("corrupt"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stdout, expected);
    }
    // The full sweep wrote a good cache again.
    let run = sweep(&repo, &[]);
    assert!(!run.stderr.contains("note:"), "{}", run.stderr);
    assert_eq!(run.stdout, expected);
}

#[test]
fn a_repack_and_a_pruned_secret_are_never_answered_from_the_cache() {
    let mut repo = swept_repo();
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.commit(
        "side secret",
        &[("side.env", &format!("T={}\n", token(40)))],
    );
    repo.git(&["checkout", "-q", "main"]);
    let with_side = assert_same_as_uncached(&repo);
    assert!(with_side.stdout.contains(&token(40)));
    // Drop the branch and prune: the blob is gone from the object database, so it must be gone
    // from the report, although the cache found it.
    repo.git(&["branch", "-q", "-D", "side"]);
    repo.git(&["reflog", "expire", "--expire=now", "--all"]);
    repo.git(&["gc", "-q", "--prune=now"]);
    let after = assert_same_as_uncached(&repo);
    assert!(!after.stdout.contains(&token(40)), "{}", after.stdout);
    // A full repack into new pack names, with new commits: still the same answer.
    repo.commit("more", &[("z.env", &format!("T={}\n", token(41)))]);
    repo.git(&["repack", "-a", "-d", "-f", "-q", "--depth=3"]);
    let repacked = assert_same_as_uncached(&repo);
    assert!(repacked.stdout.contains(&token(41)));
}

#[test]
fn an_unwritable_cache_leaves_the_sweep_correct() {
    let mut repo = TestRepo::new();
    repo.commit("a", &[("a.env", &format!("T={}\n", token(50)))]);
    // A file where the cache directory would go: the cache cannot be written (a read-only git
    // directory fails the same way, but not for root, who runs these tests in CI containers).
    std::fs::write(repo.path().join(".git/keysweep"), "not a directory").expect("write");
    let auto = sweep(&repo, &[]);
    assert!(!auto.stderr.contains("cache"), "{}", auto.stderr);
    let fresh = sweep(&repo, &["--no-cache"]);
    assert_eq!(auto.stdout, fresh.stdout);
    let explicit = sweep(&repo, &["--cache"]);
    assert!(
        explicit.stderr.contains("cannot be written"),
        "{}",
        explicit.stderr
    );
    assert_eq!(explicit.stdout, fresh.stdout);
}

#[test]
fn scoped_sweeps_and_no_cache_write_no_cache() {
    let mut repo = TestRepo::new();
    repo.commit("a", &[("a.env", &format!("T={}\n", token(60)))]);
    sweep(&repo, &["--no-cache"]);
    sweep(&repo, &["--branch", "main"]);
    assert!(!repo.path().join(".git/keysweep").exists());
}

#[test]
fn a_cached_too_large_blob_is_still_reported_as_skipped() {
    let mut repo = TestRepo::new();
    repo.commit("a", &[("a.env", &format!("T={}\n", token(70)))]);
    let big = "x".repeat(5000);
    repo.commit("big", &[("big.txt", big.as_str())]);
    for _ in 0..2 {
        let run = sweep(&repo, &["--max-blob-size", "4K"]);
        assert!(
            run.stderr.contains("skipped") && run.stderr.contains("--max-blob-size"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn provenance_after_new_commits_equals_a_walk_of_the_whole_graph() {
    let mut repo = swept_repo();
    // An old secret copied to a new path (a new introduction of an old blob), a new branch and
    // a merge.
    let old = std::fs::read_to_string(repo.path().join("app/config1.py")).expect("read");
    repo.commit("copy", &[("copies/config1.py", old.as_str())]);
    repo.git(&["checkout", "-q", "-b", "topic"]);
    repo.commit("topic", &[("topic.env", &format!("T={}\n", token(80)))]);
    repo.git(&["checkout", "-q", "main"]);
    repo.commit("main", &[("main.env", &format!("T={}\n", token(81)))]);
    repo.git_commit(&["merge", "-q", "--no-ff", "-m", "merge", "topic"]);
    let run = assert_same_as_uncached(&repo);
    let findings = run.json();
    let copy: Vec<_> = findings
        .iter()
        .filter(|f| f["path"] == "copies/config1.py")
        .collect();
    assert_eq!(copy.len(), 1, "{findings:#?}");
    assert_eq!(
        copy[0]["occurrences"],
        findings
            .iter()
            .find(|f| f["path"] == "app/config1.py")
            .expect("the original")["occurrences"]
    );
    // A commit dated before the history it is added to, a rewound branch: the cached walk
    // cannot be extended, and the answer is still the whole graph's.
    let mut cmd = repo.git_command(&["commit", "-q", "--allow-empty", "-m", "backdated"]);
    cmd.env("GIT_COMMITTER_DATE", "1600000000 +0000");
    repo.write("old.env", format!("T={}\n", token(82)));
    repo.git(&["add", "-A"]);
    assert!(cmd.status().expect("git runs").success());
    assert_same_as_uncached(&repo);
    repo.git(&["reset", "-q", "--hard", "HEAD~2"]);
    assert_same_as_uncached(&repo);
}
