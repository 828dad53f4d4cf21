#!/usr/bin/env bash
# Run the test suite against a real PostgreSQL.  Usually called as `make test`.
#
#   scripts/test.sh [--throwaway] [PYTEST ARGS...]
#
# Which PostgreSQL:
#   1. TEST_DATABASE_URL, if set, is used as given (the tests fail if it is unreachable).
#   2. Otherwise the probe URL (TEST_PG_PROBE_URL, default postgresql://root@127.0.0.1:5432/test)
#      is used if it accepts a connection and answers `select 1`.
#   3. Otherwise a throwaway cluster is created in a temp dir (initdb, trust auth,
#      127.0.0.1 on a free port), used, and stopped and deleted on exit.
#      `--throwaway` (first argument) or TEST_PG_THROWAWAY=1 skips steps 1-2 and forces this.
#   If no PostgreSQL server binaries can be found the script fails; it never runs without one.
#
# Other knobs:
#   VENV=path            venv to run pytest from (default: .venv next to this repo)
#   PG_BINDIR=dir        directory holding initdb/pg_ctl/postgres (default: searched)
#   TEST_PG_USER=name    unprivileged OS user to run the throwaway cluster as when root
#                        (default: postgres if it exists, else nobody)
#   TEST_PG_DEBUG=1      before pytest, query the chosen URL and print user, database, port and
#                        server version (a connectivity check)
#   TEST_PG_KEEP=1       stop the throwaway cluster but keep its directory (data + postgres.log)
#   TEST_PG_TMPDIR=dir   where to create the throwaway cluster (default /tmp)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
DEFAULT_URL=postgresql://root@127.0.0.1:5432/test
PROBE_URL=${TEST_PG_PROBE_URL:-$DEFAULT_URL}
FORCE_THROWAWAY=${TEST_PG_THROWAWAY:-0}
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-5}

if [[ ${1:-} == --throwaway ]]; then
    FORCE_THROWAWAY=1
    shift
fi

log() { printf 'test.sh: %s\n' "$*" >&2; }
die() { printf 'test.sh: error: %s\n' "$*" >&2; exit 1; }

if [[ ! -x $PY ]]; then
    die "no virtualenv at $VENV; run 'make test' (it creates it and installs .[dev])"
fi

# libpq tools and asyncpg want a plain postgresql:// URL, not SQLAlchemy's postgresql+driver://.
plain_url() { sed -E 's#^postgres(ql)?(\+[A-Za-z0-9_]+)?://#postgresql://#' <<<"$1"; }

# Hide the password when printing a URL.
show_url() { sed -E 's#(://[^:/@]+):[^@/]*@#\1:***@#' <<<"$1"; }

# sql_ok URL [SQL]: true when URL accepts a connection and runs SQL (default `select 1`).
# Uses psql when available, otherwise asyncpg from the venv.
sql_ok() {
    local url sql=${2:-select 1}
    url=$(plain_url "$1")
    if command -v psql >/dev/null 2>&1; then
        psql "$url" -X -q -A -t -v ON_ERROR_STOP=1 -c "$sql" >/dev/null 2>&1
    else
        "$PY" - "$url" "$sql" <<'EOF' >/dev/null 2>&1
import asyncio, sys
import asyncpg

async def main(url, sql):
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
EOF
    fi
}

# reachable URL: pg_isready first (cheap, if installed), then a real `select 1`.
reachable() {
    local url
    url=$(plain_url "$1")
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -d "$url" -t 5 2>/dev/null || return 1
    fi
    sql_ok "$url"
}

debug_info() {
    [[ ${TEST_PG_DEBUG:-0} == 1 ]] || return 0
    local url
    url=$(plain_url "$1")
    if command -v psql >/dev/null 2>&1; then
        psql "$url" -X -A -t -c 'select current_user, current_database(), inet_server_port(), version()' >&2 \
            || log "debug: psql could not query $(show_url "$url")"
    else
        sql_ok "$url" 'select 1' && log "debug: select 1 ok on $(show_url "$url")"
    fi
}

# ---------------------------------------------------------------- throwaway cluster

PG_TMP=
PG_DATA=
PG_CTL=
PG_RUN_USER=
PYTEST_PID=

find_pg_bindir() {
    local dir candidates=()
    [[ -n ${PG_BINDIR:-} ]] && candidates+=("$PG_BINDIR")
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir 2>/dev/null || true)
        [[ -n $dir ]] && candidates+=("$dir")
    fi
    # Debian/Ubuntu layout, newest major version first.
    while IFS= read -r dir; do
        candidates+=("$dir")
    done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5 -rn)
    candidates+=(/usr/pgsql-*/bin /usr/local/pgsql/bin /opt/homebrew/bin /usr/local/bin /usr/bin)
    for dir in "${candidates[@]}"; do
        if [[ -x $dir/initdb && -x $dir/pg_ctl ]]; then
            # resolve symlinks so postgres is found next to the real initdb
            readlink -f "$dir/initdb" | xargs dirname
            return 0
        fi
    done
    # Anything else on PATH.
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        readlink -f "$(command -v initdb)" | xargs dirname
        return 0
    fi
    return 1
}

# Run a command as the cluster's OS user (root may not run PostgreSQL).
as_pg() {
    if [[ -z $PG_RUN_USER ]]; then
        (cd "$PG_TMP" && "$@")
    elif command -v runuser >/dev/null 2>&1; then
        (cd "$PG_TMP" && runuser -u "$PG_RUN_USER" -- "$@")
    else
        # shellcheck disable=SC2016  # expanded by the inner sh
        (cd "$PG_TMP" && su -s /bin/sh -c 'exec "$0" "$@"' "$PG_RUN_USER" -- "$@")
    fi
}

free_port() {
    "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# shellcheck disable=SC2317  # called from the EXIT trap
on_exit() {
    if [[ -n $PYTEST_PID ]] && kill -0 "$PYTEST_PID" 2>/dev/null; then
        kill -TERM "$PYTEST_PID" 2>/dev/null || true
        wait "$PYTEST_PID" 2>/dev/null || true
    fi
    cleanup_throwaway
}

# shellcheck disable=SC2317  # called from on_exit
cleanup_throwaway() {
    [[ -n $PG_TMP ]] || return 0
    if [[ -n $PG_DATA && -f $PG_DATA/postmaster.pid ]]; then
        as_pg "$PG_CTL" -D "$PG_DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 \
            || log "warning: pg_ctl stop failed; see $PG_TMP/postgres.log"
    fi
    if [[ ${TEST_PG_KEEP:-0} == 1 ]]; then
        log "kept throwaway cluster directory $PG_TMP"
    else
        rm -rf "$PG_TMP"
        log "throwaway PostgreSQL stopped and $PG_TMP removed"
    fi
}

start_throwaway() {
    local bindir superuser=postgres port attempt url
    if ! bindir=$(find_pg_bindir); then
        die "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found, and no usable server at
  $(show_url "$PROBE_URL") (TEST_DATABASE_URL is not set).
  Either install the server, e.g. 'apt-get install postgresql' (Debian/Ubuntu),
  'dnf install postgresql-server' or 'brew install postgresql@15',
  or point the tests at a running server: TEST_DATABASE_URL=postgresql://user@host:port/db make test"
    fi
    [[ -x $bindir/postgres ]] || die "found $bindir/initdb but no $bindir/postgres"
    PG_CTL=$bindir/pg_ctl

    if [[ $(id -u) == 0 ]]; then
        if [[ -n ${TEST_PG_USER:-} ]]; then
            PG_RUN_USER=$TEST_PG_USER
        elif id -u postgres >/dev/null 2>&1; then
            PG_RUN_USER=postgres
        else
            PG_RUN_USER=nobody
        fi
        id -u "$PG_RUN_USER" >/dev/null 2>&1 || die "user $PG_RUN_USER does not exist (set TEST_PG_USER)"
    fi

    # Keep the path short: the unix socket path must fit in ~100 bytes.
    PG_TMP=$(mktemp -d "${TEST_PG_TMPDIR:-/tmp}/ci-pg.XXXXXX")
    PG_DATA=$PG_TMP/data
    mkdir "$PG_TMP/sock"
    if [[ -n $PG_RUN_USER ]]; then
        chown -R "$PG_RUN_USER" "$PG_TMP"
        as_pg test -w "$PG_TMP" || die "$PG_RUN_USER cannot write to $PG_TMP (set TEST_PG_TMPDIR)"
    fi

    log "starting throwaway PostgreSQL from $bindir${PG_RUN_USER:+ as OS user $PG_RUN_USER} in $PG_TMP"
    if ! as_pg "$bindir/initdb" -D "$PG_DATA" -U "$superuser" --auth=trust --encoding=UTF8 \
            --locale=C --no-sync >"$PG_TMP/initdb.log" 2>&1; then
        cat "$PG_TMP/initdb.log" >&2
        die "initdb failed"
    fi

    for attempt in 1 2 3; do
        port=$(free_port)
        # Written as the invoking user; the file keeps its owner (the cluster's user).
        cat >"$PG_DATA/postgresql.auto.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$PG_TMP/sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
        if as_pg "$PG_CTL" -D "$PG_DATA" -l "$PG_TMP/postgres.log" -w -t 60 start >/dev/null; then
            break
        fi
        log "throwaway PostgreSQL failed to start on port $port (attempt $attempt):"
        tail -n 20 "$PG_TMP/postgres.log" >&2 || true
        [[ $attempt == 3 ]] && die "could not start a throwaway PostgreSQL"
    done

    url="postgresql://$superuser@127.0.0.1:$port/postgres"
    sql_ok "$url" 'create database test' || die "could not create database test on $url"
    TEST_DATABASE_URL="postgresql://$superuser@127.0.0.1:$port/test"
    reachable "$TEST_DATABASE_URL" || die "throwaway PostgreSQL does not answer at $TEST_DATABASE_URL"
    log "throwaway PostgreSQL ready at $TEST_DATABASE_URL"
}

# ---------------------------------------------------------------- choose the server

trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ $FORCE_THROWAWAY == 1 ]]; then
    start_throwaway
elif [[ -n ${TEST_DATABASE_URL:-} ]]; then
    log "using TEST_DATABASE_URL=$(show_url "$TEST_DATABASE_URL")"
    reachable "$TEST_DATABASE_URL" \
        || log "warning: $(show_url "$TEST_DATABASE_URL") does not answer; tests that need PostgreSQL will fail"
elif reachable "$PROBE_URL"; then
    TEST_DATABASE_URL=$PROBE_URL
    log "using the PostgreSQL at $(show_url "$TEST_DATABASE_URL")"
else
    log "no PostgreSQL answers at $(show_url "$PROBE_URL"); starting a throwaway cluster"
    start_throwaway
fi
export TEST_DATABASE_URL
debug_info "$TEST_DATABASE_URL"

# ---------------------------------------------------------------- pytest

rc=0
if [[ -t 0 ]]; then
    # Interactive: keep pytest in the foreground so --pdb / breakpoint() can read the terminal.
    "$PY" -m pytest "$@" || rc=$?
else
    # No terminal (CI): run in the background and wait, so a SIGTERM sent to this script
    # is handled at once (pytest is stopped, then the throwaway cluster).
    "$PY" -m pytest "$@" </dev/null &
    PYTEST_PID=$!
    wait "$PYTEST_PID" || rc=$?
    PYTEST_PID=
fi
if [[ $rc == 5 ]]; then
    log "error: pytest collected no tests (exit code 5); treating that as a failure"
elif [[ $rc != 0 ]]; then
    log "pytest failed with exit code $rc"
fi
exit "$rc"
