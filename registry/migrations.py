"""Apply the numbered SQL files of migrations/ in order, once each.

Rules (README "Operations"):
- a file is named NNNN_verb_noun.sql and is applied in a transaction of its own;
- applied files are recorded in schema_migrations with a sha-256 of their text;
  an applied file that was edited afterwards, or has disappeared, stops the run
  (migrations are never edited once merged: add a new file instead);
- re-running applies nothing; concurrent runs serialise on an advisory lock.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from .config import PROJECT_DIR
from .errors import MigrationError

MIGRATIONS_DIR = PROJECT_DIR / "migrations"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same for every migrating process.
_LOCK_KEY = 0x72656769  # "regi"

_CREATE_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""
_APPLIED_SQL = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
_RECORD_SQL = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Return the migrations in directory, in order; a misnamed or duplicate file is an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_verb_noun.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} is used twice")
        found[version] = Migration(version, path.name, path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def pending(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Return the migrations not yet applied, after checking the applied ones are unchanged."""
    migrations = discover(directory)
    by_version = {m.version: m for m in migrations}
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    applied = await conn.fetch(_APPLIED_SQL) if exists else []
    for row in applied:
        migration = by_version.get(row["version"])
        if migration is None:
            raise MigrationError(f"{row['name']} was applied but its file is gone")
        if migration.checksum != row["checksum"]:
            raise MigrationError(f"{migration.name} was edited after it was applied; add a new migration")
    done = {row["version"] for row in applied}
    return [m for m in migrations if m.version not in done]


async def migrate(
    conn: asyncpg.Connection,
    directory: Path = MIGRATIONS_DIR,
    progress: Callable[[str], None] = lambda _: None,
) -> list[str]:
    """Apply pending migrations on an owner connection; return the names applied."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(_CREATE_TABLE_SQL)
        applied = []
        for migration in await pending(conn, directory):
            progress(f"applying {migration.name}")
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(_RECORD_SQL, migration.version, migration.name, migration.checksum)
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"{migration.name} failed: {exc.sqlstate} {exc}") from None
            applied.append(migration.name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


__all__ = ["MIGRATIONS_DIR", "Migration", "discover", "migrate", "pending"]
