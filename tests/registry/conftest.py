"""Fixtures of the registry's application services: one database with the real units, shared by the session."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from registry.case_service import CaseRegister
from registry.catalog import default_catalog
from registry.child_service import ChildRegister
from registry.gazetteer import Gazetteer
from registry.sealing import Keyring
from registry.store import EventStore
from registry.unit_loader import default_plan, load
from tests.conftest import Db, create_test_database, drop_test_database

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


@dataclass
class Registry:
    db: Db
    store: EventStore
    children: ChildRegister
    keyring: Keyring
    cases: CaseRegister
    case_keyring: Keyring


@pytest.fixture(scope="session")
def registry(admin_url: str, runner: asyncio.Runner) -> Iterator[Registry]:
    """A database with the real administrative units (each test works on children and cases of its own)."""
    db = runner.run(create_test_database(admin_url))
    store = EventStore(db.pool, default_catalog())
    runner.run(load(store, default_plan()))
    units = Gazetteer()
    runner.run(units.refresh(store))
    master = os.urandom(32)
    keyring, case_keyring = Keyring(db.pool, master), Keyring(db.pool, master, subject="case")
    children = ChildRegister(store, keyring, units, clock=lambda: NOW)
    cases = CaseRegister(store, case_keyring, units, children, clock=lambda: NOW)
    yield Registry(db, store, children, keyring, cases, case_keyring)
    runner.run(store.close())
    runner.run(drop_test_database(admin_url, db))
