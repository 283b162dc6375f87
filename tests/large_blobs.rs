//! Blobs over `--max-blob-size` in history (issue 12): loose, packed whole and packed as deltas,
//! they are skipped and the skip is reported, and what depends on them is still scanned. That
//! they are not inflated is measured (peak RSS) by scripts/bench-large-blob.sh, not here.

use std::io::Write as _;
use std::process::Stdio;

use crate::util::repo::{token, TestRepo};

/// `size` bytes of 100-byte lines of filler with `tail` at the end, written with
/// `git hash-object -w --stdin` (never in the work tree); returns the blob id.
fn hash_object(repo: &TestRepo, size: usize, tail: &str) -> String {
    let mut cmd = repo.git_command(&["hash-object", "-w", "--stdin"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = cmd.spawn().expect("git hash-object runs");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        let line = format!(
            "{}\n",
            "filler-".repeat(14) + "abcdefghijklmnopqrstuvwxyz01234"
        );
        let line = &line.as_bytes()[..100];
        for _ in 0..size / 100 {
            stdin.write_all(line).expect("write");
        }
        stdin.write_all(tail.as_bytes()).expect("write");
    }
    let out = child.wait_with_output().expect("git hash-object finishes");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Commits blob `id` at `path` without a work-tree file.
fn commit_blob(repo: &mut TestRepo, path: &str, id: &str) {
    repo.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("100644,{id},{path}"),
    ]);
    repo.git_commit(&["commit", "-q", "-m", path]);
}

fn skips(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("skipped") && l.contains("over --max-blob-size"))
        .collect()
}

#[test]
fn a_large_blob_is_skipped_and_reported_loose_and_packed() {
    let mut repo = TestRepo::new();
    let secret = format!("T={}\n", token(1));
    let big = hash_object(&repo, 3 << 20, &secret);
    commit_blob(&mut repo, "big.txt", &big);
    repo.commit("small", &[("small.env", &secret)]);
    for packed in [false, true] {
        if packed {
            repo.git(&["gc", "-q"]);
        }
        let run = repo
            .scan()
            .args(["--history-only", "--no-cache", "--max-blob-size", "1M"])
            .run()
            .expect_code(1);
        let skipped = skips(&run.stderr);
        assert_eq!(skipped.len(), 1, "packed: {packed}\n{}", run.stderr);
        assert!(skipped[0].contains(&big), "{}", skipped[0]);
        let findings = run.json();
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0]["path"], "small.env");
        // Under a larger limit, the same blob is scanned.
        let all = repo
            .scan()
            .args(["--history-only", "--no-cache", "--max-blob-size", "10M"])
            .run()
            .expect_code(1);
        assert!(skips(&all.stderr).is_empty(), "{}", all.stderr);
        assert_eq!(all.json().len(), 2);
    }
}

#[test]
fn deltas_of_large_blobs_are_skipped_or_scanned_by_their_own_size() {
    let mut repo = TestRepo::new();
    let secret = format!("T={}\n", token(2));
    // Two versions, 2.5 MB and 3 MB, which git stores as one delta of the other.
    let small = hash_object(&repo, 5 << 19, &secret);
    commit_blob(&mut repo, "big.txt", &small);
    let large = hash_object(&repo, 3 << 20, &secret);
    commit_blob(&mut repo, "big.txt", &large);
    repo.git(&["repack", "-a", "-d", "-f", "-q"]);
    let bases = repo.git(&[
        "cat-file",
        "--batch-all-objects",
        "--batch-check=%(objectname) %(deltabase)",
    ]);
    assert!(
        bases.contains(&format!("{small} {large}")) || bases.contains(&format!("{large} {small}")),
        "git stored neither version as a delta of the other:\n{bases}"
    );
    // Between the two sizes: the larger is skipped, the smaller scanned, whichever is the base.
    let run = repo
        .scan()
        .args(["--history-only", "--no-cache", "--max-blob-size", "2900K"])
        .run()
        .expect_code(1);
    let skipped = skips(&run.stderr);
    assert_eq!(skipped.len(), 1, "{}", run.stderr);
    assert!(skipped[0].contains(&large), "{}", skipped[0]);
    let findings = run.json();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["blob_id"], small.as_str());
    // Under both: both skipped.
    let run = repo
        .scan()
        .args(["--history-only", "--no-cache", "--max-blob-size", "1M"])
        .run()
        .expect_code(0);
    assert_eq!(skips(&run.stderr).len(), 2, "{}", run.stderr);
}
