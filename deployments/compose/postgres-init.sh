#!/bin/sh
# Runs once, when the compose Postgres initialises an empty data volume
# (/docker-entrypoint-initdb.d). It creates one login role per tenant of this server:
#   herald   - owns the "herald" database; `herald migrate` creates the schema in it.
#              Its collation is C (byte order; the same order as C.UTF-8 for UTF-8
#              text): Herald sorts and indexes ids, and C compares them without
#              the locale library, which makes event inserts ~12% cheaper
#   temporal - may create databases; temporal-setup-schema.sh creates "temporal" and
#              "temporal_visibility" with it, so it owns them (PostgreSQL 15+ lets only
#              a database's owner create in its public schema)
# Passwords come from the service environment (see docker-compose.yml).
set -eu

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v herald_password="$HERALD_DB_PASSWORD" \
	-v temporal_password="$TEMPORAL_DB_PASSWORD" <<'SQL'
CREATE ROLE herald LOGIN PASSWORD :'herald_password';
CREATE DATABASE herald OWNER herald TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C.UTF-8';
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_password';
SQL
