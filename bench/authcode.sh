#!/usr/bin/env bash
# The browser-flow rows of bench/run.sh (issue 15), runnable on their own: the authorization code flow with PKCE
# S256 as browsers run it (keyport next to oidc-provider), the same with a password sign-in each time (keyport), and
# sign-in through an upstream provider (keyport brokering a second keyport). Driven by keyport-bench's `authcode`
# (bench/micro/src/bin/authcode.rs): BROWSERS virtual browsers, each with its own cookies and connections, run whole
# flows for DURATION seconds after a WARMUP-second start that is not counted.
#
#   bash bench/authcode.sh                                  # build, then the four rows, 10 s each (~1.5 minutes)
#   DURATION=5 PEER=0 bash bench/authcode.sh                # quicker, keyport only
#   BACKEND=postgres bash bench/authcode.sh                 # keyport on a fresh PostgreSQL database (PG_URL)
#
# Rows (JSON lines of kind `load`, like run.sh's, with `flow: true`; a "request" there is one whole flow):
#   keyport authcode_pkce           signed in once (one password sign-in per browser, in the warm-up): GET
#                                   /auth → redirect with the code → POST /token with the verifier
#   keyport authcode_pkce_password  a browser new to keyport each time: /auth → sign-in page → POST the password
#                                   (argon2id) → /auth → code → /token (PASSWORD_BROWSERS browsers)
#   keyport federation              a browser new to keyport but signed in at the upstream keyport: /auth →
#                                   sign-in page → "Sign in with Upstream" → upstream /auth → the broker endpoint
#                                   (which redeems the upstream's code server to server) → /auth → code → /token
#   peer authcode_pkce              oidc-provider, its client bench-spa, signed in once (bench/peer/server.mjs)
# Server CPU per flow is the server's utime+stime (/proc/PID/stat) over the measured window ÷ the flows counted
# in it; the federation row also gives the upstream's (`upstream_cpu_us`). Every server is pinned to SERVER_CPU
# (the upstream too, UPSTREAM_CPU: both count against one core), the driver to LOAD_CPU. The upstream keyport
# always runs on SQLite; BACKEND chooses the measured keyport's store. The bench realm's rate limits and
# password-attempt bound are raised in bench/keyport.toml, the upstream's in bench/keyport-upstream.toml.
#
# bench/run.sh calls this with AUTHCODE_FROM_RUN=1 and its KEYPORT, AUTHCODE, PEER_DIR and RESULTS: no build, no
# npm install, rows appended to its results file, no table printed here.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
NAME=authcode
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
BROWSERS=${BROWSERS:-16}
PASSWORD_BROWSERS=${PASSWORD_BROWSERS:-4}
SERVER_CPU=${SERVER_CPU:-0}
UPSTREAM_CPU=${UPSTREAM_CPU:-$SERVER_CPU}
LOAD_CPU=${LOAD_CPU:-1}
BACKEND=${BACKEND:-sqlite}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PEER=${PEER:-1}
PEER_VERSION=${PEER_VERSION:-9.13.3}
KP_PORT=${AUTHCODE_PORT:-18093}
UP_PORT=${UPSTREAM_PORT:-18094}
PEER_PORT=${PEER_PORT:-18091}
FROM_RUN=${AUTHCODE_FROM_RUN:-0}
START=$(date +%s)

WORK=$(mktemp -d /tmp/keyport-authcode.XXXXXX)
PIDS=()
KP_DB=()
DB_NAME=
if [[ $BACKEND == postgres ]]; then
  DB_NAME="keyport_authcode_$$"
  psql -q "$PG_URL/postgres" -c "CREATE DATABASE $DB_NAME" >/dev/null
  KP_DB=(--database-url "$PG_URL/$DB_NAME")
fi
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -z $DB_NAME ]] || psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null || true
  [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '[authcode %4ss] %s\n' "$(($(date +%s) - START))" "$*" >&2; }

if ((FROM_RUN)); then
  : "${KEYPORT:?}" "${AUTHCODE:?}" "${RESULTS:?}"
  PEER_DIR=${PEER_DIR:-}
else
  for tool in cargo node npm taskset python3; do
    command -v "$tool" >/dev/null || { echo "authcode: $tool is missing" >&2; exit 2; }
  done
  log "building keyport and the bench tools (release)"
  cd "$ROOT"
  build_release
  TARGET=$(target_dir)
  KEYPORT="$TARGET/release/keyport"
  AUTHCODE="$TARGET/release/authcode"
  RESULTS="$WORK/results.jsonl"
  : >"$RESULTS"
  PEER_DIR=
  if ((PEER)); then
    log "installing oidc-provider@$PEER_VERSION into $WORK/peer"
    PEER_DIR="$WORK/peer"
    install_peer "$PEER_DIR" "$PEER_VERSION"
  fi
fi

# run_flows SERVER WORKLOAD SERVER_PID AUTHCODE_ARGS...: one row from the driver's JSON
run_flows() {
  local server=$1 workload=$2 pid=$3
  shift 3
  taskset -c "$LOAD_CPU" "$AUTHCODE" --seconds "$DURATION" --warmup "$WARMUP" --server-pid "$pid" "$@" >"$WORK/flows.json"
  python3 - "$WORK/flows.json" "$server" "$workload" "$(rss_kb "$pid")" >>"$RESULTS" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
row = {"kind": "load", "server": sys.argv[2], "workload": sys.argv[3], "flow": True, "requests": d["flows"],
       "rps": d["per_s"], "p50_ms": d["p50_ms"], "p99_ms": d["p99_ms"], "cpu_us": d["server_cpu_us"],
       "errors": d["errors"], "error_kinds": d["error_kinds"], "rss_mb": int(sys.argv[4]) / 1024,
       "conns": d["browsers"], "offered": None, "requests_per_flow": d["requests_per_flow"],
       "sign_ins": d["sign_ins"]}
if "upstream_cpu_us" in d:
    row["upstream_cpu_us"] = d["upstream_cpu_us"]
print(json.dumps(row))
EOF
  log "  $server $workload: $(tail -1 "$RESULTS" | python3 -c '
import json, sys
d = json.load(sys.stdin)
up = " + %.0f µs upstream" % d["upstream_cpu_us"] if "upstream_cpu_us" in d else ""
print("%.0f flows/s, p50 %.2f ms, p99 %.2f ms, %.0f µs CPU/flow%s, %.1f requests/flow, %d errors %s" % (d["rps"],
  d["p50_ms"], d["p99_ms"], d["cpu_us"], up, d["requests_per_flow"], d["errors"], d["error_kinds"] or ""))')"
}

CB="http://127.0.0.1/cb"
export KEYPORT_LOG=warn

# --- keyport, with an upstream keyport for the federation row ----------------------------------------------------
log "upstream keyport on core $UPSTREAM_CPU (SQLite), keyport on core $SERVER_CPU ($BACKEND)"
taskset -c "$UPSTREAM_CPU" "$KEYPORT" serve --config "$BENCH/keyport-upstream.toml" --listen "127.0.0.1:$UP_PORT" \
  --data-dir "$WORK/up-data" >"$WORK/upstream.out" 2>"$WORK/upstream.err" &
UP_PID=$!
PIDS+=("$UP_PID")
wait_for_line "$WORK/upstream.out" "keyport listening on" 30
{
  cat "$BENCH/keyport.toml"
  cat <<EOF

# Appended by bench/authcode.sh: the upstream keyport of the federation row (bench/keyport-upstream.toml).
[[realms.identity_providers]]
alias = "upstream"
display_name = "Upstream"
issuer = "http://127.0.0.1:$UP_PORT/realms/upstream"
client_id = "bench-broker"
client_secret = "bench-broker-secret-0123456789abcdef0123456789abcdef"
EOF
} >"$WORK/keyport.toml"
taskset -c "$SERVER_CPU" "$KEYPORT" serve --config "$WORK/keyport.toml" --listen "127.0.0.1:$KP_PORT" \
  --data-dir "$WORK/kp-data" "${KP_DB[@]}" >"$WORK/keyport.out" 2>"$WORK/keyport.err" &
KP_PID=$!
PIDS+=("$KP_PID")
wait_for_line "$WORK/keyport.out" "keyport listening on" 30
KP="http://127.0.0.1:$KP_PORT"
OIDC="$KP/realms/bench/protocol/openid-connect"
KP_FLOW=(--authorize "$OIDC/auth" --token "$OIDC/token" --client-id bench-spa --redirect-uri "$CB")

run_flows keyport authcode_pkce "$KP_PID" "${KP_FLOW[@]}" --browsers "$BROWSERS" \
  --username alice --password bench-alice-password
run_flows keyport authcode_pkce_password "$KP_PID" "${KP_FLOW[@]}" --browsers "$PASSWORD_BROWSERS" \
  --username alice --password bench-alice-password --fresh-origin "$KP"
run_flows keyport federation "$KP_PID" "${KP_FLOW[@]}" --browsers "$BROWSERS" --upstream-pid "$UP_PID" \
  --broker upstream --fresh-origin "$KP" --username carol --password bench-carol-password
kill "$KP_PID" "$UP_PID"
wait "$KP_PID" "$UP_PID" 2>/dev/null || true

# --- the peer ----------------------------------------------------------------------------------------------------
if ((PEER)); then
  log "oidc-provider on core $SERVER_CPU"
  NODE_ENV=production PORT=$PEER_PORT taskset -c "$SERVER_CPU" node "$PEER_DIR/server.mjs" \
    >"$WORK/peer.out" 2>"$WORK/peer.err" &
  PEER_PID=$!
  PIDS+=("$PEER_PID")
  wait_for_line "$WORK/peer.out" "oidc-provider listening on" 30
  PEER_URL="http://127.0.0.1:$PEER_PORT"
  run_flows peer authcode_pkce "$PEER_PID" --authorize "$PEER_URL/auth" --token "$PEER_URL/token" \
    --client-id bench-spa --redirect-uri "$CB" --browsers "$BROWSERS"
  kill "$PEER_PID"
  wait "$PEER_PID" 2>/dev/null || true
fi

if ! ((FROM_RUN)); then
  cp "$RESULTS" "$TARGET/bench-authcode-$BACKEND.jsonl"
  log "done in $(($(date +%s) - START)) s; raw results: $TARGET/bench-authcode-$BACKEND.jsonl"
  python3 "$BENCH/report.py" "$RESULTS" --flows-only
fi
