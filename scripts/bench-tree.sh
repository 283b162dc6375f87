#!/usr/bin/env bash
# Times keysweep's working-tree scan beside ripgrep searching for the same keywords, on the same
# tree, alternating runs, and prints medians and the ratio. Not used by `cargo test`.
#
# usage: scripts/bench-tree.sh [TREE] [RUNS]
#   TREE  a directory to scan (default: $HOME/corpora/wt/django-x4: four copies of the HEAD tree
#         of a Django clone at $HOME/corpora/django, made on first use)
#   RUNS  runs per tool (default 5)
#
# Getting the corpus: a full Django history is in the public fork apprent1c3/django; clone it with
#   git clone --no-local <that repository> $HOME/corpora/django
# rg: apt-get install ripgrep.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${2:-5}
tree=${1:-}
if [ -z "$tree" ]; then
  tree=$HOME/corpora/wt/django-x4
  if [ ! -d "$tree" ]; then
    src=$HOME/corpora/django
    [ -d "$src" ] || { echo "no corpus: clone Django's history to $src (see the header)" >&2; exit 2; }
    for i in 1 2 3 4; do
      mkdir -p "$tree/copy$i"
      git -C "$src" archive HEAD | tar -x -C "$tree/copy$i"
    done
  fi
fi
command -v rg >/dev/null || { echo "rg not found: apt-get install ripgrep" >&2; exit 2; }
cargo build --release --quiet
ks=$PWD/target/release/keysweep

# rg gets the same keyword work: one regex alternation of every prefilter keyword, the
# case-insensitive ones inside (?i:...).
pattern=$("$ks" rules keywords | python3 -c '
import re, sys
parts = []
for line in sys.stdin:
    kind, kw = line.rstrip("\n").split(" ", 1)
    # re.escape also escapes spaces, which the regex syntax of rg rejects.
    parts.append(("(?i:%s)" if kind == "i" else "%s") % re.escape(kw).replace("\\ ", " "))
print("|".join(parts))')

python3 - "$tree" "$runs" "$ks" "$pattern" <<'PY'
import statistics, subprocess, sys, time, resource
tree, runs, ks, pattern = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
cmds = {
    "keysweep": [ks, "scan", tree, "--no-history", "--format", "json", "--quiet"],
    "rg": ["rg", "--hidden", "--count-matches", "-e", pattern, tree],
}
def once(cmd):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t
    if p.returncode not in (0, 1):
        sys.exit(f"{cmd[0]} failed ({p.returncode}): {p.stderr.decode()[:500]}")
    return wall, p.stdout
for c in cmds.values():   # warm the page cache
    once(c)
walls = {k: [] for k in cmds}
out = {}
for _ in range(runs):
    for name, cmd in cmds.items():
        w, o = once(cmd)
        walls[name].append(w)
        out[name] = o
import json
findings = len(json.loads(out["keysweep"]))
hits = sum(int(l.rsplit(b":", 1)[1]) for l in out["rg"].splitlines() if l)
size = subprocess.run(["du", "-sb", tree], stdout=subprocess.PIPE).stdout.split()[0].decode()
print(f"tree: {tree} ({int(size)/1e6:.0f} MB), {runs} alternating runs each, medians")
for name in cmds:
    print(f"  {name:9s} median {statistics.median(walls[name]):.3f} s   runs {' '.join(f'{w:.3f}' for w in walls[name])}")
print(f"  keysweep findings: {findings}; rg keyword hits: {hits}")
print(f"  ratio keysweep/rg: {statistics.median(walls['keysweep']) / statistics.median(walls['rg']):.2f}x")
PY
