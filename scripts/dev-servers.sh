#!/usr/bin/env bash
# Development helper: starts the named test servers (default: all four) exactly as
# scripts/test.sh does, writes their DELTABRIDGE_* variables to ENV_FILE, and keeps them
# running until this script is interrupted or killed (servers are then stopped by PID).
#   scripts/dev-servers.sh /tmp/my.env postgres mariadb &
#   until grep -q READY /tmp/my.env 2>/dev/null; do sleep 0.5; done; source /tmp/my.env
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ENV_FILE="${1:?usage: scripts/dev-servers.sh ENV_FILE [postgres] [mariadb] [mongo] [couchdb]}"
shift
[ "$#" -gt 0 ] || set -- postgres mariadb mongo couchdb
rm -f "$ENV_FILE"
# shellcheck source=scripts/servers.sh
source "$ROOT/scripts/servers.sh"
servers_init
for server in "$@"; do "start_$server"; done
{ export -p | grep ' DELTABRIDGE_'; echo "# READY"; } > "$ENV_FILE"
echo "[dev-servers] ready; variables in $ENV_FILE"
while true; do sleep 1; done
