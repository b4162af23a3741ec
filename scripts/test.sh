#!/usr/bin/env bash
# The whole test suite: what a newcomer runs, and what CI runs. Installs the Python packages the
# Keycloak-compatibility test drives (the real AIoD SDK), then runs every Rust test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
# PostgreSQL for the replica tests and the second pass (KEYPORT_TEST_PG_URL points elsewhere).
pg_url="${KEYPORT_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -d "$pg_url"; then
    echo "PostgreSQL at $pg_url is not answering: start it (e.g. pg_ctlcluster <version> main start) or set KEYPORT_TEST_PG_URL" >&2
    exit 1
fi
if cargo nextest --version >/dev/null 2>&1; then
    # nextest does not run doctests: run them first.
    cargo test --workspace --doc --quiet
    # The server suite once more with every test server on its own PostgreSQL database.
    KEYPORT_TEST_BACKEND=postgres cargo nextest run -p keyport-server --no-fail-fast "$@"
    # The whole workspace on the default backend (SQLite) last, so its summary is the last word.
    cargo nextest run --workspace --no-fail-fast "$@"
else
    KEYPORT_TEST_BACKEND=postgres cargo test -p keyport-server --no-fail-fast "$@"
    cargo test --workspace --no-fail-fast "$@"
fi
