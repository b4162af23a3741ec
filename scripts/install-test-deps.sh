#!/usr/bin/env bash
# Installs what the tests need beyond Rust: the real AIoD Python SDK (aiondemand) and python-keycloak, pinned in
# tests/python/requirements.txt, for crates/testkit/tests/aiod_python_sdk.rs. Idempotent: pip skips what is
# already installed at the pinned versions.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v python3 >/dev/null 2>&1; then
    echo "install-test-deps: python3 is missing; install Python >= 3.10 (e.g. apt-get install python3 python3-pip)" >&2
    exit 1
fi
if python3 -c 'import aiod, keycloak, jwcrypto' >/dev/null 2>&1 \
    && python3 - tests/python/requirements.txt <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, pinned = line.split("==")
        if version(name) != pinned:
            sys.exit(1)
PY
then
    exit 0
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "install-test-deps: pip is missing for python3; install it (e.g. apt-get install python3-pip)" >&2
    exit 1
fi
pip_install() { python3 -m pip install -q --disable-pip-version-check -r tests/python/requirements.txt "$@"; }
if ! out=$(pip_install 2>&1); then
    # A distribution's own python3 (PEP 668) refuses system-wide installs: install for this user instead.
    if grep -q externally-managed-environment <<<"$out"; then
        pip_install --user --break-system-packages
    else
        echo "$out" >&2
        exit 1
    fi
fi
