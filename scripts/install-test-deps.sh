#!/usr/bin/env bash
# Installs what the tests need beyond Rust, pinned, with pip:
# - tests/python/requirements.txt: the real AIoD Python SDK (aiondemand) and python-keycloak, for
#   crates/testkit/tests/aiod_python_sdk.rs;
# - crates/python/requirements-test.txt: maturin (builds the `keyport` Python package), pytest, requests, httpx,
#   mypy, for the package's tests (scripts/test.sh);
# - scripts/schemathesis-requirements.txt: schemathesis, the admin API's fuzzer (scripts/schemathesis.sh);
# - crates/server/tests/oidc-provider/package-lock.json: oidc-provider (npm), the upstream of
#   crates/server/tests/federation_oidc_provider.rs, with `npm ci` (needs node >= 20 and npm);
# - crates/testkit/axe/package-lock.json: axe-core (npm), the accessibility check of the portal's pages
#   (crates/testkit/tests/portal_a11y.rs), with `npm ci`.
# Idempotent: nothing is installed when every pinned version already is.
set -euo pipefail
cd "$(dirname "$0")/.."

op_dir=crates/server/tests/oidc-provider
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "install-test-deps: node and npm are missing; install them (e.g. apt-get install nodejs npm)" >&2
    exit 1
fi
if [ ! -f "$op_dir/node_modules/oidc-provider/package.json" ]; then
    (cd "$op_dir" && npm ci --silent --no-audit --no-fund)
fi
axe_dir=crates/testkit/axe
if [ ! -f "$axe_dir/node_modules/axe-core/axe.min.js" ]; then
    (cd "$axe_dir" && npm ci --silent --no-audit --no-fund)
fi

requirements=(tests/python/requirements.txt crates/python/requirements-test.txt scripts/schemathesis-requirements.txt)

if ! command -v python3 >/dev/null 2>&1; then
    echo "install-test-deps: python3 is missing; install Python >= 3.10 (e.g. apt-get install python3 python3-pip)" >&2
    exit 1
fi
if python3 - "${requirements[@]}" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
for path in sys.argv[1:]:
    for line in open(path):
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
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    echo "install-test-deps: python3's venv module is missing; install it (e.g. apt-get install python3-venv)" >&2
    exit 1
fi
pip_install() {
    python3 -m pip install -q --disable-pip-version-check "${requirements[@]/#/-r}" "$@"
}
if ! out=$(pip_install 2>&1); then
    # A distribution's own python3 (PEP 668) refuses system-wide installs: install for this user instead.
    if grep -q externally-managed-environment <<<"$out"; then
        pip_install --user --break-system-packages
    else
        echo "$out" >&2
        exit 1
    fi
fi
