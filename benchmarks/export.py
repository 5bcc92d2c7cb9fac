"""Export benchmark: `registry bench export [--help]`.

Measured in one run on one server (DATABASE_URL, or else a throw-away
embedded PostgreSQL), in a fresh database dropped at the end:

- setup: the administrative units, then `--children` synthetic children
  (registry/synthetic.py: Faker's vi_VN names, real communes of Điện Biên and
  Lai Châu, legacy ones before the reform, personal ids for most, groups for
  some) imported through `registry import`'s Importer, and the child
  register's read model built;
- export: every child of province 11 (Điện Biên) today, as CSV, JSON Lines
  and XLSX (projections/export.py: ids a page at a time from the read model,
  each page's records opened with their keys, logged, encoded), records/s;
  and the data-quality report of the same province (projections/quality.py);
- baseline: the same pages of ids and the same records' events read by the
  store (EventStore.read_streams) in the same run, with nothing opened,
  folded, logged or encoded: what an export costs beyond reading its data.

No target is set by the issue; the figures say what a province's export
takes (and the memory of an export does not grow with the unit:
tests/projections/test_export.py measures that).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg

from projections.export import PAGE, Export, ExportRequest, Sources
from projections.quality import QualityCheck
from projections.queries import children_page
from projections.register import ChildRegister as ChildModel
from projections.runtime import Projector
from registry.access import operator
from registry.case_service import CaseRegister
from registry.catalog import default_catalog
from registry.child_service import ChildRegister
from registry.db import create_scratch_database, drop_database, server_url
from registry.gazetteer import Gazetteer
from registry.imports import Importer, ImportOptions, Table
from registry.sealing import Keyring
from registry.store import EventStore
from registry.synthetic import rows
from registry.unit_loader import default_plan, load
from registry.units import Level

PROVINCE = "11"  # Điện Biên: the synthetic rows' first province
COLLECTED = date(2026, 11, 1)


def say(message: str) -> None:
    print(message, flush=True)


async def baseline(pool: asyncpg.Pool, store: EventStore, on: date, schema: str) -> tuple[float, int]:
    """The export's reads alone: the pages of ids, and each page's events (records/s)."""
    started, after, count = time.perf_counter(), "", 0
    while ids := await children_page(pool, Level.PROVINCE, PROVINCE, on, after=after, limit=PAGE, schema=schema):
        await store.read_streams([f"child:{i}" for i in ids])
        count, after = count + len(ids), ids[-1]
    return count / (time.perf_counter() - started), count


async def export_rate(sources: Sources, file_format: str, scratch: Path) -> tuple[float, int, int]:
    job = Export(sources, operator("operator:bench"), ExportRequest(PROVINCE, "benchmark", file_format=file_format),
                 request_id=f"bench:{uuid.uuid4().hex}")  # fmt: skip
    started = time.perf_counter()
    with (scratch / job.filename).open("wb") as out:
        async for chunk in job.chunks():
            out.write(chunk)
    return job.summary.records / (time.perf_counter() - started), job.summary.records, job.summary.bytes


async def quality_rate(sources: Sources) -> tuple[float, int]:
    check = QualityCheck(sources, operator("operator:bench"), PROVINCE, "benchmark", f"bench:{uuid.uuid4().hex}")
    started = time.perf_counter()
    async for _ in check.records():
        pass
    return check.checked / (time.perf_counter() - started), check.checked


async def measure(args: argparse.Namespace, admin_url: str, scratch: Path) -> dict[str, Any]:
    name = f"registry_bench_{uuid.uuid4().hex[:10]}"
    database = await create_scratch_database(admin_url, name)
    pool = await database.create_pool(10)
    store = EventStore(pool, default_catalog(), connect=database.connect)

    async def owner() -> asyncpg.Connection:
        return await database.connect(owner=True)

    try:
        say("bench: loading the administrative units")
        await load(store, default_plan())
        units = Gazetteer()
        await units.refresh(store)
        keyring = Keyring(pool, os.urandom(32))
        children = ChildRegister(store, keyring, units)
        path = scratch / "synthetic.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            found = list(rows(1, units))
            writer = csv.DictWriter(handle, fieldnames=list(found[0]))
            writer.writeheader()
            writer.writerows(rows(args.children, units, collected_on=COLLECTED))
        say(f"bench: importing {args.children:,} synthetic children")
        options = ImportOptions(source="bench", collected_on=COLLECTED, actor_id="operator:bench",
                                actor_role="operator")  # fmt: skip
        imported = await Importer(children, units, store, options).run(Table(path))
        model = ChildModel()
        projector = Projector(store, owner, model)
        await model.prepare(store)
        await projector.catch_up(await projector.ensure())
        cases = CaseRegister(store, Keyring(pool, os.urandom(32), subject="case"), units, children)
        sources = Sources(pool, children, cases, units)
        today = datetime.now(UTC).date()
        say("bench: reading the same records (baseline)")
        await baseline(pool, store, today, model.schema)  # warm up
        raw, count = await baseline(pool, store, today, model.schema)
        figures: dict[str, Any] = {"children_imported": imported.created, "children_exported": count,
                                   "baseline_records_per_second": raw}  # fmt: skip
        for file_format in ("csv", "jsonl", "xlsx"):
            say(f"bench: exporting province {PROVINCE} as {file_format}")
            rate, records, size = await export_rate(sources, file_format, scratch)
            figures[f"{file_format}_records_per_second"] = rate
            figures[f"{file_format}_bytes"] = size
            assert records == count, (file_format, records, count)
        say("bench: the data-quality report of the province")
        figures["quality_records_per_second"], _ = await quality_rate(sources)
        figures["server_version"] = await pool.fetchval("SHOW server_version")
    finally:
        await store.close()
        await pool.close()
        await drop_database(admin_url, name)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="registry bench export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=20_000, help="synthetic children imported (two provinces)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    started = time.perf_counter()
    if not os.environ.get("DATABASE_URL"):
        say("bench: starting a throw-away embedded PostgreSQL")
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as scratch:
        with server_url(os.environ.get("DATABASE_URL"), Path(scratch)) as url:
            figures = asyncio.run(measure(args, url, Path(scratch)))
    where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded"
    raw = figures["baseline_records_per_second"]
    print(f"PostgreSQL {figures['server_version']} ({where}); {figures['children_exported']:,} children of province "
          f"{PROVINCE} (of {figures['children_imported']:,} imported)")  # fmt: skip
    print(f"{'workload':<44} {'registry':>12} {'baseline':>12} {'ratio':>8}")
    print("-" * 79)
    for label, key in (("export CSV, records/s", "csv"), ("export JSON Lines, records/s", "jsonl"),
                       ("export XLSX, records/s", "xlsx"), ("data-quality report, records/s", "quality")):  # fmt: skip
        rate = figures[f"{key}_records_per_second"]
        print(f"{label:<44} {rate:>12,.0f} {raw:>12,.0f} {rate / raw:>8.2f}")
    print("baseline: the same pages of ids and the same records' events read by the store, nothing opened or encoded")
    print(f"({time.perf_counter() - started:.0f} s in all)")
    if args.json is not None:
        figures.update(measured_at=datetime.now(UTC).isoformat(), server=where, schema_version=1)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
