#!/usr/bin/env bash
# Password logins (argon2id), two keyport binaries alternated: what a change to password hashing does, measured in
# pairs on the same host minutes apart (the host's speed drifts more than that between runs), in the order ABBA.
#
#   bash bench/password-ab.sh BASE_BINARY NEW_BINARY [PAIRS]     # default 3 pairs, DURATION=10 s each
#
# Each run starts a fresh keyport (bench/keyport.toml, an empty data dir, SQLite) pinned to core 0 and drives
# `grant_type=password` requests from wrk on core 1 over CONNS keep-alive connections (default 4, as run.sh's
# password row: with one core, one hash runs and the others wait for it).
# Prints one line per run: logins/s, p50/p99, the server's user and system CPU ms per login and its minor page
# faults per login (from /proc/PID/stat), the resident set at the end of the load and 2 s after it (what an idle
# server keeps).
# Not part of the test suite; needs wrk, taskset, curl, python3.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
NAME=password-ab
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
[[ $# -ge 2 ]] || { echo "usage: $0 BASE_BINARY NEW_BINARY [PAIRS]" >&2; exit 2; }
BASE=$1 NEW=$2 PAIRS=${3:-3}
DURATION=${DURATION:-10} CONNS=${CONNS:-4} PORT=${PORT:-18191}
OIDC="http://127.0.0.1:$PORT/realms/bench/protocol/openid-connect"
BODY=$PASSWORD_GRANT
HZ=$(getconf CLK_TCK)
export KEYPORT_LOG=warn

# minflt PID: the minor page faults of a process (all its threads).
minflt() { cut -d')' -f2- "/proc/$1/stat" | awk '{print $8}'; }

one() { # one LABEL BINARY
  local work pid u0 s0 f0 u1 s1 f1 out busy idle
  work=$(mktemp -d /tmp/keyport-password-ab.XXXXXX)
  ab_serve "$2" "$work" "$PORT"
  pid=$AB_PID
  curl -sf -o /dev/null -H "Authorization: $LEGACY" -d "$BODY" "$OIDC/token" # the user's hash read once
  read -r u0 s0 <<<"$(cpu_user_sys "$pid")"
  f0=$(minflt "$pid")
  out=$(WRK_METHOD=POST WRK_AUTH=$LEGACY WRK_BODY=$BODY \
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$BENCH/wrk.lua" "$OIDC/token")
  read -r u1 s1 <<<"$(cpu_user_sys "$pid")"
  f1=$(minflt "$pid")
  busy=$(rss_kb "$pid")
  sleep 2
  idle=$(rss_kb "$pid")
  ab_stop "$work"
  echo "$out" | grep '^WRKJSON ' | sed 's/^WRKJSON //' | python3 -c '
import json, sys
d = json.load(sys.stdin)
label = sys.argv[1]
du, ds, df, hz, busy, idle = map(int, sys.argv[2:8])
r = max(d["requests"], 1)
rate = d["requests"] / (d["duration_us"] / 1e6)
errors = sum(d["errors"].values())
p50, p99 = d["p50_us"] / 1000, d["p99_us"] / 1000
ms = lambda t: t / hz * 1e3 / r
print(f"{label:5} {rate:6.1f}/s  p50 {p50:5.1f} ms  p99 {p99:5.1f} ms"
      f"  CPU {ms(du):5.2f} user + {ms(ds):5.2f} sys ms/login  {df / r:6.0f} page faults/login"
      f"  RSS {busy / 1024:4.0f} MB loaded, {idle / 1024:4.0f} MB 2 s after  errors {errors}")
' "$1" $((u1 - u0)) $((s1 - s0)) $((f1 - f0)) "$HZ" "$busy" "$idle"
}

ab_pairs "$PAIRS" "$BASE" "$NEW"
