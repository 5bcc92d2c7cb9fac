"""Projections benchmark: `registry bench projections [--help]`.

Measured in one run on one server (DATABASE_URL, or else a throw-away
embedded PostgreSQL), in a fresh database dropped at the end:

- a synthetic log of child events (registration, classification, support, a
  move: four per child, across the real communes of the two-tier map) and,
  for a fifth of the events, of cases (report, assessment, plan, approval,
  closure: five per case, about those children) is
  written straight into the events table by one SQL statement per 100,000
  events (the benchmark measures folding, not appending; the hashes are
  random, so `registry verify` would reject this log);
- rebuild: every projection of projections/register.py built from the start
  of the log into fresh tables (events/s). Baseline: the store's own read of
  the same events in the global order (EventStore.iterate), measured in the
  same run;
- lag: a projector follows the log while a writer appends registrations at a
  steady rate through EventStore.append; the lag of an event is the time
  from its append returning to the projector's checkpoint covering it.

Targets (projections issue): rebuild >= 50,000 events/s on this 2-core
machine; lag p99 under 1 s at 500 events/s of writes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg

from projections.register import PROJECTIONS
from projections.runtime import Projector
from registry.catalog import default_catalog
from registry.children import STREAM_TYPE, ChildRegistered, Details, Sex
from registry.db import create_scratch_database, drop_database, server_url
from registry.events import Cursor, Metadata, NewEvent
from registry.personal import Sealed
from registry.store import EventStore
from registry.unit_loader import default_plan, load
from registry.units import Level

META = Metadata(actor_id="system:bench", actor_role="system", source="bench")
TODAY = date(2026, 11, 23)

# One statement writes `$2` children (four events each) starting at child number $1.
_SYNTHETIC_SQL = """
INSERT INTO events (stream_id, stream_type, version, event_type, schema_version, data, metadata, occurred_at,
                    prev_hash, hash)
SELECT 'child:bench-' || n, 'child', v, t, 1, d, '{"actor_id": "system:bench", "actor_role": "system"}'::jsonb,
       o, CASE WHEN v = 1 THEN NULL ELSE decode(md5(n || '-' || (v - 1)) || md5((v - 1) || '-' || n), 'hex') END,
       decode(md5(n || '-' || v) || md5(v || '-' || n), 'hex')
FROM generate_series($1::bigint, $1::bigint + $2 - 1) AS n,
     LATERAL (SELECT ($3::text[])[1 + n % cardinality($3::text[])] AS c,
                     ($3::text[])[1 + (n * 7 + 3) % cardinality($3::text[])] AS c2) AS place,
     LATERAL (VALUES
        (1, 'ChildRegistered', jsonb_build_object('child_id', 'bench-' || n, 'commune_code', c,
            'residence_from', '2025-08-01', 'personal', jsonb_build_object('sealed', 'x'),
            'details', jsonb_build_object('date_of_birth', (date '2012-01-01' + (n % 3000)::int)::text, 'sex',
                CASE WHEN n % 2 = 0 THEN 'male' ELSE 'female' END, 'ethnicity', '01', 'caregivers', '[]'::jsonb,
                'birth_registration', 'registered', 'date_of_birth_precision', 'day')),
         timestamptz '2025-08-01 09:00+07'),
        (2, 'ChildClassified', jsonb_build_object('group', (ARRAY['hiv_aids', 'drug_addicted', 'trafficked',
            'in_conflict_with_law'])[1 + n % 4], 'subgroup', NULL, 'on', '2025-09-01', 'evidence', 'bench'),
         timestamptz '2025-09-01 00:00+07'),
        (3, 'SupportRecorded', jsonb_build_object('kind', 'health', 'level', 'support', 'provider', 'bench',
            'on', '2025-10-01', 'amount_vnd', NULL), timestamptz '2025-10-01 00:00+07'),
        (4, 'ChildMoved', jsonb_build_object('from_commune', c, 'to_commune', c2, 'on', '2026-01-01',
            'personal', jsonb_build_object('sealed', 'x')), timestamptz '2026-01-01 00:00+07')
     ) AS e(v, t, d, o)
WHERE c <> c2 OR v < 4
"""

# One statement writes `$2` cases (five events each: report, assessment, plan, approval, closure) starting at case
# number $1, each about child number 4 x n, in that child's commune.
_CASES_SQL = """
INSERT INTO events (stream_id, stream_type, version, event_type, schema_version, data, metadata, occurred_at,
                    prev_hash, hash)
SELECT 'case:bench-' || n, 'case', v, t, 1, d || jsonb_build_object('at', o), '{"actor_id": "system:bench",
       "actor_role": "system"}'::jsonb, o,
       CASE WHEN v = 1 THEN NULL ELSE decode(md5('c' || n || '-' || (v - 1)) || md5((v - 1) || '-c' || n), 'hex') END,
       decode(md5('c' || n || '-' || v) || md5(v || '-c' || n), 'hex')
FROM generate_series($1::bigint, $1::bigint + $2 - 1) AS n,
     LATERAL (SELECT ($3::text[])[1 + (4 * n) % cardinality($3::text[])] AS c,
                     timestamptz '2025-09-01 08:00+07' + (n % 400) * interval '1 day' AS t0) AS place,
     LATERAL (VALUES
        (1, 'ReportReceived', jsonb_build_object('case_id', 'bench-' || n, 'commune_code', c, 'channel', 'school',
            'reporter_kind', 'teacher', 'case_types', jsonb_build_array((ARRAY['neglect', 'physical_abuse',
            'sexual_abuse', 'exploitation'])[1 + n % 4]), 'child_ids', jsonb_build_array('bench-' || (4 * n)),
            'unregistered_children', '[]'::jsonb, 'personal', jsonb_build_object('sealed', 'x')), t0),
        (2, 'InitialAssessmentCompleted', jsonb_build_object('risk_level', (ARRAY['low', 'medium', 'high'])[1 + n % 3],
            'emergency', n % 5 = 0, 'caregiver_is_perpetrator', false), t0 + interval '10 hours'),
        (3, 'PlanSubmitted', jsonb_build_object('goals', '["safe"]'::jsonb, 'services', '[]'::jsonb),
         t0 + interval '4 days'),
        (4, 'PlanApproved', '{}'::jsonb, t0 + interval '9 days'),
        (5, 'CaseClosed', jsonb_build_object('reason', 'risk_resolved', 'note', NULL), t0 + interval '90 days')
     ) AS e(v, t, d, o)
"""


def say(message: str) -> None:
    print(message, flush=True)


async def synthetic_log(database: Any, store: EventStore, events: int) -> int:
    units = default_plan().gazetteer
    communes = sorted(s.code for s in units.states() if s.level is Level.COMMUNE and s.at(TODAY) is not None)
    conn = await database.connect(owner=True)
    try:
        # Four fifths of the events are children's (four each), one fifth cases' (five each).
        children, cases, step = events * 4 // 5 // 4, events // 5 // 5, 25_000
        for start in range(0, children, step):
            await conn.execute(_SYNTHETIC_SQL, start, min(step, children - start), communes)
        for start in range(0, cases, step):
            await conn.execute(_CASES_SQL, start, min(step, cases - start), communes)
        await conn.execute("ANALYZE events")
    finally:
        await conn.close()
    return int((await store.stats())[0])


async def read_rate(store: EventStore) -> float:
    started, count = time.perf_counter(), 0
    async for batch in store.iterate(stream_types=[STREAM_TYPE, "case"], batch=5000):
        count += len(batch)
    return count / (time.perf_counter() - started)


async def rebuild_rate(store: EventStore, connect: Any) -> tuple[float, int]:
    started, count = time.perf_counter(), 0
    for cls in PROJECTIONS:
        projector = Projector(store, connect, cls())
        counted: list[int] = []
        await projector.rebuild(progress=counted.append)
        count += sum(counted)
    return count / (time.perf_counter() - started), count


async def lag(store: EventStore, connect: Any, rate: int, seconds: float) -> list[float]:
    """Lags (s) of events appended at `rate` per second while the child register follows the log."""
    cls = next(p for p in PROJECTIONS if p.name == "child_register")
    projector = Projector(store, connect, cls(), batch=1000)
    stop = asyncio.Event()
    follower = asyncio.create_task(projector.run(stop, poll=0.5))
    await asyncio.sleep(1.0)  # leading and caught up
    appended: list[tuple[Cursor, float]] = []
    covered: dict[int, float] = {}
    conn = await connect()

    async def watch() -> None:
        while not stop.is_set():
            row = await conn.fetchrow(
                "SELECT transaction_id::text::bigint AS tx, position FROM projection_checkpoints c"
                " JOIN projection_state s ON s.name = c.name AND s.generation = c.generation WHERE c.name = $1",
                cls.name,
            )  # fmt: skip
            now = time.perf_counter()
            checkpoint = Cursor(row["tx"], row["position"])
            for index, (cursor, _) in enumerate(appended):
                if index not in covered and cursor <= checkpoint:
                    covered[index] = now
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    started = time.perf_counter()
    sealed = Sealed(sealed="x")
    for n in range(int(rate * seconds)):
        due = started + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        child = f"lag-{uuid.uuid4().hex}"
        details = Details(date_of_birth=date(2015, 1, 1), sex=Sex.MALE)
        event = ChildRegistered[Sealed](child_id=child, details=details, commune_code="03253",
                                        residence_from=date(2025, 8, 1), personal=sealed)  # fmt: skip
        new = NewEvent("ChildRegistered", event, datetime.now(UTC))
        result = await store.append(f"child:{child}", STREAM_TYPE, 0, [new], META)
        appended.append((result.cursor, time.perf_counter()))
    for _ in range(200):
        if len(covered) == len(appended):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await watcher
    await follower
    await conn.close()
    return [covered[i] - t for i, (_, t) in enumerate(appended) if i in covered]


async def measure(args: argparse.Namespace, admin_url: str) -> dict[str, Any]:
    name = f"registry_bench_{uuid.uuid4().hex[:10]}"
    database = await create_scratch_database(admin_url, name)
    pool = await database.create_pool(10)
    store = EventStore(pool, default_catalog(), connect=database.connect)

    async def owner() -> asyncpg.Connection:
        return await database.connect(owner=True)

    try:
        say("bench: loading the administrative units")
        await load(store, default_plan())
        say(f"bench: writing a synthetic log of {args.events:,} child events")
        total = await synthetic_log(database, store, args.events)
        say("bench: reading the log (baseline)")
        read = await read_rate(store)
        say("bench: rebuilding every projection")
        rebuild, folded = await rebuild_rate(store, owner)
        say(f"bench: lag at {args.rate} events/s for {args.seconds} s")
        lags = sorted(await lag(store, owner, args.rate, args.seconds))
        server_version = await pool.fetchval("SHOW server_version")
    finally:
        await store.close()
        await pool.close()
        await drop_database(admin_url, name)
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else float("nan")
    return {
        "server_version": server_version,
        "events": total,
        "folded": folded,
        "read_events_per_second": read,
        "rebuild_events_per_second": rebuild,
        "lag_p50_seconds": statistics.median(lags) if lags else float("nan"),
        "lag_p99_seconds": p99,
        "lag_samples": len(lags),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="registry bench projections", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="synthetic events in the log (children and cases)"
    )
    parser.add_argument("--rate", type=int, default=500, help="appends per second during the lag measurement")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the lag measurement")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    started = time.perf_counter()
    if not os.environ.get("DATABASE_URL"):
        say("bench: starting a throw-away embedded PostgreSQL")
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as scratch:
        with server_url(os.environ.get("DATABASE_URL"), Path(scratch)) as url:
            figures = asyncio.run(measure(args, url))
    where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded"
    rebuild, read = figures["rebuild_events_per_second"], figures["read_events_per_second"]
    print(f"PostgreSQL {figures['server_version']} ({where}); {figures['events']:,} events in the log")
    print(f"{'workload':<44} {'registry':>12} {'baseline':>12} {'ratio/target':>16}")
    print("-" * 87)
    verdict = "met" if rebuild >= 50_000 else "MISSED"
    print(f"{'rebuild all projections, events/s':<44} {rebuild:>12,.0f} {read:>12,.0f} {rebuild / read:>9.2f} "
          f"{verdict:>6}")  # fmt: skip
    p99 = figures["lag_p99_seconds"]
    print(f"{'lag at ' + str(args.rate) + ' events/s, p50 / p99 (s)':<44} {figures['lag_p50_seconds']:>12.3f} "
          f"{p99:>12.3f} {'< 1 s ' + ('met' if p99 < 1 else 'MISSED'):>16}")  # fmt: skip
    print("baseline: the store's read of the same events in the global order (rebuild: >= 50,000/s target)")
    print(f"({time.perf_counter() - started:.0f} s in all)")
    if args.json is not None:
        figures.update(measured_at=datetime.now(UTC).isoformat(), server=where, schema_version=1)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
