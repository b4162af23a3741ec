#!/usr/bin/env bash
# Fuzzes keyport's parsers (issue 14): builds the cargo-fuzz targets of fuzz/ and runs each for a time, one after
# another, then prints per target the executions, executions per second, coverage and crashes.
#
#   nice -n 15 scripts/fuzz.sh [seconds-per-target] [target...]     # default 600 s, every target
#
# Needs the nightly toolchain and cargo-fuzz (installed here when missing). The seeds are fuzz/corpus/<target>/
# (committed, read-only); the corpus grows in $FUZZ_WORK/corpus/<target>/ (default fuzz/target/work, not in git), so
# a later run starts from what an earlier one found. A crash leaves its input in $FUZZ_WORK/artifacts/<target>/
# and makes the script exit 1 after the remaining targets ran; replay one with
#   cargo +nightly fuzz run <target> <file>
# Environment: FUZZ_TARGET_DIR (cargo's target directory, default fuzz/target), FUZZ_WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=${1:-600}
shift || true
all_targets=(form api_token jwt config sdk_files user_code client_ip)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi
case "$seconds" in '' | *[!0-9]*) echo "usage: $0 [seconds-per-target] [target...]" >&2; exit 2 ;; esac

if ! rustup toolchain list | grep -q '^nightly'; then rustup toolchain install nightly --profile minimal; fi
if ! cargo +nightly fuzz --help >/dev/null 2>&1; then cargo install cargo-fuzz --locked; fi

target_dir=${FUZZ_TARGET_DIR:-$root/fuzz/target}
work=${FUZZ_WORK:-$root/fuzz/target/work}
unset CARGO_TARGET_DIR
mkdir -p "$work"

echo "== building the fuzz targets (nightly, AddressSanitizer) in $target_dir"
started=$(date +%s)
cargo +nightly fuzz build --target-dir "$target_dir"
echo "   built in $(( $(date +%s) - started )) s"

failed=0
summary=()
for t in "${targets[@]}"; do
    seeds=$root/fuzz/corpus/$t
    [ -d "$seeds" ] || { echo "no seed corpus $seeds (targets: ${all_targets[*]})" >&2; exit 2; }
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    dict=()
    [ -f "$root/fuzz/dict/$t.dict" ] && dict=("-dict=$root/fuzz/dict/$t.dict")
    log=$work/$t.log
    findings() { find "$work/artifacts/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
        -o -name 'oom-*' \) | wc -l; }
    before=$(findings)
    echo "== $t: $seconds s (log $log)"
    set +e
    cargo +nightly fuzz run --target-dir "$target_dir" "$t" "$work/corpus/$t" "$seeds" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$t/" "${dict[@]}" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n1 | cut -d' ' -f2)
    crashes=$(( $(findings) - before ))
    if [ "$rc" -ne 0 ]; then
        failed=1
        [ "$crashes" -gt 0 ] || crashes=1
        tail -n 40 "$log"
    fi
    summary+=("$(printf '%-10s execs %-10s exec/s %-7s cov %-6s crashes %s' "$t" "${execs:-?}" "${rate:-?}" \
        "${cov:-?}" "$crashes")")
done

echo "== summary ($seconds s per target, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD))"
printf '%s\n' "${summary[@]}"
exit "$failed"
