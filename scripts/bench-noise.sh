#!/usr/bin/env bash
# Noise on real, clean public histories, keysweep beside gitleaks in one run: for each repository,
# the distinct secrets keysweep reports at medium severity or above (the ones a user is asked to
# act on; findings with a context label are at most low) against gitleaks' distinct findings, and
# whether keysweep stays at or under half of gitleaks'. Then every keysweep finding without a
# context label, so each can be explained. Not used by `cargo test`.
#
# usage: scripts/bench-noise.sh [NAME...]
#   NAME  corpora under $CORPORA (default: django flask requests git)
# env:  KEYSWEEP  binary (default: target/release/keysweep, built here)
#       CORPORA   where the clones are (default: $HOME/corpora)
#       PEERS     where ../shared/bench/install-peers.sh put gitleaks (default: $HOME/peers)
#       WORK      keep the raw reports in this directory (default: a temporary one, removed)
#
# The corpora are full-history clones made with `git clone --no-local`: apprent1c3/django (Django's
# complete history), pallets/flask, psf/requests and git/git, each in $CORPORA/NAME.
set -euo pipefail
cd "$(dirname "$0")/.."
corpora=${CORPORA:-$HOME/corpora}
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(django flask requests git)
if [ -z "${KEYSWEEP:-}" ]; then
  cargo build --release --quiet
  KEYSWEEP=$PWD/target/release/keysweep
fi
# ../shared/bench from the main checkout, ../../shared/bench from a worktree under wt/.
peer_script=${PEER_SCRIPT:-}
for d in .. ../..; do
  [ -n "$peer_script" ] || { [ -f "$d/shared/bench/run-peer.sh" ] && peer_script=$(cd "$d" && pwd)/shared/bench/run-peer.sh; }
done
[ -n "$peer_script" ] || { echo "shared/bench/run-peer.sh not found (set PEER_SCRIPT)" >&2; exit 2; }
export PEERS=${PEERS:-$HOME/peers}
[ -x "$PEERS/bin/gitleaks" ] || { echo "gitleaks not in $PEERS/bin: run ../shared/bench/install-peers.sh" >&2; exit 2; }
if [ -n "${WORK:-}" ]; then
  work=$WORK; mkdir -p "$work"
else
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fi

for name in "${names[@]}"; do
  repo=$corpora/$name
  git -C "$repo" rev-parse --git-dir >/dev/null 2>&1 || { echo "$repo: not a git repository" >&2; exit 2; }
  # keysweep: the whole history and the working tree, as a user runs it.
  # (--no-cache: the corpus is not written to.)
  "$KEYSWEEP" scan "$repo" --no-cache --format json --quiet -o "$work/$name.keysweep.json" || [ $? -eq 1 ]
  # gitleaks: run-peer.sh prints "tool corpus mode run rc wall user sys maxrss" and then
  # "findings distinct" in one tab-separated field.
  CORPORA=$corpora OUT=$work/peers bash "$peer_script" gitleaks "$name" hist 1 \
    | tail -1 | awk -F'\t' '{split($10, n, " "); print $5, n[2]}' > "$work/$name.gitleaks"
done

python3 - "$work" "${names[@]}" <<'PY'
import json, sys
work, names = sys.argv[1], sys.argv[2:]
rank = {"low": 0, "medium": 1, "high": 2, "critical": 3}
rows, unlabelled = [], []
for name in names:
    findings = json.load(open(f"{work}/{name}.keysweep.json"))
    rc, gl = open(f"{work}/{name}.gitleaks").read().split()
    gl = int(gl) if rc == "0" and gl.isdigit() else None
    medium = {f["secret"] for f in findings if rank[f["severity"]] >= 1}
    every = {f["secret"] for f in findings}
    labelled = {f["secret"] for f in findings if f.get("context")}
    ok = "-" if gl is None else ("yes" if len(medium) * 2 <= gl else "NO")
    rows.append((name, gl, len(medium), len(every), len(labelled), ok))
    seen = set()
    for f in findings:
        if f.get("context") or (f["rule_id"], f["secret"]) in seen:
            continue
        seen.add((f["rule_id"], f["secret"]))
        s = f["secret"]
        masked = s[:4] + "*" * min(max(len(s) - 4, 3), 12)
        unlabelled.append((name, f["severity"], f["rule_id"], f"{f['path']}:{f['line']}",
                           (f["commit"] or "-")[:10], masked))
print("| repository | gitleaks distinct | keysweep distinct >= medium | keysweep distinct (all) | of which labelled | keysweep <= half |")
print("|---|---|---|---|---|---|")
for name, gl, med, every, lab, ok in rows:
    print(f"| {name} | {'-' if gl is None else gl} | {med} | {every} | {lab} | {ok} |")
print()
print("keysweep findings without a context label (one per rule and secret):")
for row in unlabelled:
    print("  " + "  ".join(row))
PY
