//! A small unified diff (line-based LCS with 3 lines of context) for `keysweep fix --dry-run`.
//! Settings files are small, so the quadratic LCS table is fine; a file too large for it is shown
//! as a whole replacement instead.

use std::fmt::Write as _;

/// Largest `old × new` line-count product diffed line by line.
const MAX_CELLS: usize = 4_000_000;
const CONTEXT: usize = 3;

/// Unified diff of `old` → `new` with `---`/`+++` headers naming `path` (`/dev/null` for a new
/// file when `old` is `None`). Empty when nothing changes.
pub fn unified(path: &str, old: Option<&str>, new: &str) -> String {
    let old_text = old.unwrap_or("");
    if old_text == new {
        return String::new();
    }
    let a: Vec<&str> = old_text.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = diff_ops(&a, &b);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "--- {}",
        if old.is_some() {
            format!("a/{path}")
        } else {
            "/dev/null".to_owned()
        }
    );
    let _ = writeln!(out, "+++ b/{path}");
    // Group ops into hunks.
    let mut i = 0;
    while i < ops.len() {
        if ops[i].0 == ' ' {
            i += 1;
            continue;
        }
        let start = i.saturating_sub(CONTEXT);
        let mut end = i;
        let mut last_change = i;
        while end < ops.len() {
            if ops[end].0 != ' ' {
                last_change = end;
            } else if end - last_change > 2 * CONTEXT {
                break;
            }
            end += 1;
        }
        let end = (last_change + CONTEXT + 1).min(ops.len());
        let (mut oa, mut ob) = (ops[start].1, ops[start].2);
        let (mut na, mut nb) = (0, 0);
        for op in &ops[start..end] {
            match op.0 {
                ' ' => {
                    na += 1;
                    nb += 1;
                }
                '-' => na += 1,
                _ => nb += 1,
            }
        }
        if na > 0 {
            oa += 1;
        }
        if nb > 0 {
            ob += 1;
        }
        let _ = writeln!(out, "@@ -{oa},{na} +{ob},{nb} @@");
        for op in &ops[start..end] {
            let line = if op.0 == '+' { b[op.2] } else { a[op.1] };
            out.push(op.0);
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
        i = end;
    }
    out
}

/// (kind, index in a, index in b) per line; kind is ' ', '-' or '+'. For '+' the a-index is the
/// position in `a` where it is inserted, for '-' the b-index likewise.
fn diff_ops(a: &[&str], b: &[&str]) -> Vec<(char, usize, usize)> {
    let (n, m) = (a.len(), b.len());
    if n.saturating_mul(m) > MAX_CELLS {
        let mut ops: Vec<_> = (0..n).map(|i| ('-', i, 0)).collect();
        ops.extend((0..m).map(|j| ('+', n, j)));
        return ops;
    }
    // lcs[i][j] = LCS length of a[i..], b[j..]
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if a[i] == b[j] {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops = Vec::with_capacity(n + m);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', i, j));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[at(i + 1, j)] >= lcs[at(i, j + 1)]) {
            ops.push(('-', i, j));
            i += 1;
        } else {
            ops.push(('+', i, j));
            j += 1;
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_changed_line_makes_one_hunk_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n";
        let d = unified("s.py", Some(old), new);
        assert_eq!(
            d,
            "--- a/s.py\n+++ b/s.py\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn new_file_and_no_change() {
        assert_eq!(
            unified(".env", None, "A=1\n"),
            "--- /dev/null\n+++ b/.env\n@@ -0,0 +1,1 @@\n+A=1\n"
        );
        assert_eq!(unified("x", Some("same\n"), "same\n"), "");
    }

    #[test]
    fn distant_changes_make_two_hunks() {
        let old: String = (0..30).map(|i| format!("line{i}\n")).collect();
        let new = old
            .replace("line3\n", "three\n")
            .replace("line25\n", "twentyfive\n");
        let d = unified("f", Some(&old), &new);
        assert_eq!(d.matches("@@ -").count(), 2, "{d}");
    }
}
