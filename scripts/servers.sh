# shellcheck shell=bash
# Private database servers for tests: sourced by scripts/test.sh (or any
# script), never executed. Each server listens on 127.0.0.1 only, on a free
# port chosen at run time, with its data under one per-run temp root, and is
# stopped by PID from servers_cleanup (trap EXIT). Nothing is ever stopped by
# process name.
#
#   source scripts/servers.sh
#   servers_init                  # temp root + trap servers_cleanup EXIT
#   start_postgres; start_mariadb; start_mongo; start_couchdb
#
# start_* return non-zero on failure (after printing why and the log tail),
# so under `set -e` the caller exits and the trap stops what was started.
#
# Knobs: DELTABRIDGE_SERVER_TIMEOUT (s, default 60) for each ready-wait;
# DELTABRIDGE_KEEP_RUN_DIR=1 keeps the temp root after cleanup;
# DELTABRIDGE_COUCHDB_URL (use an existing CouchDB), DELTABRIDGE_COUCHDB_STANDIN
# (path of the stand-in's server.py), DELTABRIDGE_SKIP_COUCHDB=1.

DELTABRIDGE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${DELTABRIDGE_SERVER_TIMEOUT:=60}"
PG_BINDIR="${PG_BINDIR:-/usr/lib/postgresql/15/bin}"

_SRV_RUN_DIR=""      # per-run temp root
_SRV_PIDS=()         # PIDs to stop, in start order
_SRV_NAMES=()        # matching names (for messages)
_SRV_SIGS=()         # matching stop signal
_SRV_PIDFILES=()     # pid files of servers a test may restart itself

_srv_say() { printf '[servers] %s\n' "$*"; }
_srv_err() { printf '[servers] ERROR: %s\n' "$*" >&2; }

# Python for helpers: the project venv if set up, else python3 on PATH.
_srv_python() {
    if [ -x "$DELTABRIDGE_ROOT/.venv/bin/python" ]; then
        printf '%s\n' "$DELTABRIDGE_ROOT/.venv/bin/python"
    else
        command -v python3
    fi
}

_srv_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Seconds since $1 (an $EPOCHREALTIME value), one decimal.
_srv_elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# True if PID runs and is not a zombie (an exited, not yet reaped child).
_srv_alive() {
    local stat
    kill -0 "$1" 2>/dev/null || return 1
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [ "${stat:0:1}" != "Z" ]
}

# True if PID's command line mentions our run dir (guards against PID reuse
# before signalling a PID read from a pid file).
_srv_is_ours() {
    [ -n "$_SRV_RUN_DIR" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$_SRV_RUN_DIR"
}

# Also drops the job from bash's job table: bash still reaps it, but prints no
# "Killed"/"Terminated" notice when a test stops the server on purpose.
_srv_register() { # name pid signal [pidfile]
    _SRV_NAMES+=("$1"); _SRV_PIDS+=("$2"); _SRV_SIGS+=("$3")
    disown "$2" 2>/dev/null || true
    [ -n "${4:-}" ] && _SRV_PIDFILES+=("$1:$3:$4")
    return 0
}

# Print the last lines of a log after a failure.
_srv_tail() { # name logfile...
    local name="$1" f; shift
    for f in "$@"; do
        [ -s "$f" ] || continue
        printf '[servers] --- last lines of %s (%s) ---\n' "$name" "$f" >&2
        tail -n 25 "$f" >&2
    done
}

# Poll `cmd...` every 0.1 s until it succeeds, PID dies, or the timeout.
_srv_wait_until() { # name pid cmd...
    local name="$1" pid="$2"; shift 2
    local deadline=$((SECONDS + DELTABRIDGE_SERVER_TIMEOUT))
    while :; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        if ! _srv_alive "$pid"; then _srv_err "$name (pid $pid) exited before it was ready"; return 1; fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            _srv_err "$name (pid $pid) not ready after ${DELTABRIDGE_SERVER_TIMEOUT} s"; return 1
        fi
        sleep 0.1
    done
}

servers_init() {
    [ -n "$_SRV_RUN_DIR" ] && return 0
    _SRV_RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/deltabridge-run.XXXXXX")" || { _srv_err "mktemp failed"; return 1; }
    chmod 755 "$_SRV_RUN_DIR"   # the postgres user must reach its subdirectory
    export DELTABRIDGE_RUN_DIR="$_SRV_RUN_DIR"
    trap servers_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Stop every server by PID: stop signal to all, wait up to 20 s, then SIGKILL.
# Also stops servers a test restarted (found through their pid files).
servers_cleanup() {
    local - ; set +e     # never abort half-way (errexit is off in here only)
    local i pid entry name sig file deadline t0="$EPOCHREALTIME"
    local pids=() names=()
    for i in "${!_SRV_PIDS[@]}"; do
        pid="${_SRV_PIDS[$i]}"
        _srv_alive "$pid" || continue
        kill "-${_SRV_SIGS[$i]}" "$pid" 2>/dev/null
        pids+=("$pid"); names+=("${_SRV_NAMES[$i]}")
    done
    for entry in "${_SRV_PIDFILES[@]}"; do
        name="${entry%%:*}"; entry="${entry#*:}"; sig="${entry%%:*}"; file="${entry#*:}"
        pid="$(head -n 1 "$file" 2>/dev/null | tr -dc '0-9')"
        [ -n "$pid" ] || continue
        [[ " ${pids[*]} " == *" $pid "* ]] && continue
        if _srv_alive "$pid" && _srv_is_ours "$pid"; then
            kill "-$sig" "$pid" 2>/dev/null
            pids+=("$pid"); names+=("$name (restarted)")
        fi
    done
    deadline=$((SECONDS + 20))
    for i in "${!pids[@]}"; do
        while _srv_alive "${pids[$i]}" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
        if _srv_alive "${pids[$i]}"; then
            _srv_err "${names[$i]} (pid ${pids[$i]}) did not stop; sending SIGKILL"
            kill -KILL "${pids[$i]}" 2>/dev/null
            for _ in 1 2 3 4 5 6 7 8 9 10; do _srv_alive "${pids[$i]}" || break; sleep 0.1; done
        fi
    done
    [ ${#pids[@]} -gt 0 ] && _srv_say "stopped ${names[*]} ($(_srv_elapsed "$t0") s)"
    _SRV_PIDS=(); _SRV_NAMES=(); _SRV_SIGS=(); _SRV_PIDFILES=()
    if [ -n "$_SRV_RUN_DIR" ] && [ -d "$_SRV_RUN_DIR" ]; then
        if [ "${DELTABRIDGE_KEEP_RUN_DIR:-0}" = 1 ]; then
            _srv_say "kept $_SRV_RUN_DIR"
        else
            rm -rf "$_SRV_RUN_DIR"
        fi
    fi
    return 0
}

# ----------------------------------------------------------- PostgreSQL ----
# Runs as user `postgres` when we are root (initdb refuses root), else as us.
# All settings live in postgresql.conf, so `postgres -D $DELTABRIDGE_PG_DATA`
# (as DELTABRIDGE_PG_USER) restarts it identically. Stop signal is SIGINT
# (PostgreSQL's "fast" shutdown; SIGTERM is "smart" and waits for clients).
start_postgres() {
    servers_init || return 1
    local t0="$EPOCHREALTIME" dir="$_SRV_RUN_DIR/pg" port pid user
    port="$(_srv_free_port)"
    mkdir -p "$dir/sock"
    local as=()
    if [ "$(id -u)" -eq 0 ]; then
        user=postgres
        chown -R postgres: "$dir"
        as=(setpriv --reuid=postgres --regid=postgres --init-groups --)
    else
        user="$(id -un)"
    fi

    if ! (cd "$dir" && "${as[@]}" "$PG_BINDIR/initdb" -D "$dir/data" -U postgres -A trust \
            -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1); then
        _srv_err "initdb failed"; _srv_tail postgres "$dir/initdb.log"; return 1
    fi
    cat >>"$dir/data/postgresql.conf" <<EOF

# --- DeltaBridge test server ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/sock'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
fsync = off
logging_collector = off
EOF
    cat >"$dir/data/pg_hba.conf" <<EOF
local all         all                trust
local replication all                trust
host  all         all  127.0.0.1/32  trust
host  replication all  127.0.0.1/32  trust
EOF

    # Started directly (setpriv execs), so $! is the postmaster itself.
    (cd "$dir" && exec "${as[@]}" "$PG_BINDIR/postgres" -D "$dir/data") </dev/null >"$dir/postgres.log" 2>&1 &
    pid=$!
    _srv_register postgres "$pid" INT "$dir/data/postmaster.pid"
    if ! _srv_wait_until postgres "$pid" "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres; then
        _srv_tail postgres "$dir/postgres.log"; return 1
    fi
    export DELTABRIDGE_PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
    export DELTABRIDGE_PG_PID="$pid"
    export DELTABRIDGE_PG_DATA="$dir/data"
    export DELTABRIDGE_PG_BIN="$PG_BINDIR"
    export DELTABRIDGE_PG_USER="$user"
    _srv_say "postgres ready on 127.0.0.1:$port (pid $pid, $(_srv_elapsed "$t0") s)"
}

# -------------------------------------------------------------- MariaDB ----
# Everything is in the defaults file: `mariadbd --defaults-file=$DELTABRIDGE_MARIADB_DEFAULTS`
# restarts it identically; clients can use the same file ([client] section).
start_mariadb() {
    servers_init || return 1
    local t0="$EPOCHREALTIME" dir="$_SRV_RUN_DIR/mariadb" port pid cnf
    port="$(_srv_free_port)"
    mkdir -p "$dir/data" "$dir/tmp"
    cnf="$dir/my.cnf"
    cat >"$cnf" <<EOF
[mysqld]
user                 = $(id -un)
datadir              = $dir/data
tmpdir               = $dir/tmp
socket               = $dir/mysqld.sock
pid-file             = $dir/mysqld.pid
bind-address         = 127.0.0.1
port                 = $port
log_bin              = mariadb-bin
binlog_format        = ROW
binlog_row_image     = FULL
binlog_row_metadata  = FULL
server_id            = 1
innodb_log_file_size = 8M

[client]
host     = 127.0.0.1
port     = $port
socket   = $dir/mysqld.sock
user     = root
EOF
    # --defaults-file must be the FIRST option, so /etc/mysql stays out.
    if ! mariadb-install-db --defaults-file="$cnf" --auth-root-authentication-method=normal \
            --skip-test-db >"$dir/install-db.log" 2>&1; then
        _srv_err "mariadb-install-db failed"; _srv_tail mariadb "$dir/install-db.log"; return 1
    fi
    mariadbd --defaults-file="$cnf" </dev/null >"$dir/mariadb.log" 2>&1 &
    pid=$!
    _srv_register mariadb "$pid" TERM "$dir/mysqld.pid"
    if ! _srv_wait_until mariadb "$pid" mariadb-admin --no-defaults --protocol=TCP -h 127.0.0.1 \
            -P "$port" -u root --connect-timeout=2 ping; then
        _srv_tail mariadb "$dir/mariadb.log"; return 1
    fi
    export DELTABRIDGE_MARIADB_URL="mysql://root@127.0.0.1:$port/"
    export DELTABRIDGE_MARIADB_PID="$pid"
    export DELTABRIDGE_MARIADB_DEFAULTS="$cnf"
    _srv_say "mariadb ready on 127.0.0.1:$port (pid $pid, $(_srv_elapsed "$t0") s)"
}

# ------------------------------------------------- MongoDB wire (SecantusDB) ----
# SecantusDB advertises itself as primary of a single-node replica set
# ("secantus"), so change streams work without any replica-set option.
# An empty --config file disables its config auto-discovery
# (./secantusd.toml, ~/.secantus/, /etc/secantus/).
start_mongo() {
    servers_init || return 1
    local t0="$EPOCHREALTIME" dir="$_SRV_RUN_DIR/mongo" port pid
    local venv="$DELTABRIDGE_ROOT/.venv"
    if [ ! -x "$venv/bin/secantusd-py" ]; then
        _srv_err "$venv/bin/secantusd-py not found: run scripts/setup.sh"; return 1
    fi
    port="$(_srv_free_port)"
    mkdir -p "$dir"
    : >"$dir/secantusd.toml"
    # DELTABRIDGE_SECANTUS_FLAGS adds server flags, e.g. "--oplog-max-entries 2000000" for a
    # benchmark at the issue's full size (350k changes overflow the default 100k-entry oplog).
    # shellcheck disable=SC2086
    "$venv/bin/secantusd-py" --config "$dir/secantusd.toml" --host 127.0.0.1 --port "$port" \
        --storage-path "$dir/data" ${DELTABRIDGE_SECANTUS_FLAGS:-} </dev/null >"$dir/secantusd.log" 2>&1 &
    pid=$!
    _srv_register mongo "$pid" TERM
    local url="mongodb://127.0.0.1:$port/?directConnection=true"
    # One Python process polls `ping` (a new interpreter per poll costs ~0.2 s).
    if ! _srv_wait_until mongo "$pid" "$venv/bin/python" -c '
import sys, time, pymongo
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=500).admin.command("ping")
        sys.exit(0)
    except pymongo.errors.PyMongoError:
        if time.monotonic() > deadline: sys.exit(1)
        time.sleep(0.05)
' "$url" 2; then
        _srv_tail mongo "$dir/secantusd.log"; return 1
    fi
    export DELTABRIDGE_MONGO_URL="$url"
    export DELTABRIDGE_MONGO_PID="$pid"
    export DELTABRIDGE_MONGO_DATA="$dir/data"
    _srv_say "mongo (SecantusDB) ready on 127.0.0.1:$port (pid $pid, $(_srv_elapsed "$t0") s)"
}

# ------------------------------------------------------------- CouchDB ----
# DELTABRIDGE_COUCHDB_URL set: used as is. Otherwise the stand-in
# (${DELTABRIDGE_COUCHDB_STANDIN:-<project>/../shared/couchdb-standin/server.py})
# with --port 0; it prints "couchdb-standin ... ready on http://127.0.0.1:PORT/ ...".
start_couchdb() {
    if [ -n "${DELTABRIDGE_COUCHDB_URL:-}" ]; then
        _srv_say "couchdb: using DELTABRIDGE_COUCHDB_URL as given (${DELTABRIDGE_COUCHDB_URL##*@})"
        return 0
    fi
    local standin="${DELTABRIDGE_COUCHDB_STANDIN:-$DELTABRIDGE_ROOT/../shared/couchdb-standin/server.py}"
    if [ "${DELTABRIDGE_SKIP_COUCHDB:-0}" = 1 ]; then
        _srv_say "couchdb: skipped (DELTABRIDGE_SKIP_COUCHDB=1)"; return 0
    fi
    if [ ! -f "$standin" ]; then
        _srv_err "no CouchDB: set DELTABRIDGE_COUCHDB_URL=http://USER:PASS@HOST:PORT, or" \
                 "DELTABRIDGE_COUCHDB_STANDIN=/path/to/couchdb-standin/server.py" \
                 "(not found: $standin), or DELTABRIDGE_SKIP_COUCHDB=1"
        return 1
    fi
    servers_init || return 1
    local t0="$EPOCHREALTIME" dir="$_SRV_RUN_DIR/couchdb" pid py port=""
    py="$(_srv_python)"
    mkdir -p "$dir/data"
    "$py" "$standin" --port 0 --admin admin:secret --data "$dir/data" \
        </dev/null >"$dir/stdout.log" 2>"$dir/stderr.log" &
    pid=$!
    _srv_register couchdb "$pid" TERM
    # The ready line gives the port; then confirm with an authenticated GET /_up.
    if _srv_wait_until couchdb "$pid" grep -q ' ready on http://' "$dir/stdout.log"; then
        port="$(sed -n 's|.* ready on http://127\.0\.0\.1:\([0-9][0-9]*\)/.*|\1|p' "$dir/stdout.log" | head -n 1)"
    fi
    if [ -z "$port" ] || ! _srv_wait_until couchdb "$pid" "$py" -c '
import sys, urllib.request, base64
req = urllib.request.Request(sys.argv[1] + "/_up")
req.add_header("Authorization", "Basic " + base64.b64encode(b"admin:secret").decode())
sys.exit(0 if urllib.request.urlopen(req, timeout=2).status == 200 else 1)
' "http://127.0.0.1:$port"; then
        _srv_tail couchdb "$dir/stdout.log" "$dir/stderr.log"; return 1
    fi
    export DELTABRIDGE_COUCHDB_URL="http://admin:secret@127.0.0.1:$port"
    export DELTABRIDGE_COUCHDB_PID="$pid"
    export DELTABRIDGE_COUCHDB_DATA="$dir/data"
    _srv_say "couchdb (stand-in) ready on 127.0.0.1:$port (pid $pid, $(_srv_elapsed "$t0") s)"
}
