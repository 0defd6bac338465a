#!/bin/sh
# The local MariaDB stand-in's healthcheck.sh, for the options the compose
# files use: --connect (the server answers on its TCP port) and
# --innodb_initialized (InnoDB is up).
set -eu
for check in "$@"; do
    case "$check" in
        --connect) mariadb-admin --protocol=tcp -h 127.0.0.1 ping >/dev/null 2>&1 ;;
        --innodb_initialized)
            mariadb --protocol=socket -uroot -N -e \
                "SELECT 1 FROM information_schema.ENGINES WHERE ENGINE='InnoDB' AND SUPPORT IN ('YES','DEFAULT')" \
                | grep -q 1 ;;
        *) echo "healthcheck.sh: $check is not supported by the stand-in" >&2; exit 1 ;;
    esac
done
