#!/usr/bin/env bash
# The targets of issue 15 that set a keyport row against a limit measured apart from it, measured interleaved and
# repeated in one sitting. In run.sh each side of such a ratio is measured once, a minute or more from the other,
# and on a host whose speed drifts from one minute to the next one run can meet a target that the next misses with
# the same binary (BENCHMARKS.md, twenty-first pass). Here every round measures both sides within about a minute,
# in alternating order, and the verdict is the median over the rounds.
#
#   bash bench/targets.sh [ROUNDS]     # default 5 rounds, DURATION=8 s a load row: ~1 min a round
#   NO_BUILD=1 bash bench/targets.sh   # with the release build and Criterion bench already built
#   BACKEND=postgres bash bench/targets.sh   # keyport on a fresh PostgreSQL database each round
#
# A round, every server pinned to core 0 and wrk on core 1 (64 keep-alive connections, a 3-second warm-up):
# Criterion's `es256_sign` (`KeySet::sign`, 3 s), then the floor (bench/micro/src/bin/floor.rs) with POST /sign and
# the client-credential POST, and keyport (a fresh one, bench/keyport.toml, on SQLite or, with BACKEND=postgres, on
# a database of its own, as in ab.sh) with ES256 client credentials and API-token introspection; the floor first
# in odd rounds, keyport first in even ones. Each round is one line in RESULTS (default
# target/targets-DATE.jsonl); the end prints each round and the medians: client credentials as a share of
# `KeySet::sign`'s rate (target ≥ 60%) and of the signing floor's, and introspection's CPU µs (target ≤ 15) and
# what it spends above the POST floor. keyport's CPU is its process's alone; with BACKEND=postgres the CPU of this
# host's PostgreSQL processes over the same runs is printed beside it (not pinned: keep the host idle).
# Not part of the test suite; needs wrk, taskset, curl, python3 (and psql, pgrep with BACKEND=postgres, whose server
# is PG_URL as in ab.sh, default postgres://postgres@127.0.0.1:5432).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
NAME=targets
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
ROUNDS=${1:-5}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ROUNDS]  (ROUNDS: a positive number)" >&2; exit 2; }
DURATION=${DURATION:-8} CONNS=64 PORT=${PORT:-18194}
BACKEND=${BACKEND:-sqlite}
case $BACKEND in
  sqlite) tools=(wrk taskset curl python3) ;;
  postgres) tools=(wrk taskset curl python3 psql pgrep) ;;
  *) echo "$NAME: BACKEND must be sqlite or postgres, not $BACKEND" >&2; exit 2 ;;
esac
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "$NAME: $tool is missing (apt-get install wrk)" >&2; exit 2; }
done
HZ=$(getconf CLK_TCK)
export KEYPORT_LOG=warn
unset WRK_METHOD WRK_BODY WRK_AUTH WRK_RATE WRK_CONNS WRK_REFRESH_CHAINS WRK_REFRESH_EXTRA

cd "$ROOT"
if [[ -z ${NO_BUILD:-} ]]; then
  build_release
  timeout 1200 cargo bench --quiet --no-run -p keyport-bench --bench crypto 2>/dev/null ||
    { echo "$NAME: building the Criterion bench failed or took over 20 min" >&2; exit 1; }
fi
TARGET=$(target_dir)
KEYPORT=${KEYPORT_BIN:-$TARGET/release/keyport}
FLOOR=$TARGET/release/floor
RESULTS=${RESULTS:-$TARGET/targets-$(date -u +%Y%m%dT%H%M%S).jsonl}
: >"$RESULTS"

# sign_us: the mean of Criterion's es256_sign (KeySet::sign) over 3 s, in µs.
sign_us() {
  timeout 120 taskset -c 0 cargo bench --quiet -p keyport-bench --bench crypto -- --noplot --warm-up-time 1 \
    --measurement-time 3 '^es256_sign$' >/dev/null 2>&1 ||
    { echo "$NAME: Criterion's es256_sign failed" >&2; exit 1; }
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mean"]["point_estimate"] / 1000)' \
    "$TARGET/criterion/es256_sign/new/estimates.json"
}

# cpu_us PID URL WORK: "SERVER PG", the CPU µs a request (user + system) of the server PID and, with
# BACKEND=postgres, of PostgreSQL (else 0), over DURATION seconds of the request the WRK_* variables describe
# (wrk_cpu in lib.sh); fails on any error.
cpu_us() {
  local out
  out=$(wrk_cpu "$1" "$2" "$3") || { echo "$NAME: no measurement of $2" >&2; exit 1; }
  python3 -c '
import json, sys
d = json.loads(sys.argv[1])
if sum(d["errors"].values()):
    sys.exit("errors: " + json.dumps(d["errors"]))
r, hz = max(d["requests"], 1), int(sys.argv[2])
print((d["user_ticks"] + d["sys_ticks"]) / hz * 1e6 / r, d["pg_ticks"] / hz * 1e6 / r)
' "$out" "$HZ" || { echo "$NAME: $2 answered with errors" >&2; exit 1; }
}

# floor_rows: sets FLOOR_SIGN and FLOOR_POST, the floor's CPU µs a request of POST /sign and of the client-credential
# POST.
floor_rows() {
  local work pid out
  work=$(mktemp -d /tmp/keyport-targets.XXXXXX)
  taskset -c 0 "$FLOOR" "127.0.0.1:$PORT" >"$work/out" 2>&1 &
  pid=$!
  # shellcheck disable=SC2064 # expanded now
  trap "kill $pid 2>/dev/null || true; rm -rf '$work'" EXIT
  wait_for_line "$work/out" "floor listening on" 30
  export WRK_METHOD=POST WRK_AUTH=$BOT WRK_BODY=grant_type=client_credentials
  out=$(cpu_us "$pid" "http://127.0.0.1:$PORT/sign" "$work")
  read -r FLOOR_SIGN _ <<<"$out"
  out=$(cpu_us "$pid" "http://127.0.0.1:$PORT/token" "$work")
  read -r FLOOR_POST _ <<<"$out"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  rm -rf "$work"
  trap - EXIT
}

# keyport_rows: sets KP_CC and KP_INTROSPECT, a fresh keyport's CPU µs a request of ES256 client credentials and of
# an API-token introspection, and PG_CC and PG_INTROSPECT, PostgreSQL's beside them (0 on SQLite).
keyport_rows() {
  local work out
  ab_backend "keyport_targets_$$"
  work=$(mktemp -d /tmp/keyport-targets.XXXXXX)
  ab_serve "$KEYPORT" "$work" "$PORT" "${AB_DB[@]}"
  workload_request cc_es256 "http://127.0.0.1:$PORT" "$work" "$KEYPORT"
  export WRK_METHOD WRK_AUTH WRK_BODY
  out=$(cpu_us "$AB_PID" "$URL" "$work")
  read -r KP_CC PG_CC <<<"$out"
  workload_request introspect_api_token "http://127.0.0.1:$PORT" "$work" "$KEYPORT"
  export WRK_METHOD WRK_AUTH WRK_BODY
  out=$(cpu_us "$AB_PID" "$URL" "$work")
  read -r KP_INTROSPECT PG_INTROSPECT <<<"$out"
  ab_stop "$work"
  ab_drop
}

for ((round = 1; round <= ROUNDS; round++)); do
  SIGN=$(sign_us)
  if ((round % 2)); then floor_rows; keyport_rows; else keyport_rows; floor_rows; fi
  echo "{\"round\": $round, \"backend\": \"${BACKEND:-sqlite}\", \"sign_us\": $SIGN, \"floor_sign_us\": $FLOOR_SIGN," \
    "\"floor_post_us\": $FLOOR_POST, \"cc_us\": $KP_CC, \"introspect_us\": $KP_INTROSPECT," \
    "\"cc_pg_us\": $PG_CC, \"introspect_pg_us\": $PG_INTROSPECT}" >>"$RESULTS"
  echo "$NAME: round $round of $ROUNDS done" >&2
done

python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def show(label, values, fmt):
    print(f"{label:58} " + "  ".join(fmt(v) for v in values) + f"   median {fmt(statistics.median(values))}")
pct = lambda v: f"{v:5.1f}%"
us = lambda v: f"{v:5.1f}"
print(f"{len(rows)} rounds on {rows[0].get('backend', 'sqlite')} (raw: {sys.argv[1]})")
show("KeySet::sign, µs", [r["sign_us"] for r in rows], us)
show("signing floor, µs", [r["floor_sign_us"] for r in rows], us)
show("client credentials, ES256, µs", [r["cc_us"] for r in rows], us)
show("  share of KeySet::sign's rate (target >= 60%)", [100 * r["sign_us"] / r["cc_us"] for r in rows], pct)
show("  share of the signing floor's rate", [100 * r["floor_sign_us"] / r["cc_us"] for r in rows], pct)
show("  (the signing floor's share of KeySet::sign's)", [100 * r["sign_us"] / r["floor_sign_us"] for r in rows], pct)
show("POST floor, µs", [r["floor_post_us"] for r in rows], us)
show("API-token introspection, µs (target <= 15)", [r["introspect_us"] for r in rows], us)
show("  above the POST floor, µs", [r["introspect_us"] - r["floor_post_us"] for r in rows], us)
if rows[0].get("backend") == "postgres":
    if not any(r["introspect_pg_us"] for r in rows):
        print("(no CPU of a process named postgres was seen: is PG_URL another host's?)")
    show("PostgreSQL beside client credentials, µs", [r["cc_pg_us"] for r in rows], us)
    show("PostgreSQL beside introspection, µs", [r["introspect_pg_us"] for r in rows], us)
EOF
