#!/usr/bin/env bash
# API fuzzing of the admin API with schemathesis (issue 14; docs/testing.md "API fuzzing").
#
# Starts a keyport server (the workspace's debug binary, or KEYPORT_BIN) on a free loopback port with a
# temporary SQLite data directory and a bootstrap admin, gets the admin's personal API token (`kp_…`: a password
# login with the `admin` scope, then `POST tokens`), and runs schemathesis against `{base}/openapi.json` twice:
# with that token and with none. Every check runs (no 5xx; status codes, content types, headers and bodies as the
# document says; invalid input refused; auth not ignored; deleted objects gone; ...) except
# positive_data_acceptance: some schema-valid requests are refused with 400 by rules a schema cannot state (an
# administrator cannot delete themself or drop their own `admin` role; scopes come from the realm's catalogue;
# lifespans stop at the realm's maximum; names follow a character rule). Stops the server; the exit code is
# non-zero when either run failed or the server panicked.
#
# Usage: scripts/schemathesis.sh [EXAMPLES]
#   EXAMPLES: test cases per operation and phase (default 25; SCHEMATHESIS_EXAMPLES). CI runs a short
#   version from scripts/test.sh (`scripts/schemathesis.sh 10`); the long run is `scripts/schemathesis.sh 500`.
#   SCHEMATHESIS_SEED: the random seed (default a fixed one, so CI is deterministic; every run prints it, so a
#   failure can be replayed; `SCHEMATHESIS_SEED=$RANDOM` explores new ground).
set -euo pipefail
cd "$(dirname "$0")/.."

examples="${1:-${SCHEMATHESIS_EXAMPLES:-25}}"
seed="${SCHEMATHESIS_SEED:-20261203}"
if ! python3 -m schemathesis.cli --version >/dev/null 2>&1; then
    echo "schemathesis.sh: schemathesis is missing; run scripts/install-test-deps.sh" >&2
    exit 2
fi
if [ -n "${KEYPORT_BIN:-}" ]; then
    bin="$KEYPORT_BIN"
else
    cargo build --quiet -p keyport
    target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    bin="$target_dir/debug/keyport"
fi

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

admin_password="schemathesis-admin-$RANDOM$RANDOM$RANDOM"
cat >"$tmp/keyport.toml" <<'TOML'
# The admin API is fuzzed in realm `master` with its bootstrap administrator. `fuzz-login` exists only to
# get the administrator a token without a browser (a password login with the `admin` scope).
[[realms]]
name = "master"

[[realms.clients]]
client_id = "fuzz-login"
public = true
grants = ["password"]
allow_public_password_grant = true
scopes = ["admin"]
TOML

KEYPORT_ADMIN_PASSWORD="$admin_password" KEYPORT_LOG="${KEYPORT_LOG:-warn}" \
    "$bin" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" --config "$tmp/keyport.toml" >"$tmp/server.log" 2>&1 &
server_pid=$!
base=""
for _ in $(seq 1 300); do
    base="$(sed -n 's/.*keyport listening on \(http:[^ ]*\).*/\1/p' "$tmp/server.log" | head -n1)"
    [ -n "$base" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.1
done
if [ -z "$base" ]; then
    echo "schemathesis.sh: keyport did not start:" >&2
    cat "$tmp/server.log" >&2
    exit 2
fi

# The administrator's personal API token (never printed).
token="$(KEYPORT_BASE="$base" ADMIN_PASSWORD="$admin_password" python3 - <<'PY'
import json, os, urllib.parse, urllib.request
base = os.environ["KEYPORT_BASE"]
form = urllib.parse.urlencode({
    "grant_type": "password", "client_id": "fuzz-login", "username": "admin",
    "password": os.environ["ADMIN_PASSWORD"], "scope": "openid admin",
}).encode()
with urllib.request.urlopen(f"{base}/realms/master/protocol/openid-connect/token", form, timeout=30) as r:
    access = json.load(r)["access_token"]
req = urllib.request.Request(
    f"{base}/admin/realms/master/tokens",
    data=json.dumps({"name": "schemathesis"}).encode(),
    headers={"Authorization": f"Bearer {access}", "Content-Type": "application/json"},
)
with urllib.request.urlopen(req, timeout=30) as r:
    print(json.load(r)["token"])
PY
)"

# The realm path parameter is `master` (a random one only finds 404s); everything else is generated.
cat >"$tmp/schemathesis.toml" <<TOML
cache = { enabled = false, directory = "$tmp/cache" }

[parameters]
"path.realm" = "master"
TOML

run() {
    local label="$1"
    shift
    echo "== schemathesis: $label ($examples examples per operation and phase, seed $seed)"
    python3 -m schemathesis.cli --config-file "$tmp/schemathesis.toml" run "$base/openapi.json" \
        --checks all --exclude-checks positive_data_acceptance --max-examples "$examples" --seed "$seed" --workers 2 --no-color \
        --generation-database none --request-timeout 30 --report-dir "$tmp/report" "$@"
}

status=0
started=$SECONDS
run "with the administrator's API token" -H "Authorization: Bearer $token" || status=1
run "without a token" || status=1
echo "== schemathesis: $((SECONDS - started)) s, exit $status"
if grep -q "panicked" "$tmp/server.log"; then
    echo "schemathesis.sh: the server panicked:" >&2
    grep -A5 "panicked" "$tmp/server.log" >&2
    status=1
fi
exit "$status"
