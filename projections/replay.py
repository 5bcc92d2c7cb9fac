"""`registry replay --until TIME|CURSOR [--unit CODE] [--keep]`: rebuild every read model from the log up to a point
of system time, apart from the live ones, and compare it with the live read models' as-of answers (tái dựng dữ liệu
đến một thời điểm để kiểm toán). Nothing should differ: a difference means a live read model does not answer "as
the registry knew it at T" the way the log says it should.

What is replayed (the horizon). The live as-of views answer by system time: a version of a fact is "known at T"
when `recorded @> T` (projections/queries.py), and an event's `recorded_at` is the time its transaction began
(`DEFAULT now()`). So the replay folds exactly the events recorded by T (`Horizon(time=T)`), in the global order,
and nothing else:

- `--until TIME` (ISO 8601 with its zone; not in the future): T is that time.
- `--until CURSOR` (an event's `globalCursor`): T is the time its event was recorded, which is what the API's
  `asOf` means for the read models ("as the registry knew it just after that event"). The events replayed are
  those recorded by T, which may differ from "every event up to the cursor in the global order" in two ways the
  report names with their counts: the rest of the cursor's transaction (all its events share its `recorded_at`,
  and no reader ever saw a transaction in part), and a transaction that began before T but took its transaction
  id after the cursor's (or the other way round): its place in the global order and its system time disagree, and
  the as-of views, being by system time, follow the time. A prefix of the global order cut inside a transaction
  is not a state the registry was ever in, so it cannot be compared with anything.

The horizon must be settled: every event recorded by T must be below the followers' horizon (no transaction that
wrote one still running), and every live projection must have folded all of them (else the command says to run
`registry project run --once`, and compares nothing).

Where. Into a schema of its own, `replay_<8 hex>`, each projection under a name of its own (`<schema>_<name>`),
so its `projection_state` and `projection_checkpoints` rows never meet the live ones; both the schema and those
rows are dropped at the end unless `--keep` (then the replayed tables can be queried as `<schema>.children` etc.).
The log is read once for all the projections (their stream types together, 20,000 events a transaction, the next
batch read while one is folded) and each batch is folded by each projection in one transaction: a projection's
tables do not depend on where batches begin (projections/register.py). The administrative units are the ones the
store holds now, as in a rebuild (the live rows were placed with the units known when they were folded).

What is compared, live at `known_at=T` against the replay at `known_at=None` (its current state):

1. the as-of queries of projections/queries.py (`children_by_group`, `open_cases`: every level, every unit at once
   or `--unit` only; `children_in`, `children_page`: per unit, for a budget of (unit, day) pairs evenly spread
   (48 by default, to keep a full run within minutes; the report says how many of how many; every day with
   `--unit`), on the relevant business days: the bounds of the validity
   ranges in the replayed tables (a range's first day, its last and the day after it), the horizon's day, and
   the days either side of the two-tier reform, at most `days` of them evenly spread;
2. the bitemporal tables row by row (`child_residences`, `child_groups`, `child_lives`, `case_history`;
   `child_supports` by its `recorded` time): the live rows recorded by T, their `recorded` upper bound cut at T
   (a version still held at T may have been superseded later, live) against every replayed row;
3. the current-state tables (`children`, `cases`, `case_deadlines`, the duplicate queue's) row by row only when
   the live projections have folded nothing recorded after T (a replay up to now): otherwise they answer for now,
   not for T, and are skipped (the report says why).

Each difference names the view or table, the unit and day or the row's key, and the live and replayed values (ids
and codes only: the read models hold no personal data). `run` prints them, then a summary (events replayed and
per second, what was compared, differences), progress on standard error; it exits 0 if nothing differs, 1 if
something does, 2 on bad input or a horizon that cannot be compared yet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from registry.collector import cycle_collection_paused
from registry.config import Settings
from registry.errors import RegistryError
from registry.events import START, Cursor, RecordedEvent
from registry.law import TWO_TIER_FROM, VIETNAM
from registry.runtime import Registry
from registry.store import EventStore, driver_errors
from registry.units import Level, level_of

from .cli import PhaseBars
from .duplicates import Progress, Silent
from .queries import children_by_group, children_in, children_page, open_cases, unit_column
from .register import PROJECTIONS, CaseRegister, ChildRegister
from .runtime import REBUILD_BATCH, Connect, Projection, Projector, physical

SHOWN = 20  # differences listed per view or table (all are counted)
PAGE = 500  # children_page's page size while a unit's register is compared
_UNIT_COLUMNS = "province_code, commune_code, district_code, province_now, commune_now"


class ReplayError(RegistryError):
    """The horizon asked for cannot be replayed or compared (bad input, not settled, a live read model behind)."""


@dataclass(frozen=True)
class Difference:
    """One thing the live read models answer otherwise than the replay: `where` is the view or table and its
    arguments (level, unit, day), `key` the row or entry, and each side's value (None: it has none)."""

    where: str
    key: str
    live: Any
    replayed: Any

    def line(self) -> str:
        return f"DIFFERS {self.where} [{self.key}]: live {_show(self.live)}, replayed {_show(self.replayed)}"


@dataclass(frozen=True)
class Comparison:
    """What one view or table was compared over, and how many of its differences were found."""

    name: str
    checked: int  # calls of a query, or rows of a table (both sides)
    differences: int
    note: str = ""


@dataclass
class ReplayReport:
    horizon: datetime  # T: the events recorded by then were replayed; the live views were asked as known at T
    cursor: Cursor | None  # the cursor asked for, if any
    last: Cursor  # the last event replayed in the global order (START if none)
    events: int  # events replayed (each once, whatever the projections that fold it)
    fold_seconds: float
    compare_seconds: float
    schema: str
    kept: bool
    comparisons: list[Comparison] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)  # SHOWN at most per view or table
    notes: list[str] = field(default_factory=list)

    @property
    def differing(self) -> int:
        return sum(c.differences for c in self.comparisons)

    @property
    def events_per_second(self) -> float:
        return self.events / self.fold_seconds if self.fold_seconds > 0 else 0.0

    def summary(self) -> list[str]:
        asked = f"cursor {self.cursor.token()} (recorded {self.horizon.isoformat()})" if self.cursor else (
            self.horizon.isoformat())  # fmt: skip
        lines = [
            f"replay until {asked}: {self.events:,} events replayed up to {self.last.token()} in "
            f"{self.fold_seconds:.1f} s ({self.events_per_second:,.0f} events/s), into {self.schema}"
            f"{' (kept)' if self.kept else ' (dropped)'}",
            *(f"note: {n}" for n in self.notes),
        ]
        for c in self.comparisons:
            lines.append(f"compared {c.name}: {c.checked:,} checked, {c.differences:,} differ"
                         f"{f' ({c.note})' if c.note else ''}")  # fmt: skip
        verdict = "nothing differs" if not self.differing else f"{self.differing:,} differences"
        lines.append(f"replay: {len(self.comparisons)} views and tables compared in {self.compare_seconds:.1f} s: "
                     f"{verdict}")  # fmt: skip
        return lines


def _show(value: Any) -> str:
    return "none" if value is None else json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)


# -- the horizon -------------------------------------------------------------------------------------------------


def parse_until(text: str) -> Cursor | datetime:
    """`--until`: a time with its zone, or a cursor token of the global order."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            return Cursor.from_token(text, "until")
        except RegistryError:
            raise ReplayError("--until: neither a time with its zone (ISO 8601) nor a cursor of this registry "
                              "(an event's globalCursor)") from None  # fmt: skip
    if moment.tzinfo is None:
        raise ReplayError("--until: a time needs its zone (e.g. 2026-10-01T09:00:00+07:00)")
    return moment


@dataclass(frozen=True)
class _Point:
    at: datetime
    cursor: Cursor | None
    last: Cursor
    events: int


_LAST_SQL = """
SELECT transaction_id::text::bigint, position FROM events
WHERE recorded_at <= $1 AND stream_type = ANY($2::text[]) AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id DESC, position DESC LIMIT 1
"""
_COUNT_SQL = """
SELECT count(*) FILTER (WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())),
       count(*) FILTER (WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot()))
FROM events WHERE recorded_at <= $1 AND stream_type = ANY($2::text[])
"""
_STRADDLE_SQL = """
SELECT count(*) FILTER (WHERE recorded_at <= $1 AND (transaction_id, position) > ($2::text::xid8, $3::bigint)),
       count(*) FILTER (WHERE recorded_at > $1 AND (transaction_id, position) <= ($2::text::xid8, $3::bigint))
FROM events WHERE stream_type = ANY($4::text[]) AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
"""
# A live projection's serving checkpoint, then its events recorded by T it has not folded, and those recorded after
# T it has.
_LIVE_SQL = """
WITH checkpoint AS (
    SELECT c.transaction_id, c.position FROM projection_checkpoints c
    JOIN projection_state s ON s.name = c.name AND s.generation = c.generation WHERE c.name = $1
)
SELECT (SELECT count(*) FROM checkpoint),
       count(*) FILTER (WHERE e.recorded_at <= $2 AND (e.transaction_id, e.position) > (c.transaction_id, c.position)),
       count(*) FILTER (WHERE e.recorded_at > $2 AND (e.transaction_id, e.position) <= (c.transaction_id, c.position))
FROM events e, checkpoint c WHERE e.stream_type = ANY($3::text[])
"""


async def _resolve(
    store: EventStore, conn: asyncpg.Connection, until: Cursor | datetime, types: list[str], notes: list[str]
) -> _Point:
    cursor: Cursor | None = None
    if isinstance(until, Cursor):
        cursor = until
        recorded = await store.recorded_at(cursor) if cursor <= await store.horizon() else None
        if recorded is None:
            raise ReplayError("--until: names no event this registry has recorded (an event's globalCursor)")
        at = recorded
    else:
        if until > datetime.now(UTC):
            raise ReplayError("--until: lies in the future")
        at = until
    counts = await conn.fetchrow(_COUNT_SQL, at, types)
    assert counts is not None  # an aggregate always gives a row
    settled, running = counts
    if running:
        raise ReplayError(f"--until: {running} events recorded by then belong to transactions a follower cannot "
                          "read yet (one still running holds the horizon back): try again in a moment")  # fmt: skip
    row = await conn.fetchrow(_LAST_SQL, at, types)
    last = START if row is None else Cursor(row[0], row[1])
    if cursor is not None:
        straddling = await conn.fetchrow(_STRADDLE_SQL, at, str(cursor.transaction_id), cursor.position, types)
        assert straddling is not None
        beyond, before = straddling
        if beyond:
            notes.append(f"{beyond} events after the cursor in the global order were recorded by its time (the rest "
                         "of its transaction, or one begun before it) and are replayed")  # fmt: skip
        if before:
            notes.append(f"{before} events before the cursor in the global order were recorded after its time (a "
                         "transaction begun after it that took an earlier id) and are not replayed")  # fmt: skip
    return _Point(at, cursor, last, int(settled))


class _Bounded:
    """The events recorded by T in the global order, up to the last of them, in batches (read ahead one batch)."""

    def __init__(self, store: EventStore, point: _Point, types: list[str]) -> None:
        self.store, self.point, self.types = store, point, types

    async def read(self, after: Cursor) -> tuple[list[RecordedEvent], Cursor]:
        """The next events to fold after `after`, and where to read on from (empty at the end)."""
        while after < self.point.last:
            found = await self.store.read_all(after, limit=REBUILD_BATCH, until=self.point.last,
                                              stream_types=self.types)  # fmt: skip
            if not found:
                break
            after = found[-1].cursor
            at = self.point.at
            events = [e for e in found if e.recorded_at <= at]
            if events:
                return events, after
        return [], after


# -- replaying ---------------------------------------------------------------------------------------------------


def _apart(live: Projection, schema: str) -> Projection:
    """The projection's fold under a name and schema of the replay's own."""
    name = f"{schema}_{live.name}"
    if len(name) > 41:  # projection_state.name's pattern
        raise ReplayError(f"projection name {live.name!r} is too long to replay apart")
    cls = type(f"Replayed{type(live).__name__}", (type(live),), {"name": name, "schema": schema})
    replayed: Projection = cls()
    return replayed


async def _fold(
    store: EventStore, connect: Connect, projections: Sequence[Projection], point: _Point, types: list[str],
    progress: Progress,
) -> int:  # fmt: skip
    """Fold the events of the horizon into every projection apart; return how many were read."""
    generations = {}
    for p in projections:
        await p.prepare(store)
        generations[p.name] = await Projector(store, connect, p).ensure()
    names = {p.name: physical(p, generations[p.name]) for p in projections}
    reader = _Bounded(store, point, types)
    progress.start("replay", point.events)
    conn = await connect()
    done = 0
    counts = dict.fromkeys(names, 0)
    ahead: asyncio.Task[tuple[list[RecordedEvent], Cursor]] | None = None
    try:
        with driver_errors():
            ahead = asyncio.create_task(reader.read(START))
            while True:
                events, after = await ahead
                if not events:
                    break
                ahead = asyncio.create_task(reader.read(after))
                async with conn.transaction():
                    with cycle_collection_paused():
                        for p in projections:
                            mine = [e for e in events if e.stream_type in p.stream_types]
                            if mine:
                                await p.apply(conn, names[p.name], mine)
                                counts[p.name] += len(mine)
                done += len(events)
                progress.advance(len(events))
            last = point.last
            for p in projections:
                for table in names[p.name].values():  # freshly filled: the comparison's plans need their statistics
                    await conn.execute(f"ANALYZE {table}")
                await conn.execute(
                    "UPDATE projection_checkpoints SET transaction_id = $3::text::xid8, position = $4, events = $5,"
                    " updated_at = now() WHERE name = $1 AND generation = $2",
                    p.name, generations[p.name], str(last.transaction_id), last.position, counts[p.name],
                )  # fmt: skip
    finally:
        if ahead is not None and not ahead.done():
            ahead.cancel()
        await conn.close()
    return done


async def _drop(connect: Connect, schema: str, projections: Sequence[Projection]) -> None:
    conn = await connect()
    try:
        with driver_errors():
            async with conn.transaction():
                await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                names = [p.name for p in projections]
                await conn.execute("DELETE FROM projection_checkpoints WHERE name = ANY($1::text[])", names)
                await conn.execute("DELETE FROM projection_state WHERE name = ANY($1::text[])", names)
    finally:
        await conn.close()


# -- comparing ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """How a table is compared: `kind` is "versions" (recorded tstzrange), "recorded" (a recorded timestamptz) or
    "current"; `unit` restricts it to a unit ({s}: the side's schema; $2: the unit code); `key` names its rows."""

    projection: type[Projection]
    name: str
    kind: str
    unit: str
    key: tuple[str, ...]


_CHILD_IN_UNIT = f"child_id IN (SELECT child_id FROM {{s}}.child_residences WHERE $2 IN ({_UNIT_COLUMNS}))"
_TABLES = (
    _Table(ChildRegister, "child_residences", "versions", f"$2 IN ({_UNIT_COLUMNS})", ("child_id", "valid")),
    _Table(ChildRegister, "child_groups", "versions", _CHILD_IN_UNIT, ("child_id", "group_code", "valid")),
    _Table(ChildRegister, "child_lives", "versions", _CHILD_IN_UNIT, ("child_id", "recorded_from")),
    _Table(ChildRegister, "child_supports", "recorded", _CHILD_IN_UNIT, ("child_id", "given_on", "kind")),
    _Table(CaseRegister, "case_history", "versions", f"$2 IN ({_UNIT_COLUMNS})", ("case_id", "valid")),
    _Table(ChildRegister, "children", "current", f"$2 IN ({_UNIT_COLUMNS})", ("child_id",)),
    _Table(CaseRegister, "cases", "current", f"$2 IN ({_UNIT_COLUMNS})", ("case_id",)),
    _Table(CaseRegister, "case_deadlines", "current",
           f"case_id IN (SELECT case_id FROM {{s}}.cases WHERE $2 IN ({_UNIT_COLUMNS}))", ("case_id", "cycle", "code")),
)  # fmt: skip
_PAIR_UNIT = "$2 IN (province_a, commune_a, district_a, province_b, commune_b, district_b)"


def _tables_of(projection: Projection) -> list[_Table]:
    """The comparisons of a projection's tables: those above for its class, each of another one's as "current"."""
    known = [t for t in _TABLES if isinstance(projection, t.projection)]
    if known:
        return known
    return [
        _Table(type(projection), base, "current",
               _PAIR_UNIT if base == "duplicate_pairs" else f"$2 IN ({_UNIT_COLUMNS})", ("pair_id", "child_id"))
        for base in projection.tables
    ]  # fmt: skip


def _rows_sql(table: _Table, schema: str, live: bool, unit: str | None) -> str:
    """A side's rows as jsonb, normalised: a version's `recorded` as its bounds, the upper one cut at T ($1)."""
    where = ["$1::timestamptz IS NOT NULL"]
    if table.kind == "versions":
        value = ("(to_jsonb(t) - 'recorded') || jsonb_build_object('recorded_from', lower(t.recorded),"
                 " 'recorded_until', CASE WHEN upper_inf(t.recorded) OR upper(t.recorded) > $1 THEN NULL"
                 " ELSE upper(t.recorded) END)")  # fmt: skip
        if live:
            where.append("lower(t.recorded) <= $1")
    else:
        value = "to_jsonb(t)"
        if table.kind == "recorded" and live:
            where.append("t.recorded <= $1")
    if unit is not None:
        where.append(table.unit.format(s=schema))
    else:
        where.append("$2::text IS NULL")
    return f"SELECT {value} AS row FROM {schema}.{table.name} t WHERE {' AND '.join(where)}"


async def _compare_table(
    conn: asyncpg.Connection, table: _Table, live: str, replayed: str, at: datetime, unit: str | None,
    report: ReplayReport,
) -> None:  # fmt: skip
    a, b = _rows_sql(table, live, True, unit), _rows_sql(table, replayed, False, unit)
    counted = await conn.fetchrow(f"SELECT (SELECT count(*) FROM ({a}) x), (SELECT count(*) FROM ({b}) y)", at, unit)
    assert counted is not None
    diff = f"""
        WITH l AS ({a}), r AS ({b}),
        only_live AS (SELECT row FROM l EXCEPT ALL SELECT row FROM r),
        only_replayed AS (SELECT row FROM r EXCEPT ALL SELECT row FROM l)
        SELECT 'live' AS side, row::text FROM only_live UNION ALL SELECT 'replayed', row::text FROM only_replayed"""
    rows = await conn.fetch(diff, at, unit)
    found = [(side, json.loads(text)) for side, text in rows]

    def key(row: dict[str, Any]) -> str:
        return ", ".join(f"{k}={row[k]}" for k in table.key if k in row)

    # A row changed on one side pairs with its replayed counterpart by key; the rest are rows one side lacks.
    paired: dict[str, list[Any]] = {}
    for side, row in sorted(found, key=lambda f: (key(f[1]), f[0])):
        entry = paired.setdefault(key(row), [None, None])
        slot = 0 if side == "live" else 1
        if entry[slot] is None:
            entry[slot] = row
        else:
            paired.setdefault(f"{key(row)} #{len(paired)}", [None, None])[slot] = row
    where = f"table {table.name}" + (f" (unit {unit})" if unit else "")
    for k, (left, right) in list(paired.items())[:SHOWN]:
        report.differences.append(Difference(where, k, left, right))
    note = "rows recorded by T, cut at T" if table.kind != "current" else ""
    report.comparisons.append(Comparison(f"table {table.name}", counted[0] + counted[1], len(paired), note))


def _diff_dicts(
    where: str, live: dict[Any, Any], replayed: dict[Any, Any], report: ReplayReport, shown: list[int]
) -> int:
    differing = 0
    for k in sorted(set(live) | set(replayed), key=str):
        if live.get(k) != replayed.get(k):
            differing += 1
            if shown[0] < SHOWN:
                shown[0] += 1
                report.differences.append(Difference(where, ", ".join(map(str, k)), live.get(k), replayed.get(k)))
    return differing


def _diff_lists(where: str, live: list[str], replayed: list[str], report: ReplayReport, shown: list[int]) -> int:
    if live == replayed:
        return 0
    left, right = set(live), set(replayed)
    key = f"{len(live)} live, {len(replayed)} replayed"
    if shown[0] < SHOWN:
        shown[0] += 1
        report.differences.append(Difference(where, key, sorted(left - right)[:10] or live[:10],
                                             sorted(right - left)[:10] or replayed[:10]))  # fmt: skip
    return 1


async def _days(conn: asyncpg.Connection, replayed: dict[str, str], at: datetime, most: int) -> list[date]:
    """The business days worth asking about: the bounds of the replayed validity ranges (a range's first day, its
    last, the day after), the horizon's day and the days either side of the reform, at most `most` of them."""
    bounds: set[date] = set()
    for table, tz in (("child_residences", False), ("child_groups", False), ("case_history", True)):
        schema = replayed.get(table)
        if schema is None:
            continue
        lo, hi = (
            (
                "(lower(valid) AT TIME ZONE 'Asia/Ho_Chi_Minh')::date",
                "(upper(valid) AT TIME ZONE 'Asia/Ho_Chi_Minh')::date",
            )
            if tz
            else ("lower(valid)", "upper(valid)")
        )
        for row in await conn.fetch(
            f"SELECT DISTINCT d FROM {schema}.{table}, LATERAL (VALUES ({lo}), ({hi}), ({hi} - 1)) AS v(d)"
            " WHERE d IS NOT NULL"
        ):  # fmt: skip
            bounds.add(row[0])
    must = {at.astimezone(VIETNAM).date(), TWO_TIER_FROM - timedelta(days=1), TWO_TIER_FROM}
    rest = sorted(bounds - must)
    room = max(most - len(must), 0)
    if len(rest) > room:
        rest = [rest[round(i * (len(rest) - 1) / max(room - 1, 1))] for i in range(room)] if room else []
    return sorted(must | set(rest))


async def _units_on(conn: asyncpg.Connection, schemas: Iterable[tuple[str, bool]], level: Level, day: date,
                    at: datetime) -> list[str]:  # fmt: skip
    """The units anyone lived in on `day`, on either side (the live rows recorded by T)."""
    column = unit_column(level, day)
    found: set[str] = set()
    for schema, live in schemas:
        known = "lower(recorded) <= $2" if live else "$2::timestamptz IS NOT NULL"
        for row in await conn.fetch(
            f"SELECT DISTINCT {column} FROM {schema}.child_residences WHERE valid @> $1::date AND {known}"
            f" AND {column} IS NOT NULL", day, at,
        ):  # fmt: skip
            found.add(row[0])
    return sorted(found)


async def _page_all(conn: asyncpg.Connection, level: Level, unit: str, day: date, known_at: datetime | None,
                    schema: str, group: str | None) -> list[str]:  # fmt: skip
    found: list[str] = []
    while True:
        page = await children_page(conn, level, unit, day, after=found[-1] if found else "", limit=PAGE, group=group,
                                   known_at=known_at, schema=schema)  # fmt: skip
        found += page
        if len(page) < PAGE:
            return found


async def _compare_queries(
    conn: asyncpg.Connection, live: dict[str, str], replayed: dict[str, str], at: datetime, unit: str | None,
    report: ReplayReport, days: list[date], budget: int, progress: Progress,
) -> None:  # fmt: skip
    levels = [level_of(unit)] if unit is not None else list(Level)
    shown = {name: [0] for name in ("children_by_group", "open_cases", "children_in", "children_page")}
    checked = dict.fromkeys(shown, 0)
    differing = dict.fromkeys(shown, 0)
    children_live, children_replayed = live.get("child_groups"), replayed.get("child_groups")
    cases_live, cases_replayed = live.get("case_history"), replayed.get("case_history")
    pairs: list[tuple[Level, date, str, set[str]]] = []
    progress.start("compare views", len(levels) * len(days))
    for level in levels:
        for day in days:
            where = f"{level.value} {unit or 'every unit'} on {day.isoformat()}"
            if children_live and children_replayed:
                a = await children_by_group(conn, level, day, known_at=at, unit=unit, schema=children_live)
                b = await children_by_group(conn, level, day, unit=unit, schema=children_replayed)
                checked["children_by_group"] += 1
                differing["children_by_group"] += _diff_dicts(f"children_by_group {where}", a, b, report,
                                                              shown["children_by_group"])  # fmt: skip
                units = [unit] if unit is not None else await _units_on(
                    conn, ((children_live, True), (children_replayed, False)), level, day, at)  # fmt: skip
                groups: dict[str, set[str]] = {}
                for x, g in (*a, *b):
                    groups.setdefault(x, set()).add(g)
                pairs += [(level, day, u, groups.get(u, set())) for u in units]
            if cases_live and cases_replayed:
                c = await open_cases(conn, level, day, known_at=at, unit=unit, schema=cases_live)
                d = await open_cases(conn, level, day, unit=unit, schema=cases_replayed)
                checked["open_cases"] += 1
                differing["open_cases"] += _diff_dicts(f"open_cases {where}", c, d, report, shown["open_cases"])
            progress.advance(1)
    chosen = pairs
    if unit is None and len(pairs) > budget:  # evenly spread over units and days
        chosen = [pairs[round(i * (len(pairs) - 1) / max(budget - 1, 1))] for i in range(budget)] if budget else []
    progress.start("compare registers", len(chosen))
    assert children_live is not None or not chosen
    for level, day, u, in_groups in chosen:
        assert children_live is not None and children_replayed is not None
        where = f"{level.value} {u} on {day.isoformat()}"
        a_in = await children_in(conn, level, u, day, known_at=at, schema=children_live)
        b_in = await children_in(conn, level, u, day, schema=children_replayed)
        checked["children_in"] += 1
        differing["children_in"] += _diff_lists(f"children_in {where}", a_in, b_in, report, shown["children_in"])
        for group in (None, *sorted(in_groups)):
            a_page = await _page_all(conn, level, u, day, at, children_live, group)
            b_page = await _page_all(conn, level, u, day, None, children_replayed, group)
            checked["children_page"] += 1
            differing["children_page"] += _diff_lists(
                f"children_page {where}{f' group {group}' if group else ''}", a_page, b_page, report,
                shown["children_page"])  # fmt: skip
        progress.advance(1)
    of = f"{len(chosen)} of {len(pairs)} (unit, day) pairs" if len(chosen) < len(pairs) else f"{len(pairs)} (unit, day)"
    notes = {"children_by_group": f"{len(levels)} levels x {len(days)} days", "open_cases": f"{len(levels)} levels x "
             f"{len(days)} days", "children_in": of, "children_page": f"{of}, each group"}  # fmt: skip
    for name in shown:
        if checked[name]:
            report.comparisons.append(Comparison(f"query {name}", checked[name], differing[name], notes[name]))


# -- the whole -----------------------------------------------------------------------------------------------------


async def replay(
    store: EventStore, connect: Connect, until: Cursor | datetime, *, unit: str | None = None,
    live: Sequence[Projection] | None = None, keep: bool = False, progress: Progress | None = None,
    days: int = 12, budget: int = 48,
) -> ReplayReport:  # fmt: skip
    """Replay every projection (`live`: the serving ones of schema `read` by default) up to `until` apart, compare
    it with the live as-of views, drop it unless `keep`; raise ReplayError if the horizon cannot be compared.

    `days` caps the business days asked about, `budget` the (unit, day) pairs whose registers are compared one by
    one when no `unit` is given (see the module docstring).
    """
    if unit is not None:
        try:
            level_of(unit, "unit")
        except RegistryError:
            raise ReplayError("--unit: must be 2 (province), 3 (district) or 5 (commune) digits") from None
    bars: Progress = progress or Silent()
    serving = list(live) if live is not None else [cls() for cls in PROJECTIONS]
    types = sorted({t for p in serving for t in p.stream_types})
    schema = f"replay_{uuid.uuid4().hex[:8]}"
    notes: list[str] = []
    conn = await connect()
    try:
        with driver_errors():
            point = await _resolve(store, conn, until, types, notes)
            current = True
            for p in serving:
                row = await conn.fetchrow(_LIVE_SQL, p.name, point.at, list(p.stream_types))
                assert row is not None
                if not row[0]:
                    raise ReplayError(f"the live projection {p.name} is not built: run `registry project run --once`")
                if row[1]:
                    raise ReplayError(f"the live projection {p.name} has not folded {row[1]} events recorded by then:"
                                      " run `registry project run --once` first")  # fmt: skip
                if row[2]:
                    current = False
            if not current:
                notes.append(
                    "the live read models hold events recorded after the horizon: their current-state "
                    "tables (children, cases, deadlines, duplicate queue) answer for now and are not compared"
                )
    finally:
        await conn.close()
    replayed = [_apart(p, schema) for p in serving]
    report = ReplayReport(point.at, point.cursor, point.last, 0, 0.0, 0.0, schema, keep, notes=notes)
    try:
        started = time.perf_counter()
        report.events = await _fold(store, connect, replayed, point, types, bars)
        report.fold_seconds = time.perf_counter() - started
        started = time.perf_counter()
        conn = await connect()
        try:
            with driver_errors():
                # Each query is asked again and again with other days and units: a generic plan (PostgreSQL's
                # choice after five runs of a prepared statement) guesses the ranges' selectivity and turned an
                # as-of join of a second into one of minutes. Each run is planned for its own values.
                await conn.execute("SET plan_cache_mode = force_custom_plan")
                await _compare(conn, serving, replayed, point.at, unit, current, report, bars, days, budget)
        finally:
            await conn.close()
        report.compare_seconds = time.perf_counter() - started
    finally:
        if not keep:
            await _drop(connect, schema, replayed)
    return report


async def _compare(
    conn: asyncpg.Connection, serving: Sequence[Projection], replayed: Sequence[Projection], at: datetime,
    unit: str | None, current: bool, report: ReplayReport, progress: Progress, days: int, budget: int,
) -> None:  # fmt: skip
    live_of: dict[str, str] = {}
    replayed_of: dict[str, str] = {}
    tables = [(t, p.schema, q.schema) for p, q in zip(serving, replayed, strict=True) for t in _tables_of(p)]
    for t, a, b in tables:
        live_of[t.name], replayed_of[t.name] = a, b
    progress.start("compare tables", len(tables))
    for t, a, b in tables:
        if t.kind != "current" or current:
            await _compare_table(conn, t, a, b, at, unit, report)
        progress.advance(1)
    chosen = await _days(conn, replayed_of, at, days)
    await _compare_queries(conn, live_of, replayed_of, at, unit, report, chosen, budget, progress)


# -- the command ---------------------------------------------------------------------------------------------------


def run(settings: Settings, args: argparse.Namespace) -> int:
    """`registry replay`: 0 if nothing differs, 1 if something does, 2 on bad input or a horizon not comparable."""
    try:
        until = parse_until(args.until)
    except ReplayError as exc:
        print(f"registry replay: {exc}", file=sys.stderr)
        return 2

    async def work() -> int:
        registry = await Registry.open(settings)
        bars = PhaseBars(unit=lambda phase: "events" if phase == "replay" else "steps")
        try:
            report = await replay(registry.store, lambda: registry.database.connect(owner=True), until,
                                  unit=args.unit, keep=args.keep, progress=bars)  # fmt: skip
        except ReplayError as exc:
            print(f"registry replay: {exc}", file=sys.stderr)
            return 2
        finally:
            bars.close()
            await registry.close()
        for difference in report.differences:
            print(difference.line())
        for line in report.summary():
            print(line)
        return 1 if report.differing else 0

    return asyncio.run(work())


__all__ = ["Comparison", "Difference", "ReplayError", "ReplayReport", "parse_until", "replay", "run"]
