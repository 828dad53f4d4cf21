#!/bin/sh
# Container entrypoint: apply database migrations, then run the command (default: serve).
# Migrations run only before `codeinterview serve`; set SKIP_MIGRATE=1 to skip them
# (for example when several replicas share one PostgreSQL and a job migrates first).
set -eu

if [ "${1:-}" = "codeinterview" ] && [ "${2:-}" = "serve" ] && [ "${SKIP_MIGRATE:-0}" != "1" ]; then
    echo "entrypoint: codeinterview migrate" >&2
    codeinterview migrate
fi

exec "$@"
