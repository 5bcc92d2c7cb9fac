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

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import RegistryError
from .events import START, Cursor
from .hashing import EMPTY_ROOT, MerkleFrontier, canonical_json, event_hash, format_time, leaf_hash, node_hash
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
# Every stream in (stream_id, version) order, by keyset over events_stream_id_version_key (benchmarks/audit.py
# times the same read without hashing).
CHAIN_SQL = """
SELECT position, stream_id, stream_type, version, event_type, schema_version, data, metadata,
       occurred_at, prev_hash, hash
FROM events WHERE (stream_id, version) > ($1, $2)
ORDER BY stream_id, version LIMIT $3
"""
# How many committed events follow a cursor (counted up to $3), by the global-order index.
_PENDING_SQL = """
SELECT count(*) FROM (SELECT 1 FROM events
                      WHERE (transaction_id, position) > ($1::xid8, $2::bigint)
                        AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                      LIMIT $3) AS pending
"""
_AGE_SQL = """
SELECT upto_transaction_id, upto_position, extract(epoch FROM now() - created_at) AS age FROM checkpoints
ORDER BY upto_transaction_id DESC, upto_position DESC LIMIT 1
"""
_INSERT_LEAVES_SQL = """
INSERT INTO checkpoint_leaves (position, transaction_id, leaf)
SELECT * FROM unnest($1::bigint[], $2::xid8[], $3::bytea[])
"""
_STORED_LEAVES_SQL = """
SELECT position, transaction_id, leaf FROM checkpoint_leaves
WHERE (transaction_id, position) > ($1::xid8, $2::bigint) AND (transaction_id, position) <= ($3::xid8, $4::bigint)
ORDER BY transaction_id, position
"""
# The stored leaves of a tree, a page at a time in the global order (inclusion proofs).
_LEAVES_PAGE_SQL = """
SELECT position, transaction_id, leaf FROM checkpoint_leaves
WHERE (transaction_id, position) > ($1::xid8, $2::bigint) AND (transaction_id, position) <= ($3::xid8, $4::bigint)
ORDER BY transaction_id, position LIMIT $5
"""
_BATCH = 5000
_LEAVES_PAGE = 50_000
_MAX_LEAVES = 100_000  # events one checkpoint covers at most: its leaves are held in memory until written
_CHECKPOINT_LOCK = 0x636B_7074  # pg_advisory_xact_lock key: one process commits a checkpoint at a time

log = logging.getLogger(__name__)

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
        stream = "" if self.stream_id is None else f"stream {self.stream_id} "
        where = "" if self.position is None else f"{stream}position {self.position}: "
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


async def create_checkpoint(store: EventStore, progress: Progress = lambda _: None) -> Checkpoint | None:
    """Commit Merkle roots over every event up to the current horizon, with their leaves.

    Extends the latest checkpoint, in checkpoints of at most _MAX_LEAVES events (their leaves are held until
    written); returns the last one made, or None when no event was appended since (nothing is written) or
    another process committed first.
    """
    horizon = await store.horizon()
    made = None
    while True:
        one = await _checkpoint_once(store, horizon, progress)
        if one is None:
            return made
        made = one
        if one.cursor == horizon:
            return made


async def _checkpoint_once(store: EventStore, horizon: Cursor, progress: Progress) -> Checkpoint | None:
    pool = store.pool
    with driver_errors():
        last = await pool.fetchrow(_LAST_CHECKPOINT_SQL)
    if last is None:
        tree, after = MerkleFrontier(), START
    else:
        tree = MerkleFrontier(last["event_count"], last["frontier"])
        after = Cursor(last["upto_transaction_id"], last["upto_position"])
    positions: list[int] = []
    transactions: list[int] = []
    leaves: list[bytes] = []
    cursor = after
    while len(leaves) < _MAX_LEAVES:
        rows = await store.read_leaves(cursor, horizon, min(_BATCH, _MAX_LEAVES - len(leaves)))
        if not rows:
            break
        for row in rows:
            positions.append(row[0])
            transactions.append(row[1])
            leaves.append(_leaf(row))
        cursor = Cursor(rows[-1][1], rows[-1][0])
        progress(len(rows))
    if not leaves:
        return None
    tree.extend(leaves)
    root = tree.root()
    with driver_errors():
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _CHECKPOINT_LOCK)
            now_last = await conn.fetchval(_LAST_CHECKPOINT_SQL)  # its id
            if now_last != (None if last is None else last["id"]):  # another process committed one meanwhile
                return None
            await conn.execute(_INSERT_LEAVES_SQL, positions, transactions, leaves)
            id_ = await conn.fetchval(
                _INSERT_CHECKPOINT_SQL, cursor.transaction_id, cursor.position, tree.size, root, tree.nodes
            )
    if id_ is None:
        return None
    return Checkpoint(id_, cursor, tree.size, root)


@dataclass(frozen=True)
class CheckpointPolicy:
    """When the background work commits a checkpoint by itself: once `events` events follow the last one, or
    `minutes` after it when at least one event came since (0 turns that trigger off). Each root is logged, to be
    published outside the system (an auditor's copy, a gazette, another organisation's ledger)."""

    events: int = 10_000
    minutes: float = 60.0

    def due(self, pending: int, age_seconds: float | None) -> bool:
        if pending == 0:
            return False
        if self.events and pending >= self.events:
            return True
        return bool(self.minutes) and (age_seconds is None or age_seconds >= self.minutes * 60)


async def checkpoint_if_due(store: EventStore, policy: CheckpointPolicy) -> Checkpoint | None:
    """Commit a checkpoint when the policy says one is due; None when none is (or another process made it)."""
    with driver_errors():
        last = await store.pool.fetchrow(_AGE_SQL)
        after = START if last is None else Cursor(last["upto_transaction_id"], last["upto_position"])
        pending = await store.pool.fetchval(_PENDING_SQL, after.transaction_id, after.position, max(policy.events, 1))
    age = None if last is None else float(last["age"])
    if not policy.due(int(pending), age):
        return None
    return await create_checkpoint(store)


async def keep_checkpoints(
    store: EventStore, stop: asyncio.Event, policy: CheckpointPolicy, *, poll: float = 5.0
) -> None:
    """Commit checkpoints as the policy says until `stop` is set; a database outage is waited out."""
    if not (policy.events or policy.minutes):
        return
    while not stop.is_set():
        try:
            made = await checkpoint_if_due(store, policy)
        except (RegistryError, OSError) as exc:  # driver errors arrive translated (store.driver_errors)
            log.warning("checkpoints: %s; trying again", type(exc).__name__)
        else:
            if made is not None:
                log.info("checkpoint %d: %d events up to %s, root %s (publish it outside the system)",
                         made.id, made.event_count, made.cursor.token(), made.root.hex())  # fmt: skip
        try:
            await asyncio.wait_for(stop.wait(), poll)
        except TimeoutError:
            pass


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


async def _pages(
    fetch: Callable[[Any], Awaitable[list[Any]]], key_of: Callable[[Any], Any], start: Any
) -> AsyncIterator[list[Any]]:
    """The pages of a keyset read, each next one asked for while the caller works on the one it has (the
    database reads as Python hashes)."""
    pending = asyncio.ensure_future(fetch(start))
    try:
        while rows := await pending:
            pending = asyncio.ensure_future(fetch(key_of(rows[-1])))
            yield rows
    finally:
        pending.cancel()


async def _compare_leaves(
    store: EventStore, tree: MerkleFrontier, after: Cursor, until: Cursor, checkpoint: int, report: Report
) -> Cursor:
    """Extend tree with the leaves of the events after `after` up to `until`, each compared with the leaf the
    checkpoint committed at its position (when it kept them: checkpoints made before migration 0016 did not);
    return the cursor of the last event."""
    with driver_errors():
        found = await store.pool.fetch(
            _STORED_LEAVES_SQL, after.transaction_id, after.position, until.transaction_id, until.position
        )
    stored = {r["position"]: (r["transaction_id"], r["leaf"]) for r in found}
    kept = bool(stored)
    pages = _pages(lambda key: store.read_leaves(key, until, _BATCH), lambda r: Cursor(r[1], r[0]), after)
    async for rows in pages:
        leaves = [_leaf(row) for row in rows]
        tree.extend(leaves)
        if kept:
            for row, leaf in zip(rows, leaves, strict=True):
                committed = stored.pop(row[0], None)
                if committed is None:
                    report.findings.append(
                        Finding(
                            "inserted", f"checkpoint {checkpoint} committed no event at this position", row[2], row[0]
                        )
                    )
                elif committed != (row[1], leaf):
                    report.findings.append(Finding(
                        "altered", f"its position, transaction id, system time or hash differ from what checkpoint "
                        f"{checkpoint} committed", row[2], row[0]))  # fmt: skip
        after = Cursor(rows[-1][1], rows[-1][0])
    for position in sorted(stored):
        report.findings.append(Finding(
            "removed", f"checkpoint {checkpoint} committed an event at position {position} that is gone",
            position=position))  # fmt: skip
    return after


async def verify(
    store: EventStore, progress: Progress = lambda _: None, *, published_root: bytes | None = None
) -> Report:
    """Recompute every stream's hash chain and every checkpoint; report what differs. The two passes run side
    by side (the chains in stream order, the checkpoints in the global order), each on its own connection."""
    started = time.perf_counter()
    chains, checkpoints = Report(), Report()
    with driver_errors():
        committed = await store.pool.fetch(_CHECKPOINTS_SQL)
        await asyncio.gather(
            _verify_chains(store, chains, progress), _verify_checkpoints(store, committed, checkpoints, published_root)
        )
    return Report(chains.events, chains.streams, checkpoints.checkpoints, time.perf_counter() - started,
                  chains.findings + checkpoints.findings)  # fmt: skip


async def _verify_chains(store: EventStore, report: Report, progress: Progress) -> None:
    previous: Any = None
    pool = store.pool
    pages = _pages(lambda key: pool.fetch(CHAIN_SQL, key[0], key[1], _BATCH), lambda r: (r[1], r[3]), ("", 0))
    async for rows in pages:
        for row in rows:
            if previous is None or previous["stream_id"] != row["stream_id"]:
                report.streams += 1
                previous = None
            _check_event(row, previous, report)
            previous = row
        report.events += len(rows)
        progress(len(rows))


async def _verify_checkpoints(
    store: EventStore, checkpoints: list[Any], report: Report, published_root: bytes | None
) -> None:
    tree, cursor = MerkleFrontier(), START
    roots = set()
    for row in checkpoints:
        report.checkpoints += 1
        until = Cursor(row["upto_transaction_id"], row["upto_position"])
        if MerkleFrontier(row["event_count"], row["frontier"]).root() != row["root"]:
            report.findings.append(
                Finding("checkpoint", f"checkpoint {row['id']}: its frontier does not give its root")
            )
        cursor = await _compare_leaves(store, tree, cursor, until, row["id"], report)
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


# -- inclusion and consistency proofs (RFC 6962 section 2.1.1 and 2.1.2; RFC 9162 section 2.1.3 and 2.1.4) --------


def _split(size: int) -> int:
    """The size of the left subtree of a tree of `size` > 1 leaves: the largest power of two below it."""
    return 1 << ((size - 1).bit_length() - 1)


Node = tuple[int, int]  # a subtree of the tree: the leaves [lo, hi) of the global order


def _path(index: int, size: int) -> tuple[list[Node], list[Node]]:
    """The audit path of leaf `index` (its nodes, from the leaf up) and the nodes above it (to descend into)."""
    siblings: list[Node] = []
    above: list[Node] = []
    lo, hi = 0, size
    while hi - lo > 1:
        above.append((lo, hi))
        middle = lo + _split(hi - lo)
        if index < middle:
            siblings.append((middle, hi))
            hi = middle
        else:
            siblings.append((lo, middle))
            lo = middle
    siblings.reverse()
    return siblings, above


def _consistency(earlier: int, size: int) -> tuple[list[Node], list[Node]]:
    """RFC 6962's PROOF(m, D[n]) as nodes (SUBPROOF unrolled), and the nodes above them."""
    nodes: list[Node] = []
    above: list[Node] = []
    lo, hi, m, whole = 0, size, earlier, True
    while m != hi - lo:
        above.append((lo, hi))
        k = _split(hi - lo)
        if m <= k:
            nodes.append((lo + k, hi))
            hi = lo + k
        else:
            nodes.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        nodes.append((lo, hi))
    nodes.reverse()
    return nodes, above


@dataclass(frozen=True)
class Proofs:
    """The root of a tree and the nodes its proofs are made of: `path(i)` is leaf i's audit path (from the leaf up,
    RFC 9162 section 2.1.3.1), `consistency(m)` the proof that the tree of the first m leaves is its prefix (section
    2.1.4.1). Only the nodes asked for are kept, each once however many proofs share it."""

    size: int
    root: bytes
    nodes: dict[Node, bytes]

    def path(self, index: int) -> list[bytes]:
        return [self.nodes[node] for node in _path(index, self.size)[0]]

    def consistency(self, earlier: int) -> list[bytes]:
        return [self.nodes[node] for node in _consistency(earlier, self.size)[0]]


def inclusion_proofs(
    leaves: Iterable[bytes], size: int, indices: Iterable[int], consistent_with: Iterable[int] = ()
) -> Proofs:
    """The audit paths of the leaves at `indices` (their places in the global order) in the tree of the first `size`
    leaf hashes of `leaves`, and consistency proofs from the trees of the sizes `consistent_with`, in one pass over
    the leaves: each subtree that holds no node of a proof is hashed as the leaves stream by (MerkleFrontier), each
    other one is split; so a million leaves cost a million leaf reads and about as many node hashes, however many
    proofs are asked for, and memory holds the proofs' nodes only."""
    wanted: set[Node] = set()
    split: set[Node] = set()
    for index in indices:
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is outside a tree of {size} leaves")
        nodes, above = _path(index, size)
        wanted.update(nodes)
        split.update(above)
    for earlier in consistent_with:
        if not 0 < earlier <= size:
            raise ValueError(f"no consistency proof from a tree of {earlier} leaves to one of {size}")
        nodes, above = _consistency(earlier, size)
        wanted.update(nodes)
        split.update(above)
    stream = iter(leaves)
    found: dict[Node, bytes] = {}

    def hashed(lo: int, hi: int) -> bytes:
        if (lo, hi) in split:
            middle = lo + _split(hi - lo)
            digest = node_hash(hashed(lo, middle), hashed(middle, hi))
        else:
            digest = _subtree(stream, hi - lo)
        if (lo, hi) in wanted:
            found[(lo, hi)] = digest
        return digest

    root = hashed(0, size) if size else EMPTY_ROOT
    if next(stream, None) is not None:
        raise ValueError(f"more than {size} leaves given for a tree of {size}")
    return Proofs(size, root, found)


def _subtree(stream: Iterator[bytes], count: int) -> bytes:
    """The Merkle tree hash of the next `count` leaves of the stream."""
    tree = MerkleFrontier()
    for _ in range(count):
        leaf = next(stream, None)
        if leaf is None:
            raise ValueError("fewer leaves given than the tree holds")
        tree.append(leaf)
    return tree.root()


@dataclass(frozen=True)
class CommittedCheckpoint:
    """A checkpoint as stored, with the time it was committed (what an auditor matches a published root to)."""

    id: int
    cursor: Cursor
    event_count: int
    root: bytes
    created_at: datetime


async def committed_checkpoints(store: EventStore) -> list[CommittedCheckpoint]:
    """Every checkpoint in the global order (the last one covers the most events)."""
    with driver_errors():
        rows = await store.pool.fetch(_CHECKPOINTS_SQL)
    return [CommittedCheckpoint(r["id"], Cursor(r["upto_transaction_id"], r["upto_position"]), r["event_count"],
                                r["root"], r["created_at"]) for r in rows]  # fmt: skip


@dataclass(frozen=True)
class CheckpointProofs:
    """The proofs of a checkpoint's tree; `index` gives the leaf index of each event position asked for (absent: no
    leaf of the tree is at that position), `stored` whether the tree was read from the leaves the checkpoint committed
    (False: some were missing, as for checkpoints older than migration 0016, and the leaves were recomputed from the
    events as they are now: proofs that hold only if the events still give the checkpoint's root)."""

    proofs: Proofs
    index: dict[int, int]
    stored: bool


async def checkpoint_proofs(
    store: EventStore, checkpoint: CommittedCheckpoint | Checkpoint, positions: Iterable[int],
    consistent_with: Iterable[int] = (), progress: Progress = lambda _: None,
) -> CheckpointProofs:  # fmt: skip
    """Inclusion proofs in the tree of `checkpoint` for the events at `positions`, and consistency proofs from the
    trees of earlier checkpoints' sizes, from the leaves the checkpoint committed (checkpoint_leaves, in the global
    order: a leaf's index is its place there). The leaf hashes are held as one buffer, 32 bytes each (32 MB for a
    million events); the tree is then hashed once (`inclusion_proofs`).

    An event altered since the checkpoint still gets the proof of the leaf committed then, so a verifier that
    recomputes its leaf from its content finds that it does not fit; a leaf removed from the table shows as a
    tree that does not give the checkpoint's root."""
    wanted = set(positions)
    buffer = bytearray()
    index: dict[int, int] = {}
    until, after = checkpoint.cursor, START
    with driver_errors():
        while rows := await store.pool.fetch(_LEAVES_PAGE_SQL, after.transaction_id, after.position,
                                             until.transaction_id, until.position, _LEAVES_PAGE):  # fmt: skip
            for position, _, leaf in rows:
                if position in wanted:
                    index[position] = len(buffer) // 32
                buffer += leaf
            after = Cursor(rows[-1][1], rows[-1][0])
            progress(len(rows))
    stored = len(buffer) // 32 == checkpoint.event_count
    if not stored:  # leaves missing (checkpoints older than migration 0016): recomputed from the events as they are
        buffer, index, after = bytearray(), {}, START
        while rows := await store.read_leaves(after, until, _BATCH):
            for row in rows:
                if row[0] in wanted:
                    index[row[0]] = len(buffer) // 32
                buffer += _leaf(row)
            after = Cursor(rows[-1][1], rows[-1][0])
            progress(len(rows))
    view = memoryview(buffer)
    leaves = (bytes(view[i : i + 32]) for i in range(0, len(buffer), 32))
    size = len(buffer) // 32
    earlier = [m for m in consistent_with if m <= size]
    return CheckpointProofs(inclusion_proofs(leaves, size, index.values(), earlier), index, stored)


__all__ = [
    "Checkpoint",
    "CheckpointPolicy",
    "CheckpointProofs",
    "CommittedCheckpoint",
    "Finding",
    "Node",
    "Proofs",
    "Report",
    "checkpoint_if_due",
    "checkpoint_proofs",
    "committed_checkpoints",
    "create_checkpoint",
    "inclusion_proofs",
    "keep_checkpoints",
    "verify",
]
