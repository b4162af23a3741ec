#!/usr/bin/env bash
# The whole test suite: what a newcomer runs, and what CI runs. Installs the Python packages the
# Keycloak-compatibility test drives (the real AIoD SDK), then runs every Rust test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
if cargo nextest --version >/dev/null 2>&1; then
    # nextest does not run doctests: run them first, so the summary below is the last word.
    cargo test --workspace --doc --quiet
    cargo nextest run --workspace --no-fail-fast "$@"
else
    cargo test --workspace --no-fail-fast "$@"
fi
