"""Where reads go: the primary, or a streaming replica of it, with read-your-writes for the caller.

A national deployment outgrows one PostgreSQL on reads first (ARCHITECTURE.md, "Growth beyond one machine"), so
with DATABASE_READ_URL set the API's queries, subscriptions and feeds read a streaming replica (PostgreSQL's own
physical replication) while commands, the access log and every other write go to the primary. `Registry.reader`
is the one seam for that choice: a `Reader` with the pool, the store and the registers a read uses. On a single
server it is the primary's own objects and waiting is a no-op, so a read path written against it costs nothing
where there is no replica.

Read-your-writes. A command answers with the cursor of the last event it wrote (the global order's
(transaction_id, position) pair, `Cursor`). A later read that sends it back (`Reader.after`) waits until the
replica shows that event. A standby makes transactions visible as it replays their commit records, in the
primary's commit order, so once that event is visible so is everything the primary had committed when the
command committed (its keys, earlier commands): the read sees at least what its caller wrote. The wait is
bounded (REGISTRY_REPLICA_WAIT); past it the read fails with ReplicaLag, never with stale data it promised not to
serve. A cursor the primary has never written is refused as bad input at once instead of being waited for.

The gap-safe global order holds on a replica too: `pg_current_snapshot()` on a standby gives the primary's
running transactions as replayed, so `transaction_id < pg_snapshot_xmin(...)` keeps its meaning and a follower
reading the replica neither skips nor repeats an event. LISTEN does not work on a standby (hot standby refuses
it), so wake-ups still come from the primary; a woken reader waits for the replica like a read with a cursor.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncpg

from .errors import InvalidInput, ReplicaLag
from .events import START, Cursor
from .store import EventStore, driver_errors

if TYPE_CHECKING:
    from .case_service import CaseRegister
    from .child_service import ChildRegister

AFTER_HEADER = "x-registry-after"  # a read's "after my write": the globalCursor a mutation answered with

# The event at a cursor, by its primary key; a standby shows it once it has replayed its transaction's commit.
_HAS_SQL = "SELECT EXISTS (SELECT FROM events WHERE position = $1 AND transaction_id = $2)"
_HEAD_SQL = "SELECT coalesce(max(position), 0) FROM events"
# How far behind the replica is: nothing if it holds the primary's last event, else the age of what it last
# replayed (pg_last_xact_replay_timestamp is the primary's commit time of the last transaction replayed).
_REPLAY_SQL = """
SELECT coalesce(max(position), 0), coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)::float8
FROM events
"""


@dataclass
class Reader:
    """What a read uses: `pool`, `store` and the registers, on the replica (`replica`) or the primary."""

    pool: asyncpg.Pool
    store: EventStore
    primary: asyncpg.Pool
    wait: float  # seconds a read with a cursor waits for the replica
    replica: bool
    _children: Callable[[], Awaitable[ChildRegister]] = field(repr=False)
    _cases: Callable[[], Awaitable[CaseRegister]] = field(repr=False)

    async def children(self) -> ChildRegister:
        """The children register reading here (its commands still write to the primary: use Registry's for them)."""
        return await self._children()

    async def cases(self) -> CaseRegister:
        """The case register reading here."""
        return await self._cases()

    async def after(self, cursor: Cursor | None, field: str = AFTER_HEADER) -> None:
        """Return once this reader shows the event at `cursor` (at once on the primary, or without a cursor).

        Raises ReplicaLag when the replica has not replayed it within `wait` seconds, and InvalidInput naming
        `field` when the primary never wrote it either (a forged or foreign cursor is not waited for).
        """
        if cursor is None or not self.replica or cursor == START:
            return
        if await self._has(self.pool, cursor):
            return
        if not await self._has(self.primary, cursor):
            raise InvalidInput(field, "unknown_cursor", "names no event this registry has written")
        deadline = time.monotonic() + self.wait
        delay = 0.002
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)
            if await self._has(self.pool, cursor):
                return
        raise ReplicaLag(self.wait)

    async def lag(self) -> float:
        """Seconds the replica is behind the primary (0 on a single server, or when it holds the last event)."""
        if not self.replica:
            return 0.0
        with driver_errors():
            head = await self.primary.fetchval(_HEAD_SQL, timeout=5)
            row = await self.pool.fetchrow(_REPLAY_SQL, timeout=5)
        assert row is not None  # an aggregate always returns a row
        return 0.0 if row[0] >= head else max(float(row[1]), 0.0)

    @staticmethod
    async def _has(pool: asyncpg.Pool, cursor: Cursor) -> bool:
        with driver_errors():
            return bool(await pool.fetchval(_HAS_SQL, cursor.position, cursor.transaction_id))


__all__ = ["AFTER_HEADER", "Reader"]
