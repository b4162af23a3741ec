#!/usr/bin/env bash
# A profile-guided (PGO) release build of keyport: an instrumented build serves a short bench/run.sh (every row of
# it: client credentials, introspection, userinfo, refresh, password, discovery, device polling and approval, the
# browser flows), then LLVM lays out and inlines the real build by the counts it recorded.
#
#   bash bench/pgo.sh                 # the binary in target/pgo/keyport (~25 min on a 2-core host, cold)
#   TRAIN_SECONDS=5 bash bench/pgo.sh # longer training rows (default 3 s each)
#   TRAIN_BACKENDS=sqlite bash bench/pgo.sh   # train on SQLite only (default: SQLite, then PostgreSQL)
#
# Steps, each in its own target directory under target/pgo (so the normal release build is not rebuilt):
#   1. `-Cprofile-generate`: keyport instrumented, in target/pgo/generate;
#   2. training: `KEYPORT_BIN=<it> PEER=0 LIMITS=0 bash bench/run.sh` with short rows on each of TRAIN_BACKENDS
#      (run.sh builds the normal release first, for its tools; PostgreSQL: PG_URL, default
#      postgres://postgres@127.0.0.1:5432, a database created and dropped by run.sh): a store the training does
#      not use would be laid out as cold code; the tables run.sh prints are kept in target/pgo/training-*.txt;
#   3. `llvm-profdata merge` of the raw profiles into target/pgo/keyport.profdata;
#   4. `-Cprofile-use`: the real build, in target/pgo/use, copied to target/pgo/keyport.
# Needs llvm-profdata of rustc's LLVM major version (`rustc -vV`; Debian: apt-get install llvm-22 for rustc 1.95;
# or rustup's llvm-tools component), LLVM_PROFDATA=PATH to name one, what run.sh needs with PEER=0 (wrk, taskset,
# curl, python3) and, unless TRAIN_BACKENDS=sqlite, a PostgreSQL server at PG_URL (and psql); both are checked first.
# Measure the result against the normal build with the A/B scripts, e.g.
#   bash bench/introspect-ab.sh target/release/keyport target/pgo/keyport
# Not part of the test suite or of any other build.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAME=pgo
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
cd "$ROOT"
SECONDS_=${TRAIN_SECONDS:-3}

llvm=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
PROFDATA=${LLVM_PROFDATA:-}
if [[ -z $PROFDATA ]]; then
  host=$(rustc -vV | sed -n 's/^host: //p')
  for candidate in "llvm-profdata-$llvm" "$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"; do
    if command -v "$candidate" >/dev/null; then PROFDATA=$candidate; break; fi
  done
fi
[[ -n $PROFDATA ]] ||
  { echo "pgo: no llvm-profdata for LLVM $llvm (apt-get install llvm-$llvm, or set LLVM_PROFDATA)" >&2; exit 2; }
version=$("$PROFDATA" merge --version 2>&1 || true)
[[ $version == *"LLVM version $llvm."* ]] ||
  { echo "pgo: $PROFDATA is not LLVM $llvm's (rustc's); its profiles would not be read" >&2; exit 2; }
# What the training needs, checked before the builds: run.sh checks it only once they are done.
for tool in wrk taskset curl python3; do
  command -v "$tool" >/dev/null || { echo "pgo: $tool is missing (wrk: apt-get install wrk)" >&2; exit 2; }
done
read -r -a BACKENDS <<<"${TRAIN_BACKENDS:-sqlite postgres}"
for backend in "${BACKENDS[@]}"; do
  case $backend in
    sqlite) ;;
    postgres)
      psql -qtA "${PG_URL:-postgres://postgres@127.0.0.1:5432}/postgres" -c 'SELECT 1' >/dev/null 2>&1 || {
        echo "pgo: no PostgreSQL at PG_URL (or no psql) to train on; TRAIN_BACKENDS=sqlite trains on SQLite only" >&2
        exit 2
      } ;;
    *) echo "pgo: TRAIN_BACKENDS holds sqlite and/or postgres, not $backend" >&2; exit 2 ;;
  esac
done

TARGET=$(target_dir)
PGO="$TARGET/pgo"
rm -rf "$PGO/keyport.profdata" "$PGO/keyport"

echo "pgo: 1/4 instrumented build (target/pgo/generate)" >&2
RUSTFLAGS="-Cprofile-generate=$PGO/raw" timeout 2400 cargo build --release --quiet -p keyport \
  --target-dir "$PGO/generate" || { echo "pgo: the instrumented build failed or took over 40 min" >&2; exit 1; }
# The build scripts compiled with the same flags wrote profiles of their own runs (a build from scratch) or an
# earlier run's training left its own: only this training's are wanted.
rm -rf "$PGO/raw"
mkdir -p "$PGO/raw"

for backend in "${BACKENDS[@]}"; do
  echo "pgo: 2/4 training on $backend: bench/run.sh with the instrumented keyport, ${SECONDS_} s a row" >&2
  KEYPORT_BIN="$PGO/generate/release/keyport" PEER=0 LIMITS=0 BACKEND=$backend DURATION=$SECONDS_ WARMUP=1 \
    DEVICES=1000 DEVICE_SECONDS=$SECONDS_ APPROVALS=200 RESULTS_COPY="$PGO/training-$backend.jsonl" \
    bash "$ROOT/bench/run.sh" >"$PGO/training-$backend.txt" ||
    { echo "pgo: the training run on $backend failed (TRAIN_BACKENDS=sqlite skips PostgreSQL)" >&2; exit 1; }
done
raw=$(find "$PGO/raw" -name '*.profraw' | wc -l)
((raw > 0)) || { echo "pgo: the training run left no profile in $PGO/raw" >&2; exit 1; }

echo "pgo: 3/4 merging $raw raw profiles" >&2
"$PROFDATA" merge -o "$PGO/keyport.profdata" "$PGO/raw"

echo "pgo: 4/4 the profile-guided build (target/pgo/use)" >&2
RUSTFLAGS="-Cprofile-use=$PGO/keyport.profdata" timeout 2400 cargo build --release --quiet -p keyport \
  --target-dir "$PGO/use" || { echo "pgo: the profile-guided build failed or took over 40 min" >&2; exit 1; }
cp "$PGO/use/release/keyport" "$PGO/keyport"
echo "pgo: done: $PGO/keyport" >&2
