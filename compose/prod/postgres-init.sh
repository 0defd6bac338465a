#!/bin/sh
# First start of compose/prod/db-postgres.yml's server (an empty data
# volume): the coreapps' account, which is not a superuser, and their
# database, owned by it (text sorted by its bytes, as on the other engines).
set -eu
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v user="$POSTGRES_APP_USER" -v password="$POSTGRES_APP_PASSWORD" -v db="$POSTGRES_APP_DB" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"user" ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
SQL
