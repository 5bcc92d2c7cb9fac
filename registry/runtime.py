"""Open the registry: settings -> database -> migrations -> pool -> store (and a replica's, for reads).

Shared by the command line and the ASGI app so both start the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from .case_service import CaseRegister
from .catalog import default_catalog
from .child_service import ChildRegister
from .config import Settings
from .db import Database
from .errors import MigrationError
from .gazetteer import Gazetteer
from .migrations import migrate, pending
from .replica import Reader
from .sealing import Keyring, master_key
from .store import EventStore, driver_errors

log = logging.getLogger(__name__)


@dataclass
class Registry:
    settings: Settings
    database: Database
    pool: asyncpg.Pool
    store: EventStore
    _gazetteer: Gazetteer | None = field(default=None, repr=False)
    _refreshed: float = field(default=float("-inf"), repr=False)  # time.monotonic() of the last refresh
    _children: ChildRegister | None = field(default=None, repr=False)
    _cases: CaseRegister | None = field(default=None, repr=False)
    read_pool: asyncpg.Pool | None = None  # a streaming replica's (DATABASE_READ_URL), or None: reads use `pool`
    _reader: Reader | None = field(default=None, repr=False)
    _read_children: ChildRegister | None = field(default=None, repr=False)
    _read_cases: CaseRegister | None = field(default=None, repr=False)

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        apply_migrations: bool | None = None,
        progress: Callable[[str], None] = log.info,
    ) -> Registry:
        """Open the database and the store.

        apply_migrations: True migrates, False requires the schema to be
        current, None (the default) migrates the embedded server only. A
        deployment with DATABASE_URL migrates as a separate step (`registry
        migrate`, as the owner).
        """
        database = await Database.open(settings)
        try:
            with driver_errors():
                conn = await database.connect(owner=True)
                try:
                    if apply_migrations or (apply_migrations is None and database.embedded is not None):
                        await migrate(conn, progress=progress)
                    elif todo := await pending(conn):
                        raise MigrationError(
                            f"REG-E002: {len(todo)} migration(s) not applied ({todo[0].name} first): "
                            "run `registry migrate`"
                        )
                finally:
                    await conn.close()
            pool = await database.create_pool(settings.registry_pool_size)
        except BaseException:
            database.close()
            raise
        read_pool = None
        if settings.database_read_url is not None:
            try:
                read_pool = await database.create_pool(settings.registry_pool_size,
                                                       url=settings.database_read_url.get_secret_value())  # fmt: skip
            except BaseException:
                await pool.close()
                database.close()
                raise
        store = EventStore(pool, default_catalog(), connect=database.connect)
        return cls(settings, database, pool, store, read_pool=read_pool)

    @property
    def reader(self) -> Reader:
        """Where reads go (registry/replica.py): the replica of DATABASE_READ_URL, or the primary itself.

        Queries, subscriptions, feeds and replays read through it; commands, and every write a read makes (the
        access log), use `pool`, `store`, `children()` and `cases()` of the registry, on the primary.
        """
        if self._reader is None:
            if self.read_pool is None:
                self._reader = Reader(self.pool, self.store, self.pool, self.settings.registry_replica_wait, False,
                                      self.children, self.cases)  # fmt: skip
            else:
                store = EventStore(self.read_pool, self.store.catalog)  # no `connect`: a standby cannot LISTEN
                self._reader = Reader(self.read_pool, store, self.pool, self.settings.registry_replica_wait, True,
                                      self._replica_children, self._replica_cases)  # fmt: skip
        return self._reader

    async def gazetteer(self, max_age: float = 0.0) -> Gazetteer:
        """The administrative units the store holds, brought up to date (unless they were less than `max_age`
        seconds ago: readers that can live with a unit decided a moment ago showing a moment later)."""
        if self._gazetteer is None:
            self._gazetteer = Gazetteer()
        if time.monotonic() - self._refreshed >= max_age or max_age <= 0:
            await self._gazetteer.refresh(self.store)
            self._refreshed = time.monotonic()
        return self._gazetteer

    async def children(self) -> ChildRegister:
        """The children register (its keys wrapped by the master key of the settings)."""
        if self._children is None:
            keyring = Keyring(self.pool, master_key(self.settings))
            self._children = ChildRegister(self.store, keyring, await self.gazetteer())
        return self._children

    async def cases(self) -> CaseRegister:
        """The case register (reporters' identities sealed with keys wrapped by the master key)."""
        if self._cases is None:
            keyring = Keyring(self.pool, master_key(self.settings), subject="case")
            self._cases = CaseRegister(self.store, keyring, await self.gazetteer(), await self.children())
        return self._cases

    async def _replica_children(self) -> ChildRegister:
        if self._read_children is None:
            keyring = Keyring(self.pool, master_key(self.settings), reader=self.read_pool)
            self._read_children = ChildRegister(self.reader.store, keyring, await self.gazetteer())
        return self._read_children

    async def _replica_cases(self) -> CaseRegister:
        if self._read_cases is None:
            keyring = Keyring(self.pool, master_key(self.settings), subject="case", reader=self.read_pool)
            self._read_cases = CaseRegister(self.reader.store, keyring, await self.gazetteer(),
                                            await self._replica_children())  # fmt: skip
        return self._read_cases

    async def close(self) -> None:
        await self.store.close()
        await self.pool.close()
        if self.read_pool is not None:
            await self.read_pool.close()
        self.database.close()


__all__ = ["Registry"]
