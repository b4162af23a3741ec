#!/usr/bin/env bash
# API-token introspection, two keyport binaries alternated: `bench/ab.sh introspect_api_token` (see there).
#
#   bash bench/introspect-ab.sh BASE_BINARY NEW_BINARY [PAIRS]     # default 4 pairs, DURATION=8 s each
#   BACKEND=postgres bash bench/introspect-ab.sh BASE NEW             # each run on a fresh PostgreSQL database
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: $0 BASE_BINARY NEW_BINARY [PAIRS]" >&2; exit 2; }
AB_NAME=introspect-ab exec bash "$(dirname "${BASH_SOURCE[0]}")/ab.sh" introspect_api_token "$@"
