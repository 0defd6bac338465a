#!/bin/sh
# Entrypoint of the local PostgreSQL stand-in (scripts/docker-prepare):
# honours what the compose files use of the official image's: on first
# start (an empty PGDATA) POSTGRES_PASSWORD (required), POSTGRES_USER
# (default postgres), POSTGRES_DB (default the user's name) and the scripts
# in /docker-entrypoint-initdb.d (*.sh run, *.sql fed to psql); then the
# server runs as postgres with the arguments given ("postgres -c ...").
set -eu
case "${1:-}" in -*) set -- postgres "$@" ;; esac
if [ "${1:-postgres}" != postgres ]; then exec "$@"; fi
shift || true
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
export PATH="$bin:$PATH"
export PGDATA=${PGDATA:-/var/lib/postgresql/data}
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
user=${POSTGRES_USER:-postgres}
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 0700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "entrypoint: set POSTGRES_PASSWORD" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    chown postgres "$pwfile"
    as_postgres initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    printf 'local all all trust\nhost all all all scram-sha-256\n' >"$PGDATA/pg_hba.conf"
    printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    # A server on the socket only takes the first-start work, then stops.
    as_postgres pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' $*" start >/dev/null
    db=${POSTGRES_DB:-$user}
    if [ "$db" != postgres ]; then
        as_postgres psql -v ON_ERROR_STOP=1 -U "$user" -d postgres -c "CREATE DATABASE \"$db\"" >/dev/null
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh) as_postgres env PGUSER="$user" sh "$f" ;;
            *.sql) as_postgres psql -v ON_ERROR_STOP=1 -U "$user" -d "$db" -f "$f" >/dev/null ;;
        esac
    done
    as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups -- postgres "$@"
