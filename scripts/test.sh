#!/usr/bin/env bash
# The whole test suite: what a newcomer runs, and what CI runs. Installs the Python packages the
# Keycloak-compatibility test drives (the real AIoD SDK) and maturin/pytest, then runs every Rust test of the
# workspace and the Python package's pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
# PostgreSQL for the replica tests and the second pass (KEYPORT_TEST_PG_URL points elsewhere).
pg_url="${KEYPORT_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -d "$pg_url"; then
    echo "PostgreSQL at $pg_url is not answering: start it (e.g. pg_ctlcluster <version> main start) or set KEYPORT_TEST_PG_URL" >&2
    exit 1
fi
# The Python package (crates/python): build the wheel with maturin (debug profile: the dependencies are optimised
# anyway, see [profile.dev.package."*"]), install it into a fresh virtual environment, and run its pytest suite
# against the real `keyport` binary. pytest's exit code ends the script under `set -e`.
python_tests() {
    local target_dir bin wheels venv
    target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    cargo build --quiet -p keyport
    bin="$target_dir/debug/keyport"
    wheels="$target_dir/wheels"
    rm -f "$wheels"/keyport-*.whl
    python3 -m maturin build --quiet -m crates/python/Cargo.toml --out "$wheels"
    venv="$target_dir/python-venv"
    # Fresh each run; the test tools (pytest, requests, httpx, mypy) come from install-test-deps.sh.
    python3 -m venv --clear --system-site-packages "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "$wheels"/keyport-*.whl
    KEYPORT_BIN="$bin" "$venv/bin/python" -m pytest -q -p no:cacheprovider crates/python/tests
}

# Crash consistency, short: 3 kill -9/restart rounds per backend (the long run: `scripts/crash.sh`, figures in
# docs/crash-consistency.md), then the checks' self-test (writes lost on purpose must be caught).
crash_tests() {
    bash scripts/crash.sh 3
    bash scripts/crash.sh 1 --backend sqlite --lose-writes | tail -n 3
}

# The admin API under schemathesis (a short run; `scripts/schemathesis.sh 500` is the long one): no 5xx, and every
# answer as the OpenAPI document says, with an administrator's token and without one.
api_fuzz() {
    bash scripts/schemathesis.sh "${SCHEMATHESIS_EXAMPLES:-10}"
}

if cargo nextest --version >/dev/null 2>&1; then
    # nextest does not run doctests: run them first.
    cargo test --workspace --doc --quiet
    # The server suite once more with every test server on its own PostgreSQL database.
    KEYPORT_TEST_BACKEND=postgres cargo nextest run -p keyport-server --no-fail-fast "$@"
    python_tests
    crash_tests
    api_fuzz
    # The whole workspace on the default backend (SQLite) last, so its summary is the last word.
    cargo nextest run --workspace --no-fail-fast "$@"
else
    KEYPORT_TEST_BACKEND=postgres cargo test -p keyport-server --no-fail-fast "$@"
    python_tests
    crash_tests
    api_fuzz
    cargo test --workspace --no-fail-fast "$@"
fi
