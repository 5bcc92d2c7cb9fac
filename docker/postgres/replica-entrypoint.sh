#!/bin/bash
# The replica: a hot standby of $PRIMARY_HOST by PostgreSQL's own streaming replication. On its first start it
# copies the primary with pg_basebackup --write-recovery-conf (standby.signal and primary_conninfo) through the
# slot primary-init.sh made; then, and on every later start, it runs the server, which streams and replays.
set -euo pipefail
: "${PGDATA:?}" "${PRIMARY_HOST:?}" "${REPLICATION_PASSWORD:?}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    chmod 700 "$PGDATA"
    export PGPASSWORD="$REPLICATION_PASSWORD"
    until pg_basebackup --host="$PRIMARY_HOST" --username=replicator --pgdata="$PGDATA" --write-recovery-conf \
        --wal-method=stream --slot=replica1 --checkpoint=fast; do
        echo "replica: the primary is not ready for a base backup yet; trying again" >&2
        find "$PGDATA" -mindepth 1 -delete
        sleep 2
    done
    unset PGPASSWORD
fi
exec postgres -c hot_standby=on -c hot_standby_feedback=on
