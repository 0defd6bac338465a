#!/bin/sh
# Entrypoint of the local MariaDB stand-in (scripts/docker-prepare): honours
# the official image's variables on first start (an empty data directory):
# MARIADB_ROOT_PASSWORD (or MYSQL_ROOT_PASSWORD), MARIADB_ALLOW_EMPTY_ROOT_PASSWORD,
# MARIADB_ROOT_HOST (default %), MARIADB_DATABASE, MARIADB_USER, MARIADB_PASSWORD.
set -eu
# Options alone go to the server, as with the official image.
case "${1:-}" in -*) set -- mariadbd "$@" ;; esac
if [ "${1:-mariadbd}" != mariadbd ]; then exec "$@"; fi
shift || true
root_password=${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}
root_host=${MARIADB_ROOT_HOST:-%}
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld /var/lib/mysql
if [ ! -d /var/lib/mysql/mysql ]; then
    if [ -z "$root_password" ] && [ -z "${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-}" ]; then
        echo "entrypoint: set MARIADB_ROOT_PASSWORD or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" >&2
        exit 1
    fi
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
    init=/run/mysqld/init.sql
    {
        echo "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('$root_password');"
        if [ "$root_host" != localhost ]; then
            echo "CREATE USER IF NOT EXISTS 'root'@'$root_host' IDENTIFIED BY '$root_password';"
            echo "GRANT ALL PRIVILEGES ON *.* TO 'root'@'$root_host' WITH GRANT OPTION;"
        fi
        if [ -n "${MARIADB_DATABASE:-}" ]; then
            echo "CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"
        fi
        if [ -n "${MARIADB_USER:-}" ]; then
            echo "CREATE USER IF NOT EXISTS '$MARIADB_USER'@'%' IDENTIFIED BY '${MARIADB_PASSWORD:-}';"
            if [ -n "${MARIADB_DATABASE:-}" ]; then
                echo "GRANT ALL PRIVILEGES ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'%';"
            fi
        fi
        echo "FLUSH PRIVILEGES;"
    } >"$init"
    # A private server (no network) takes the statements, as root through
    # the socket, then stops.
    mariadbd --user=mysql --skip-networking --socket=/run/mysqld/init.sock &
    pid=$!
    for _ in $(seq 1 60); do
        mariadb --protocol=socket --socket=/run/mysqld/init.sock -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
        sleep 1
    done
    mariadb --protocol=socket --socket=/run/mysqld/init.sock -uroot <"$init"
    kill "$pid"
    wait "$pid" || true
    rm -f "$init"
fi
exec mariadbd --user=mysql --bind-address=0.0.0.0 --skip-name-resolve "$@"
