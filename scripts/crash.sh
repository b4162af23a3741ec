#!/usr/bin/env bash
# Crash consistency (issue 14): `kill -9` the real keyport binary under a mixed load, restart it on the same data,
# check that every acknowledged answer still holds — on SQLite and on PostgreSQL (a private cluster started in a
# temporary directory, itself killed and restarted in about two rounds in three; the machine's shared PostgreSQL
# is never touched). Prints one line per round with its seed, then a summary: rounds, operations acknowledged
# by kind, checks, violations (must be 0). Exit status 1 on any violation, 2 when a round could not run.
#
#   scripts/crash.sh [ROUNDS] [keyport-crash options]   ROUNDS per backend, default 50
#   scripts/crash.sh 1 --backend sqlite --seed 0x…      replay one round by the seed it printed
#
# Results and what they rely on: docs/crash-consistency.md. CI runs `scripts/crash.sh 3` (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-50}"
[ "$#" -gt 0 ] && shift
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
cargo build --quiet -p keyport -p keyport-crash
exec "$target_dir/debug/keyport-crash" --rounds "$rounds" --keyport "$target_dir/debug/keyport" "$@"
