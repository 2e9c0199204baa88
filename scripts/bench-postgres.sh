#!/usr/bin/env bash
# Issue 4's benchmark on two private PostgreSQL clusters (loopback, free ports, temp dirs):
# builds deltabridge-bench in release, runs `deltabridge-bench postgres` with the source on one
# cluster and the targets (the bridge's and native logical replication's) on the other, then
# stops both clusters by PID. Extra arguments go to the benchmark, e.g. --rows 200000.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
for side in source target; do
    scripts/dev-servers.sh "$work/$side.env" postgres > "$work/$side.log" 2>&1 &
    pids+=("$!")
done
for side in source target; do
    for _ in $(seq 240); do grep -q READY "$work/$side.env" 2>/dev/null && break; sleep 0.25; done
    grep -q READY "$work/$side.env" || { cat "$work/$side.log"; echo "bench-postgres: the $side cluster did not start" >&2; exit 1; }
done
source_url="$(. "$work/source.env"; echo "$DELTABRIDGE_PG_URL")"
target_url="$(. "$work/target.env"; echo "$DELTABRIDGE_PG_URL")"
swift build -c release --product deltabridge-bench
"$(swift build -c release --show-bin-path)/deltabridge-bench" postgres --source-url "$source_url" --target-url "$target_url" "$@"
