#!/usr/bin/env bash
# API-token introspection on SQLite, two keyport binaries alternated: what a change to the introspection path or
# the usage flush does, measured in pairs on the same host minutes apart (as bench/refresh-ab.sh for refreshes).
#
#   bash bench/introspect-ab.sh BASE_BINARY NEW_BINARY [PAIRS]     # default 4 pairs, DURATION=8 s each
#   BACKEND=postgres bash bench/introspect-ab.sh BASE NEW             # each run on a fresh PostgreSQL database
#
# Each run starts a fresh keyport (bench/keyport.toml, an empty data dir) pinned to core 0, creates a personal
# API token of alice's through the admin API (as run.sh's introspect_api_token row), warms up for 3 s, then
# introspects it from wrk on core 1 over CONNS keep-alive connections, authenticated as the resource server
# bench-rs. Prints one line per run: introspections/s, p99, and the server's user and system CPU µs per request
# (from /proc/PID/stat; every use's audit row is written by the usage flush inside that process, so it counts).
# With BACKEND=postgres (PG_URL, default postgres://postgres@127.0.0.1:5432, a server URL without a database path
# or query; PostgreSQL 13 or later) each run gets a database of its own, dropped after it even when the run fails,
# and the line adds the CPU of this host's PostgreSQL processes over the run, per introspection ("pg": every
# `postgres` process counts, so keep the host otherwise idle; PostgreSQL is not pinned, so compare such runs with
# each other, not with SQLite's).
# Not part of the test suite; needs wrk, taskset, curl, python3.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
NAME=introspect-ab
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
[[ $# -ge 2 ]] || { echo "usage: $0 BASE_BINARY NEW_BINARY [PAIRS]" >&2; exit 2; }
BASE=$1 NEW=$2 PAIRS=${3:-4}
DURATION=${DURATION:-8} CONNS=${CONNS:-64} PORT=${PORT:-18190}
KP="http://127.0.0.1:$PORT"
OIDC="$KP/realms/bench/protocol/openid-connect"
RS=$(basic bench-rs bench-rs-secret-0123456789abcdef0123456789abcdef)
ADMIN=$(basic bench-admin bench-admin-secret-0123456789abcdef0123456789abcdef)
HZ=$(getconf CLK_TCK)
BACKEND=${BACKEND:-sqlite}
export KEYPORT_LOG=warn

one() { # one LABEL BINARY
  local work token at u0 s0 u1 s1 pg=0 out
  ab_backend "keyport_introspect_ab_$$"
  work=$(mktemp -d /tmp/keyport-introspect-ab.XXXXXX)
  ab_serve "$2" "$work" "$PORT" "${AB_DB[@]}"
  fail() { echo "$NAME: $1 failed against $2; the server said:" >&2; tail -n 5 "$work/err" >&2; exit 1; }
  out=$(curl -sSf -H "Authorization: $ADMIN" \
    -d "$PASSWORD_GRANT&scope=admin" "$OIDC/token") ||
    fail "the admin's password grant" "$2"
  at=$(json_field access_token <<<"$out")
  out=$(curl -sSf -H "Authorization: Bearer $at" -H 'Content-Type: application/json' -d '{"name":"bench"}' \
    "$KP/admin/realms/bench/tokens") || fail "creating an API token" "$2"
  token=$(json_field token <<<"$out")
  out=$(curl -sSf -H "Authorization: $RS" --data-urlencode "token=$token" "$OIDC/token/introspect") ||
    fail "introspection" "$2"
  grep -q '"active":true' <<<"$out" || fail "introspection (the token is not active)" "$2"
  WRK_CONNS=$CONNS WRK_METHOD=POST WRK_AUTH=$RS WRK_BODY="token=$token" \
    taskset -c 1 wrk -t1 -c"$CONNS" -d3s -s "$BENCH/wrk.lua" "$OIDC/token/introspect" >/dev/null
  read -r u0 s0 <<<"$(cpu_user_sys "$AB_PID")"
  [[ $BACKEND != postgres ]] || cpu_snapshot postgres "$work/pg-cpu"
  out=$(WRK_CONNS=$CONNS WRK_METHOD=POST WRK_AUTH=$RS WRK_BODY="token=$token" \
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$BENCH/wrk.lua" "$OIDC/token/introspect")
  read -r u1 s1 <<<"$(cpu_user_sys "$AB_PID")"
  [[ $BACKEND != postgres ]] || pg=$(cpu_since postgres "$work/pg-cpu")
  ab_stop "$work"
  ab_drop
  echo "$out" | grep '^WRKJSON ' | sed 's/^WRKJSON //' | python3 -c '
import json, sys
d = json.load(sys.stdin)
label = sys.argv[1]
du, ds, hz, pg = map(int, sys.argv[2:6])
r = max(d["requests"], 1)
rate = d["requests"] / (d["duration_us"] / 1e6)
errors = sum(d["errors"].values())
us = lambda t: t / hz * 1e6 / r
p99 = d["p99_us"] / 1000
print(f"{label:5} {rate:7.0f}/s  p99 {p99:5.2f} ms  CPU {us(du):5.1f} user + {us(ds):5.1f} sys"
      f" = {us(du + ds):5.1f} us/introspection" + (f"  pg {us(pg):5.1f} us" if pg else "") + f"  errors {errors}")
' "$1" $((u1 - u0)) $((s1 - s0)) "$HZ" "$pg"
}

for ((i = 1; i <= PAIRS; i++)); do
  one base "$BASE"
  one new "$NEW"
done
