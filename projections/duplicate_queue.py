"""The duplicate review queue (hàng đợi rà soát hồ sơ trùng lặp): the suspected pairs and where their records lie.

A read model of the `duplicate_review` streams (registry/duplicate_review.py) and of the children's streams:
one row per suspected pair with its score, reasons, status and when it was found, and, for each of its two records,
the province, commune and former district it lies in today (`Gazetteer.place`, through the reform's successors),
so that an officer is shown the pairs of their jurisdiction. The children's streams are followed for two things
only: where each record lives (a move changes whose queue a pair is in) and whether it was merged or erased (a pair
is resolved once either record is merged, by whoever and whatever way; a record erased leaves nothing to review).

Status, in this order of precedence: `merged` (either record merged into a record), `erased` (either record's
personal data erased), `dismissed` (an officer found them two children), `pending`.

No personal data: record ids, codes, the score, the officers' ids. Every row carries the province codes of both
records (a pair across a province line belongs to both; there are no foreign keys across provinces).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

import asyncpg

from registry import children as child_domain
from registry import duplicate_review as review_domain
from registry.duplicate_review import QueueStatus
from registry.errors import InvalidInput
from registry.events import RecordedEvent
from registry.gazetteer import Placement
from registry.units import Level, level_of

from .placing import Placed
from .queries import Source

_CHILD_EVENTS = ("ChildRegistered", "ChildMoved", "ChildMergedInto", "ChildDataErased")
_CHILD_COLUMNS = ("child_id", "province_code", "commune_code", "district_code", "province_now", "commune_now",
                  "merged_into", "merged_at", "merged_by", "erased")  # fmt: skip
_PAIR_COLUMNS = ("pair_id", "child_a", "child_b", "province_a", "commune_a", "district_a", "province_b", "commune_b",
                 "district_b", "score", "reasons", "keys", "found_by", "status", "found_at", "resolved_at",
                 "resolved_by", "dismissed_reason", "dismissed_at", "dismissed_by", "merged_into", "version",
                 "last_position")  # fmt: skip


class DuplicateQueue(Placed):
    name = "duplicate_queue"
    version = 1
    stream_types = (review_domain.STREAM_TYPE, child_domain.STREAM_TYPE)
    tables: ClassVar[dict[str, str]] = {
        "duplicate_pairs": """pair_id text PRIMARY KEY, child_a text NOT NULL, child_b text NOT NULL,
            province_a text NOT NULL, commune_a text NOT NULL, district_a text,
            province_b text NOT NULL, commune_b text NOT NULL, district_b text,
            score numeric(3, 2) NOT NULL, reasons text[] NOT NULL, keys text[] NOT NULL, found_by text NOT NULL,
            status text NOT NULL, found_at timestamptz NOT NULL, resolved_at timestamptz, resolved_by text,
            dismissed_reason text, dismissed_at timestamptz, dismissed_by text, merged_into text,
            version integer NOT NULL, last_position bigint NOT NULL""",
        # Where each record lies and whether it is still one (every child: a pair may be found any time later).
        "duplicate_children": """child_id text PRIMARY KEY, province_code text NOT NULL, commune_code text NOT NULL,
            district_code text, province_now text NOT NULL, commune_now text NOT NULL, merged_into text,
            merged_at timestamptz, merged_by text, erased boolean NOT NULL DEFAULT false""",
    }
    indexes = (
        # the pairs of a record, when it moves or is merged or erased (the fold), and for the API
        "CREATE INDEX ON {duplicate_pairs} (child_a)",
        "CREATE INDEX ON {duplicate_pairs} (child_b)",
        # the queue of a unit, by status and score (queue() below)
        "CREATE INDEX ON {duplicate_pairs} (province_a, status, score DESC, pair_id)",
        "CREATE INDEX ON {duplicate_pairs} (province_b, status, score DESC, pair_id)",
        "CREATE INDEX ON {duplicate_pairs} (commune_a, status)",
        "CREATE INDEX ON {duplicate_pairs} (commune_b, status)",
        "CREATE INDEX ON {duplicate_pairs} (district_a, status) WHERE district_a IS NOT NULL",
        "CREATE INDEX ON {duplicate_pairs} (district_b, status) WHERE district_b IS NOT NULL",
    )
    views: ClassVar[dict[str, str]] = {
        # Pairs per province (of either record) and status: the data-quality figures of the cleansing (Project 06).
        "duplicate_pairs_per_province": """
            SELECT p.province_code, d.status, count(DISTINCT d.pair_id) AS pairs
            FROM {duplicate_pairs} d, unnest(ARRAY[d.province_a, d.province_b]) AS p(province_code) GROUP BY 1, 2""",
    }

    async def apply(self, conn: asyncpg.Connection, tables: dict[str, str], events: Sequence[RecordedEvent]) -> None:
        """Fold a batch set-wise: read the rows it touches once (its children, its pairs, and the pairs of its
        children that moved or ended), fold in memory, write what changed."""
        t = tables
        moved = {_id(e) for e in events if e.stream_type == child_domain.STREAM_TYPE and e.event_type in _CHILD_EVENTS}
        reviews = {_id(e) for e in events if e.stream_type == review_domain.STREAM_TYPE}
        if not moved and not reviews:
            return
        pairs = {r["pair_id"]: dict(r) for r in await conn.fetch(
            f"SELECT * FROM {t['duplicate_pairs']} WHERE pair_id = ANY($1::text[]) OR child_a = ANY($2::text[])"
            " OR child_b = ANY($2::text[])", sorted(reviews), sorted(moved))}  # fmt: skip
        wanted = set(moved) | {c for p in pairs.values() for c in (p["child_a"], p["child_b"])}
        suspected: list[Any] = [e.data["child_ids"] for e in events if e.event_type == "DuplicateSuspected"]
        wanted |= {c for ids in suspected for c in ids}
        children = {r["child_id"]: dict(r) for r in await conn.fetch(
            f"SELECT * FROM {t['duplicate_children']} WHERE child_id = ANY($1::text[])", sorted(wanted))}  # fmt: skip
        stored_children, stored_pairs = set(children), set(pairs)
        before_children = {c: dict(r) for c, r in children.items()}
        before_pairs = {p: dict(r) for p, r in pairs.items()}
        for event in events:
            if event.stream_type == child_domain.STREAM_TYPE:
                self._fold_child(children, event)
            else:
                _fold_review(pairs, event)
        for row in pairs.values():
            _derive(row, children)
        await _write(conn, t["duplicate_children"], "child_id", children, before_children, stored_children)
        await _write(conn, t["duplicate_pairs"], "pair_id", pairs, before_pairs, stored_pairs)

    def _fold_child(self, children: dict[str, dict[str, Any]], e: RecordedEvent) -> None:
        data: dict[str, Any] = e.data
        child, kind = _id(e), e.event_type
        if kind == "ChildRegistered":
            commune, since = data["commune_code"], date.fromisoformat(data["residence_from"])
            province, district, commune_now, province_now = self._place(commune, since)
            children[child] = dict(child_id=child, province_code=province, commune_code=commune, district_code=district,
                                   province_now=province_now, commune_now=commune_now, merged_into=None,
                                   merged_at=None, merged_by=None, erased=False)  # fmt: skip
            return
        row = children.get(child)
        if row is None:
            return  # cannot happen: a child's first event is its registration, and every child has a row
        if kind == "ChildMoved":
            commune, on = data["to_commune"], date.fromisoformat(data["on"])
            province, district, commune_now, province_now = self._place(commune, on)
            row.update(province_code=province, commune_code=commune, district_code=district,
                       province_now=province_now, commune_now=commune_now)  # fmt: skip
        elif kind == "ChildMergedInto":
            row.update(merged_into=data["survivor_id"], merged_at=e.recorded_at, merged_by=e.metadata.get("actor_id"))
        elif kind == "ChildDataErased":
            row["erased"] = True


def _id(event: RecordedEvent) -> str:
    return event.stream_id.split(":", 1)[1]


def _fold_review(pairs: dict[str, dict[str, Any]], e: RecordedEvent) -> None:
    pair = _id(e)
    data: dict[str, Any] = e.data
    if e.event_type == "DuplicateSuspected":
        first, second = data["child_ids"]
        pairs[pair] = dict(
            pair_id=pair, child_a=first, child_b=second, province_a="??", commune_a="??", district_a=None,
            province_b="??", commune_b="??", district_b=None, score=Decimal(data["score"]),
            reasons=list(data["reasons"]), keys=list(data["keys"]), found_by=data["found_by"],
            status=QueueStatus.PENDING.value, found_at=e.recorded_at, resolved_at=None, resolved_by=None,
            dismissed_reason=None, dismissed_at=None, dismissed_by=None, merged_into=None, version=e.version,
            last_position=e.position,
        )  # fmt: skip
        return
    row = pairs.get(pair)
    if row is None:
        return  # cannot happen: a review's first event is the suspicion
    if e.event_type == "DuplicateDismissed":
        row.update(dismissed_reason=data["reason"], dismissed_at=e.recorded_at, dismissed_by=e.metadata.get("actor_id"))
    row.update(version=e.version, last_position=e.position)


def _derive(row: dict[str, Any], children: dict[str, dict[str, Any]]) -> None:
    """A pair's places and status from its records' rows and its own review."""
    sides = [children.get(row["child_a"]), children.get(row["child_b"])]
    for suffix, side in zip(("a", "b"), sides, strict=True):
        if side is not None:
            row.update({f"province_{suffix}": side["province_now"], f"commune_{suffix}": side["commune_now"],
                        f"district_{suffix}": side["district_code"]})  # fmt: skip
    merged = [s for s in sides if s is not None and s["merged_into"] is not None]
    if merged:
        first = min(merged, key=lambda s: s["merged_at"])
        status, resolved_at, resolved_by, into = QueueStatus.MERGED, first["merged_at"], first["merged_by"], first[
            "merged_into"]  # fmt: skip
    elif any(s is not None and s["erased"] for s in sides):
        status, resolved_at, resolved_by, into = QueueStatus.ERASED, None, None, None
    elif row["dismissed_reason"] is not None:
        status, resolved_at, resolved_by, into = (QueueStatus.DISMISSED, row["dismissed_at"], row["dismissed_by"],
                                                  None)  # fmt: skip
    else:
        status, resolved_at, resolved_by, into = QueueStatus.PENDING, None, None, None
    row.update(status=status.value, resolved_at=resolved_at, resolved_by=resolved_by, merged_into=into)


async def _write(
    conn: asyncpg.Connection, table: str, key: str, rows: dict[str, dict[str, Any]],
    before: dict[str, dict[str, Any]], stored: set[str],
) -> None:  # fmt: skip
    """New rows by COPY, changed stored rows by their key; rows that did not change are not written."""
    columns = _CHILD_COLUMNS if key == "child_id" else _PAIR_COLUMNS
    new = [tuple(r[c] for c in columns) for k, r in rows.items() if k not in stored]
    changed = [tuple(r[c] for c in columns) for k, r in rows.items() if k in stored and r != before[k]]
    if new:
        schema, name = table.split(".")
        await conn.copy_records_to_table(name, schema_name=schema, records=new, columns=list(columns))
    if changed:
        updates = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, 1) if c != key)
        await conn.executemany(f"UPDATE {table} SET {updates} WHERE {key} = $1", changed)


# -- reading the queue ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueuedPair:
    """A suspected pair as the queue shows it: ids, codes, the score and where each record lies (no names)."""

    pair_id: str
    child_ids: tuple[str, str]
    score: Decimal
    reasons: tuple[str, ...]
    keys: tuple[str, ...]
    found_by: str
    status: QueueStatus
    found_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    dismissed_reason: str | None
    merged_into: str | None
    places: tuple[Placement, Placement]  # today's structure: what Principal.covers asks about each record
    version: int

    @property
    def cursor(self) -> str:
        """Where a page ended: the next page starts after this pair (queue(after=...))."""
        return f"{self.score}:{self.pair_id}"


def _queued(r: asyncpg.Record) -> QueuedPair:
    places = tuple(Placement(r[f"commune_{s}"], r[f"province_{s}"], r[f"district_{s}"], r[f"commune_{s}"],
                             r[f"province_{s}"]) for s in ("a", "b"))  # fmt: skip
    return QueuedPair(r["pair_id"], (r["child_a"], r["child_b"]), r["score"], tuple(r["reasons"]), tuple(r["keys"]),
                      r["found_by"], QueueStatus(r["status"]), r["found_at"], r["resolved_at"], r["resolved_by"],
                      r["dismissed_reason"], r["merged_into"], (places[0], places[1]), r["version"])  # fmt: skip


async def queue(
    conn: Source, unit: str | None = None, *, status: QueueStatus | None = QueueStatus.PENDING,
    after: str | None = None, limit: int = 100, schema: str = "read",
) -> list[QueuedPair]:  # fmt: skip
    """The pairs with a record in `unit` (a commune or province code of today's map, or a district of 2025-06-30;
    None: the whole country), with `status` (None: any), highest score first, a page of `limit` after the cursor
    `after` (QueuedPair.cursor of the last pair of the page before)."""
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit", "out_of_range", "must be between 1 and 1000")
    args: list[object] = [limit]
    conditions = []
    if unit is not None:
        column = {Level.COMMUNE: "commune", Level.DISTRICT: "district", Level.PROVINCE: "province"}[
            level_of(unit, "unit")]  # fmt: skip
        args.append(unit)
        conditions.append(f"({column}_a = ${len(args)} OR {column}_b = ${len(args)})")
    if status is not None:
        args.append(QueueStatus(status).value)
        conditions.append(f"status = ${len(args)}")
    if after is not None:
        score, pair = _cursor(after)
        args += [score, pair]
        conditions.append(f"(score < ${len(args) - 1} OR (score = ${len(args) - 1} AND pair_id > ${len(args)}))")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = await conn.fetch(
        f"SELECT * FROM {schema}.duplicate_pairs {where} ORDER BY score DESC, pair_id LIMIT $1", *args
    )
    return [_queued(r) for r in rows]


async def queued_pair(conn: Source, pair: str, *, schema: str = "read") -> QueuedPair | None:
    row = await conn.fetchrow(f"SELECT * FROM {schema}.duplicate_pairs WHERE pair_id = $1", pair)
    return None if row is None else _queued(row)


async def pairs_of(conn: Source, child_id: str, *, schema: str = "read") -> list[QueuedPair]:
    """Every suspected pair a record is in (any status), highest score first."""
    rows = await conn.fetch(
        f"SELECT * FROM {schema}.duplicate_pairs WHERE child_a = $1 OR child_b = $1 ORDER BY score DESC, pair_id",
        child_id,
    )
    return [_queued(r) for r in rows]


def _cursor(token: str) -> tuple[Decimal, str]:
    try:
        score, pair = token.split(":", 1)
        value = Decimal(score)
    except (ValueError, ArithmeticError):
        raise InvalidInput("after", "invalid_cursor", "is not a cursor of the duplicate queue") from None
    if not (0 <= value <= 1) or not pair:
        raise InvalidInput("after", "invalid_cursor", "is not a cursor of the duplicate queue")
    return value, pair


__all__ = ["DuplicateQueue", "QueueStatus", "QueuedPair", "pairs_of", "queue", "queued_pair"]
