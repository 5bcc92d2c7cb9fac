"""Shared fixtures: one PostgreSQL server per test session, a fresh database where a test needs one.

With DATABASE_URL set the suite runs against that server (it must allow
CREATE DATABASE; superuser for the tamper tests), otherwise against a
throw-away embedded PostgreSQL. Every database the suite creates is dropped.
The event loop is an asyncio.Runner shared by the session, so tests stay plain
functions that hypothesis can drive: `run(coroutine)`.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from hypothesis import HealthCheck, settings
from pydantic import BaseModel, ConfigDict

from registry.case_service import CaseRegister
from registry.catalog import default_catalog
from registry.child_service import ChildRegister
from registry.db import Database, create_scratch_database, drop_database, server_url
from registry.events import Catalog
from registry.gazetteer import Gazetteer
from registry.sealing import Keyring
from registry.store import EventStore
from registry.unit_loader import default_plan, load

T = TypeVar("T")

settings.register_profile(
    "registry",
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# CI (CI=true) explores more interleavings and inputs; the suite still runs in minutes.
settings.register_profile("ci", parent=settings.get_profile("registry"), max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "registry"))


class Happened(BaseModel):
    """A test event: a counter and a note."""

    model_config = ConfigDict(extra="forbid")
    n: int
    note: str = ""


class Tagged(BaseModel):
    """A test event with free-form JSON, to reach the store's own JSON checks."""

    model_config = ConfigDict(extra="forbid")
    payload: Any = None


def make_catalog() -> Catalog:
    catalog = Catalog()
    catalog.add_event("thing", "Happened", Happened)
    catalog.add_event("thing", "Tagged", Tagged)
    catalog.add_event("other", "OtherHappened", Happened)
    return catalog


@pytest.fixture(scope="session")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as r:
        yield r


@pytest.fixture(scope="session")
def run(runner: asyncio.Runner) -> Callable[[Coroutine[Any, Any, T]], T]:
    return runner.run


@pytest.fixture(scope="session")
def admin_url() -> Iterator[str]:
    # Not under pytest's basetemp: pytest deletes all but the last three of those, so a second test run by the same
    # user (a developer's, beside CI) would delete this run's data directory under its running server.
    with tempfile.TemporaryDirectory(prefix="registry-test-pg-") as scratch:
        with server_url(os.environ.get("DATABASE_URL"), Path(scratch)) as url:
            yield url


@dataclass
class Db:
    """A migrated database of the test server, with a pool of the run-time role and a store."""

    name: str
    database: Database
    pool: asyncpg.Pool
    store: EventStore

    @property
    def owner_url(self) -> str:
        return self.database.owner_url

    async def owner(self) -> asyncpg.Connection:
        return await self.database.connect(owner=True)


async def create_test_database(admin_url: str) -> Db:
    name = f"registry_test_{uuid.uuid4().hex[:12]}"
    database = await create_scratch_database(admin_url, name)
    pool = await database.create_pool(8)
    store = EventStore(pool, make_catalog(), connect=database.connect)
    return Db(name, database, pool, store)


async def drop_test_database(admin_url: str, db: Db) -> None:
    await db.store.close()
    await db.pool.close()
    await drop_database(admin_url, db.name)


@pytest.fixture(scope="session")
def shared_db(admin_url: str, runner: asyncio.Runner) -> Iterator[Db]:
    """One database for tests that only append to streams of their own."""
    db = runner.run(create_test_database(admin_url))
    yield db
    runner.run(drop_test_database(admin_url, db))


@pytest.fixture
def fresh_db(admin_url: str, runner: asyncio.Runner) -> Iterator[Db]:
    """A database of the test's own, for tests that tamper or count everything."""
    db = runner.run(create_test_database(admin_url))
    yield db
    runner.run(drop_test_database(admin_url, db))


@pytest.fixture
def store(shared_db: Db) -> EventStore:
    return shared_db.store


def new_stream() -> str:
    return f"s-{uuid.uuid4().hex}"


NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


@dataclass
class Registry:
    db: Db
    store: EventStore
    children: ChildRegister
    keyring: Keyring
    cases: CaseRegister
    case_keyring: Keyring
    master: bytes  # the deployment's master key (a server started on this database needs the same)


@pytest.fixture(scope="session")
def registry(admin_url: str, runner: asyncio.Runner) -> Iterator[Registry]:
    """A database with the real administrative units (each test works on children and cases of its own)."""
    db = runner.run(create_test_database(admin_url))
    store = EventStore(db.pool, default_catalog(), connect=db.database.connect)
    runner.run(load(store, default_plan()))
    units = Gazetteer()
    runner.run(units.refresh(store))
    master = os.urandom(32)
    keyring, case_keyring = Keyring(db.pool, master), Keyring(db.pool, master, subject="case")
    children = ChildRegister(store, keyring, units, clock=lambda: NOW)
    cases = CaseRegister(store, case_keyring, units, children, clock=lambda: NOW)
    yield Registry(db, store, children, keyring, cases, case_keyring, master)
    runner.run(store.close())
    runner.run(drop_test_database(admin_url, db))
