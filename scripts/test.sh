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

rc=0
if [ "$#" -gt 0 ]; then
    echo "[test] swift test $*"
    swift test --skip-build "$@" </dev/null || rc=$?
    exit "$rc"
fi

# The whole suite: one test target after another (tests inside a target run in parallel).
# Run all at once, the integration suites of five servers share two cores, and their hang
# guards fire on a loaded machine; one target at a time keeps each suite's timing honest.
targets=(DeltaCoreTests DeltaLedgerTests DeltaPipelineTests SQLiteConnectorTests PostgresConnectorTests
         MariaDBConnectorTests MongoDBConnectorTests CouchDBConnectorTests EndToEndTests)
skip=()
if [ "${DELTABRIDGE_SKIP_COUCHDB:-}" = 1 ]; then
    # Only when asked for explicitly, and said loudly: no test skips itself.
    echo "[test] CouchDB tests NOT RUN: DELTABRIDGE_SKIP_COUCHDB=1 was set"
    targets=("${targets[@]/CouchDBConnectorTests}")
    skip=(--skip CouchDBEndToEndTests)
fi
failed=()
total=0
for target in "${targets[@]}"; do
    [ -n "$target" ] || continue
    echo "[test] swift test --filter '^$target\.'"
    log="$(mktemp)"
    t0="$EPOCHREALTIME"
    trc=0
    swift test --skip-build --filter "^$target\." ${skip[@]+"${skip[@]}"} </dev/null 2>&1 | tee "$log" || trc=$?
    n="$(grep -Eo 'Test run with [0-9]+ test' "$log" | grep -Eo '[0-9]+' | tail -1 || true)"
    rm -f "$log"
    if [ -z "$n" ] || [ "$n" -eq 0 ]; then
        echo "[test] $target ran no test — a renamed target or a broken filter; failing" >&2
        trc=1
    fi
    total=$((total + ${n:-0}))
    printf '[test] %s: %s tests, exit %d, %s s\n' "$target" "${n:-0}" "$trc" "$(_srv_elapsed "$t0")"
    if [ "$trc" -ne 0 ]; then failed+=("$target"); rc=1; fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "[test] FAILED: ${failed[*]} ($total tests ran)"
else
    echo "[test] all ${#targets[@]} test targets passed ($total tests)"
fi
exit "$rc"
