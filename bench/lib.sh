# Helpers shared by the bench scripts (sourced, not run). Each script sets NAME (its prefix in messages) first.

# wait_for_line FILE TEXT SECONDS: until TEXT appears in FILE (a server's output), else print FILE and exit 1.
wait_for_line() {
  local i
  for ((i = 0; i < $3 * 100; i++)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.01
  done
  echo "$NAME: '$2' did not appear in $1:" >&2
  cat "$1" >&2
  exit 1
}

# rss_kb PID: the resident set of a process, in kB.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# build_release: keyport and the bench tools (release: fat LTO, each binary linked as one unit, see Cargo.toml; a
# cold build took ~16 min on a 2-core host); exits with a message if it fails or takes over 40 minutes.
build_release() {
  timeout 2400 cargo build --release --quiet -p keyport -p keyport-bench ||
    { echo "$NAME: the release build failed or took over 40 min" >&2; exit 1; }
}

# The password grant of bench/keyport.toml's user alice (a form body; the client authenticates by Basic).
# shellcheck disable=SC2034 # used by the scripts that source this file
PASSWORD_GRANT='grant_type=password&username=alice&password=bench-alice-password'

# target_dir: cargo's target directory for this workspace (CARGO_TARGET_DIR honoured).
target_dir() {
  cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])'
}

# install_peer DIR VERSION: oidc-provider VERSION from npm into DIR, with bench/peer/server.mjs beside it.
install_peer() {
  mkdir -p "$1"
  cp "$(dirname "${BASH_SOURCE[0]}")/peer/server.mjs" "$1/"
  (cd "$1" && echo '{"private":true,"type":"module"}' >package.json &&
    timeout 300 npm install --silent --no-audit --no-fund "oidc-provider@$2" >/dev/null 2>&1)
}

# basic ID SECRET: the value of an HTTP Basic Authorization header.
basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }

# The bench realm's clients (bench/keyport.toml), as Authorization header values: bots with client credentials
# (ES256, RS256 and opaque tokens: the last for the peer only), the resource server that introspects, the legacy
# client with refresh tokens (ES256 ID tokens; RSID: RS256 ones) and the admin client.
# shellcheck disable=SC2034 # used by the scripts that source this file
{
  BOT=$(basic bench-bot bench-bot-secret-0123456789abcdef0123456789abcdef)
  BOT_RS=$(basic bench-bot-rs bench-bot-rs-secret-0123456789abcdef0123456789abcdef)
  BOT_OPAQUE=$(basic bench-bot-opaque bench-bot-opaque-secret-0123456789abcdef0123456789abcdef)
  RS=$(basic bench-rs bench-rs-secret-0123456789abcdef0123456789abcdef)
  LEGACY=$(basic bench-legacy bench-legacy-secret-0123456789abcdef0123456789abcdef)
  LEGACY_RSID=$(basic bench-legacy-rsid bench-legacy-rsid-secret-0123456789abcdef0123456789abcdef)
  ADMIN=$(basic bench-admin bench-admin-secret-0123456789abcdef0123456789abcdef)
}

# json_field NAME: the field NAME of the JSON object on standard input.
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# alice_api_token KEYPORT_URL: a new personal API token of alice's on standard output, created through the admin
# API with an access token of hers that carries the `admin` scope (client bench-admin); fails, with curl's message,
# if either request does.
alice_api_token() {
  local out
  out=$(curl -sSf -H "Authorization: $ADMIN" -d "$PASSWORD_GRANT&scope=admin" \
    "$1/realms/bench/protocol/openid-connect/token") || return 1
  out=$(curl -sSf -H "Authorization: Bearer $(json_field access_token <<<"$out")" \
    -H 'Content-Type: application/json' -d '{"name":"bench"}' "$1/admin/realms/bench/tokens") || return 1
  json_field token <<<"$out"
}

# cpu_user_sys PID: the user and system CPU time of a process (all its threads), in clock ticks: "UTIME STIME".
cpu_user_sys() {
  local f
  read -ra f <<<"$(cut -d')' -f2- "/proc/$1/stat")"
  echo "${f[11]} ${f[12]}"
}

# cpu_snapshot NAME FILE: "PID TICKS" (user + system CPU, clock ticks) of every running process named NAME, into
# FILE; a process that vanishes while it is read is left out.
cpu_snapshot() {
  local pid u s
  for pid in $(pgrep -x "$1"); do
    read -r u s <<<"$(cpu_user_sys "$pid" 2>/dev/null)" # empty when it has exited
    [[ -z $u ]] || echo "$pid $((u + s))"
  done >"$2"
}

# cpu_since NAME FILE: the clock ticks processes named NAME have used since cpu_snapshot wrote FILE: the growth
# of those running at both readings plus all of those started in between (one that exited in between is lost).
cpu_since() {
  cpu_snapshot "$1" "$2.now"
  awk 'FILENAME == ARGV[1] {t0[$1] = $2; next} {d += $2 - (($1 in t0) ? t0[$1] : 0)} END {print d + 0}' \
    "$2" "$2.now"
}

# wrk_cpu PID URL WORK: a 3-second warm-up, then DURATION seconds of the request the exported WRK_* variables
# describe, from wrk on core 1 over CONNS keep-alive connections (bench/wrk.lua); prints wrk's JSON summary with the
# CPU used over the measured run added, in clock ticks: the server PID's ("user_ticks", "sys_ticks") and, with
# BACKEND=postgres, this host's PostgreSQL processes' ("pg_ticks", 0 otherwise; their snapshot goes into WORK).
# Returns 1, with a message, when wrk fails or prints no summary or the server is gone. It runs inside `$(...)`,
# where `set -e` does not reach, so every step is checked here.
wrk_cpu() {
  local lua u0 s0 u1 s1 pg=0 out
  lua="$(dirname "${BASH_SOURCE[0]}")/wrk.lua"
  WRK_CONNS=$CONNS taskset -c 1 wrk -t1 -c"$CONNS" -d3s -s "$lua" "$2" >/dev/null ||
    { echo "$NAME: wrk failed warming up $2" >&2; return 1; }
  read -r u0 s0 <<<"$(cpu_user_sys "$1")"
  [[ ${BACKEND:-sqlite} != postgres ]] || cpu_snapshot postgres "$3/pg-cpu"
  out=$(WRK_CONNS=$CONNS taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$lua" "$2") ||
    { echo "$NAME: wrk failed on $2" >&2; return 1; }
  kill -0 "$1" 2>/dev/null || { echo "$NAME: the server exited during the run of $2" >&2; return 1; }
  read -r u1 s1 <<<"$(cpu_user_sys "$1")"
  [[ $u0$s0$u1$s1 =~ ^[0-9]+$ ]] || { echo "$NAME: no CPU reading of process $1" >&2; return 1; }
  [[ ${BACKEND:-sqlite} != postgres ]] || pg=$(cpu_since postgres "$3/pg-cpu")
  grep -q '^WRKJSON ' <<<"$out" || { echo "$NAME: wrk printed no summary for $2" >&2; return 1; }
  sed -n 's/^WRKJSON //p' <<<"$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
d.update(zip(("user_ticks", "sys_ticks", "pg_ticks"), map(int, sys.argv[1:])))
print(json.dumps(d))
' $((u1 - u0)) $((s1 - s0)) "$pg"
}

# workload_request WORKLOAD KEYPORT_URL WORK BINARY: sets URL and WRK_METHOD, WRK_AUTH, WRK_BODY (for the caller to
# export) to the request of WORKLOAD against the keyport BINARY serving at KEYPORT_URL (ab_serve's, its log in
# WORK/err), creating what the request needs, after one checked request; on a failure says what failed, with the
# server's last lines, and exits 1. WORKLOAD is one of run.sh's rows: cc_es256 (client credentials, ES256, client
# bench-bot), introspect_api_token (a new personal API token of alice's, introspected by the resource server
# bench-rs), introspect_jwt (a client-credential access token, introspected by bench-rs), discovery.
workload_request() {
  local oidc="$2/realms/bench/protocol/openid-connect" err="$3/err" binary=$4 out token
  WRK_METHOD=POST WRK_AUTH=$RS URL="$oidc/token/introspect"
  case $1 in
    cc_es256)
      WRK_AUTH=$BOT WRK_BODY=grant_type=client_credentials URL="$oidc/token"
      curl -sSf -o /dev/null -H "Authorization: $BOT" -d "$WRK_BODY" "$URL" ||
        request_failed "a client-credential grant" "$binary" "$err" ;;
    introspect_api_token)
      token=$(alice_api_token "$2") || request_failed "creating an API token" "$binary" "$err" ;;
    introspect_jwt)
      out=$(curl -sSf -H "Authorization: $BOT" -d grant_type=client_credentials "$oidc/token") ||
        request_failed "a client-credential grant" "$binary" "$err"
      token=$(json_field access_token <<<"$out") ;;
    discovery)
      WRK_METHOD=GET URL="$2/realms/bench/.well-known/openid-configuration"
      unset WRK_AUTH WRK_BODY # wrk.lua would send an empty value
      curl -sSf -o /dev/null "$URL" || request_failed "discovery" "$binary" "$err" ;;
    *) echo "$NAME: unknown workload $1" >&2; exit 2 ;;
  esac
  if [[ $1 == introspect_* ]]; then
    WRK_BODY="token=$token"
    out=$(curl -sSf -H "Authorization: $RS" --data-urlencode "$WRK_BODY" "$URL") ||
      request_failed "introspection" "$binary" "$err"
    grep -q '"active":true' <<<"$out" || request_failed "introspection (the token is not active)" "$binary" "$err"
  fi
}

# request_failed WHAT BINARY LOG: workload_request's message (the last lines of the server's LOG), then exit 1.
request_failed() {
  echo "$NAME: $1 failed against $2; the server said:" >&2
  tail -n 5 "$3" >&2
  exit 1
}

# ab_backend NAME: for BACKEND=postgres (PG_URL, default postgres://postgres@127.0.0.1:5432, a server URL without
# a database path; PostgreSQL 13 or later) a fresh database NAME, with AB_CLEANUP set to drop it and an EXIT trap
# that does so should the caller fail before ab_serve takes the trap over; sets AB_DB to the `serve` arguments that
# use it (empty for BACKEND=sqlite, the default). Dropped by ab_drop, after ab_stop (whose EXIT trap drops it
# until then).
ab_backend() {
  AB_CLEANUP= AB_DB=()
  case ${BACKEND:-sqlite} in
    sqlite) return ;;
    postgres) ;;
    *) echo "$NAME: BACKEND must be sqlite or postgres, not $BACKEND" >&2; exit 2 ;;
  esac
  local url=${PG_URL:-postgres://postgres@127.0.0.1:5432}
  printf -v AB_CLEANUP 'psql -q %q -c %q >/dev/null' "$url/postgres" "DROP DATABASE IF EXISTS $1 WITH (FORCE)"
  # shellcheck disable=SC2064 # expanded now
  trap "$AB_CLEANUP" EXIT
  psql -q "$url/postgres" -c "CREATE DATABASE $1" >/dev/null
  AB_DB=(--database-url "$url/$1")
}

# ab_serve BINARY WORK PORT [ARGS...]: a fresh keyport BINARY pinned to core 0 (bench/keyport.toml, data in
# WORK/data, ARGS added to `serve`'s, its output in WORK/out and WORK/err), once it listens. Sets AB_PID, and an
# EXIT trap that stops it, removes WORK and runs AB_CLEANUP (a command, if set) should the caller fail before
# ab_stop (the A/B scripts, one server at a time).
ab_serve() {
  taskset -c 0 "$1" serve --config "$(dirname "${BASH_SOURCE[0]}")/keyport.toml" --listen "127.0.0.1:$3" \
    --data-dir "$2/data" "${@:4}" >"$2/out" 2>"$2/err" &
  AB_PID=$!
  # shellcheck disable=SC2064 # expanded now: the values of this run
  trap "kill $AB_PID 2>/dev/null || true; wait $AB_PID 2>/dev/null || true; rm -rf '$2'; ${AB_CLEANUP:-}" EXIT
  wait_for_line "$2/out" "keyport listening on" 30
}

# ab_stop WORK: stops the server of ab_serve and removes WORK; the EXIT trap is left to AB_CLEANUP, if set.
ab_stop() {
  kill "$AB_PID"
  wait "$AB_PID" 2>/dev/null || true
  rm -rf "$1"
  # shellcheck disable=SC2064 # expanded now
  if [[ -n ${AB_CLEANUP:-} ]]; then trap "$AB_CLEANUP" EXIT; else trap - EXIT; fi
}

# pg_sessions_gone URL: waits (at most 5 s) until no other session of the PostgreSQL database at URL is left, so
# that every backend of a stopped server has exited and handed in its statistics (PostgreSQL 15 reports a
# session's table counts at most once a second while it lives, and always at its exit).
pg_sessions_gone() {
  local _
  for _ in $(seq 50); do
    [[ $(psql -qtA "$1" -c "SELECT count(*) FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid()") == 0 ]] && return
    sleep 0.1
  done
}

# ab_pairs PAIRS BASE NEW: PAIRS pairs of the caller's `one LABEL BINARY`, BASE labelled base and NEW new; base
# first in odd pairs and new first in even ones (ABBA), so a drift of the host's speed favours neither.
ab_pairs() {
  local i
  for ((i = 1; i <= $1; i++)); do
    if ((i % 2)); then
      one base "$2"
      one new "$3"
    else
      one new "$3"
      one base "$2"
    fi
  done
}

# ab_drop: drops ab_backend's database, if any, and clears the EXIT trap.
ab_drop() {
  [[ -z ${AB_CLEANUP:-} ]] || eval "$AB_CLEANUP"
  trap - EXIT
}
