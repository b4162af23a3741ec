#!/usr/bin/env bash
# Refresh rotations, two keyport binaries alternated: what a change to the refresh path or the store does,
# measured in pairs on the same host minutes apart (the host's speed drifts more than that between runs).
#
#   bash bench/refresh-ab.sh BASE_BINARY NEW_BINARY [PAIRS]     # default 4 pairs, DURATION=10 s each
#   BACKEND=postgres bash bench/refresh-ab.sh BASE NEW           # each run on a fresh PostgreSQL database
#
# Each run starts a fresh keyport (bench/keyport.toml, an empty data dir) pinned to core 0, makes CHAINS password
# logins (default 2×CONNS), warms up on half of the chains for 3 s, then drives refresh_token grants with strict
# rotation (ES256 ID tokens, as run.sh's refresh_rotate row) from wrk on core 1 over CONNS keep-alive connections on
# the other half (each request rotates the chain that waited longest: more chains than connections means more
# sessions being refreshed at once).
# Prints one line per run: refreshes/s, p50/p99, the server's user and system CPU µs per refresh (from
# /proc/PID/stat), voluntary context switches per refresh (summed over the threads alive at the start and end:
# approximate; the involuntary ones are not counted), the size the WAL file reached and the bytes the server
# wrote per refresh (`wchar` of /proc/PID/io: mostly WAL frames and checkpoint copies). With BACKEND=postgres
# (PG_URL as in bench/lib.sh's ab_backend) each run gets a database of its own, dropped after it even when the run
# fails, and the line gives, instead of keyport's WAL and bytes, the CPU of this host's PostgreSQL processes per
# refresh ("pg": every `postgres` process counts, so keep the host otherwise idle), the bytes of WAL PostgreSQL
# wrote per refresh (the whole cluster's, from pg_current_wal_lsn) and the share of refresh_tokens' row updates (a
# rotation marking its parent used) that PostgreSQL made HOT, without new index entries.
# Not part of the test suite; needs wrk, taskset, curl, python3.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
NAME=refresh-ab
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
[[ $# -ge 2 ]] || { echo "usage: $0 BASE_BINARY NEW_BINARY [PAIRS]" >&2; exit 2; }
BASE=$1 NEW=$2 PAIRS=${3:-4}
DURATION=${DURATION:-10} CONNS=${CONNS:-64} CHAINS=${CHAINS:-$((2 * CONNS))} PORT=${PORT:-18190} BACKEND=${BACKEND:-sqlite}
OIDC="http://127.0.0.1:$PORT/realms/bench/protocol/openid-connect"
HZ=$(getconf CLK_TCK)
export KEYPORT_LOG=warn

# counters PID: the server's user and system CPU (clock ticks), voluntary context switches (summed over the threads
# alive now) and bytes written (`wchar`): "UTIME STIME SWITCHES WCHAR".
counters() {
  echo "$(cpu_user_sys "$1")" \
    "$(awk '/^voluntary_ctxt_switches/{s+=$2} END{print s}' /proc/"$1"/task/*/status)" \
    "$(awk '/^wchar/{print $2}' /proc/"$1"/io)"
}

one() { # one LABEL BINARY
  local work pid u0 s0 c0 w0 u1 s1 c1 w1 out wal pg=0 hot=-1 lsn
  ab_backend "keyport_refresh_ab_$$"
  work=$(mktemp -d /tmp/keyport-refresh-ab.XXXXXX)
  ab_serve "$2" "$work" "$PORT" "${AB_DB[@]}"
  pid=$AB_PID
  mkdir -p "$work/logins"
  seq "$CHAINS" | xargs -P 4 -I{} curl -sf -o "$work/logins/{}.json" -H "Authorization: $LEGACY" \
    -d "$PASSWORD_GRANT" "$OIDC/token"
  python3 -c 'import json,sys; [print(json.load(open(f))["refresh_token"]) for f in sys.argv[1:]]' "$work"/logins/*.json >"$work/chains"
  split -n "l/2" -d "$work/chains" "$work/chains."
  WRK_CONNS=$CONNS WRK_AUTH=$LEGACY WRK_REFRESH_CHAINS="$work/chains.00" \
    taskset -c 1 wrk -t1 -c"$CONNS" -d3s -s "$BENCH/wrk.lua" "$OIDC/token" >/dev/null
  read -r u0 s0 c0 w0 <<<"$(counters "$pid")"
  if [[ $BACKEND == postgres ]]; then
    cpu_snapshot postgres "$work/pg-cpu"
    lsn=$(psql -qtA "${AB_DB[1]}" -c "SELECT pg_current_wal_lsn()")
  fi
  out=$(WRK_CONNS=$CONNS WRK_AUTH=$LEGACY WRK_REFRESH_CHAINS="$work/chains.01" \
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$BENCH/wrk.lua" "$OIDC/token")
  read -r u1 s1 c1 w1 <<<"$(counters "$pid")"
  wal=$(stat -c %s "$work/data/keyport.db-wal" 2>/dev/null || echo 0) # before the stop, which removes the WAL
  if [[ $BACKEND == postgres ]]; then
    pg=$(cpu_since postgres "$work/pg-cpu")
    w0=0 w1=$(psql -qtA "${AB_DB[1]}" -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn')::bigint")
  fi
  ab_stop "$work"
  if [[ $BACKEND == postgres ]]; then # after the stop: an exiting backend hands in its statistics
    pg_sessions_gone "${AB_DB[1]}"
    hot=$(psql -qtA "${AB_DB[1]}" -c "SELECT COALESCE((SELECT round(100.0 * n_tup_hot_upd / NULLIF(n_tup_upd, 0))
      FROM pg_stat_user_tables WHERE relname = 'refresh_tokens'), -1)")
  fi
  ab_drop
  echo "$out" | grep '^WRKJSON ' | sed 's/^WRKJSON //' | python3 -c '
import json, sys
d = json.load(sys.stdin)
label = sys.argv[1]
du, ds, dc, hz, wal, pg, hot, dw = map(int, sys.argv[2:10])
r = max(d["requests"], 1)
rate = d["requests"] / (d["duration_us"] / 1e6)
p50, p99 = d["p50_us"] / 1000, d["p99_us"] / 1000
errors = sum(d["errors"].values())
us = lambda t: t / hz * 1e6 / r
print(f"{label:5} {rate:7.0f}/s  p50 {p50:5.1f} ms  p99 {p99:5.1f} ms  CPU {us(du):5.1f} user + {us(ds):5.1f} sys us/refresh"
      f"  ctx switches {dc / r:4.2f}/refresh  errors {errors}"
      + (f"  pg {us(pg):5.1f} us/refresh  WAL {dw / r / 1024:4.1f} KiB/refresh  HOT {hot}% of updates" if pg else f"  WAL {wal / 2**20:.0f} MB  wrote {dw / r / 1024:4.1f} KiB/refresh"))
' "$1" $((u1 - u0)) $((s1 - s0)) $((c1 - c0)) "$HZ" "$wal" "$pg" "$hot" $((w1 - w0))
}

for ((i = 1; i <= PAIRS; i++)); do
  one base "$BASE"
  one new "$NEW"
done
