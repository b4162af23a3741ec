#!/usr/bin/env bash
# Why device polling has a long tail on PostgreSQL: runs the device-poll load of bench/run.sh against keyport on a
# fresh PostgreSQL database and samples, every 10 ms, what PostgreSQL's backends of that database are doing
# (`pg_stat_activity`: active or idle, and the wait event of the active ones), plus the per-statement times of
# `pg_stat_statements` when the server has it loaded. Prints the poll latencies and the share of each state.
#
#   bash bench/pg-device-poll.sh [DEVICES] [SECONDS]      (defaults 10000 and 30; PG_URL as in run.sh)
#   SYNC_COMMIT=off bash bench/pg-device-poll.sh ...      the same with the database's synchronous_commit off
#   POLLS_IN_FLIGHT=N bash bench/pg-device-poll.sh ...   with server.device_polls_in_flight = N (default 128)
#   BACKEND=sqlite bash bench/pg-device-poll.sh ...       the same load on SQLite (no PostgreSQL samples)
#
# KEYPORT=path and KBENCH=path use binaries built elsewhere; otherwise the release build of this tree.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAME=pg-device-poll
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
DEVICES=${1:-10000}
SECS=${2:-30}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18095}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
cd "$ROOT"
if [[ -z "${KEYPORT:-}" || -z "${KBENCH:-}" ]]; then
  build_release
  TARGET=$(target_dir)
  KEYPORT=${KEYPORT:-$TARGET/release/keyport}
  KBENCH=${KBENCH:-$TARGET/release/keyport-bench}
fi
DB="keyport_pgpoll_$$"
PG=1
[[ "${BACKEND:-postgres}" != sqlite ]] || PG=0
WORK=$(mktemp -d /tmp/keyport-pgpoll.XXXXXX)
PID=
SAMPLER=
cleanup() {
  touch "$WORK/stop" 2>/dev/null || true
  [[ -z $SAMPLER ]] || kill "$SAMPLER" 2>/dev/null || true
  [[ -z $PID ]] || kill "$PID" 2>/dev/null || true
  wait 2>/dev/null || true
  ((!PG)) || psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
DATABASE=()
if ((PG)); then
  psql -q "$PG_URL/postgres" -c "CREATE DATABASE $DB" >/dev/null
  DATABASE=(--database-url "$PG_URL/$DB")
fi
# SYNC_COMMIT=off: this database's commits do not wait for the WAL flush (an experiment: what the flush costs).
[[ -z "${SYNC_COMMIT:-}" ]] || ((!PG)) || psql -q "$PG_URL/postgres" -c "ALTER DATABASE $DB SET synchronous_commit = $SYNC_COMMIT" >/dev/null

CONFIG=bench/keyport.toml
if [[ -n "${POLLS_IN_FLIGHT:-}" ]]; then
  CONFIG="$WORK/keyport.toml"
  sed "s/^\[server\]\$/[server]\ndevice_polls_in_flight = $POLLS_IN_FLIGHT/" bench/keyport.toml >"$CONFIG"
  grep -q "^device_polls_in_flight = $POLLS_IN_FLIGHT\$" "$CONFIG" ||
    { echo "pg-device-poll.sh: bench/keyport.toml has no [server] line to add the setting under" >&2; exit 1; }
fi
KEYPORT_LOG=warn taskset -c "$SERVER_CPU" "$KEYPORT" serve --config "$CONFIG" --listen "127.0.0.1:$PORT" \
  --data-dir "$WORK/data" ${DATABASE[@]+"${DATABASE[@]}"} >"$WORK/out" 2>&1 &
PID=$!
for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/health/ready" && break; sleep 0.1; done

STATEMENTS=0
if ((PG)) && psql -Atq "$PG_URL/$DB" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()" \
  >/dev/null 2>&1; then
  STATEMENTS=1
fi

# The sampler: one psql session, one query every 10 ms, until the stop file appears (psql ends with its input).
touch "$WORK/samples"
if ((PG)); then
  (
    while [[ ! -e "$WORK/stop" ]]; do
      echo "SELECT clock_timestamp(), state, coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity WHERE datname = '$DB' AND backend_type = 'client backend' AND pid <> pg_backend_pid();"
      sleep 0.01
    done | psql -AtqF '|' "$PG_URL/$DB" >"$WORK/samples" 2>/dev/null
  ) &
  SAMPLER=$!
fi

taskset -c "$LOAD_CPU" "$KBENCH" device-poll "http://127.0.0.1:$PORT" bench bench-cli "$DEVICES" "$SECS" >"$WORK/poll.json"
touch "$WORK/stop"
[[ -z $SAMPLER ]] || wait "$SAMPLER" || true
SAMPLER=

python3 - "$WORK/poll.json" "$WORK/samples" <<'EOF'
import collections, json, sys
d = json.load(open(sys.argv[1]))
print(f"polls {d['polls']:,} ({d['polls_per_s']:,.0f}/s), p50 {d['p50_ms']:.2f} ms, p99 {d['p99_ms']:.2f} ms, "
      f"max {d['max_ms']:.1f} ms, shed {d.get('shed', 'n/a')}, slow_down (too early) {d.get('slow_downs', 'n/a')}, "
      f"errors {d['errors']} {d.get('error_kinds', {})}")
states = collections.Counter()
for line in open(sys.argv[2]):
    parts = line.rstrip("\n").split("|")
    if len(parts) == 3:
        state, wait = parts[1], parts[2]
        states[wait if state == "active" else state] += 1
total = sum(states.values()) or 1
if states:
    print("backend samples (every 10 ms, each client backend of the database):")
for k, v in states.most_common(12):
    print(f"  {k:40s} {v / total:6.1%}")
EOF
if ((PG)); then
  # The server stopped first: an exiting backend hands in its statistics. HOT updates write no index entry.
  kill "$PID" && wait "$PID" 2>/dev/null || true
  PID=
  pg_sessions_gone "$PG_URL/$DB"
  psql -Atq "$PG_URL/$DB" -c "SELECT 'device_grants: ' || n_tup_upd || ' updates, ' ||
    COALESCE(round(100.0 * n_tup_hot_upd / NULLIF(n_tup_upd, 0)), 0) || '% of them HOT (no new index entries)'
    FROM pg_stat_user_tables WHERE relname = 'device_grants'"
fi
if ((STATEMENTS)); then
  psql -q "$PG_URL/$DB" -c "SELECT calls, round(mean_exec_time::numeric, 3) AS mean_ms, round(max_exec_time::numeric, 1) AS max_ms, left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS query FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 6"
elif ((PG)); then
  echo "(pg_stat_statements is not in shared_preload_libraries of this server: no per-statement times)"
fi
