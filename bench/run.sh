#!/usr/bin/env bash
# keyport next to oidc-provider (the OpenID Certified Node.js server), in one run on one machine, and next to the
# physical limit (Criterion micro-benchmarks of the server's own signing and hashing code).
#
#   bash bench/run.sh                      # the whole run, ~12 minutes; prints one table
#   DURATION=5 DEVICES=2000 bash bench/run.sh   # a quicker, rougher run
#   BACKEND=postgres PEER=0 LIMITS=0 bash bench/run.sh
#                                          # keyport alone on a fresh PostgreSQL database (PG_URL, default
#                                          # postgres://postgres@127.0.0.1:5432), no peer, no micro-benchmarks
#   KEYPORT_BIN=target/pgo/keyport bash bench/run.sh
#                                          # another keyport binary (e.g. bench/pgo.sh's); the bench tools and
#                                          # the floor are still this checkout's release build
# The raw results are copied to target/bench-results-BACKEND.jsonl (RESULTS_COPY=FILE: there instead).
#
# Each server runs pinned to one core (SERVER_CPU, default 0); wrk drives it from the other (LOAD_CPU, default 1)
# with CONNS keep-alive connections over loopback. For every workload: a WARMUP-second run that is not counted,
# then a DURATION-second run over which the server's utime+stime (from /proc/PID/stat) is divided by the
# requests served: server CPU µs per request, which stays fair when the load generator is the bottleneck.
# The browser-flow rows (authorization code + PKCE, federation) come from bench/authcode.sh, which also runs alone.
# Needs: cargo, node + npm unless PEER=0 (oidc-provider is installed from npm into a temporary folder), wrk,
# taskset, curl, python3, and psql for BACKEND=postgres.
# Not part of the test suite; nothing here asserts. See BENCHMARKS.md for the figures and what limits them.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
NAME=bench
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNS=${CONNS:-64}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
DEVICES=${DEVICES:-10000}
DEVICE_SECONDS=${DEVICE_SECONDS:-30}
FIXED_RATE=${FIXED_RATE:-1000}
PEER_VERSION=${PEER_VERSION:-9.13.3}
APPROVALS=${APPROVALS:-2000}
BACKEND=${BACKEND:-sqlite}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PEER=${PEER:-1}
LIMITS=${LIMITS:-1}
KP_PORT=${KP_PORT:-18090}
PEER_PORT=${PEER_PORT:-18091}
FLOOR_PORT=${FLOOR_PORT:-18092}
START=$(date +%s)

TOOLS=(cargo wrk taskset python3 curl)
if ((PEER)); then TOOLS+=(node npm); fi
[[ $BACKEND != postgres ]] || TOOLS+=(psql)
for tool in "${TOOLS[@]}"; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (wrk: apt-get install wrk)" >&2; exit 2; }
done
# A relative KEYPORT_BIN names a file from where the script was started (the script changes directory below).
[[ -z ${KEYPORT_BIN:-} ]] || KEYPORT_BIN=$(realpath -m "$KEYPORT_BIN")

WORK=$(mktemp -d /tmp/keyport-bench.XXXXXX)
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
PIDS=()
KP_DB=()
DB_NAME="keyport_bench_$$"
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ $BACKEND != postgres ]] || psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null || true
  [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$WORK"
}
trap cleanup EXIT
if [[ $BACKEND == postgres ]]; then
  psql -q "$PG_URL/postgres" -c "CREATE DATABASE $DB_NAME" >/dev/null
  KP_DB=(--database-url "$PG_URL/$DB_NAME")
fi

log() { printf '[bench %4ss] %s\n' "$(($(date +%s) - START))" "$*" >&2; }
record() { echo "$1" >>"$RESULTS"; }

# --- build -------------------------------------------------------------------------------------------------------
log "building keyport and the bench tools (release)"
cd "$ROOT"
build_release
if ((LIMITS)); then
  timeout 1200 cargo bench --quiet --no-run -p keyport-bench --bench crypto 2>/dev/null ||
    { echo "run.sh: building the Criterion bench failed or took over 20 min" >&2; exit 1; }
fi
TARGET=$(target_dir)
KEYPORT=${KEYPORT_BIN:-$TARGET/release/keyport}
[[ -x $KEYPORT ]] || { echo "run.sh: KEYPORT_BIN=$KEYPORT is not an executable" >&2; exit 2; }
KBENCH="$TARGET/release/keyport-bench"
FLOOR="$TARGET/release/floor"

if ((PEER)); then
  log "installing oidc-provider@$PEER_VERSION into $WORK/peer"
  install_peer "$WORK/peer" "$PEER_VERSION"
fi

# --- the physical limit ------------------------------------------------------------------------------------------
if ((LIMITS)); then
log "criterion: ES256/RS256/EdDSA signing, ES256 verification, SHA-256, argon2id on core $SERVER_CPU"
timeout 300 taskset -c "$SERVER_CPU" cargo bench --quiet -p keyport-bench --bench crypto -- --noplot >"$WORK/criterion.txt" 2>&1
python3 - "$TARGET/criterion" >>"$RESULTS" <<'EOF'
import json, os, sys
root = sys.argv[1]
for name in ["es256_sign", "rs256_sign", "eddsa_sign", "es256_verify", "sha256_token_hash", "refresh_token_key",
             "slow/argon2id_verify"]:
    with open(os.path.join(root, name, "new", "estimates.json")) as f:
        ns = json.load(f)["mean"]["point_estimate"]
    print(json.dumps({"kind": "limit", "name": name.split("/")[-1], "ns": ns, "per_s": 1e9 / ns}))
EOF
if command -v openssl >/dev/null; then
  log "openssl speed (the issue's reference for the signing limit) on core $SERVER_CPU"
  taskset -c "$SERVER_CPU" openssl speed -seconds 2 ecdsap256 rsa2048 ed25519 2>/dev/null | python3 -c '
import json, sys
names = {"nistp256": "ecdsa_p256", "Ed25519": "ed25519", "rsa 2048": "rsa2048"}
for line in sys.stdin:
    for key, name in names.items():
        if key in line and line.split()[-1][0].isdigit():
            sign, verify = map(float, line.split()[-2:])
            print(json.dumps({"kind": "openssl", "name": name, "sign_per_s": sign, "verify_per_s": verify}))
' >>"$RESULTS" || true
fi
# One thread, and four (as many as the password row's connections): with four, hashes wait for the core as the
# server's do, and a finished hash hands its work area to the next one (crypto::HashGate).
for threads in 1 4; do
  log "raw argon2id rate (keyport-bench argon2-rate, 5 s, $threads thread(s) on core $SERVER_CPU)"
  record "$(taskset -c "$SERVER_CPU" "$KBENCH" argon2-rate 5 "$threads" | python3 -c 'import json,sys; d=json.load(sys.stdin); d["kind"]="argon2"; print(json.dumps(d))')"
done
fi

# --- helpers -----------------------------------------------------------------------------------------------------
cpu_ticks() { # utime+stime of a process (all its threads), in clock ticks
  local u s
  read -r u s <<<"$(cpu_user_sys "$1")"
  echo $((u + s))
}
HZ=$(getconf CLK_TCK)
CORES=$(nproc)
SERVER_PID=
# CPU of the database's processes (PostgreSQL only: SQLite runs inside keyport) and of the whole machine, in
# clock ticks: with them a row says where the rest of the machine's time per request went.
db_ticks() {
  local t=0 p
  if [[ $BACKEND == postgres ]]; then
    for p in $(pgrep -x postgres); do t=$((t + $(cpu_ticks "$p" 2>/dev/null || echo 0))); done
  fi
  echo "$t"
}
machine_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }

# warm URL [CONNS]: an uncounted WARMUP-second run (JIT, caches, connection set-up)
warm() {
  local conns=${2:-$CONNS}
  if ((WARMUP > 0)); then
    WRK_CONNS=$conns taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${WARMUP}s" --timeout 10s -s "$BENCH/wrk.lua" "$1" >/dev/null
  fi
}

# run_wrk SERVER WORKLOAD URL [CONNS]: a warm-up (unless NO_WARMUP), then the measured run; env WRK_* configures
# the request (see wrk.lua)
run_wrk() {
  local server=$1 workload=$2 url=$3 conns=${4:-$CONNS} out c0 c1 d0 d1 m0 m1 rss
  [[ -n "${NO_WARMUP:-}" ]] || warm "$url" "$conns"
  c0=$(cpu_ticks "$SERVER_PID") d0=$(db_ticks) m0=$(machine_ticks)
  out=$(WRK_CONNS=$conns taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${DURATION}s" --timeout 10s -s "$BENCH/wrk.lua" "$url")
  c1=$(cpu_ticks "$SERVER_PID") d1=$(db_ticks) m1=$(machine_ticks)
  rss=$(rss_kb "$SERVER_PID")
  echo "$out" | grep '^WRKJSON ' | sed 's/^WRKJSON //' | python3 -c '
import json, sys
d = json.load(sys.stdin)
server, workload, ticks, hz, rss, conns, rate, db, machine, cores = sys.argv[1:11]
secs = d["duration_us"] / 1e6
errors = sum(d["errors"].values())
per_req = lambda t: int(t) / int(hz) * 1e6 / max(d["requests"], 1)
print(json.dumps({"kind": "load", "server": server, "workload": workload, "requests": d["requests"],
  "rps": d["requests"] / secs, "p50_ms": d["p50_us"] / 1000, "p99_ms": d["p99_us"] / 1000,
  "cpu_us": per_req(ticks), "db_cpu_us": per_req(db), "machine_cpu_us": per_req(machine), "cores": int(cores),
  "errors": errors, "error_kinds": d["errors"],
  "rss_mb": int(rss) / 1024, "conns": int(conns), "offered": float(rate) if rate else None}))
' "$server" "$workload" $((c1 - c0)) "$HZ" "$rss" "$conns" "${WRK_RATE:-}" $((d1 - d0)) $((m1 - m0)) "$CORES" >>"$RESULTS"
  log "  $server $workload: $(tail -1 "$RESULTS" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.0f/s, p50 %.2f ms, p99 %.2f ms, %.0f us CPU/req, %d errors" % (d["rps"], d["p50_ms"], d["p99_ms"], d["cpu_us"], d["errors"]))')"
}

idle_rss() { sleep 1; record "{\"kind\":\"rss\",\"server\":\"$1\",\"what\":\"idle\",\"rss_mb\":$(($(rss_kb "$SERVER_PID") / 1024))}"; }

CC="grant_type=client_credentials"

# --- cold start --------------------------------------------------------------------------------------------------
log "cold start to the first 200 (median of 5)"
cold() { # cold NAME URL -- COMMAND...
  local name=$1 url=$2 i
  shift 3
  for i in 1 2 3 4 5; do
    [[ $name == keyport-first ]] && rm -rf "$WORK/kp-cold"
    "$KBENCH" cold-start "$url" 10000 -- "$@"
  done | python3 -c '
import json, statistics, sys
ms = [json.loads(l)["ready_ms"] for l in sys.stdin]
print(json.dumps({"kind": "cold", "name": sys.argv[1], "median_ms": statistics.median(ms), "all_ms": ms}))' "$name" >>"$RESULTS"
}
export KEYPORT_LOG=warn
if [[ $BACKEND == sqlite ]]; then
  cold keyport-first "http://127.0.0.1:$KP_PORT/health/ready" -- \
    taskset -c "$SERVER_CPU" "$KEYPORT" serve --config "$BENCH/keyport.toml" --listen "127.0.0.1:$KP_PORT" --data-dir "$WORK/kp-cold"
  cold keyport-restart "http://127.0.0.1:$KP_PORT/health/ready" -- \
    taskset -c "$SERVER_CPU" "$KEYPORT" serve --config "$BENCH/keyport.toml" --listen "127.0.0.1:$KP_PORT" --data-dir "$WORK/kp-cold"
fi
if ((PEER)); then
  cold peer "http://127.0.0.1:$PEER_PORT/.well-known/openid-configuration" -- \
    env NODE_ENV=production PORT="$PEER_PORT" taskset -c "$SERVER_CPU" node "$WORK/peer/server.mjs"
fi

# --- the floor ---------------------------------------------------------------------------------------------------
# A bare axum server (bench/micro/src/bin/floor.rs: a fixed 14-byte JSON body, keyport's runtime) on the same core,
# driven exactly like keyport: what one HTTP request over loopback costs in this run. The table states keyport's
# CPU per request as this floor plus the work above it (GET rows against the GET floor, form POSTs against the
# POST floor, which sends the client-credential request).
log "floor: a bare axum server on core $SERVER_CPU"
taskset -c "$SERVER_CPU" "$FLOOR" "127.0.0.1:$FLOOR_PORT" >"$WORK/floor.out" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for_line "$WORK/floor.out" "floor listening on" 30
WRK_METHOD=GET run_wrk floor get "http://127.0.0.1:$FLOOR_PORT/health"
WRK_METHOD=POST WRK_AUTH=$BOT WRK_BODY=$CC run_wrk floor post_form "http://127.0.0.1:$FLOOR_PORT/token"
# The same request answered with one ES256 signature (KeySet::sign) and a token response: the floor of a
# client-credential grant. Slower than the load generator, this server pays for waking it after each response,
# as keyport does and the 14-byte floor does not.
WRK_METHOD=POST WRK_AUTH=$BOT WRK_BODY=$CC run_wrk floor post_sign "http://127.0.0.1:$FLOOR_PORT/sign"
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true

# --- keyport -----------------------------------------------------------------------------------------------------
log "keyport: starting on core $SERVER_CPU"
KP="http://127.0.0.1:$KP_PORT"
OIDC="$KP/realms/bench/protocol/openid-connect"
taskset -c "$SERVER_CPU" "$KEYPORT" serve --config "$BENCH/keyport.toml" --listen "127.0.0.1:$KP_PORT" \
  --data-dir "$WORK/kp-data" "${KP_DB[@]}" >"$WORK/keyport.out" 2>"$WORK/keyport.err" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for_line "$WORK/keyport.out" "keyport listening on" 30
idle_rss keyport

WRK_METHOD=POST WRK_AUTH=$BOT WRK_BODY=$CC run_wrk keyport cc_es256 "$OIDC/token"
WRK_METHOD=POST WRK_AUTH=$BOT_RS WRK_BODY=$CC run_wrk keyport cc_rs256 "$OIDC/token"
WRK_METHOD=POST WRK_AUTH=$BOT WRK_BODY=$CC WRK_RATE=$FIXED_RATE run_wrk keyport cc_es256_fixed "$OIDC/token" 16

JWT=$(curl -sf -H "Authorization: $BOT" -d "$CC" "$OIDC/token" | json_field access_token)
curl -sf -H "Authorization: $RS" --data-urlencode "token=$JWT" "$OIDC/token/introspect" | grep -q '"active":true'
WRK_METHOD=POST WRK_AUTH=$RS WRK_BODY="token=$JWT" run_wrk keyport introspect_jwt "$OIDC/token/introspect"

USER_AT=$(curl -sf -H "Authorization: $LEGACY" -d "$PASSWORD_GRANT" \
  "$OIDC/token" | json_field access_token)
# A personal API token of alice's (the scoped-token issue); the row is left out if it cannot be made.
API_TOKEN=$(alice_api_token "$KP" || true)
if [[ -n "$API_TOKEN" ]]; then
  curl -sf -H "Authorization: $RS" --data-urlencode "token=$API_TOKEN" "$OIDC/token/introspect" | grep -q '"active":true'
  WRK_METHOD=POST WRK_AUTH=$RS WRK_BODY="token=$API_TOKEN" run_wrk keyport introspect_api_token "$OIDC/token/introspect"
fi
WRK_AUTH="Bearer $USER_AT" run_wrk keyport userinfo "$OIDC/userinfo"

log "keyport: 3×$CONNS password logins for the refresh chains"
mkdir -p "$WORK/logins"
seq $((3 * CONNS)) | xargs -P 4 -I{} curl -sf -o "$WORK/logins/{}.json" -H "Authorization: $LEGACY" \
  -d "$PASSWORD_GRANT" "$OIDC/token"
python3 -c 'import json,sys; [print(json.load(open(f))["refresh_token"]) for f in sys.argv[1:]]' "$WORK"/logins/*.json >"$WORK/kp-chains"
split -n "l/3" -d "$WORK/kp-chains" "$WORK/kp-chains."
WRK_AUTH=$LEGACY WRK_REFRESH_CHAINS="$WORK/kp-chains.00" warm "$OIDC/token"
NO_WARMUP=1 WRK_AUTH=$LEGACY WRK_REFRESH_CHAINS="$WORK/kp-chains.01" run_wrk keyport refresh_rotate "$OIDC/token"
NO_WARMUP=1 WRK_AUTH=$LEGACY WRK_REFRESH_CHAINS="$WORK/kp-chains.02" WRK_REFRESH_EXTRA='&scope=profile%20email' \
  run_wrk keyport refresh_rotate_no_id_token "$OIDC/token"
# The same with RS256 ID tokens (client bench-legacy-rsid): what that signature alone costs.
seq "$CONNS" | xargs -P 4 -I{} curl -sf -o "$WORK/logins/rsid-{}.json" -H "Authorization: $LEGACY_RSID" \
  -d "$PASSWORD_GRANT" "$OIDC/token"
python3 -c 'import json,sys; [print(json.load(open(f))["refresh_token"]) for f in sys.argv[1:]]' "$WORK"/logins/rsid-*.json >"$WORK/kp-chains-rsid"
NO_WARMUP=1 WRK_AUTH=$LEGACY_RSID WRK_REFRESH_CHAINS="$WORK/kp-chains-rsid" run_wrk keyport refresh_rotate_rs256_id "$OIDC/token"

WRK_METHOD=POST WRK_AUTH=$LEGACY WRK_BODY=$PASSWORD_GRANT \
  run_wrk keyport password "$OIDC/token" 4
WRK_METHOD=GET run_wrk keyport discovery "$KP/realms/bench/.well-known/openid-configuration"

log "keyport: $DEVICES pending device authorizations polling for ${DEVICE_SECONDS}s"
c0=$(cpu_ticks "$SERVER_PID")
taskset -c "$LOAD_CPU" "$KBENCH" device-poll "$KP" bench bench-cli "$DEVICES" "$DEVICE_SECONDS" >"$WORK/device.json"
c1=$(cpu_ticks "$SERVER_PID")
python3 - "$WORK/device.json" $((c1 - c0)) "$HZ" "$(rss_kb "$SERVER_PID")" >>"$RESULTS" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d.update(kind="device", server="keyport", rss_mb=int(sys.argv[4]) / 1024,
         cpu_us_per_poll=int(sys.argv[2]) / int(sys.argv[3]) * 1e6 / max(d["polls"], 1))
print(json.dumps(d))
EOF
log "keyport: $APPROVALS device logins through the verification pages (8 browsers)"
c0=$(cpu_ticks "$SERVER_PID")
taskset -c "$LOAD_CPU" "$KBENCH" device-approve "$KP" bench bench-cli alice bench-alice-password "$APPROVALS" 8 >"$WORK/approve.json"
c1=$(cpu_ticks "$SERVER_PID")
python3 - "$WORK/approve.json" $((c1 - c0)) "$HZ" >>"$RESULTS" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d.update(kind="approve", server="keyport", cpu_us_per_login=int(sys.argv[2]) / int(sys.argv[3]) * 1e6 / max(d["logins"], 1))
print(json.dumps(d))
EOF
log "  keyport device logins: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.0f/s, p50 %.1f ms, p99 %.1f ms" % (d["per_s"], d["p50_ms"], d["p99_ms"]))' "$WORK/approve.json")"
record "{\"kind\":\"rss\",\"server\":\"keyport\",\"what\":\"after load\",\"rss_mb\":$(($(rss_kb "$SERVER_PID") / 1024))}"
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true

# --- browser flows (issue 15) -------------------------------------------------------------------------------------
# bench/authcode.sh: the authorization code flow with PKCE as browsers run it (keyport, then the peer unless
# PEER=0), the same with a password sign-in each time, and sign-in through an upstream keyport (federation); its
# own servers (a fresh keyport with the upstream provider added to bench/keyport.toml, an upstream keyport, the
# peer), rows appended to this run's results.
log "browser flows: authorization code + PKCE, password each time, federation (bench/authcode.sh)"
AUTHCODE_FROM_RUN=1 KEYPORT="$KEYPORT" AUTHCODE="$TARGET/release/authcode" PEER_DIR="$WORK/peer" RESULTS="$RESULTS" \
  DURATION="$DURATION" WARMUP="$WARMUP" SERVER_CPU="$SERVER_CPU" LOAD_CPU="$LOAD_CPU" BACKEND="$BACKEND" \
  PG_URL="$PG_URL" PEER="$PEER" PEER_PORT="$PEER_PORT" bash "$BENCH/authcode.sh"

# --- the peer ----------------------------------------------------------------------------------------------------
if ((PEER)); then
log "oidc-provider: starting on core $SERVER_CPU"
PEER="http://127.0.0.1:$PEER_PORT"
NODE_ENV=production PORT=$PEER_PORT taskset -c "$SERVER_CPU" node "$WORK/peer/server.mjs" >"$WORK/peer.out" 2>"$WORK/peer.err" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for_line "$WORK/peer.out" "oidc-provider listening on" 30
idle_rss peer

# oidc-provider keeps tokens in an LRU of 1,000 entries: mint what a workload needs right before it.
mint() { curl -sf "$PEER/bench/mint?chains=$1" >"$WORK/peer-tokens.json"; }
mint 0
PEER_AT=$(json_field userinfo_access_token <"$WORK/peer-tokens.json")
WRK_AUTH="Bearer $PEER_AT" run_wrk peer userinfo "$PEER/me"
for run in warm refresh_rotate refresh_rotate_no_id_token; do
  mint "$CONNS"
  python3 -c 'import json,sys; [print(t) for t in json.load(open(sys.argv[1]))["refresh_tokens"]]' "$WORK/peer-tokens.json" >"$WORK/peer-chains"
  case $run in
    warm) WRK_AUTH=$LEGACY WRK_REFRESH_CHAINS="$WORK/peer-chains" warm "$PEER/token" ;;
    refresh_rotate) NO_WARMUP=1 WRK_AUTH=$LEGACY WRK_REFRESH_CHAINS="$WORK/peer-chains" run_wrk peer $run "$PEER/token" ;;
    *) NO_WARMUP=1 WRK_AUTH=$LEGACY WRK_REFRESH_CHAINS="$WORK/peer-chains" WRK_REFRESH_EXTRA='&scope=profile%20email' \
      run_wrk peer $run "$PEER/token" ;;
  esac
done

WRK_METHOD=POST WRK_AUTH=$BOT WRK_BODY=$CC run_wrk peer cc_es256 "$PEER/token"
WRK_METHOD=POST WRK_AUTH=$BOT_RS WRK_BODY=$CC run_wrk peer cc_rs256 "$PEER/token"
WRK_METHOD=POST WRK_AUTH=$BOT WRK_BODY=$CC WRK_RATE=$FIXED_RATE run_wrk peer cc_es256_fixed "$PEER/token" 16
WRK_METHOD=POST WRK_AUTH=$BOT_OPAQUE WRK_BODY=$CC run_wrk peer cc_opaque "$PEER/token"

OPAQUE=$(curl -sf -H "Authorization: $BOT_OPAQUE" -d "$CC" "$PEER/token" | json_field access_token)
curl -sf -H "Authorization: $RS" --data-urlencode "token=$OPAQUE" "$PEER/token/introspection" | grep -q '"active":true'
WRK_METHOD=POST WRK_AUTH=$RS WRK_BODY="token=$OPAQUE" run_wrk peer introspect_opaque "$PEER/token/introspection"
WRK_METHOD=GET run_wrk peer discovery "$PEER/.well-known/openid-configuration"
record "{\"kind\":\"rss\",\"server\":\"peer\",\"what\":\"after load\",\"rss_mb\":$(($(rss_kb "$SERVER_PID") / 1024))}"
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
fi

# --- the table ---------------------------------------------------------------------------------------------------
COPY=${RESULTS_COPY:-$ROOT/target/bench-results-$BACKEND.jsonl}
cp "$RESULTS" "$COPY" 2>/dev/null || true
log "done in $(($(date +%s) - START)) s; raw results: $COPY"
python3 "$BENCH/report.py" "$RESULTS"
