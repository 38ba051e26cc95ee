#!/bin/sh
# One-shot (temporalio/admin-tools): creates Temporal's two databases on the compose Postgres
# and brings both schemas to the version this admin-tools image ships (the schemas embedded in
# temporal-sql-tool, so they always match the image tag).
#
# Safe on every `docker compose up`: `create` ignores a database that exists, `setup-schema -v 0.0`
# leaves a schema that is already past 0.0 alone, and `update-schema` applies only the missing
# versions. Upgrading the Temporal image tags therefore upgrades the schema first (compose starts
# the server only after this exits 0).
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${SQL_PASSWORD:?SQL_PASSWORD is required}"
port=${DB_PORT:-5432}

sql_tool() {
	temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$port" -u "$POSTGRES_USER" "$@"
}

setup() { # setup DATABASE EMBEDDED_SCHEMA
	echo "temporal schema: database $1 ($2)"
	sql_tool --db "$1" create
	sql_tool --db "$1" setup-schema -v 0.0
	sql_tool --db "$1" update-schema --schema-name "$2"
}

setup "${DBNAME:-temporal}" postgresql/v12/temporal
setup "${VISIBILITY_DBNAME:-temporal_visibility}" postgresql/v12/visibility
echo "temporal schema: up to date"
