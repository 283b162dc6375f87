#!/usr/bin/env bash
# Times keysweep's full history sweep beside `git cat-file --batch-all-objects --batch` (inflating
# every object once, single-threaded: the floor a subprocess-based scanner cannot beat) and every
# peer scanner installed by ../shared/bench/install-peers.sh, on the same repository, alternating
# runs, and prints medians of wall time, CPU time, peak RSS and findings; for keysweep (on Linux)
# also what its resident memory was made of at its sampled peak: anonymous memory (the heap) and
# file-backed pages (the mapped packs and indexes, the binary). Then it times an
# incremental re-sweep: in a clone of the repository, a full sweep writes the history cache, ten
# commits with new secrets are added, and the re-sweep (which reads only the new objects) is timed
# against the full sweep and compared with a --no-cache sweep. Not used by `cargo test`.
#
# usage: scripts/bench-history.sh [REPO] [RUNS]
#   REPO  a git repository (default: $HOME/corpora/django)
#   RUNS  runs per tool (default 3)
# env:  KEYSWEEP  binary to time (default: target/release/keysweep, built here)
#       PEERS     where install-peers.sh put the peers (default: $HOME/peers); missing ones are skipped
#       TOOLS     peers to try (default: "gitleaks betterleaks kingfisher noseyparker")
#       RESWEEP   0 skips the re-sweep benchmark (default 1)
#
# Getting a large history: Django's full history (32,791 commits, 2.9 GB of blobs) is in the
# public fork apprent1c3/django; clone it with
#   git clone --no-local https://github.com/apprent1c3/django $HOME/corpora/django
# (--no-local keeps a clone of a local copy from hard-linking and sharing its packs).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(cd "${1:-$HOME/corpora/django}" && pwd)
runs=${2:-3}
[ -x /usr/bin/time ] || { echo "/usr/bin/time not found: apt-get install time" >&2; exit 2; }
git -C "$repo" rev-parse --git-dir >/dev/null 2>&1 || { echo "$repo: not a git repository" >&2; exit 2; }
if [ -z "${KEYSWEEP:-}" ]; then
  cargo build --release --quiet
  KEYSWEEP=$PWD/target/release/keysweep
fi
peer_script=$(cd .. && pwd)/shared/bench/run-peer.sh
export PEERS=${PEERS:-$HOME/peers}
tools=${TOOLS:-gitleaks betterleaks kingfisher noseyparker}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Samples process $1's resident memory every 50 ms until it exits; prints "anon_kb file_kb" of the
# sample with the largest total ("- -" without /proc).
rss_kinds() {
  python3 - "$1" <<'PY'
import sys, time
best = None
while True:
    try:
        with open(f"/proc/{sys.argv[1]}/status") as f:
            st = dict(l.split(":", 1) for l in f if ":" in l)
    except OSError:
        break
    anon, file = (int(st.get(k, "0 kB").split()[0]) for k in ("RssAnon", "RssFile"))
    if best is None or anon + file > sum(best):
        best = (anon, file)
    time.sleep(0.05)
print(*(best or ("-", "-")))
PY
}

# One run of one tool: appends "wall cpu rss_kb findings [anon_kb file_kb]" to $work/<tool>.
run_once() {
  local tool=$1 i=$2
  local t=$work/$tool.$i.time
  case $tool in
    keysweep)
      # --no-cache: every run sweeps everything (and the corpus is not written to).
      rm -f "$work/keysweep.json"
      /usr/bin/time -f "%e %U %S %M" -o "$t" "$KEYSWEEP" scan "$repo" --history-only --no-cache \
        --format json --quiet -o "$work/keysweep.json" 2>"$work/keysweep.err" &
      local timer=$! kinds="- -" rc=0
      sleep 0.05
      local pid
      pid=$(pgrep -P "$timer" | head -1) || true
      [ -n "$pid" ] && kinds=$(rss_kinds "$pid")
      wait "$timer" || rc=$?
      # Exit 2 with a report written: the sweep finished but said some objects could not be read
      # (a partial clone's missing blobs): timed, and said below the table.
      if [ "$rc" -eq 2 ] && [ -s "$work/keysweep.json" ]; then
        echo "run $i: keysweep exit 2, $(grep -c '^error' "$work/keysweep.err") error(s), first: $(grep -m1 '^error' "$work/keysweep.err")" >> "$work/notes"
      elif [ "$rc" -gt 1 ]; then
        cat "$work/keysweep.err" >&2
        return 1
      fi
      local n
      n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$work/keysweep.json")
      # (time puts "Command exited with non-zero status 1" first when there are findings)
      tail -1 "$t" | awk -v n="$n" -v k="$kinds" '{print $1, $2+$3, $4, n, k}' >> "$work/$tool"
      ;;
    cat-file)
      /usr/bin/time -f "%e %U %S %M" -o "$t" \
        git -C "$repo" cat-file --batch-all-objects --batch >/dev/null
      tail -1 "$t" | awk '{print $1, $2+$3, $4, "-"}' >> "$work/$tool"
      ;;
    *)
      # run-peer.sh prints: tool corpus mode run rc wall user sys maxrss findings distinct
      local line
      line=$(CORPORA=$(dirname "$repo") OUT=$work/peers bash "$peer_script" "$tool" \
        "$(basename "$repo")" hist "$i" 2>/dev/null | tail -1) || return 1
      echo "$line" | awk -F'\t' '$5 == 0 {print $6, $7+$8, $9, $10}' >> "$work/$tool"
      ;;
  esac
}

present=(keysweep cat-file)
for tool in $tools; do
  if [ -x "$PEERS/bin/$tool" ]; then present+=("$tool"); else echo "skipping $tool: not in $PEERS/bin" >&2; fi
done
cat "$repo"/.git/objects/pack/* "$repo"/objects/pack/* >/dev/null 2>&1 || true  # warm the page cache
for i in $(seq "$runs"); do
  for tool in "${present[@]}"; do
    echo "run $i/$runs: $tool" >&2
    run_once "$tool" "$i" || echo "$tool failed on run $i" >&2
  done
done

python3 - "$work" "$repo" "$runs" "${present[@]}" <<'PY'
import os, statistics, sys
work, repo, runs, tools = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
rows = {}
for t in tools:
    p = os.path.join(work, t)
    if not os.path.exists(p):
        continue
    recs = [l.split() for l in open(p) if l.strip()]
    if not recs:
        continue
    med = lambda k: statistics.median(float(r[k]) for r in recs)
    kinds = [r[4:6] for r in recs if len(r) >= 6 and "-" not in r[4:6]]
    kind = (f"{statistics.median(int(a) for a, _ in kinds) / 1024:.0f}+"
            f"{statistics.median(int(f) for _, f in kinds) / 1024:.0f}") if kinds else "-"
    rows[t] = (med(0), med(1), med(2) / 1024, kind, recs[-1][3], [float(r[0]) for r in recs])
print(f"repository: {repo}; {runs} alternating runs per tool; medians")
print("(anon+file MB: keysweep's anonymous and file-backed resident memory at its sampled peak)")
print(f"{'tool':12s} {'wall s':>8s} {'CPU s':>8s} {'RSS MB':>8s} {'anon+file':>10s} {'findings':>9s} "
      f"{'wall/cat-file':>14s}  runs")
base = rows.get("cat-file", (None,))[0]
for t, (wall, cpu, rss, kind, found, walls) in rows.items():
    ratio = f"{wall / base:.2f}x" if base else "-"
    print(f"{t:12s} {wall:8.2f} {cpu:8.2f} {rss:8.0f} {kind:>10s} {found:>9s} {ratio:>14s}  "
          + " ".join(f"{w:.2f}" for w in walls))
notes = os.path.join(work, "notes")
if os.path.exists(notes):
    print(open(notes).read(), end="")
PY

[ "${RESWEEP:-1}" = 1 ] || exit 0
# The incremental re-sweep, in a clone (the corpus is never written to).
copy=$work/copy
git clone -q --no-local "$repo" "$copy"
# One sweep of the clone (extra arguments appended): prints "wall_s rss_kb".
timed() {
  /usr/bin/time -f "%e %M" -o "$work/t" "$KEYSWEEP" scan "$copy" --history-only --format json \
    --quiet "$@" || [ $? -eq 1 ]
  tail -1 "$work/t"
}
full=$(timed -o "$work/full.json")
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
for i in $(seq 10); do
  # A synthetic token in GitHub's format (not a credential), different in each commit.
  tok=$(python3 -c 'import random,string,sys; random.seed(int(sys.argv[1])); a=string.ascii_letters+string.digits; print("ghp_"+"".join(random.choice(a) for _ in range(36)))' "$i")
  echo "GITHUB_TOKEN = '$tok'" > "$copy/keysweep_bench_$i.py"
  git -C "$copy" add -A && git -C "$copy" commit -q -m "bench commit $i"
done
re=$(timed -o "$work/re.json")
again=$(timed -o "$work/again.json")
nocache=$(timed --no-cache -o "$work/nocache.json")
same=$(cmp -s "$work/re.json" "$work/nocache.json" && echo identical || echo DIFFERENT)
python3 - "$full" "$re" "$again" "$nocache" "$same" <<'PY'
import sys
(fw, fr), (rw, rr), (aw, ar), (nw, nr) = (map(float, a.split()) for a in sys.argv[1:5])
print(f"re-sweep (history cache) in a clone: full sweep {fw:.2f} s ({fr/1024:.0f} MB), "
      f"after 10 new commits {rw:.2f} s ({rr/1024:.0f} MB) = {rw/fw:.1%} of the full sweep; "
      f"unchanged {aw:.2f} s; --no-cache {nw:.2f} s; findings {sys.argv[5]} to --no-cache")
PY
