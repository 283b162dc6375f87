#!/usr/bin/env bash
# The GitHub Action's steps (action.yml runs this; the tests run it with a simulated runner).
#   action-entry.sh cache-key   write `key=...` (a hash of the action's sources) to $GITHUB_OUTPUT
#   action-entry.sh install     cargo install the action's own checkout into $KEYSWEEP_ROOT
#   action-entry.sh scan        run `keysweep ci github` with the Action's inputs (INPUT_* below)
# Inputs: INPUT_ARGS (extra `keysweep scan` options, split on whitespace), INPUT_CONFIG,
# INPUT_BASELINE, INPUT_FAIL_ON_FINDINGS (true|false), INPUT_SARIF_FILE, INPUT_JSON_FILE.
# KEYSWEEP_BIN overrides the binary (tests); KEYSWEEP_ROOT is where `install` puts it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
action_path="${GITHUB_ACTION_PATH:-$here}"
root="${KEYSWEEP_ROOT:-$HOME/.keysweep-action}"

cache_key() {
    local key
    key="$(cd "$action_path" &&
        find Cargo.lock Cargo.toml build.rs src patterns -type f -print0 |
        LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-40)"
    echo "key=$key" >>"${GITHUB_OUTPUT:-/dev/stdout}"
}

install() {
    if [[ -x "$root/bin/keysweep" ]]; then
        echo "keysweep: using the cached build in $root"
        return
    fi
    cargo install --locked --quiet --path "$action_path" --root "$root"
}

scan() {
    local bin="${KEYSWEEP_BIN:-}"
    if [[ -z "$bin" ]]; then
        if [[ -x "$root/bin/keysweep" ]]; then
            bin="$root/bin/keysweep"
        else
            bin="keysweep"
        fi
    fi
    local args=(ci github)
    if [[ -n "${INPUT_CONFIG:-}" ]]; then
        args+=(--config "$INPUT_CONFIG")
    fi
    if [[ -n "${INPUT_BASELINE:-}" ]]; then
        args+=(--baseline "$INPUT_BASELINE")
    fi
    local sarif="${INPUT_SARIF_FILE:-}"
    if [[ -z "$sarif" ]]; then
        sarif="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/keysweep.sarif"
    fi
    args+=(--sarif-file "$sarif" --fail-on-findings "${INPUT_FAIL_ON_FINDINGS:-true}")
    if [[ -n "${INPUT_JSON_FILE:-}" ]]; then
        args+=(--json-file "$INPUT_JSON_FILE")
    fi
    local extra=()
    if [[ -n "${INPUT_ARGS:-}" ]]; then
        read -r -a extra <<<"$INPUT_ARGS"
    fi
    cd "${GITHUB_WORKSPACE:-.}"
    exec "$bin" "${args[@]}" -- "${extra[@]}"
}

case "${1:-}" in
cache-key) cache_key ;;
install) install ;;
scan) scan ;;
*)
    echo "usage: $0 cache-key|install|scan" >&2
    exit 2
    ;;
esac
