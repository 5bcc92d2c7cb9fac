"""Backup and restore as the README's Operations section tells an operator to do it: `pg_dump --format=custom` of a
registry database with the server's own pg_dump, `pg_restore` into a new database, then `registry verify` (the
command line, as a separate process) passes on the copy, whose personal data opens with the deployment's master key
and whose erased data stays erased."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import pytest

from registry.case_service import CaseRegister
from registry.cases import AssessRisk, CaseType, Channel, ReceiveReport, ReporterKind, RiskLevel
from registry.catalog import default_catalog
from registry.child_service import ChildRegister
from registry.children import ClassifyChild, EraseChildData, Identity, RecordSupport, RegisterChild, Sex
from registry.circumstances import SupportKind, SupportLevel
from registry.db import Database, drop_database, ensure_database, with_database
from registry.events import Metadata
from registry.gazetteer import Gazetteer
from registry.integrity import create_checkpoint
from registry.sealing import Keyring
from registry.store import EventStore
from registry.unit_loader import load
from tests.conftest import Db
from tests.ops.cluster import binaries
from tests.registry.test_cli import environment, registry
from tests.registry.test_unit_loader import tiny_plan

OFFICER = Metadata(actor_id="officer:ops", actor_role="commune_officer")
CHILDREN = 40


def client(program: str, server_major: int) -> Path:
    """The server's own client program: the embedded one when its version is the server's, else Debian's."""
    embedded = binaries() / program
    found = subprocess.run([str(embedded), "--version"], capture_output=True, text=True, check=True).stdout
    if int(found.split()[-1].split(".")[0]) == server_major:
        return embedded
    debian = Path(f"/usr/lib/postgresql/{server_major}/bin/{program}")
    if not debian.exists():
        pytest.skip(f"no {program} of PostgreSQL {server_major} here (Debian's postgresql-client-{server_major})")
    return debian


async def populate(db: Db, master: bytes, tmp: Path) -> tuple[list[str], str]:
    """A synthetic register through the registers' own commands: the small country's units, children with groups
    and supports, cases, one erasure, and a checkpoint. Returns the children's ids and the erased one's."""
    store = EventStore(db.pool, default_catalog(), connect=db.database.connect)
    await load(store, tiny_plan(tmp))
    units = Gazetteer()
    await units.refresh(store)
    children = ChildRegister(store, Keyring(db.pool, master), units)
    cases = CaseRegister(store, Keyring(db.pool, master, subject="case"), units, children)
    ids = [str(uuid.uuid4()) for _ in range(CHILDREN)]
    for n, child_id in enumerate(ids):
        born, sex = date(2012 + n % 10, 1 + n % 12, 1), Sex.MALE if n % 2 else Sex.FEMALE
        await children.execute(
            RegisterChild(child_id, f"Nông Văn Số {n}", born, sex, "00004", date(2025, 8, 1)), OFFICER
        )
        await children.execute(ClassifyChild(child_id, "disabled", date(2025, 9, 1), "a certificate", "mild"), OFFICER)
        await children.execute(RecordSupport(child_id, SupportKind.HEALTH, SupportLevel.SUPPORT,
                                             "commune health station", date(2025, 10, 1)), OFFICER)  # fmt: skip
    for n in range(5):
        case_id = str(uuid.uuid4())
        at = datetime(2025, 10, 1 + n, 9, tzinfo=UTC)
        await cases.execute(ReceiveReport(case_id, at, Channel.HOTLINE_111, ReporterKind.NEIGHBOUR,
                                          (CaseType.NEGLECT,), "00004", "left alone at night",
                                          child_ids=(ids[n],)), OFFICER)  # fmt: skip
        await cases.execute(AssessRisk(case_id, at.replace(hour=15), RiskLevel.MEDIUM, emergency=False), OFFICER)
    erased = ids[-1]
    await children.execute(EraseChildData(erased, "Decree 13/2023 Art. 16: the person's request"), OFFICER)
    assert await create_checkpoint(store) is not None
    await store.close()
    return ids, erased


def test_a_restored_dump_passes_verify_and_keeps_its_keys_and_erasures(run, fresh_db: Db, admin_url: str,
                                                                        tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    master = os.urandom(32)
    ids, erased = run(populate(fresh_db, master, tmp_path))
    major = int(run(fresh_db.pool.fetchval("SHOW server_version_num"))) // 10_000
    dump = tmp_path / "registry.dump"
    done = subprocess.run([str(client("pg_dump", major)), "--format=custom", f"--file={dump}",
                           f"--dbname={fresh_db.owner_url}"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr

    copy = f"registry_restored_{uuid.uuid4().hex[:10]}"
    run(ensure_database(admin_url, copy))
    copy_url = with_database(admin_url, copy)
    try:
        restored = subprocess.run([str(client("pg_restore", major)), "--exit-on-error", "--single-transaction",
                                   f"--dbname={copy_url}", str(dump)], capture_output=True, text=True,
                                  timeout=300)  # fmt: skip
        assert restored.returncode == 0, restored.stderr

        check = registry("verify", env=environment(DATABASE_URL=copy_url))
        assert check.returncode == 0, check.stdout + check.stderr
        summary = check.stdout.strip().splitlines()[-1]
        original = run(fresh_db.pool.fetchval("SELECT count(*) FROM events"))
        assert summary.startswith(f"verify: OK: {original} events") and "1 checkpoints" in summary, summary

        async def opened() -> tuple[list[object], object, int]:
            pool = await Database(copy_url, copy_url).create_pool(2)  # as the application opens it: role registry_app
            try:
                store = EventStore(pool, default_catalog())
                units = Gazetteer()
                await units.refresh(store)
                children = ChildRegister(store, Keyring(pool, master), units)
                states = [await children.load(child_id) for child_id in ids[:3]]
                gone = await children.load(erased)
                rejected = 0
                owner = await asyncpg.connect(copy_url)
                try:  # the events table is immutable in the copy as in the original, for the owner too (its trigger)
                    for conn in (pool, owner):
                        try:
                            await conn.execute("UPDATE events SET data = data WHERE position = 1")
                        except asyncpg.PostgresError:
                            rejected += 1
                finally:
                    await owner.close()
                return [s.personal for s in states if s is not None], None if gone is None else gone.personal, rejected
            finally:
                await pool.close()

        personal, gone, rejected = run(asyncio.wait_for(opened(), 60))
        assert [p.full_name for p in personal if isinstance(p, Identity)] == [f"Nông Văn Số {n}" for n in range(3)]
        assert not isinstance(gone, Identity)  # an erased child's data stays erased in a backup taken after it
        assert rejected == 2
    finally:
        run(drop_database(admin_url, copy))
