"""Tamper evidence: Merkle checkpoints over the global order, and `registry verify`.

Two independent checks (registry/hashing.py defines both hashes):

- every stream's hash chain: versions 1..n without a gap, each event's
  prev_hash equal to its predecessor's hash, each hash equal to the hash
  recomputed from the stored content. This names the stream and position of
  an event that was altered, removed from the middle of a stream, or put
  in place of another;
- every checkpoint: the Merkle root recomputed from the events up to its
  cursor equals the stored root. This catches what a chain cannot: an event
  removed from the end of its stream, a whole stream removed or inserted,
  and changes to position, transaction id or recorded_at. A root published
  outside the system (`registry verify --root`) ties the check to a value the
  database's administrators cannot rewrite.

Verification reads the stored rows as they are (no upcasting) through the
run-time role, so it needs no more than read access.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .events import START, Cursor
from .hashing import MerkleFrontier, canonical_json, event_hash, format_time, leaf_hash
from .store import EventStore, driver_errors

_LAST_CHECKPOINT_SQL = """
SELECT id, upto_transaction_id, upto_position, event_count, root, frontier FROM checkpoints
ORDER BY upto_transaction_id DESC, upto_position DESC LIMIT 1
"""
_CHECKPOINTS_SQL = """
SELECT id, upto_transaction_id, upto_position, event_count, root, frontier, created_at FROM checkpoints
ORDER BY upto_transaction_id, upto_position
"""
_INSERT_CHECKPOINT_SQL = """
INSERT INTO checkpoints (upto_transaction_id, upto_position, event_count, root, frontier)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (upto_transaction_id, upto_position) DO NOTHING
RETURNING id
"""
# Every stream in (stream_id, version) order, by keyset over events_stream_id_version_key.
_CHAIN_SQL = """
SELECT position, stream_id, stream_type, version, event_type, schema_version, data, metadata,
       occurred_at, prev_hash, hash
FROM events WHERE (stream_id, version) > ($1, $2)
ORDER BY stream_id, version LIMIT $3
"""
_BATCH = 5000

Progress = Callable[[int], object]


@dataclass(frozen=True)
class Checkpoint:
    id: int
    cursor: Cursor
    event_count: int
    root: bytes


@dataclass(frozen=True)
class Finding:
    """One thing verification found wrong; `kind` is altered, removed, inserted or checkpoint."""

    kind: str
    detail: str
    stream_id: str | None = None
    position: int | None = None

    def __str__(self) -> str:
        where = f"stream {self.stream_id} position {self.position}: " if self.stream_id is not None else ""
        return f"{self.kind}: {where}{self.detail}"


@dataclass
class Report:
    events: int = 0
    streams: int = 0
    checkpoints: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        verdict = "OK" if self.ok else f"{len(self.findings)} FINDINGS"
        return (
            f"verify: {verdict}: {self.events} events in {self.streams} streams checked, "
            f"{self.checkpoints} checkpoints, {self.seconds:.2f} s"
        )


def _leaf(row: Any) -> bytes:
    return leaf_hash(
        position=row[0],
        transaction_id=row[1],
        stream_id=row[2],
        version=row[3],
        recorded_at=format_time(row[4]),
        hash=row[5],
    )


async def _extend(store: EventStore, tree: MerkleFrontier, after: Cursor, until: Cursor, progress: Progress) -> Cursor:
    """Add the leaves after `after` up to `until` to tree; return the cursor of the last one."""
    while True:
        rows = await store.read_leaves(after, until, _BATCH)
        if not rows:
            return after
        tree.extend(_leaf(row) for row in rows)
        after = Cursor(rows[-1][1], rows[-1][0])
        progress(len(rows))


async def create_checkpoint(store: EventStore, progress: Progress = lambda _: None) -> Checkpoint | None:
    """Commit a Merkle root over every event up to the current horizon.

    Extends the latest checkpoint; returns None when no event was appended
    since (nothing is written).
    """
    pool = store.pool
    with driver_errors():
        last = await pool.fetchrow(_LAST_CHECKPOINT_SQL)
    if last is None:
        tree, after = MerkleFrontier(), START
    else:
        tree = MerkleFrontier(last["event_count"], last["frontier"])
        after = Cursor(last["upto_transaction_id"], last["upto_position"])
    horizon = await store.horizon()
    cursor = await _extend(store, tree, after, horizon, progress)
    if cursor == after:
        return None
    root = tree.root()
    with driver_errors():
        id_ = await pool.fetchval(
            _INSERT_CHECKPOINT_SQL, cursor.transaction_id, cursor.position, tree.size, root, tree.nodes
        )
    if id_ is None:  # another process committed the same checkpoint first
        return None
    return Checkpoint(id_, cursor, tree.size, root)


def _check_event(row: Any, previous: Any, report: Report) -> None:
    stream_id, version, position = row["stream_id"], row["version"], row["position"]
    expected_version = previous["version"] + 1 if previous is not None else 1
    if version != expected_version:
        missing = f"{expected_version}" if version == expected_version + 1 else f"{expected_version}..{version - 1}"
        report.findings.append(
            Finding("removed", f"version {missing} missing before version {version}", stream_id, position)
        )
    elif previous is not None and row["prev_hash"] != previous["hash"]:
        report.findings.append(
            Finding("inserted", f"version {version} does not link to version {version - 1}", stream_id, position)
        )
    recomputed = event_hash(
        stream_id=stream_id,
        stream_type=row["stream_type"],
        version=version,
        event_type=row["event_type"],
        schema_version=row["schema_version"],
        data=canonical_json(row["data"]),
        metadata=canonical_json(row["metadata"]),
        occurred_at=format_time(row["occurred_at"]),
        prev_hash=row["prev_hash"],
    )
    if recomputed != row["hash"]:
        report.findings.append(Finding("altered", f"version {version} does not match its hash", stream_id, position))


async def verify(
    store: EventStore, progress: Progress = lambda _: None, *, published_root: bytes | None = None
) -> Report:
    """Recompute every stream's hash chain and every checkpoint; report what differs."""
    started = time.perf_counter()
    report = Report()
    pool = store.pool
    after: tuple[str, int] = ("", 0)
    previous: Any = None
    with driver_errors():
        while True:
            rows = await pool.fetch(_CHAIN_SQL, after[0], after[1], _BATCH)
            if not rows:
                break
            for row in rows:
                if previous is None or previous["stream_id"] != row["stream_id"]:
                    report.streams += 1
                    previous = None
                _check_event(row, previous, report)
                previous = row
            report.events += len(rows)
            after = (rows[-1]["stream_id"], rows[-1]["version"])
            progress(len(rows))
        checkpoints = await pool.fetch(_CHECKPOINTS_SQL)

    tree, cursor = MerkleFrontier(), START
    roots = set()
    for row in checkpoints:
        report.checkpoints += 1
        until = Cursor(row["upto_transaction_id"], row["upto_position"])
        if MerkleFrontier(row["event_count"], row["frontier"]).root() != row["root"]:
            report.findings.append(
                Finding("checkpoint", f"checkpoint {row['id']}: its frontier does not give its root")
            )
        cursor = await _extend(store, tree, cursor, until, lambda _: None)
        if tree.size != row["event_count"] or tree.root() != row["root"]:
            report.findings.append(
                Finding(
                    "checkpoint",
                    f"checkpoint {row['id']}: the {tree.size} events up to it give another root than the "
                    f"{row['event_count']} it committed: an event up to position {row['upto_position']} "
                    "was altered, removed or inserted",
                )
            )
        roots.add(row["root"])
    if published_root is not None and published_root not in roots:
        report.findings.append(Finding("checkpoint", "the published root is not the root of any checkpoint"))
    report.seconds = time.perf_counter() - started
    return report


__all__ = ["Checkpoint", "Finding", "Report", "create_checkpoint", "verify"]
