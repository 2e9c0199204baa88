#!/usr/bin/env bash
# The one test command: start private PostgreSQL, MariaDB, MongoDB-wire
# (SecantusDB) and CouchDB (stand-in) servers on free loopback ports, build,
# run `swift test "$@"`, and stop the servers by PID on any exit.
# Run scripts/setup.sh once before. Works without a TTY or stdin (CI=true).
#   scripts/test.sh                        # everything
#   scripts/test.sh --filter DeltaCoreTests
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
T0="$EPOCHREALTIME"

# shellcheck source=scripts/servers.sh
source "$ROOT/scripts/servers.sh"
servers_init

# One EXIT handler: stop the servers, then report the total time and status.
# shellcheck disable=SC2317  # invoked by the trap
on_exit() {
    local rc=$?
    servers_cleanup
    printf '[test] total %s s (exit %d)\n' "$(_srv_elapsed "$T0")" "$rc"
    exit "$rc"
}
trap on_exit EXIT

start_postgres
start_mariadb
start_mongo
start_couchdb

echo "[test] swift build --build-tests"
swift build --build-tests

echo "[test] swift test $*"
rc=0
swift test "$@" </dev/null || rc=$?
exit "$rc"
