#!/usr/bin/env bash
# Peak memory with a very large blob in history (issue 12): a blob of SIZE bytes (default 2 GiB)
# is written with `git hash-object -w --stdin` from a generator (never as a file in the work
# tree), committed, and swept loose, then packed (`git repack`), with the default
# --max-blob-size. Prints keysweep's peak RSS and wall time for each, and whether the skip was
# reported. The blob is over the limit, so it must not be inflated: peak RSS stays far below its
# size. Not used by `cargo test`.
#
# usage: scripts/bench-large-blob.sh [SIZE_MB]   (default 2048)
# env:   KEYSWEEP  binary to time (default: target/release/keysweep, built here)
#        TMPDIR    where the repository is built (needs about SIZE/100 of space: it compresses)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-2048}
[ -x /usr/bin/time ] || { echo "/usr/bin/time not found: apt-get install time" >&2; exit 2; }
if [ -z "${KEYSWEEP:-}" ]; then
  cargo build --release --quiet
  KEYSWEEP=$PWD/target/release/keysweep
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
repo=$work/repo
git init -q "$repo"
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
echo "writing a ${size_mb} MB blob with git hash-object" >&2
id=$(python3 -c '
import sys
line = b"".join(b"%07d large blob filler line 0123456789abcdefghijklmnopqrstuvwxyz\n" % i for i in range(1024))
out = sys.stdout.buffer
for _ in range(int(sys.argv[1]) * (1 << 20) // len(line)):
    out.write(line)' "$size_mb" | git -C "$repo" hash-object -w --stdin)
git -C "$repo" update-index --add --cacheinfo "100644,$id,large.txt"
git -C "$repo" commit -q -m "a large blob"
measure() {
  local label=$1
  /usr/bin/time -f "%e %M" -o "$work/t" "$KEYSWEEP" scan "$repo" --history-only --no-cache \
    --format json -o "$work/out.json" 2> "$work/err" || [ $? -le 1 ] || { cat "$work/err" >&2; exit 1; }
  local skip=no
  grep -q "blob $id: skipped" "$work/err" && skip=yes
  awk -v l="$label" -v s="$skip" -v mb="$size_mb" \
    '{printf "%-7s blob %5d MB: keysweep %6.2f s, peak RSS %5.0f MB, skip reported: %s\n", l, mb, $1, $2/1024, s}' "$work/t"
}
measure loose
echo "packing it (git repack)" >&2
git -C "$repo" repack -a -d -q
measure packed
