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
