#!/usr/bin/env bash
# One-time (and re-runnable) set-up for a fresh Debian 12 machine:
#   1. apt packages (C libraries, PostgreSQL 15, MariaDB 10.11, clients, Python)
#   2. stop any system database cluster/service that the package install started
#   3. Python venv at .venv/ with SecantusDB (MongoDB-wire server) and pymongo
#   4. swift build --build-tests
# Idempotent: every step checks first and skips what is already done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Versions the test servers were verified with (see scripts/README-scripts.md).
SECANTUSDB_VERSION="0.7.0b3"
PYMONGO_VERSION="4.20.1"

APT_PACKAGES=(
    libsqlite3-dev sqlite3 pkg-config libjemalloc-dev
    libpq-dev postgresql postgresql-contrib
    mariadb-server mariadb-client libmariadb-dev
    libmongoc-dev libbson-dev
    libcurl4-openssl-dev
    python3 python3-venv
)
# Packages whose absence is tolerated (we fall back to another way).
OPTIONAL_PACKAGES=" python3-venv "

T0=$SECONDS
say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] FAILED: %s\n' "$*" >&2; exit 1; }

# Root, or sudo when available.
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "must run as root (no sudo found)"
    SUDO=(sudo)
fi
as_root() { "${SUDO[@]}" "$@"; }
export DEBIAN_FRONTEND=noninteractive

# ---------------------------------------------------------------- 1. apt ----
is_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = "installed" ]
}
has_candidate() {
    local c
    c="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')"
    [ -n "$c" ] && [ "$c" != "(none)" ]
}

missing=()
for p in "${APT_PACKAGES[@]}"; do
    is_installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    say "apt: all ${#APT_PACKAGES[@]} packages already installed"
else
    say "apt: missing: ${missing[*]}"
    say "apt-get update"
    as_root apt-get update -qq >/dev/null || die "apt-get update"

    to_install=()
    for p in "${missing[@]}"; do
        if has_candidate "$p"; then
            to_install+=("$p")
        elif [[ "$OPTIONAL_PACKAGES" == *" $p "* ]]; then
            say "apt: $p has no install candidate; continuing without it"
        else
            die "apt package '$p' not found in the configured repositories (apt-cache policy $p)"
        fi
    done

    # Remember which PostgreSQL clusters and MariaDB server existed before, so
    # that afterwards we stop only what this install started.
    pg_before="$(pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}' || true)"
    maria_pidfile=/run/mysqld/mysqld.pid
    maria_before=""
    [ -r "$maria_pidfile" ] && maria_before="$(cat "$maria_pidfile" 2>/dev/null || true)"

    if [ ${#to_install[@]} -gt 0 ]; then
        say "apt-get install ${to_install[*]}"
        as_root apt-get install -y -qq --no-install-recommends "${to_install[@]}" >/dev/null \
            || die "apt-get install ${to_install[*]}"
    fi

    # ------------------------------------ 2. no system services left running --
    # Debian's postgresql postinst creates cluster 15/main and starts it when a
    # service manager is present. Stop only clusters that are new and online.
    if command -v pg_lsclusters >/dev/null 2>&1; then
        while read -r ver name _port status _rest; do
            [ -n "${ver:-}" ] || continue
            if [ "$status" = "online" ] && ! grep -qx "$ver/$name" <<<"$pg_before"; then
                say "stopping PostgreSQL cluster $ver/$name started by the package install"
                as_root pg_ctlcluster "$ver" "$name" stop || die "pg_ctlcluster $ver $name stop"
            fi
        done < <(pg_lsclusters -h 2>/dev/null || true)
    fi
    # mariadb-server's postinst may start mariadbd; stop it by its PID file.
    if [ -r "$maria_pidfile" ]; then
        pid="$(cat "$maria_pidfile" 2>/dev/null || true)"
        if [ -n "$pid" ] && [ "$pid" != "$maria_before" ] && kill -0 "$pid" 2>/dev/null; then
            say "stopping system mariadbd (pid $pid) started by the package install"
            as_root kill -TERM "$pid"
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && die "system mariadbd (pid $pid) did not stop"
        fi
    fi
fi

# Every database server/client binary the tests use must be there now.
for b in /usr/lib/postgresql/15/bin/initdb /usr/lib/postgresql/15/bin/pg_ctl \
         /usr/lib/postgresql/15/bin/pg_isready; do
    [ -x "$b" ] || die "$b missing (is postgresql-15 installed?)"
done
for b in mariadbd mariadb-install-db mariadb-admin mariadb psql sqlite3 pkg-config; do
    command -v "$b" >/dev/null 2>&1 || die "'$b' not on PATH after apt install"
done
for pc in libpq libmariadb libmongoc-1.0 libbson-1.0 libcurl sqlite3; do
    pkg-config --exists "$pc" || die "pkg-config cannot find '$pc'"
done
say "apt: ok ($((SECONDS - T0)) s)"

# ------------------------------------------------------------- 3. venv -----
VENV="$ROOT/.venv"
venv_ok() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; }

if ! venv_ok; then
    rm -rf "$VENV"
    # Prefer whatever python3 is first on PATH (may be pyenv's); fall back to
    # Debian's /usr/bin/python3 (needs python3-venv for ensurepip).
    made=""
    for py in "$(command -v python3 || true)" /usr/bin/python3; do
        if [ -z "$py" ] || [ ! -x "$py" ]; then continue; fi
        say "creating .venv with $py ($("$py" --version 2>&1))"
        if "$py" -m venv "$VENV" >/dev/null 2>&1 && venv_ok; then made=1; break; fi
        rm -rf "$VENV"
    done
    [ -n "$made" ] || die "could not create a Python venv at $VENV (install python3-venv)"
fi

pip_version() { "$VENV/bin/python" -m pip show "$1" 2>/dev/null | awk '/^Version:/ {print $2}'; }
if [ "$(pip_version SecantusDB)" = "$SECANTUSDB_VERSION" ] \
   && [ "$(pip_version pymongo)" = "$PYMONGO_VERSION" ] \
   && [ -x "$VENV/bin/secantusd-py" ]; then
    say "venv: SecantusDB $SECANTUSDB_VERSION and pymongo $PYMONGO_VERSION already installed"
else
    say "pip install SecantusDB==$SECANTUSDB_VERSION pymongo==$PYMONGO_VERSION"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "SecantusDB==$SECANTUSDB_VERSION" "pymongo==$PYMONGO_VERSION" \
        || die "pip install SecantusDB pymongo into .venv"
    [ -x "$VENV/bin/secantusd-py" ] || die ".venv/bin/secantusd-py missing after pip install"
fi
say "venv: ok ($((SECONDS - T0)) s)"

# ------------------------------------------------------------ 4. swift -----
command -v swift >/dev/null 2>&1 || die "swift not on PATH"
say "swift build --build-tests"
swift build --build-tests || die "swift build --build-tests"
say "done in $((SECONDS - T0)) s"
