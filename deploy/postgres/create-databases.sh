#!/usr/bin/env bash
# Creates one database per PostgreSQL-backed service, each owned by its own login role, so no
# service can read another's tables (ARCHITECTURE.md: "Database per service").
#
# Run by the postgres image's entrypoint from /docker-entrypoint-initdb.d on the FIRST start only
# (empty data volume). Passwords arrive as LOOKOUT_<SERVICE>_DB_PASSWORD from docker-compose.yml,
# which takes them from the operator's environment; nothing secret lives in this repository.
# Adding a service later on an existing volume: run the same statements by hand (see README.md).
# -u is left out: the entrypoint sources this file instead of running it if it lost its exec bit.
set -eo pipefail

services="identity dashboard datasource alert"

# Every password first, so a missing one creates nothing rather than half the databases.
for service in ${services}; do
    password_variable="LOOKOUT_${service^^}_DB_PASSWORD"
    : "${!password_variable:?${password_variable} must be set}"
done

for service in ${services}; do
    password_variable="LOOKOUT_${service^^}_DB_PASSWORD"
    password="${!password_variable}"
    name="lookout_${service}"
    # psql variables (:"name", :'password') quote the values; nothing is spliced into SQL by hand.
    psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname postgres \
        -v name="${name}" -v password="${password}" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
    echo "created database ${name} owned by role ${name}"
done
