"""Audit benchmark: `registry bench audit [--help]`.

Measured in one run on one server (DATABASE_URL, or else a throw-away
embedded PostgreSQL), in a fresh database dropped at the end:

- the log: the real administrative units, then the projections benchmark's
  synthetic log of children and cases (`--events`, default 1,000,000: four
  fifths children's events, one fifth cases'), written by SQL and then given
  their true hash chains (each event's hash recomputed in stream order and
  stored as a superuser would), so that `registry verify` accepts it;
- checkpoint: `registry checkpoint` over the whole log (Merkle tree and the
  leaves it keeps), events/s;
- verify: `registry verify` (every chain recomputed, every checkpoint's
  leaves compared and its root rebuilt), events/s. Baseline: the raw read
  of the same rows by the same query in the same order, without hashing,
  measured in the same run: the ratio is what recomputing costs;
- rebuild: every projection rebuilt from the log (`registry project
  rebuild`, one after another), events/s;
- replay: `registry replay` up to the last event (projections/replay.py):
  every projection folded apart from one read of the log, then compared
  with the live read models just rebuilt (as-of queries, every table row by
  row: at the head the current-state tables too), which must find nothing.
  Its events/s (events of the log folded, each once) and its time against
  the rebuild's, folding alone and with the comparison.

Targets (auditors issue): verify >= 100,000 events/s; replay within 1.5x
of a projection rebuild.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from registry.catalog import default_catalog
from registry.config import PROJECT_DIR
from registry.db import create_scratch_database, drop_database, server_url
from registry.hashing import canonical_json, event_hash, format_time
from registry.integrity import CHAIN_SQL, create_checkpoint, verify
from registry.store import EventStore
from registry.unit_loader import default_plan, load

sys.path.insert(0, str(PROJECT_DIR))
from benchmarks.projections import rebuild_rate, synthetic_log
from projections.replay import replay

JSON_SCHEMA_VERSION = 1
VERIFY_TARGET = 100_000
REPLAY_TARGET = 1.5  # replay's time / the rebuild's
_PAGE = 5000
_REHASH_SQL = """
UPDATE events e SET prev_hash = u.prev_hash, hash = u.hash
FROM unnest($1::bigint[], $2::bytea[], $3::bytea[]) AS u(position, prev_hash, hash)
WHERE e.position = u.position
"""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def rehash(pool: asyncpg.Pool, owner: asyncpg.Connection) -> int:
    """Give every event its true chain hash (the synthetic log's are random); returns the events rehashed."""
    await owner.execute("SET session_replication_role = replica")  # past the append-only trigger
    after: tuple[str, int] = ("", 0)
    previous: bytes | None = None
    done = 0
    while rows := await pool.fetch(CHAIN_SQL, after[0], after[1], _PAGE):
        positions, prevs, hashes = [], [], []
        for row in rows:
            if row["version"] == 1:
                previous = None
            digest = event_hash(
                stream_id=row["stream_id"], stream_type=row["stream_type"], version=row["version"],
                event_type=row["event_type"], schema_version=row["schema_version"],
                data=canonical_json(row["data"]), metadata=canonical_json(row["metadata"]),
                occurred_at=format_time(row["occurred_at"]), prev_hash=previous,
            )  # fmt: skip
            positions.append(row["position"])
            prevs.append(previous)
            hashes.append(digest)
            previous = digest
        await owner.execute(_REHASH_SQL, positions, prevs, hashes)
        done += len(rows)
        after = (rows[-1]["stream_id"], rows[-1]["version"])
    await owner.execute("SET session_replication_role = origin")
    await owner.execute("ANALYZE events")
    return done


async def raw_read(pool: asyncpg.Pool) -> float:
    """The baseline: verify's own read of the log, rows decoded, nothing recomputed; events/s."""
    started, count = time.perf_counter(), 0
    after: tuple[str, int] = ("", 0)
    while rows := await pool.fetch(CHAIN_SQL, after[0], after[1], _PAGE):
        count += len(rows)
        after = (rows[-1]["stream_id"], rows[-1]["version"])
    return count / (time.perf_counter() - started)


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
        say(f"bench: writing a synthetic log of {args.events:,} events and giving them their hash chains")
        await synthetic_log(database, store, args.events)
        conn = await owner()
        try:
            total = await rehash(pool, conn)
        finally:
            await conn.close()
        say("bench: committing a checkpoint over the whole log")
        started = time.perf_counter()
        checkpoint = await create_checkpoint(store)
        checkpoint_seconds = time.perf_counter() - started
        assert checkpoint is not None and checkpoint.event_count == total
        say("bench: reading the log as verify does (baseline)")
        read = await raw_read(pool)
        say("bench: verifying")
        report = await verify(store, published_root=checkpoint.root)
        if not report.ok:
            raise SystemExit(f"bench: verify found {len(report.findings)} findings: {report.findings[:3]}")
        say("bench: rebuilding every projection (the replay's baseline)")
        started = time.perf_counter()
        rebuild, folded = await rebuild_rate(store, owner)
        rebuild_seconds = time.perf_counter() - started
        say("bench: replaying every projection up to the last event and comparing it with the live read models")
        started = time.perf_counter()
        replayed = await replay(store, owner, await store.horizon())
        replay_seconds = time.perf_counter() - started
        if replayed.differing:
            raise SystemExit("bench: replay found differences:\n" + "\n".join(d.line() for d in replayed.differences))
        server_version = await pool.fetchval("SHOW server_version")
    finally:
        await store.close()
        await pool.close()
        await drop_database(admin_url, name)
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "server_version": server_version,
        "events": total,
        "checkpoint_events_per_second": total / checkpoint_seconds,
        "read_events_per_second": read,
        "verify_events_per_second": report.events / report.seconds,
        "verify_seconds": report.seconds,
        "rebuild_events_per_second": rebuild,
        "rebuild_events": folded,
        "rebuild_seconds": rebuild_seconds,
        "replay_events": replayed.events,
        "replay_events_per_second": replayed.events_per_second,
        "replay_fold_seconds": replayed.fold_seconds,
        "replay_compare_seconds": replayed.compare_seconds,
        "replay_seconds": replay_seconds,
        "replay_compared": [c.name for c in replayed.comparisons],
        "load_average": os.getloadavg()[0],
    }


def table(f: dict[str, Any], where: str) -> str:
    verify_rate, read = f["verify_events_per_second"], f["read_events_per_second"]
    verdict = "met" if verify_rate >= VERIFY_TARGET else "MISSED"
    fold, whole = (f[k] / f["rebuild_seconds"] for k in ("replay_fold_seconds", "replay_seconds"))
    fold_verdict, whole_verdict = ("met" if ratio <= REPLAY_TARGET else "MISSED" for ratio in (fold, whole))
    lines = [
        f"PostgreSQL {f['server_version']} ({where}); {f['events']:,} events in the log, "
        f"load average {f['load_average']:.1f}",
        f"{'workload':<48} {'registry':>12} {'baseline':>12} {'ratio/target':>16}",
        "-" * 91,
        f"{'verify (chains, leaves, roots), events/s':<48} {verify_rate:>12,.0f} {read:>12,.0f} "
        f"{verify_rate / read:>5.2f} {'>= 100k ' + verdict:>10}",
        f"{'checkpoint over the whole log, events/s':<48} {f['checkpoint_events_per_second']:>12,.0f}",
        f"{'rebuild every projection, events/s':<48} {f['rebuild_events_per_second']:>12,.0f}",
        f"{'replay (fold apart), events/s; time vs rebuild':<48} {f['replay_events_per_second']:>12,.0f} "
        f"{f['replay_events'] / f['rebuild_seconds']:>12,.0f} {fold:>5.2f} {'<= 1.5x ' + fold_verdict:>10}",
        f"{'replay with its comparison, s; time vs rebuild':<48} {f['replay_seconds']:>12,.1f} "
        f"{f['rebuild_seconds']:>12,.1f} {whole:>5.2f} {'<= 1.5x ' + whole_verdict:>10}",
        "baseline: verify's, the raw read of the same rows in verify's order (no hashing); replay's, the rebuild of "
        "every projection; both in this run",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="registry bench audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="synthetic events in the log")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    started = time.perf_counter()
    if not os.environ.get("DATABASE_URL"):
        say("bench: starting a throw-away embedded PostgreSQL")
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as scratch:
        with server_url(os.environ.get("DATABASE_URL"), Path(scratch)) as url:
            figures = asyncio.run(measure(args, url))
    print(table(figures, "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded"))
    print(f"({time.perf_counter() - started:.0f} s in all)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
