"""Migrations apply once, in order, each in a transaction, and refuse edited history."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from registry.errors import MigrationError
from registry.migrations import MIGRATIONS_DIR, discover, migrate
from tests.conftest import Db


def test_rerunning_applies_nothing(run, fresh_db: Db) -> None:
    async def scenario() -> list[str]:
        conn = await fresh_db.owner()
        try:
            return await migrate(conn)
        finally:
            await conn.close()

    assert run(scenario()) == []


def test_an_applied_migration_that_was_edited_stops_the_run(run, fresh_db: Db, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    first = sorted(directory.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")

    async def scenario() -> None:
        conn = await fresh_db.owner()
        try:
            await migrate(conn, directory)
        finally:
            await conn.close()

    with pytest.raises(MigrationError, match="edited"):
        run(scenario())


def test_a_failing_migration_is_rolled_back_and_named(run, fresh_db: Db, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    (directory / "9999_break_things.sql").write_text("CREATE TABLE half_done (x int);\nSELECT 1/0;\n")

    async def scenario() -> bool:
        conn = await fresh_db.owner()
        try:
            with pytest.raises(MigrationError, match="9999_break_things.sql"):
                await migrate(conn, directory)
            return await conn.fetchval("SELECT to_regclass('half_done') IS NULL")
        finally:
            await conn.close()

    assert run(scenario())


def test_misnamed_migration_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_create.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_verb_noun"):
        discover(tmp_path)


def test_concurrent_migrators_apply_each_migration_once(run, admin_url: str) -> None:
    import uuid

    from registry.db import Database, ensure_database, with_database
    from tests.conftest import drop_test_database

    name = f"registry_test_{uuid.uuid4().hex[:12]}"

    async def scenario() -> list[list[str]]:
        await ensure_database(admin_url, name)
        url = with_database(admin_url, name)
        database = Database(url, url)
        conns = [await database.connect(owner=True) for _ in range(3)]
        try:
            return list(await asyncio.gather(*(migrate(c) for c in conns)))
        finally:
            for c in conns:
                await c.close()

    results = run(scenario())
    assert sorted(len(r) for r in results) == [0, 0, len(discover())]

    async def drop() -> None:
        import asyncpg

        conn = await asyncpg.connect(admin_url)
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await conn.close()

    run(drop())
    _ = drop_test_database
