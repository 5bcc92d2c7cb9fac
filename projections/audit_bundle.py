"""Gói kiểm toán: `registry audit export --unit CODE --from D --to D`, a self-contained bundle for an offline check.

The bundle is one JSON file (format `registry-audit-bundle`, version 1;
registry/bundle_verifier.py reads it with the standard library alone):

- `events`: every event of the unit's child and case streams, as stored (no
  upcasting, sealed personal parts as the ciphertext they are), in (stream,
  version) order, up to the bundle's checkpoint; each with its place in the
  global order (`leaf_index`) and its RFC 6962 inclusion proof (`proof`, from
  the leaf up) in that checkpoint's tree;
- `streams`: each stream's last version, its hash and position, so that an
  event dropped from the end of a stream shows (an editor who rewrites this
  list too can drop it unseen: only the file's sha256, sent apart, covers it);
- `checkpoint`: the checkpoint the proofs lead to (a new one is committed
  first if events follow the last), and `earlier_checkpoints`: every
  checkpoint before it with a consistency proof to it, so that a root
  published at any earlier time is tied to this one;
- `access_log`: every entry of the access log about those records, this
  export's own reads among them (written before any event's content is read:
  only the streams' heads, to know which records exist, come first).

The streams are those of the children who lived in the unit, and the cases
handled in it, at any time of the period (`read.child_residences` and
`read.case_history` overlapping it, in any version the registry held: a record
corrected out of the unit is audited too), the unit named as in the structure
in force on each day (projections/queries.py `unit_column`: legacy codes before
2025-07-01, the two-tier map's from then; a district as a former district).
The read models must have caught up (`registry project run --once`).

The proofs come from the leaves each checkpoint committed (registry/integrity.py
`checkpoint_proofs`): an event altered in the database after a checkpoint gets
the proof of what was committed then, and the verifier finds that its content
no longer fits. Nothing personal reaches the command's output or the logs: ids,
codes and counts only.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Never

import orjson
from tqdm import tqdm

from registry import cases as case_domain
from registry import children as child_domain
from registry.access import Principal, operator
from registry.access_log import Access, Outcome, record
from registry.config import Settings
from registry.errors import InvalidInput
from registry.gazetteer import Gazetteer
from registry.hashing import EMPTY_ROOT, format_time
from registry.integrity import CommittedCheckpoint, committed_checkpoints, create_checkpoint
from registry.integrity import checkpoint_proofs as prove
from registry.law import TWO_TIER_FROM, start_of_day
from registry.runtime import Registry
from registry.store import EventStore, driver_errors
from registry.units import Level, level_of

from .queries import unit_column
from .reports import ReadModels

FORMAT = "registry-audit-bundle"
FORMAT_VERSION = 1
OPERATION = "audit_export"  # the access log's operation for the records a bundle reads
LAST_LEGACY_DAY = TWO_TIER_FROM - timedelta(days=1)
_PAGE = 500  # streams read per query

# What each exported event is, as stored: the fields of its hash and of its leaf (registry/hashing.py).
_EVENTS_SQL = """
SELECT position, transaction_id, stream_id, stream_type, version, event_type, schema_version, data, metadata,
       occurred_at, recorded_at, prev_hash, hash
FROM events WHERE stream_id = ANY($1::text[]) AND (transaction_id, position) <= ($2::xid8, $3::bigint)
ORDER BY stream_id, version
"""
_HEADS_SQL = """
SELECT stream_id, stream_type, position, version, hash
FROM events WHERE stream_id = ANY($1::text[]) AND (transaction_id, position) <= ($2::xid8, $3::bigint)
ORDER BY stream_id, version
"""
_ACCESS_SQL = """
SELECT id, at, request_id, subject, role, unit, operation, record_kind, record_id, purpose, outcome, reason
FROM access_log WHERE record_kind = $1 AND record_id = ANY($2::text[]) ORDER BY id
"""

READ_MODELS = ReadModels()
Progress = Callable[[str, int], object]  # (phase, how many more done)


@dataclass
class BundleSummary:
    unit: str
    unit_name: str
    start: date
    end: date
    children: int = 0
    cases: int = 0
    events: int = 0
    access_entries: int = 0
    earlier_checkpoints: int = 0
    checkpoint: CommittedCheckpoint | None = None
    proofs_hold: bool = True  # the stored leaves gave the checkpoint's root
    leaves_stored: bool = True
    path: Path | None = None
    sha256: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        c = self.checkpoint
        where = "no checkpoint (no events)" if c is None else (
            f"checkpoint {c.id} ({c.event_count:,} events, root {c.root.hex()})")  # fmt: skip
        return (f"audit export: {self.events:,} events of {self.children:,} children and {self.cases:,} cases of "
                f"{self.unit_name} ({self.unit}), {self.start.isoformat()} to {self.end.isoformat()}; {where}, "
                f"{self.earlier_checkpoints} earlier checkpoints; {self.access_entries:,} access log entries; "
                f"{self.seconds:.1f} s: {self.path} (sha256 {self.sha256})")  # fmt: skip


def _unit_name(units: Gazetteer, code: str, start: date, end: date) -> str:
    """The unit's full name at the end of the period (or its start: a commune the reform abolished)."""
    district = level_of(code, "unit") is Level.DISTRICT
    for day in (end, start):
        found = units.find(code, min(day, LAST_LEGACY_DAY) if district else day)
        if found is not None:
            return found.full_name
    raise InvalidInput("unit", "unknown_unit", "no unit bears this code in the period")


def _parts(level: Level, start: date, end: date) -> list[tuple[str, date, date]]:
    """The period cut at the reform: (column naming the unit, first day, last day) of each structure in force."""
    parts = []
    if start <= LAST_LEGACY_DAY:
        parts.append((unit_column(level, start), start, min(end, LAST_LEGACY_DAY)))
    if end >= TWO_TIER_FROM:
        parts.append((unit_column(level, TWO_TIER_FROM), max(start, TWO_TIER_FROM), end))
    if level is Level.DISTRICT:  # one column either side of the reform
        parts = [(parts[0][0], start, end)]
    return parts


async def unit_streams(
    store: EventStore, unit: str, start: date, end: date, read_models: ReadModels = READ_MODELS
) -> tuple[list[str], list[str]]:
    """The child and case ids of the unit in the period (the read models: any version ever recorded)."""
    level = level_of(unit, "unit")
    children: set[str] = set()
    cases: set[str] = set()
    with driver_errors():
        for column, first, last in _parts(level, start, end):
            rows = await store.pool.fetch(
                f"SELECT DISTINCT child_id FROM {read_models.child_schema}.child_residences WHERE {column} = $1"
                " AND valid && daterange($2::date, $3::date, '[]')", unit, first, last)  # fmt: skip
            children.update(r[0] for r in rows)
            rows = await store.pool.fetch(
                f"SELECT DISTINCT case_id FROM {read_models.case_schema}.case_history WHERE {column} = $1"
                " AND valid && tstzrange($2, $3)", unit, start_of_day(first),
                start_of_day(last + timedelta(days=1)))  # fmt: skip
            cases.update(r[0] for r in rows)
    return sorted(children), sorted(cases)


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def _event(row: Any, index: int | None, proof: list[bytes]) -> dict[str, Any]:
    return {
        "position": row["position"], "transaction_id": str(row["transaction_id"]), "stream_id": row["stream_id"],
        "stream_type": row["stream_type"], "version": row["version"], "event_type": row["event_type"],
        "schema_version": row["schema_version"], "data": row["data"], "metadata": row["metadata"],
        "occurred_at": format_time(row["occurred_at"]), "recorded_at": format_time(row["recorded_at"]),
        "prev_hash": _hex(row["prev_hash"]), "hash": row["hash"].hex(),
        "leaf_index": -1 if index is None else index, "proof": [p.hex() for p in proof],
    }  # fmt: skip


def _pages(items: Sequence[str], size: int = _PAGE) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def export_bundle(
    store: EventStore, units: Gazetteer, principal: Principal, unit: str, start: date, end: date, out: Path, *,
    request_id: str | None = None, read_models: ReadModels = READ_MODELS, progress: Progress = lambda *_: None,
) -> BundleSummary:  # fmt: skip
    """Write the audit bundle of `unit` over [start, end] to `out` (through a temporary file beside it, renamed when
    whole); every record read is in the access log, under `principal`, before its events are read."""
    began = time.perf_counter()
    if start > end:
        raise InvalidInput("from", "after_to", "the first day of the period is after its last")
    summary = BundleSummary(unit, _unit_name(units, unit, start, end), start, end)
    request_id = request_id or f"audit-export:{uuid.uuid4().hex}"
    purpose = f"audit bundle of unit {unit}, {start.isoformat()} to {end.isoformat()}"
    children, cases = await unit_streams(store, unit, start, end, read_models)

    await create_checkpoint(store, lambda n: progress("checkpoint", n))  # the events up to now, committed
    committed = await committed_checkpoints(store)
    checkpoint = committed[-1] if committed else None
    earlier = committed[:-1]
    summary.checkpoint, summary.earlier_checkpoints = checkpoint, len(earlier)
    until = (0, 0) if checkpoint is None else (checkpoint.cursor.transaction_id, checkpoint.cursor.position)

    streams = [child_domain.stream_id(i) for i in children] + [case_domain.stream_id(i) for i in cases]
    streams.sort()
    heads: dict[str, dict[str, Any]] = {}
    positions: list[int] = []
    with driver_errors():
        for page in _pages(streams):
            for row in await store.pool.fetch(_HEADS_SQL, list(page), *until):
                heads[row["stream_id"]] = {"stream_id": row["stream_id"], "stream_type": row["stream_type"],
                                           "versions": row["version"], "head": row["hash"].hex(),
                                           "position": row["position"]}  # fmt: skip
                positions.append(row["position"])
    streams = [s for s in streams if s in heads]  # a record whose first event came after the checkpoint waits
    ids = {kind: [s.split(":", 1)[1] for s in streams if s.startswith(f"{kind}:")] for kind in ("child", "case")}
    summary.children, summary.cases, summary.events = len(ids["child"]), len(ids["case"]), len(positions)

    for kind, found in ids.items():  # logged before anything of them is read
        for page in _pages(found, 1000):
            await record(store.pool, principal,
                         [Access(request_id, OPERATION, kind, i, purpose, Outcome.ALLOWED) for i in page])  # fmt: skip
    await record(store.pool, principal, [Access(request_id, OPERATION, "access_log", None, purpose, Outcome.ALLOWED)])

    if checkpoint is None:
        index: dict[int, int] = {}
        proofs = None
    else:
        made = await prove(store, checkpoint, positions, [c.event_count for c in earlier],
                           lambda n: progress("leaves", n))  # fmt: skip
        index, proofs = made.index, made.proofs
        summary.proofs_hold = proofs.root == checkpoint.root and proofs.size == checkpoint.event_count
        summary.leaves_stored = made.stored

    access: list[dict[str, Any]] = []
    with driver_errors():
        for kind, found in ids.items():
            for page in _pages(found, 5000):
                access.extend({**dict(r), "at": format_time(r["at"])}
                              for r in await store.pool.fetch(_ACCESS_SQL, kind, list(page)))  # fmt: skip
    access.sort(key=lambda entry: entry["id"])
    summary.access_entries = len(access)

    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": format_time(datetime.now(UTC)),
        "exported_by": principal.subject,
        "request_id": request_id,
        "unit": {"code": unit, "name": summary.unit_name, "level": level_of(unit, "unit").value},
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "verify_with": "python3 -I -S bundle_verifier.py BUNDLE [--root HEX] (registry/bundle_verifier.py)",
        "personal_parts": {
            "child": {
                "events": sorted(child_domain.PARTS.personal),
                "fields": list(child_domain.PARTS.readable.model_fields),
            },
            "case": {
                "events": sorted(case_domain.PARTS.personal),
                "fields": list(case_domain.PARTS.readable.model_fields),
            },
        },  # fmt: skip
        "checkpoint": _checkpoint(checkpoint, summary.leaves_stored),
        "earlier_checkpoints": [
            {
                **_checkpoint(c, summary.leaves_stored),
                "consistency": [p.hex() for p in proofs.consistency(c.event_count)],
            }
            for c in earlier
            if proofs is not None and c.event_count <= proofs.size
        ],  # fmt: skip
        "streams": [heads[s] for s in streams],
    }
    part = out.with_name(f".{out.name}.part")
    digest = hashlib.sha256()
    # Readable by its owner only: the identity part is sealed, but dates of birth, groups and case notes are not.
    with os.fdopen(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as sink:

        def write(chunk: bytes) -> None:
            sink.write(chunk)
            digest.update(chunk)

        write(orjson.dumps(header)[:-1] + b',\n"events":[')
        first = True
        async for rows in _rows(store, streams, until):
            for row in rows:
                at = index.get(row["position"])
                path = [] if proofs is None or at is None else proofs.path(at)
                write((b"\n" if first else b",\n") + orjson.dumps(_event(row, at, path)))
                first = False
            progress("events", len(rows))
        write(b'\n],\n"access_log":[')
        write(b",".join(b"\n" + orjson.dumps(entry) for entry in access))
        write(b"\n]}\n")
        sink.flush()
        os.fsync(sink.fileno())
    part.replace(out)
    summary.path, summary.sha256 = out, digest.hexdigest()
    summary.seconds = time.perf_counter() - began
    return summary


def _checkpoint(checkpoint: CommittedCheckpoint | None, stored: bool) -> dict[str, Any]:
    if checkpoint is None:
        return {"id": None, "upto_transaction_id": None, "upto_position": None, "size": 0, "root": EMPTY_ROOT.hex(),
                "created_at": None, "leaves": "stored"}  # fmt: skip
    return {"id": checkpoint.id, "upto_transaction_id": str(checkpoint.cursor.transaction_id),
            "upto_position": checkpoint.cursor.position, "size": checkpoint.event_count,
            "root": checkpoint.root.hex(), "created_at": format_time(checkpoint.created_at),
            "leaves": "stored" if stored else "recomputed"}  # fmt: skip


async def _rows(store: EventStore, streams: list[str], until: tuple[int, int]) -> AsyncIterator[list[Any]]:
    with driver_errors():
        for page in _pages(streams):
            yield await store.pool.fetch(_EVENTS_SQL, list(page), *until)


class _Bars:
    """Progress on standard error: a tqdm bar per phase (checkpoint, leaves read, events written)."""

    def __init__(self) -> None:
        self.phase = ""
        self.bar: tqdm[Never] | None = None

    def __call__(self, phase: str, count: int) -> None:
        if phase != self.phase:
            self.close()
            self.phase = phase
            self.bar = tqdm(desc=f"audit export: {phase}", unit=f" {phase}", unit_scale=True, file=sys.stderr,
                            leave=False)  # fmt: skip
        if self.bar is not None:
            self.bar.update(count)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def export_command(settings: Settings, args: argparse.Namespace) -> int:
    """`registry audit export`: write the bundle, print its summary and the root to publish on standard error."""

    async def work() -> int:
        registry = await Registry.open(settings)
        bars = _Bars()
        try:
            units = await registry.gazetteer()
            out: Path = args.out or Path(f"kiem-toan-{args.unit}-{args.start.isoformat()}-{args.end.isoformat()}.json")
            summary = await export_bundle(registry.store, units, operator(args.actor), args.unit, args.start, args.end,
                                          out, request_id=f"cli-audit-export:{uuid.uuid4().hex}",
                                          progress=bars)  # fmt: skip
        finally:
            bars.close()
            await registry.close()
        print(summary.line(), file=sys.stderr)
        if summary.checkpoint is not None:
            print(f"audit export: check it with `python3 -I -S registry/bundle_verifier.py {out} --root "
                  f"{summary.checkpoint.root.hex()} --sha256 {summary.sha256}` (the root as published outside the "
                  "system; the sha256 sent apart from the file)", file=sys.stderr)  # fmt: skip
        if not summary.proofs_hold:
            print(f"audit export: the leaves of checkpoint {summary.checkpoint.id if summary.checkpoint else '-'} do "
                  "not give its root: the bundle will not verify (run `registry verify`)", file=sys.stderr)  # fmt: skip
            return 1
        return 0

    return asyncio.run(work())


__all__ = ["FORMAT", "FORMAT_VERSION", "OPERATION", "BundleSummary", "export_bundle", "export_command", "unit_streams"]
