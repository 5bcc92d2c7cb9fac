#!/bin/bash
# Run once by the postgres image when it initialises the primary (docker-entrypoint-initdb.d): a role that may
# stream the WAL, a physical replication slot for the replica (so the primary keeps the WAL it has not received),
# and a pg_hba line admitting that role to replication (the image's own lines admit databases, not replication).
set -euo pipefail
psql --set=ON_ERROR_STOP=1 --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" \
    --set=password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SELECT pg_create_physical_replication_slot('replica1');
SQL
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
