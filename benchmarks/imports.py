"""Import and change-feed benchmark: `registry bench import [--help]`.

Every figure is measured in one run, on one server (DATABASE_URL, or else a
throw-away embedded PostgreSQL), in a fresh database dropped at the end:

- setup: the real administrative units are loaded; two synthetic files of
  children are written (registry/synthetic.py: real communes used on days
  they were in force, valid personal identification numbers, a group of
  Art. 10(1) for about a quarter of the children), `--rows` rows (default
  100,000) and a tenth of that;
- import: `registry import FILE` as an operator runs it, in a subprocess,
  end to end (reading and checking every cell, planning each row against its
  record, deciding through the Child aggregate, a data key per child,
  sealing, hashing, a thousand rows a transaction): rows/s and events/s from
  the import's own summary (and the wall time of the whole command, start-up
  included), and the peak resident memory of the process (`wait4`), for the
  small file and the large one: flat memory means the two peaks are close;
- baseline: the store's batched append (EventStore.append_batch, a thousand
  streams a transaction, the import's own shape) of the same events the
  large import wrote, read back from the database as stored (sealed, with
  their metadata) under new stream ids, measured in the same run; the ratio
  is import events/s over baseline events/s: what reading, checking,
  deciding and sealing cost on top of writing;
- feed: the app under uvicorn in a subprocess; a follower reads the whole
  log from the start through GET /feed, pages of 1,000, as the national
  child database's client (personal parts opened) and as a national officer
  (no personal data), events/s; baseline: the store's own read of the same
  events in the global order (EventStore.read_all, pages of 1,000) in this
  process.

Targets (integration issue): import >= 5,000 rows/s end to end and >= 50%
of the batched-append baseline in events/s, memory flat; the feed's rate is
reported.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from registry import synthetic
from registry.access import Role
from registry.catalog import default_catalog
from registry.config import PROJECT_DIR, load_settings
from registry.db import create_scratch_database, drop_database, server_url, with_database
from registry.events import START, NewEvent
from registry.gazetteer import Gazetteer
from registry.law import VIETNAM
from registry.store import EventStore, StreamAppend
from registry.tokens import issue, signing_key
from registry.unit_loader import default_plan, load

sys.path.insert(0, str(PROJECT_DIR))
from benchmarks.api import Server

JSON_SCHEMA_VERSION = 1
ROWS_TARGET = 5_000
RATIO_TARGET = 0.5
_SUMMARY = re.compile(r"import: (\d+) rows: (\d+) created.*?; (\d+) events written in ([\d.]+) s")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_file(path: Path, units: Gazetteer, rows: int, prefix: str, collected_on: date) -> int:
    """A CSV of synthetic rows with the registry's Vietnamese headings; returns how many rows name a group."""
    from registry.child_columns import BY_NAME

    grouped = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer: Any = None
        for row in synthetic.rows(rows, units, seed=11, key_prefix=prefix, collected_on=collected_on):
            if writer is None:
                writer = csv.writer(handle)
                writer.writerow([BY_NAME[name].vietnamese for name in row])
            writer.writerow(row.values())
            grouped += bool(row["groups"])
    return grouped


def run_import(path: Path, source: str, env: dict[str, str], collected_on: date) -> dict[str, Any]:
    """`registry import` in a subprocess: its summary, wall time and peak resident memory."""
    command = [sys.executable, "-m", "registry.cli", "import", str(path), "--source", source, "--collected-on",
               collected_on.isoformat(), "--report", str(path.with_suffix(".rejected.csv"))]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    found = _SUMMARY.search(output)
    if os.waitstatus_to_exitcode(status) != 0 or found is None:
        raise SystemExit(f"bench: the import failed ({os.waitstatus_to_exitcode(status)}):\n{output[-3000:]}")
    rows, created, events = int(found[1]), int(found[2]), int(found[3])
    seconds = max(float(found[4]), 0.01)  # the summary's own time, to the hundredth of a second
    return {"rows": rows, "created": created, "events": events, "seconds": seconds, "wall_seconds": wall,
            "rows_per_second": rows / seconds, "events_per_second": events / seconds,
            "rows_per_second_wall": rows / wall, "peak_rss_mb": usage.ru_maxrss / 1024}  # fmt: skip


async def baseline(store: EventStore, pool: asyncpg.Pool, source: str) -> dict[str, Any]:
    """The store's batched append of the events the import wrote (as stored), under new stream ids."""
    rows = await pool.fetch(
        "SELECT stream_id, event_type, data, metadata, occurred_at FROM events WHERE stream_type = 'child'"
        " AND metadata->>'source' = $1 ORDER BY stream_id, version", f"import:{source}")  # fmt: skip
    streams: dict[str, list[Any]] = {}
    for row in rows:
        streams.setdefault(row["stream_id"], []).append(row)
    batches, batch = [], []
    for stream_id, events in streams.items():
        batch.append(StreamAppend(f"child:base-{stream_id[6:]}", "child", 0,
                                  [NewEvent(e["event_type"], e["data"], e["occurred_at"]) for e in events],
                                  events[0]["metadata"]))  # fmt: skip
        if len(batch) == 1000:
            batches.append(batch)
            batch = []
    if batch:
        batches.append(batch)
    started = time.perf_counter()
    for chunk in batches:
        await store.append_batch(chunk)
    seconds = time.perf_counter() - started
    return {"events": len(rows), "seconds": seconds, "events_per_second": len(rows) / seconds}


async def read_rate(store: EventStore) -> dict[str, Any]:
    started, count, cursor = time.perf_counter(), 0, START
    while True:
        batch = await store.read_all(cursor, limit=1000, stream_types=["child", "case"])
        if not batch:
            break
        count += len(batch)
        cursor = batch[-1].cursor
    seconds = time.perf_counter() - started
    return {"events": count, "events_per_second": count / seconds}


def follow(url: str, token: str) -> dict[str, Any]:
    """A follower reading the whole feed through GET /feed, pages of 1,000."""
    after, count, personal = "", 0, 0
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as client:
        while True:
            answer = client.get("/feed", params={"purpose": "benchmark follower", "after": after, "limit": 1000})
            if answer.status_code != 200:
                raise SystemExit(f"bench: the feed answered {answer.status_code}: {answer.text[:500]}")
            page = answer.json()
            count += len(page["events"])
            personal += sum(1 for e in page["events"] if e["personal"] is not None)
            after = page["next"]
            if not page["hasMore"]:
                break
    seconds = time.perf_counter() - started
    return {"events": count, "with_personal": personal, "events_per_second": count / seconds}


async def measure(args: argparse.Namespace, admin_url: str, scratch: Path) -> dict[str, Any]:
    name = f"registry_bench_{uuid.uuid4().hex[:10]}"
    database = await create_scratch_database(admin_url, name)
    pool = await database.create_pool(10)
    store = EventStore(pool, default_catalog(), connect=database.connect)
    url = with_database(admin_url, name)
    master = base64.urlsafe_b64encode(os.urandom(32)).decode()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REGISTRY_"))}
    env.update(DATABASE_URL=url, DATABASE_OWNER_URL=url, REGISTRY_MASTER_KEY=master, REGISTRY_DATA_DIR=str(scratch),
               REGISTRY_LOG_LEVEL="warning", REGISTRY_RATE_LIMIT="1000000")  # fmt: skip
    collected_on = datetime.now(VIETNAM).date() - timedelta(days=1)
    server: Server | None = None
    try:
        say("bench: loading the administrative units")
        await load(store, default_plan())
        units = Gazetteer()
        await units.refresh(store)
        small, large = scratch / "small.csv", scratch / "large.csv"
        say(f"bench: writing {args.rows // 10:,} and {args.rows:,} synthetic rows")
        write_file(small, units, args.rows // 10, "SMALL", collected_on)
        grouped = write_file(large, units, args.rows, "LARGE", collected_on)
        say(f"bench: importing {args.rows // 10:,} rows (registry import, in a subprocess)")
        first = run_import(small, "bench-small", env, collected_on)
        say(f"bench: importing {args.rows:,} rows")
        second = run_import(large, "bench-large", env, collected_on)
        say("bench: the store's batched append of the same events (baseline)")
        base = await baseline(store, pool, "bench-large")
        say("bench: reading the log in the global order (the feed's baseline)")
        read = await read_rate(store)
        settings = load_settings(database_url=url, registry_master_key=master, registry_data_dir=scratch)
        signing_key(settings)
        server = Server(env, scratch / "server.log")
        server.wait_ready()
        say("bench: following the feed (the national child database, then a national officer)")
        integration = follow(server.url, issue(settings, "system:bench", Role.INTEGRATION_CLIENT, None,
                                               timedelta(hours=2)))  # fmt: skip
        officer = follow(server.url, issue(settings, "officer:bench", Role.NATIONAL_OFFICER, None, timedelta(hours=2)))
        server_version = await pool.fetchval("SHOW server_version")
    finally:
        if server is not None:
            server.stop()
        await store.close()
        await pool.close()
        await drop_database(admin_url, name)
    return {"server_version": server_version, "rows": args.rows, "grouped_rows": grouped, "small": first,
            "large": second, "baseline": base, "read": read, "feed_integration": integration,
            "feed_officer": officer, "load_average": os.getloadavg()[0]}  # fmt: skip


def report(f: dict[str, Any], where: str) -> str:
    large, small, base = f["large"], f["small"], f["baseline"]
    ratio = large["events_per_second"] / base["events_per_second"]
    lines = [
        f"PostgreSQL {f['server_version']} ({where}); {f['rows']:,} rows ({f['grouped_rows']:,} with a group), "
        f"load average {f['load_average']:.1f}",
        f"{'workload':<52} {'registry':>12} {'baseline':>12} {'ratio/target':>18}",
        "-" * 97,
        f"{'import, rows/s (the importer; wall: ' + format(large['rows_per_second_wall'], ',.0f') + ')':<52} "
        f"{large['rows_per_second']:>12,.0f} {'':>12} "
        f"{'>= 5,000 ' + ('met' if large['rows_per_second'] >= ROWS_TARGET else 'MISSED'):>18}",
        f"{'import, events/s vs the store batched append':<52} {large['events_per_second']:>12,.0f} "
        f"{base['events_per_second']:>12,.0f} "
        f"{format(ratio, '.2f') + ' >= 0.5 ' + ('met' if ratio >= RATIO_TARGET else 'MISSED'):>18}",
        f"{'peak memory, MB: ' + format(f['rows'] // 10, ',') + ' rows / ' + format(f['rows'], ',') + ' rows':<52} "
        f"{small['peak_rss_mb']:>12,.0f} {large['peak_rss_mb']:>12,.0f} "
        f"{format(large['peak_rss_mb'] / small['peak_rss_mb'], '.2f') + 'x':>18}",
        f"{'feed to the national child database, events/s':<52} {f['feed_integration']['events_per_second']:>12,.0f} "
        f"{f['read']['events_per_second']:>12,.0f} "
        f"{f['feed_integration']['events_per_second'] / f['read']['events_per_second']:>18.2f}",
        f"{'feed to a national officer (no personal data), events/s':<52} "
        f"{f['feed_officer']['events_per_second']:>12,.0f} {f['read']['events_per_second']:>12,.0f} "
        f"{f['feed_officer']['events_per_second'] / f['read']['events_per_second']:>18.2f}",
        "baselines: the store's append_batch of the same events as stored; the store's read of the log",
    ]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="registry bench import", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the large file (the small one: a tenth)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.rows < 10:
        parser.error("--rows must be at least 10")
    started = time.perf_counter()
    if not os.environ.get("DATABASE_URL"):
        say("bench: starting a throw-away embedded PostgreSQL")
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as scratch:
        with server_url(os.environ.get("DATABASE_URL"), Path(scratch)) as url:
            figures = asyncio.run(measure(args, url, Path(scratch)))
    where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded"
    print(report(figures, where))
    print(f"({time.perf_counter() - started:.0f} s in all)")
    if args.json is not None:
        figures.update(measured_at=datetime.now(UTC).isoformat(), server=where, schema_version=JSON_SCHEMA_VERSION)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
