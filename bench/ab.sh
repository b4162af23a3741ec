#!/usr/bin/env bash
# One wrk-driven request, two keyport binaries alternated: what a change to a hot path (or a build setting) does,
# measured in pairs on the same host minutes apart (the host's speed drifts more than that between runs).
#
#   bash bench/ab.sh WORKLOAD BASE_BINARY NEW_BINARY [PAIRS]   # default 4 pairs, DURATION=8 s each, ABBA order
#   BACKEND=postgres bash bench/ab.sh WORKLOAD BASE NEW        # each run on a fresh PostgreSQL database
#
# WORKLOAD (run.sh's rows of the same names):
#   cc_es256              client credentials, ES256 access token (client bench-bot)
#   introspect_api_token  introspection of a personal API token of alice's, created through the admin API, by the
#                         resource server bench-rs (every use writes its audit row in the usage flush, in process)
#   introspect_jwt        introspection of a client-credential access token by bench-rs
#   discovery             GET the realm's discovery document
# Each run starts a fresh keyport (bench/keyport.toml, an empty data dir) pinned to core 0, warms up for 3 s, then
# drives the request from wrk on core 1 over CONNS keep-alive connections. Prints one line per run: requests/s,
# p99, and the server's user and system CPU µs per request (from /proc/PID/stat).
# With BACKEND=postgres (PG_URL, default postgres://postgres@127.0.0.1:5432, a server URL without a database path
# or query; PostgreSQL 13 or later) each run gets a database of its own, dropped after it even when the run fails,
# and the line adds the CPU of this host's PostgreSQL processes over the run, per request ("pg": every `postgres`
# process counts, so keep the host otherwise idle; PostgreSQL is not pinned, so compare such runs with each other,
# not with SQLite's).
# Not part of the test suite; needs wrk, taskset, curl, python3.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
NAME=${AB_NAME:-ab} # its name in messages (introspect-ab.sh sets its own)
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
[[ $# -ge 3 ]] || { echo "usage: $0 WORKLOAD BASE_BINARY NEW_BINARY [PAIRS]" >&2; exit 2; }
WORKLOAD=$1 BASE=$2 NEW=$3 PAIRS=${4:-4}
case $WORKLOAD in
  cc_es256 | introspect_api_token | introspect_jwt | discovery) ;;
  *) echo "$NAME: unknown workload $WORKLOAD (cc_es256, introspect_api_token, introspect_jwt, discovery)" >&2; exit 2 ;;
esac
DURATION=${DURATION:-8} CONNS=${CONNS:-64} PORT=${PORT:-18190}
KP="http://127.0.0.1:$PORT"
HZ=$(getconf CLK_TCK)
BACKEND=${BACKEND:-sqlite}
export KEYPORT_LOG=warn
# The request is this script's alone: none of wrk.lua's settings come from the caller's environment.
unset WRK_METHOD WRK_BODY WRK_AUTH WRK_RATE WRK_CONNS WRK_REFRESH_CHAINS WRK_REFRESH_EXTRA

one() { # one LABEL BINARY
  local work out URL WRK_METHOD WRK_AUTH WRK_BODY
  ab_backend "keyport_ab_$$"
  work=$(mktemp -d /tmp/keyport-ab.XXXXXX)
  ab_serve "$2" "$work" "$PORT" "${AB_DB[@]}"
  workload_request "$WORKLOAD" "$KP" "$work" "$2"
  export WRK_METHOD WRK_AUTH WRK_BODY
  out=$(wrk_cpu "$AB_PID" "$URL" "$work")
  ab_stop "$work"
  ab_drop
  python3 -c '
import json, sys
d = json.loads(sys.argv[3])
label, hz = sys.argv[1], int(sys.argv[2])
r = max(d["requests"], 1)
rate = d["requests"] / (d["duration_us"] / 1e6)
errors = sum(d["errors"].values())
us = lambda t: t / hz * 1e6 / r
du, ds, pg = d["user_ticks"], d["sys_ticks"], d["pg_ticks"]
p99 = d["p99_us"] / 1000
print(f"{label:5} {rate:7.0f}/s  p99 {p99:5.2f} ms  CPU {us(du):5.1f} user + {us(ds):5.1f} sys"
      f" = {us(du + ds):5.1f} us/request" + (f"  pg {us(pg):5.1f} us" if pg else "") + f"  errors {errors}")
' "$1" "$HZ" "$out"
}

ab_pairs "$PAIRS" "$BASE" "$NEW"
