#!/usr/bin/env bash
# Instructions per request of one workload, under valgrind's callgrind: repeatable whatever else the machine does
# (wall-clock figures on a shared machine are not), so each change on a hot path can be measured on its own.
#
#   bash bench/callgrind.sh WORKLOAD [SECONDS]
#
# WORKLOAD: floor-get, floor-post, floor-sign (the bare axum server of bench/micro/src/bin/floor.rs), discovery,
# cc_es256, introspect_api_token, refresh_rotate, password. The server (release build, bench/keyport.toml, SQLite)
# runs under callgrind; after a warm-up the counters are zeroed, wrk sends the workload's request on 4 connections
# for SECONDS (default 20), and the counters are dumped. Prints `WORKLOAD: N requests, I instructions/request` and
# leaves the profile in target/callgrind/WORKLOAD.profile (read it with `callgrind_annotate --inclusive=yes`).
# NO_BUILD=1 skips the build; BIN=DIR runs the binaries in DIR; the profile is named after WORKLOAD plus TAG.
# Instructions of the kernel (loopback TCP, futexes) are not counted: this measures user-space work only.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAME=callgrind
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
BENCH="$ROOT/bench"
WORKLOAD=${1:?usage: callgrind.sh WORKLOAD [SECONDS]}
SECONDS_=${2:-20}
PORT=${PORT:-18093}
for tool in valgrind callgrind_control wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "callgrind.sh: $tool is missing (apt-get install valgrind wrk)" >&2; exit 2; }
done

cd "$ROOT"
[[ -n "${NO_BUILD:-}" ]] || build_release
TARGET=$(target_dir)
BIN=${BIN:-$TARGET/release} # BIN=DIR: binaries kept from another build (to compare two commits)
OUT="$TARGET/callgrind"
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/keyport-callgrind.XXXXXX)
PID=
cleanup() {
  [[ -z $PID ]] || kill "$PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

CC="grant_type=client_credentials"
BASE="http://127.0.0.1:$PORT"
OIDC="$BASE/realms/bench/protocol/openid-connect"

NAME=$WORKLOAD${TAG:+-$TAG}
# Pinned to one core as in run.sh (so one tokio worker thread; valgrind runs the threads one at a time anyway).
# CALLGRIND_OPTS: more callgrind options, space-separated, e.g. `--cache-sim=yes` (simulated cache misses: they are
# in the profile's `summary:` line, in its `events:` order; the printed figure stays instructions a request; set TAG
# to keep such a profile apart; not --callgrind-out-file or --combine-dumps, which this script relies on).
read -r -a CG_OPTS <<<"${CALLGRIND_OPTS:-}"
VG=(taskset -c "${SERVER_CPU:-0}" valgrind --tool=callgrind --callgrind-out-file="$OUT/$NAME.out" --dump-line=no
  "${CG_OPTS[@]}")
case $WORKLOAD in
  floor-*) "${VG[@]}" "$BIN/floor" "127.0.0.1:$PORT" >"$WORK/server.out" 2>"$WORK/server.err" & ;;
  *) KEYPORT_LOG=warn "${VG[@]}" "$BIN/keyport" serve --config "$BENCH/keyport.toml" \
       --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/server.out" 2>"$WORK/server.err" & ;;
esac
PID=$!
for _ in $(seq 600); do
  curl -sf -o /dev/null "$BASE/health/live" 2>/dev/null && break # the floor answers any path
  sleep 0.2
done

export WRK_METHOD=POST
URL=
case $WORKLOAD in
  floor-get) WRK_METHOD=GET; URL="$BASE/health" ;;
  floor-post) export WRK_AUTH=$BOT WRK_BODY=$CC; URL="$BASE/token" ;;
  floor-sign) export WRK_AUTH=$BOT WRK_BODY=$CC; URL="$BASE/sign" ;; # one ES256 signature, a token response
  discovery) WRK_METHOD=GET; URL="$BASE/realms/bench/.well-known/openid-configuration" ;;
  cc_es256) export WRK_AUTH=$BOT WRK_BODY=$CC; URL="$OIDC/token" ;;
  introspect_api_token)
    TOKEN=$(alice_api_token "$BASE")
    export WRK_AUTH=$RS WRK_BODY="token=$TOKEN"; URL="$OIDC/token/introspect" ;;
  password)
    # The password grant: one argon2id verification a request (~0.3 s of callgrind's time a login, ~1 s of latency
    # on 4 connections: run it for 30 s or more).
    export WRK_AUTH=$LEGACY WRK_BODY=$PASSWORD_GRANT
    URL="$OIDC/token" ;;
  refresh_rotate)
    # 8 chains for the warm-up, 8 others for the measured run (a rotated token cannot be presented again).
    for i in $(seq 16); do
      curl -sf -H "Authorization: $LEGACY" -d "$PASSWORD_GRANT" \
        "$OIDC/token" | json_field refresh_token
    done >"$WORK/chains"
    head -8 "$WORK/chains" >"$WORK/chains.warm"
    tail -8 "$WORK/chains" >"$WORK/chains.run"
    export WRK_AUTH=$LEGACY WRK_REFRESH_CHAINS="$WORK/chains.warm"; URL="$OIDC/token" ;;
  *) echo "callgrind.sh: unknown workload $WORKLOAD" >&2; exit 2 ;;
esac

wrk -t1 -c4 -d"${WARMUP:-5}s" --timeout 30s -s "$BENCH/wrk.lua" "$URL" >/dev/null
[[ $WORKLOAD != refresh_rotate ]] || export WRK_REFRESH_CHAINS="$WORK/chains.run"
callgrind_control -z "$PID" >/dev/null
out=$(wrk -t1 -c4 -d"${SECONDS_}s" --timeout 30s -s "$BENCH/wrk.lua" "$URL")
callgrind_control -d "$PID" >/dev/null
requests=$(echo "$out" | sed -n 's/^WRKJSON //p' | python3 -c 'import json,sys; d=json.load(sys.stdin); assert sum(d["errors"].values()) == 0, d; print(d["requests"])')
# The dump after zeroing is the second file callgrind writes: NAME.out.1 (or NAME.out when dumps are numbered so).
dump=$(ls -t "$OUT/$NAME.out"* | head -1)
ir=$(grep -m1 '^summary:' "$dump" | awk '{print $2}')
mv "$dump" "$OUT/$NAME.profile"
python3 -c 'import sys; w, n, ir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]); print(f"{w}: {n} requests, {ir / n:,.0f} instructions/request")' \
  "$NAME" "$requests" "$ir"
