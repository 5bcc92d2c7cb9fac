"""Periodic child-protection reports (báo cáo định kỳ công tác bảo vệ, chăm sóc trẻ em) for any unit and period.

The seeds ask each level to send the level above a six-month report (báo cáo
sơ kết 6 tháng) and an annual report (báo cáo tổng kết năm), S004 also a
quarterly one (báo cáo quý) and ad-hoc ones (báo cáo đột xuất); S000 ships
annex forms 01-03 with them (domain.md section 5.2). What the forms hold is
not in the seeds, so a report here carries what the plans measure: children
in special circumstances by group and sub-group (Law on Children 2016 Art.
10(1)), at-risk children by category, supports by kind and level (Arts.
47-50), cases received, open and closed, the legal deadlines of cases
(Decree 56/2017 Arts. 26-28) and the plans' indicators (projections/indicators.py).

`build_report` reads everything in one repeatable-read snapshot of the read
models and names the checkpoint of each projection it read (`Header.cursors`).
The case register keeps each case's current state only, so the state of a
case at the end of a past period, the closures of the period and the
deadlines are folded from the case events up to the case register's
checkpoint, in the same snapshot (see `_CaseFold`); with `known_at`, from the
events recorded by then. Reports hold counts and codes only: no name,
personal id or record id of a child (domain.md section 7).

Units follow `projections.queries.unit_column`: before 2025-07-01 the unit a
record was made under; from then the communes and provinces of the two-tier
map, and a district as a former district (its territory on 2025-06-30;
README, design notes).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import asyncpg

from registry.cases import CaseType, ClosureReason, RiskLevel, Stage
from registry.circumstances import GROUPS, AtRiskCategory, SupportKind, SupportLevel
from registry.deadlines import DEADLINES, evaluate
from registry.errors import InvalidInput
from registry.gazetteer import FAR, Gazetteer, UnitView
from registry.law import TWO_TIER_FROM, start_of_day
from registry.store import EventStore
from registry.units import Level, level_of

from .indicators import INDICATORS, compute
from .queries import unit_column
from .register import MILESTONES, STAGE_AFTER

LAST_LEGACY_DAY = TWO_TIER_FROM - timedelta(days=1)  # 2025-06-30, the last day with districts
SIX_MONTH, ANNUAL, PERIOD = "six_month", "annual", "period"

# -- the reporting calendar ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    """When the units of a level send their reports, and to whom (domain.md section 5.2, per issuer).

    `unit_code` None is the default of the level; a code names an issuer or one of its ancestors (a district's
    rule for its communes, a province's for its districts). The entry applies to reports due in [valid_from,
    valid_to). Due dates are (month, day); None where the source names none.
    """

    issuer_level: Level
    recipient: str
    six_month: tuple[int, int] | None
    annual: tuple[int, int] | None
    basis: str
    unit_code: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    quarterly: bool = False
    verified: bool = False


CALENDAR: tuple[CalendarEntry, ...] = (
    # Defaults. Districts -> province: 20/5 and 15/11, the deadlines two provinces set (S003 CV 403/UBND-KGVX 2021,
    # S004 KH 177/KH-UBND 2024). Communes -> district about 5 days earlier, the pattern of the seeds (S002: 13/5 and
    # 12/11 for a district whose province then wants 20/5). Provinces -> ministry: not in the seeds (assumed, +5 days).
    CalendarEntry(Level.COMMUNE, "UBND cấp huyện (Phòng Lao động - Thương binh và Xã hội)", (5, 15), (11, 10),
                  "domain.md 5.2: about 5 days before the district's deadline (S002 13/5, 12/11)",
                  valid_to=TWO_TIER_FROM),
    # From 2025-07-01 there is no district: the commune reports to the province (domain.md section 6, point 3).
    CalendarEntry(Level.COMMUNE, "UBND cấp tỉnh (Sở phụ trách công tác trẻ em)", (5, 15), (11, 10),
                  "domain.md 6(3): communes report to the province after the reform; dates kept (assumption)",
                  valid_from=TWO_TIER_FROM),
    CalendarEntry(Level.DISTRICT, "UBND cấp tỉnh (Sở Lao động - Thương binh và Xã hội)", (5, 20), (11, 15),
                  "S003 (Kiên Giang CV 403/UBND-KGVX 06/4/2021), S004 (An Giang KH 177/KH-UBND 28/02/2024)",
                  valid_to=TWO_TIER_FROM, verified=True),
    CalendarEntry(Level.PROVINCE, "Bộ phụ trách công tác trẻ em (Cục Trẻ em)", (5, 25), (11, 20),
                  "not in the seeds: 5 days after the districts' deadline, the pattern of domain.md 5.2 (assumption)"),
    # Seed-specific rules (S000-S004).
    CalendarEntry(Level.COMMUNE, "UBND huyện Tam Đường (Phòng Lao động - TB&XH)", (5, 25), (11, 20),
                  "S000 UBND huyện Tam Đường CV 4/2020, annex forms 01, 02, 03", unit_code="106",
                  valid_from=date(2020, 1, 1), valid_to=date(2021, 1, 1), verified=True),
    CalendarEntry(Level.COMMUNE, "Phòng Lao động - TB&XH huyện Hồng Ngự", (5, 13), (11, 12),
                  "S002 UBND huyện Hồng Ngự, Kế hoạch Chương trình Bảo vệ trẻ em 2020", unit_code="870",
                  valid_from=date(2020, 1, 1), valid_to=date(2021, 1, 1), verified=True),
    CalendarEntry(Level.COMMUNE, "UBND huyện Tuần Giáo (Phòng Lao động - TB&XH)", None, (7, 15),
                  "S001 UBND huyện Tuần Giáo Kế hoạch 11/2020: evaluation before 15/7/2021", unit_code="099",
                  valid_from=date(2021, 1, 1), valid_to=date(2022, 1, 1), verified=True),
    CalendarEntry(Level.DISTRICT, "UBND tỉnh Kiên Giang (Sở Lao động - TB&XH)", (5, 20), (11, 15),
                  "S003 UBND tỉnh Kiên Giang CV 403/UBND-KGVX 06/4/2021; ad-hoc reports on incidents", unit_code="91",
                  valid_from=date(2021, 1, 1), valid_to=TWO_TIER_FROM, verified=True),
    CalendarEntry(Level.DISTRICT, "Sở Lao động - TB&XH tỉnh An Giang", (5, 20), (11, 15),
                  "S004 UBND tỉnh An Giang KH 177/KH-UBND 28/02/2024; also quarterly, and ad-hoc on child deaths by "
                  "injury and on sexual abuse", unit_code="89", valid_from=date(2024, 1, 1), valid_to=TWO_TIER_FROM,
                  quarterly=True, verified=True),
)  # fmt: skip

DEFAULT_CUTOFFS: dict[str, tuple[int, int]] = {SIX_MONTH: (5, 10), ANNUAL: (11, 5)}
"""The last day of the data of each report (month, day): an assumption, unverified. domain.md section 5.2: the seeds
give no cut-off; a period runs from 1 January to the cut-off (the annual report trued up later). Here the cut-off is
five days before the communes' default deadline, so every level reports on the same period and has at least five
days to compile it; never later than the day before the issuer's own deadline."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """The period and the due date of one report of one issuer (kỳ báo cáo, thời hạn gửi)."""

    kind: str
    year: int | None
    start: date
    end: date
    due: date | None
    recipient: str | None
    basis: str
    verified: bool


def _entry(level: Level, ancestors: Sequence[str], kind: str, year: int) -> tuple[CalendarEntry, date] | None:
    """The most specific calendar entry for an issuer (its own code first, then its ancestors', then the default)."""
    best: tuple[int, CalendarEntry, date] | None = None
    for entry in CALENDAR:
        when = entry.six_month if kind == SIX_MONTH else entry.annual
        if entry.issuer_level is not level or when is None:
            continue
        due = date(year, *when)
        if (entry.valid_from and due < entry.valid_from) or (entry.valid_to and due >= entry.valid_to):
            continue
        if entry.unit_code is None:
            rank = len(ancestors)
        elif entry.unit_code in ancestors:
            rank = list(ancestors).index(entry.unit_code)
        else:
            continue
        if best is None or rank < best[0]:
            best = (rank, entry, due)
    return None if best is None else (best[1], best[2])


def schedule(level: Level, kind: str, year: int, ancestors: Sequence[str] = ()) -> Schedule:
    """The period and due date of the six-month or annual report of `year` for an issuer of `level`.

    `ancestors`: the issuer's code and its ancestors' (commune, district, province), for the rules of a district
    or province (domain.md 5.2: "make it a per-issuer configuration"). The period runs from 1 January to the
    cut-off (`DEFAULT_CUTOFFS`). That cut-off is an assumption of domain.md section 5.2, unverified: the seeds
    set due dates only. A district has no due date after 2025-07-01 (there is no district government).
    """
    if kind not in DEFAULT_CUTOFFS:
        raise InvalidInput("kind", "unknown_kind", f"must be {SIX_MONTH!r}, {ANNUAL!r} or an explicit period")
    cutoff = date(year, *DEFAULT_CUTOFFS[kind])
    found = _entry(level, ancestors, kind, year)
    if found is None:
        return Schedule(kind, year, date(year, 1, 1), cutoff, None, None, "no reporting rule for this issuer", False)
    entry, due = found
    end = min(cutoff, due - timedelta(days=1))
    return Schedule(kind, year, date(year, 1, 1), end, due, entry.recipient, entry.basis, entry.verified)


def quarter(year: int, number: int) -> tuple[date, date]:
    """The dates of a quarter (S004 asks for quarterly reports; their due dates are not in the seeds)."""
    if number not in (1, 2, 3, 4):
        raise InvalidInput("quarter", "out_of_range", "must be 1, 2, 3 or 4")
    first = date(year, 3 * number - 2, 1)
    last = date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)
    return first, last - timedelta(days=1)


# -- the report as data ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    code: str
    vietnamese: str
    english: str


Scalar = int | float | str | None


@dataclass(frozen=True, slots=True)
class Row:
    keys: tuple[str, ...]  # codes ("" in a key column: all of them, a total)
    label: str  # the Vietnamese name of the row
    values: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Section:
    code: str
    vietnamese: str
    english: str
    keys: tuple[Column, ...]
    values: tuple[Column, ...]
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()

    def value(self, *keys: str, measure: str | None = None) -> Scalar:
        """The figure of the row with these keys (the first value column unless `measure` names another)."""
        index = 0 if measure is None else [c.code for c in self.values].index(measure)
        padded = tuple(keys) + ("",) * (len(self.keys) - len(keys))
        for row in self.rows:
            if row.keys == padded:
                return row.values[index]
        raise KeyError((self.code, padded))


@dataclass(frozen=True, slots=True)
class Header:
    unit_code: str
    level: Level
    unit_name: str
    former_district: bool  # a district report on a date without districts: its territory of 2025-06-30
    kind: str
    year: int | None
    start: date
    end: date
    due: date | None
    recipient: str | None
    calendar_basis: str
    generated_at: datetime
    known_at: datetime | None
    cursors: tuple[tuple[str, str], ...]  # (projection, checkpoint "transaction:position") read


@dataclass(frozen=True, slots=True)
class Report:
    header: Header
    sections: tuple[Section, ...]
    notes: tuple[str, ...] = ()

    def section(self, code: str) -> Section:
        for section in self.sections:
            if section.code == code:
                return section
        raise KeyError(code)

    def figures(self) -> dict[tuple[str, tuple[str, ...], str], Scalar]:
        """Every figure by (section, keys, measure): what the CSV and XLSX files hold, for comparisons."""
        return {
            (s.code, r.keys, c.code): v
            for s in self.sections
            for r in s.rows
            for c, v in zip(s.values, r.values, strict=True)
        }


HEADER_FIELDS: tuple[Column, ...] = (
    Column("unit_code", "Mã đơn vị", "unit code"),
    Column("level", "Cấp", "level"),
    Column("unit_name", "Tên đơn vị", "unit name"),
    Column("former_district", "Địa bàn huyện cũ (đến 30/6/2025)", "former district"),
    Column("kind", "Loại báo cáo", "kind of report"),
    Column("year", "Năm", "year"),
    Column("start", "Từ ngày", "period start"),
    Column("end", "Đến ngày (chốt số liệu)", "period end (cut-off)"),
    Column("due", "Hạn gửi", "due date"),
    Column("recipient", "Nơi nhận", "recipient"),
    Column("calendar_basis", "Căn cứ lịch báo cáo", "calendar basis"),
    Column("generated_at", "Thời điểm lập", "generated at"),
    Column("known_at", "Theo dữ liệu đã biết lúc", "as known at"),
    Column("cursors", "Điểm dữ liệu (projection: cursor)", "read-model cursors"),
)


def header_values(header: Header) -> list[tuple[Column, str]]:
    """The header block as text, field by field (dates ISO 8601)."""

    def text(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "có" if value else "không"
        if isinstance(value, date | datetime):
            return value.isoformat()
        return str(value)

    cursors = "; ".join(f"{name}: {cursor or '-'}" for name, cursor in header.cursors)
    raw = {f.code: getattr(header, f.code) for f in HEADER_FIELDS if f.code != "cursors"}
    return [(f, cursors if f.code == "cursors" else text(raw[f.code])) for f in HEADER_FIELDS]


# -- reading ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadModels:
    """Where the read models live (tests give each projection a schema and name of its own)."""

    child_schema: str = "read"
    child_projection: str = "child_register"
    case_schema: str = "read"
    case_projection: str = "case_register"


KINDS = (SIX_MONTH, ANNUAL, PERIOD)


async def build_report(
    conn: asyncpg.Connection,
    store: EventStore,
    units: Gazetteer,
    level: Level | str | None,
    unit_code: str,
    kind: str = SIX_MONTH,
    year: int | None = None,
    *,
    start: date | None = None,
    end: date | None = None,
    known_at: datetime | None = None,
    now: datetime | None = None,
    sources: ReadModels = ReadModels(),
) -> Report:
    """The report of a unit for a period: the six-month or annual report of `year` (`kind` SIX_MONTH or ANNUAL,
    period and due date from the calendar), or any period (`kind` PERIOD with `start` and `end`: quarterly and
    ad-hoc reports). `level` None takes the level of the code. With `known_at`, as the registry knew it then
    (children, residences, groups, supports and cases; not merges, nor the indicators: see the notes).

    Bad input is an `InvalidInput` naming the field: the unit code, the level, the kind, the year, the dates.
    """
    code_level = level_of(unit_code, "unit_code")
    try:
        wanted = code_level if level is None else Level(level)
    except ValueError:
        raise InvalidInput("level", "unknown_level", "must be commune, district or province") from None
    if wanted is not code_level:
        raise InvalidInput("level", "level_mismatch", f"the code is a {code_level.value} code")
    if known_at is not None and known_at.tzinfo is None:
        raise InvalidInput("known_at", "naive_time", "must carry a time zone")
    period = _period(units, wanted, unit_code, kind, year, start, end)
    on = min(period.end, LAST_LEGACY_DAY) if wanted is Level.DISTRICT else period.end
    unit = units.lookup(unit_code, on, "unit_code")
    former = wanted is Level.DISTRICT and period.end >= TWO_TIER_FROM
    generated = now or datetime.now(UTC)
    notes: list[str] = []
    if former:
        notes.append("Địa bàn huyện cũ: the district as it was on 2025-06-30 (no district level from 2025-07-01).")
    if known_at is not None:
        notes.append("known_at: merges of child records and the indicators are as known today, not at known_at.")
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        cursors = await _cursors(conn, sources)
        reader = _Reader(conn, units, wanted, unit_code, period.start, period.end, known_at, sources)
        sections = [
            await reader.children_by_group(),
            await reader.at_risk(),
            await reader.supports(),
        ]
        sections.extend(await reader.cases(dict(cursors).get(sources.case_projection, "")))
        sections.append(await _indicators(conn, store, wanted, unit_code, period.start, period.end, sources))
    header = Header(unit_code, wanted, unit.full_name, former, period.kind, period.year, period.start, period.end,
                    period.due, period.recipient, period.basis, generated, known_at, tuple(cursors))  # fmt: skip
    return Report(header, tuple(sections), tuple(notes))


def _period(
    units: Gazetteer, level: Level, code: str, kind: str, year: int | None, start: date | None, end: date | None
) -> Schedule:
    if kind == PERIOD:
        if start is None or end is None:
            raise InvalidInput("start" if start is None else "end", "missing", "a period needs a start and an end")
        if end < start:
            raise InvalidInput("end", "before_start", "must not be before the start of the period")
        return Schedule(PERIOD, None, start, end, None, None, "explicit period (quarterly or ad-hoc report)", True)
    if kind not in (SIX_MONTH, ANNUAL):
        raise InvalidInput("kind", "unknown_kind", f"must be one of {', '.join(KINDS)}")
    if year is None or not 1900 < year < 10000:
        raise InvalidInput("year", "missing" if year is None else "out_of_range", "a year of four digits is needed")
    due_day = date(year, *DEFAULT_CUTOFFS[kind])
    on = min(due_day, LAST_LEGACY_DAY) if level is Level.DISTRICT else due_day
    found = units.find(code, on)
    ancestors = [u.code for u in units.path(code, on)] if found is not None else [code]
    return schedule(level, kind, year, ancestors)


async def _cursors(conn: asyncpg.Connection, sources: ReadModels) -> list[tuple[str, str]]:
    names = [sources.child_projection, sources.case_projection]
    rows = await conn.fetch(
        "SELECT c.name, c.transaction_id::text AS tx, c.position FROM projection_checkpoints c JOIN projection_state s"
        " ON s.name = c.name AND s.generation = c.generation WHERE c.name = ANY($1::text[])", names,
    )  # fmt: skip
    found = {r["name"]: f"{r['tx']}:{r['position']}" for r in rows}
    return [(name, found.get(name, "")) for name in names]


def _locate(units: Gazetteer, commune: str, day: date, level: Level, end: date) -> str | None:
    """The unit of `level` that a record made under `commune` from `day` counts in, for a report ending on `end`
    (Gazetteer.place, the rule of the read models and `queries.unit_column`)."""
    if units.find(commune, day) is None:
        return None
    place = units.place(commune, day)
    if end >= TWO_TIER_FROM and place.province_now == "??":
        return None  # no successor in today's structure
    return place.unit(level, end)


def _candidate_communes(units: Gazetteer, level: Level, code: str, end: date) -> set[str]:
    """Every commune code a record of the unit may bear: its communes, their predecessors and successors.
    (`_locate` then decides record by record; this only narrows the SQL.)"""
    if level is Level.DISTRICT:
        on = min(end, LAST_LEGACY_DAY)
    else:
        on = FAR if end >= TWO_TIER_FROM and units.find(code, FAR) is not None else end
    seen: dict[str, date] = {}
    pending: list[UnitView] = list(units.communes_of(code, on))
    while pending:
        unit = pending.pop()
        day = unit.valid_from or date(1900, 1, 1)
        if unit.code in seen and seen[unit.code] <= day:
            continue
        seen[unit.code] = day
        last = (unit.valid_to - timedelta(days=1)) if unit.valid_to else on
        pending.extend(p for p in units.predecessors(unit.code, last if unit.valid_to else on) if p.code not in seen)
        if level is Level.DISTRICT and unit.valid_to is not None and unit.valid_to <= TWO_TIER_FROM:
            pending.extend(s.unit for s in units.successors(unit.code, last, FAR) if s.unit.code not in seen)
    return set(seen)


class _Reader:
    def __init__(self, conn: asyncpg.Connection, units: Gazetteer, level: Level, unit: str, start: date, end: date,
                 known_at: datetime | None, sources: ReadModels) -> None:  # fmt: skip
        self.conn, self.units, self.level, self.unit = conn, units, level, unit
        self.start, self.end, self.known_at, self.sources = start, end, known_at, sources
        self.column = unit_column(level, end)

    def _system(self, *aliases: str, args: list[object]) -> str:
        """The system-time condition: the versions held today, or those held at `known_at`."""
        if self.known_at is None:
            return " AND ".join(f"upper_inf({a}.recorded)" for a in aliases)
        args.append(self.known_at)
        return " AND ".join(f"{a}.recorded @> ${len(args)}::timestamptz" for a in aliases)

    async def _members(self, kind: str) -> list[asyncpg.Record]:
        """(child, code, subgroup) of every group or at-risk membership on the last day, counted where the child
        lived that day."""
        s = self.sources.child_schema
        args: list[object] = [self.end, self.unit, kind]
        system = self._system("g", "r", args=args)
        return list(await self.conn.fetch(
            f"SELECT g.child_id, g.group_code, coalesce(g.subgroup, '') AS subgroup FROM {s}.child_groups g"
            f" JOIN {s}.child_residences r USING (child_id) JOIN {s}.children c USING (child_id)"
            f" WHERE g.kind = $3 AND g.valid @> $1::date AND r.valid @> $1::date AND {system}"
            f" AND r.{self.column} = $2 AND c.merged_into IS NULL",
            *args,
        ))  # fmt: skip

    async def children_by_group(self) -> Section:
        members = await self._members("group")
        by_group: dict[str, set[str]] = {}
        by_subgroup: dict[tuple[str, str], set[str]] = {}
        for m in members:
            by_group.setdefault(m["group_code"], set()).add(m["child_id"])
            if m["subgroup"]:
                by_subgroup.setdefault((m["group_code"], m["subgroup"]), set()).add(m["child_id"])
        rows = [Row(("", ""), "Tổng số trẻ em có hoàn cảnh đặc biệt (mỗi trẻ tính một lần)",
                    (len({m["child_id"] for m in members}),))]  # fmt: skip
        for code in [*GROUPS, *sorted(set(by_group) - set(GROUPS))]:
            group = GROUPS.get(code)
            name = f"{group.letter}) {group.vietnamese}" if group else code
            rows.append(Row((code, ""), name, (len(by_group.get(code, ())),)))
            subgroups = dict(group.subgroups) if group else {}
            subgroups.update({sub: sub for (g, sub) in by_subgroup if g == code and sub not in subgroups})
            for sub, label in subgroups.items():
                rows.append(Row((code, sub), label, (len(by_subgroup.get((code, sub), ())),)))
        return Section(
            "children_by_group", "Trẻ em có hoàn cảnh đặc biệt theo nhóm", "Children in special circumstances by group",
            (Column("group", "Nhóm", "group"), Column("subgroup", "Nhóm nhỏ", "sub-group")),
            (Column("children", "Số trẻ em", "children"),), tuple(rows),
            ("Law on Children 2016 Art. 10(1); Decree 56/2017 Arts. 3-5. On the last day of the period, where the "
             "child lived; a child in several groups counts in each, once in the total.",),
        )  # fmt: skip

    async def at_risk(self) -> Section:
        members = await self._members("at_risk")
        by_category: dict[str, set[str]] = {}
        for m in members:
            by_category.setdefault(m["group_code"], set()).add(m["child_id"])
        known = [c.value for c in AtRiskCategory]
        everyone = len({m["child_id"] for m in members})
        rows = [Row(("",), "Tổng số trẻ em có nguy cơ (mỗi trẻ tính một lần)", (everyone,))]
        rows += [Row((c,), _AT_RISK_NAMES.get(c, c), (len(by_category.get(c, ())),))
                 for c in [*known, *sorted(set(by_category) - set(known))]]  # fmt: skip
        return Section(
            "at_risk", "Trẻ em có nguy cơ rơi vào hoàn cảnh đặc biệt", "Children at risk by category",
            (Column("category", "Loại nguy cơ", "category"),), (Column("children", "Số trẻ em", "children"),),
            tuple(rows), ("domain.md 2.1 (seed categories, not a closed legal list); on the last day of the period.",),
        )  # fmt: skip

    async def supports(self) -> Section:
        s = self.sources.child_schema
        args: list[object] = [self.start, self.end, self.unit]
        system = self._system("r", args=args)
        recorded = ""
        if self.known_at is not None:
            recorded = f" AND p.recorded <= ${len(args)}::timestamptz"
        column = self.column
        rows_read = await self.conn.fetch(
            f"SELECT p.child_id, p.kind, p.level, p.amount_vnd FROM {s}.child_supports p"
            f" JOIN {s}.child_residences r ON r.child_id = p.child_id AND r.valid @> p.given_on"
            f" JOIN {s}.children c ON c.child_id = p.child_id"
            f" WHERE p.given_on BETWEEN $1 AND $2 AND r.{column} = $3 AND {system}{recorded} AND c.merged_into IS NULL",
            *args,
        )  # fmt: skip
        totals: dict[tuple[str, str], list[Any]] = {}

        def add(key: tuple[str, str], child: str, amount: int | None) -> None:
            entry = totals.setdefault(key, [0, set(), 0])
            entry[0] += 1
            entry[1].add(child)
            entry[2] += amount or 0

        for r in rows_read:
            for key in ((r["kind"], r["level"]), (r["kind"], ""), ("", r["level"]), ("", "")):
                add(key, r["child_id"], r["amount_vnd"])
        keys: list[tuple[str, str]] = [("", "")] + [("", lv.value) for lv in SupportLevel]
        kinds = [k.value for k in SupportKind]
        for kind in [*kinds, *sorted({k for k, _ in totals if k and k not in kinds})]:
            keys.append((kind, ""))
            keys += sorted(k for k in totals if k[0] == kind and k[1])
        rows = []
        for key in keys:
            count, children, amount = totals.get(key, [0, set(), 0])
            label = " / ".join(x for x in (_SUPPORT_NAMES.get(key[0], key[0]), _LEVEL_NAMES.get(key[1], key[1])) if x)
            rows.append(Row(key, label or "Tổng số", (count, len(children), amount)))
        return Section(
            "supports", "Hỗ trợ đã thực hiện trong kỳ", "Supports given in the period",
            (Column("kind", "Hình thức hỗ trợ", "kind"), Column("level", "Cấp độ", "level")),
            (Column("supports", "Số lượt", "supports"), Column("children", "Số trẻ em", "children"),
             Column("amount_vnd", "Số tiền (đồng)", "amount (VND)")),
            tuple(rows), ("Law on Children 2016 Arts. 47-50 (levels); dated within the period, counted where the "
                          "child lived on the day of the support.",),
        )  # fmt: skip

    async def cases(self, cursor: str) -> list[Section]:
        fold = await _CaseFold.read(self, cursor)
        return fold.sections()


@dataclass
class _Case:
    """What a report needs of one case, folded from its events (no personal data: the sealed part is not read)."""

    case_types: tuple[str, ...] = ()
    received_at: datetime | None = None
    jurisdictions: list[tuple[datetime, str]] = field(default_factory=list)  # (since, commune)
    stage: str = Stage.RECEIVED.value
    risk: str | None = None
    emergency: bool = False
    closed: list[tuple[datetime, str]] = field(default_factory=list)  # (at, reason) of each closure
    reopened: list[datetime] = field(default_factory=list)
    # (cycle start, milestones, emergency, closed at) of every cycle, for the deadlines
    cycles: list[tuple[dict[str, datetime], bool, datetime | None]] = field(default_factory=list)

    def commune_at(self, moment: datetime) -> tuple[str, date] | None:
        found = None
        for since, commune in self.jurisdictions:
            if since <= moment:
                found = (commune, since.date())
        return found


# The keys of an event's data a report reads: never `personal` (the sealed reporter and account).
_CASE_KEYS = ("at", "case_types", "commune_code", "to_commune", "risk_level", "emergency", "caregiver_is_perpetrator",
              "reason")  # fmt: skip


class _CaseFold:
    def __init__(self, reader: _Reader, cases: dict[str, list[asyncpg.Record]]) -> None:
        self.reader = reader
        self.cutoff = start_of_day(reader.end + timedelta(days=1))  # the end of the last day, in Vietnam
        self.opening = start_of_day(reader.start)
        self.cases = {case_id: self._fold(events) for case_id, events in cases.items()}
        self._places: dict[tuple[str, date], str | None] = {}

    @classmethod
    async def read(cls, reader: _Reader, cursor: str) -> _CaseFold:
        """The events, up to the case register's checkpoint, of the cases that may have been in the unit: those
        in its communes now (the read model) and those transferred out of them."""
        if not cursor:
            return cls(reader, {})  # the case register has applied nothing yet
        tx, position = cursor.split(":")
        r = reader
        communes = sorted(_candidate_communes(r.units, r.level, r.unit, r.end))
        # Every case handled at some time in one of those communes (transferred out since, or not), as the read
        # model holds it at its checkpoint: the case history has a version for each commune a case was in.
        ids = [row["case_id"] for row in await r.conn.fetch(
            f"SELECT DISTINCT case_id FROM {r.sources.case_schema}.case_history WHERE commune_code = ANY($1::text[])"
            " AND ($2::timestamptz IS NULL OR lower(recorded) <= $2)", communes, r.known_at)]  # fmt: skip
        args: list[object] = [int(tx), int(position)]
        known = ""
        if r.known_at is not None:
            args.append(r.known_at)
            known = f" AND recorded_at <= ${len(args)}::timestamptz"
        horizon = "(transaction_id, position) <= ($1::xid8, $2::bigint)"
        picked = ", ".join(f"'{k}', data->'{k}'" for k in _CASE_KEYS)
        events = await r.conn.fetch(
            f"SELECT split_part(stream_id, ':', 2) AS case_id, event_type, jsonb_build_object({picked}) AS data"
            f" FROM events WHERE stream_id = ANY(${len(args) + 1}::text[]) AND {horizon}{known}"
            " ORDER BY stream_id, version",
            *args, [f"case:{i}" for i in sorted(ids)],
        )  # fmt: skip
        grouped: dict[str, list[asyncpg.Record]] = {}
        for event in events:
            grouped.setdefault(event["case_id"], []).append(event)
        return cls(reader, grouped)

    def _fold(self, events: Iterable[asyncpg.Record]) -> _Case:
        """The case as it stood at the end of the period (events of business time up to the cut-off), with the
        closures, reopenings and deadline cycles it had by then."""
        case = _Case()
        marks: dict[str, datetime] = {}
        for event in events:
            data: dict[str, Any] = event["data"]
            kind = event["event_type"]
            at = datetime.fromisoformat(data["at"])
            if at >= self.cutoff:
                continue
            if kind == "ReportReceived":
                case.case_types = tuple(data["case_types"])
                case.received_at = at
                case.jurisdictions.append((at, data["commune_code"]))
                marks = {"report_received": at}
            elif kind == "CaseTransferred":
                case.jurisdictions.append((at, data["to_commune"]))
            elif kind == "InitialAssessmentCompleted":
                case.risk = data["risk_level"]
                case.emergency = bool(data["emergency"] or data["caregiver_is_perpetrator"])
            elif kind == "CaseClosed":
                case.closed.append((at, data["reason"]))
            elif kind == "CaseReopened":
                case.cycles.append((marks, case.emergency, case.closed[-1][0] if case.closed else None))
                case.reopened.append(at)
                case.risk, case.emergency, marks = None, False, {"report_received": at}
            if kind in MILESTONES:
                marks.setdefault(MILESTONES[kind], at)
            if kind in STAGE_AFTER:
                case.stage = STAGE_AFTER[kind]
        if case.received_at is not None:
            closed_at = case.closed[-1][0] if case.stage == Stage.CLOSED.value and case.closed else None
            case.cycles.append((marks, case.emergency, closed_at))
        return case

    def _ours(self, case: _Case, moment: datetime) -> bool:
        place = case.commune_at(moment)
        if place is None:
            return False
        key = place
        if key not in self._places:
            r = self.reader
            self._places[key] = _locate(r.units, place[0], place[1], r.level, r.end)
        return self._places[key] == self.reader.unit

    def sections(self) -> list[Section]:
        received: Counter[str] = Counter()
        opened: Counter[tuple[str, str]] = Counter()
        closed: Counter[str] = Counter()
        reopened = 0
        deadlines: dict[str, Counter[str]] = {d.code: Counter() for d in DEADLINES}
        for case in self.cases.values():
            if case.received_at is None:
                continue
            if self.opening <= case.received_at < self.cutoff and self._ours(case, case.received_at):
                received[""] += 1
                for case_type in case.case_types:
                    received[case_type] += 1
            if case.stage != Stage.CLOSED.value and self._ours(case, self.cutoff - timedelta(microseconds=1)):
                for key in ((case.stage, case.risk or "unassessed"), (case.stage, ""), ("", "")):
                    opened[key] += 1
            for at, reason in case.closed:
                if at >= self.opening and self._ours(case, at):
                    closed[""] += 1
                    closed[reason] += 1
            reopened += sum(1 for at in case.reopened if at >= self.opening and self._ours(case, at))
            for marks, emergency, closed_at in case.cycles:
                for state in evaluate(marks, emergency, self.cutoff):
                    due = state.due_at
                    if not self.opening <= due < self.cutoff or not self._ours(case, due):
                        continue
                    if state.met_at is None and closed_at is not None and closed_at <= due:
                        continue  # the case was closed before the time ran out: nothing was due any more
                    tally = deadlines.setdefault(state.deadline.code, Counter())
                    tally["due"] += 1
                    if state.met_at is not None and state.met_at <= due:
                        tally["met"] += 1
                    elif state.met_at is not None and state.met_at < self.cutoff:
                        tally["met_late"] += 1
                    else:
                        tally["overdue"] += 1
        return [self._received(received, reopened), self._open(opened), self._closed(closed),
                self._deadlines(deadlines)]  # fmt: skip

    @staticmethod
    def _received(counts: Counter[str], reopened: int) -> Section:
        known = [t.value for t in CaseType]
        rows = [Row(("",), "Tổng số vụ việc tiếp nhận (mỗi vụ tính một lần)", (counts[""],))]
        rows += [Row((t,), _CASE_TYPE_NAMES.get(t, t), (counts[t],))
                 for t in [*known, *sorted(set(counts) - set(known) - {""})]]  # fmt: skip
        rows.append(Row(("reopened",), "Vụ việc mở lại trong kỳ", (reopened,)))
        return Section(
            "cases_received", "Vụ việc được tiếp nhận trong kỳ", "Cases received in the period",
            (Column("case_type", "Loại vụ việc", "case type"),), (Column("cases", "Số vụ việc", "cases"),),
            tuple(rows), ("Decree 56/2017 Art. 25 (Mẫu 01); by the commune responsible at receipt; a case of several "
                          "types counts under each, once in the total.",),
        )  # fmt: skip

    @staticmethod
    def _open(counts: Counter[tuple[str, str]]) -> Section:
        rows = [Row(("", ""), "Tổng số vụ việc đang xử lý", (counts[("", "")],))]
        for stage in (s.value for s in Stage if s is not Stage.CLOSED):
            rows.append(Row((stage, ""), _STAGE_NAMES[stage], (counts[(stage, "")],)))
            for risk in [*(r.value for r in RiskLevel), "unassessed"]:
                if counts[(stage, risk)]:
                    rows.append(Row((stage, risk), f"{_STAGE_NAMES[stage]} / {_RISK_NAMES[risk]}",
                                    (counts[(stage, risk)],)))  # fmt: skip
        return Section(
            "open_cases", "Vụ việc đang xử lý cuối kỳ", "Open cases at the end of the period",
            (Column("stage", "Bước", "stage"), Column("risk", "Mức độ nguy cơ", "risk")),
            (Column("cases", "Số vụ việc", "cases"),), tuple(rows),
            ("Decree 56/2017 Arts. 25-30; stage and risk at the end of the last day, by the commune responsible then.",
             ),
        )  # fmt: skip

    @staticmethod
    def _closed(counts: Counter[str]) -> Section:
        rows = [Row(("",), "Tổng số lượt kết thúc", (counts[""],))]
        rows += [Row((r.value,), _CLOSURE_NAMES.get(r.value, r.value), (counts[r.value],)) for r in ClosureReason]
        return Section(
            "cases_closed", "Vụ việc kết thúc trong kỳ", "Cases closed in the period",
            (Column("reason", "Lý do", "reason"),), (Column("cases", "Số vụ việc", "cases"),), tuple(rows),
            ("Decree 56/2017 Art. 30(1)(b); by the commune responsible at closure.",),
        )  # fmt: skip

    @staticmethod
    def _deadlines(tallies: dict[str, Counter[str]]) -> Section:
        names = {d.code: d for d in DEADLINES}
        measures = ("due", "met", "met_late", "overdue")
        total: Counter[str] = Counter()
        rows = []
        for code, tally in tallies.items():
            total.update(tally)
            step = names[code].step if code in names else code
            rows.append(Row((code,), _DEADLINE_NAMES.get(code, step), tuple(tally[m] for m in measures)))
        rows.insert(0, Row(("",), "Tổng số", tuple(total[m] for m in measures)))
        return Section(
            "deadlines", "Thời hạn xử lý đến hạn trong kỳ", "Legal deadlines falling due in the period",
            (Column("deadline", "Thời hạn", "deadline"),),
            (Column("due", "Đến hạn", "due"), Column("met", "Đúng hạn", "met"),
             Column("met_late", "Quá hạn đã thực hiện", "met late"),
             Column("overdue", "Quá hạn chưa thực hiện (cuối kỳ)", "overdue at the end")),
            tuple(rows),
            ("Decree 56/2017 Art. 26(3) (12 hours), Art. 28 (5 and 7 working days; registry/law.py). Deadlines of a "
             "case closed before they ran out are not counted.",),
        )  # fmt: skip


async def _indicators(
    conn: asyncpg.Connection, store: EventStore, level: Level, unit: str, start: date, end: date, sources: ReadModels
) -> Section:
    """Every indicator projections/indicators.py knows, with its numerator and denominator; an indicator it cannot
    compute (KeyError) is listed in the notes."""
    rows, notes = [], []
    for code, indicator in INDICATORS.items():
        try:
            value = await compute(conn, store, code, level, unit, start, end, schema=sources.child_schema,
                                  projection=sources.child_projection, case_schema=sources.case_schema,
                                  case_projection=sources.case_projection)  # fmt: skip
        except KeyError:
            notes.append(f"{code}: not computed by projections/indicators.py yet")
            continue
        ratio = None if value.value is None else round(value.value, 6)
        rows.append(Row((code,), indicator.vietnamese, (value.numerator, value.denominator, ratio)))
    notes.append("Tử số / mẫu số as defined in projections/indicators.py (domain.md 5.1); the ratio is a fraction "
                 "(× 100 for a percentage), empty where the denominator is unknown or 0.")  # fmt: skip
    return Section(
        "indicators", "Chỉ tiêu", "Indicators", (Column("code", "Mã chỉ tiêu", "indicator"),),
        (Column("numerator", "Tử số", "numerator"), Column("denominator", "Mẫu số", "denominator"),
         Column("value", "Tỷ lệ", "ratio")), tuple(rows), tuple(notes),
    )  # fmt: skip


_AT_RISK_NAMES = {
    "at_risk_cisc": "Có nguy cơ rơi vào hoàn cảnh đặc biệt",
    "at_risk_violence_exploitation_abandonment": "Có nguy cơ bị bạo lực, bóc lột, bỏ rơi",
    "at_risk_abuse": "Có nguy cơ bị xâm hại",
    "at_risk_sexual_abuse": "Có nguy cơ bị xâm hại tình dục",
    "at_risk_offending": "Có nguy cơ vi phạm pháp luật",
    "at_risk_child_labour": "Có nguy cơ trở thành lao động trẻ em",
    "street_child": "Trẻ em lang thang, cơ nhỡ",
    "at_risk_suicide": "Có nguy cơ tự tử",
    "at_risk_injury": "Có nguy cơ bị tai nạn thương tích, đuối nước",
    "poor_household": "Trẻ em nghèo, cận nghèo, có hoàn cảnh khó khăn",
    "disaster_affected": "Bị ảnh hưởng bởi thiên tai, thảm họa",
}
_SUPPORT_NAMES = {
    "monthly_allowance": "Trợ cấp xã hội hàng tháng", "cash_gift": "Quà, tiền mặt", "scholarship": "Học bổng",
    "health": "Khám, chữa bệnh, bảo hiểm y tế", "surgery": "Phẫu thuật", "education": "Hỗ trợ giáo dục",
    "legal_aid": "Trợ giúp pháp lý", "counselling": "Tư vấn, tham vấn tâm lý",
    "alternative_care": "Chăm sóc thay thế", "other": "Khác",
}  # fmt: skip
_LEVEL_NAMES = {"prevention": "Phòng ngừa", "support": "Hỗ trợ", "intervention": "Can thiệp"}
_CASE_TYPE_NAMES = {
    "physical_violence": "Bạo lực thể chất", "emotional_violence": "Bạo lực tinh thần",
    "sexual_abuse": "Xâm hại tình dục", "exploitation": "Bóc lột", "labour_exploitation": "Bóc lột sức lao động",
    "neglect": "Sao nhãng", "abandonment": "Bỏ rơi", "trafficking": "Mua bán", "abduction": "Bắt cóc",
    "online_abuse": "Xâm hại trên môi trường mạng", "child_marriage": "Tảo hôn",
    "injury_drowning": "Tai nạn thương tích, đuối nước",
}  # fmt: skip
_STAGE_NAMES = {
    "received": "Tiếp nhận thông tin", "assessed": "Đã đánh giá nguy cơ ban đầu",
    "planning": "Thu thập thông tin, xây dựng kế hoạch", "plan_submitted": "Kế hoạch trình phê duyệt",
    "intervention": "Thực hiện kế hoạch hỗ trợ, can thiệp",
}  # fmt: skip
_RISK_NAMES = {"high": "Cao", "medium": "Trung bình", "low": "Thấp", "unassessed": "Chưa đánh giá"}
_CLOSURE_NAMES = {
    "risk_resolved": "Trẻ em an toàn, ổn định", "unfounded": "Không có căn cứ", "duplicate": "Trùng lặp",
    "aged_out": "Đủ 16 tuổi", "child_died": "Trẻ em tử vong", "handed_over": "Chuyển giao",
}  # fmt: skip
_DEADLINE_NAMES = {
    "emergency_protection": "Can thiệp khẩn cấp trong 12 giờ",
    "plan_draft": "Xây dựng kế hoạch trong 05 ngày làm việc",
    "plan_approval": "Phê duyệt kế hoạch trong 07 ngày làm việc",
}
_KIND_NAMES = {SIX_MONTH: "Báo cáo 6 tháng", ANNUAL: "Báo cáo năm", PERIOD: "Báo cáo theo kỳ (quý, đột xuất)"}

# -- files -----------------------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    Column("section", "Mục", "section"), Column("key_1", "Mã 1", "key 1"), Column("key_2", "Mã 2", "key 2"),
    Column("label", "Tên", "label"), Column("measure", "Chỉ số", "measure"), Column("value", "Giá trị", "value"),
)  # fmt: skip


def long_rows(report: Report) -> Iterator[tuple[str, str, str, str, str, Scalar]]:
    """The report in long form: the header block (section "header"), then one row per figure."""
    for column, text in header_values(report.header):
        yield "header", column.code, "", column.vietnamese, "", text
    for note in report.notes:
        yield "header", "note", "", "Ghi chú", "", note
    for section in report.sections:
        for row in section.rows:
            keys = (*row.keys, "", "")[:2]
            for column, value in zip(section.values, row.values, strict=True):
                yield section.code, keys[0], keys[1], row.label, column.code, value
        for note in section.notes:
            yield section.code, "note", "", "Ghi chú", "", note


def to_csv(report: Report, stream: TextIO) -> None:
    """Write the report as CSV in long form: one row per figure (section, keys, label, measure, value).

    Open the stream with `encoding="utf-8", newline=""`: a byte order mark goes first, so that Excel reads the
    Vietnamese text as UTF-8. The header row is bilingual ("Mục (section)").
    """
    stream.write("\ufeff")
    writer = csv.writer(stream)
    writer.writerow([f"{c.vietnamese} ({c.english})" for c in CSV_COLUMNS])
    for row in long_rows(report):
        writer.writerow(["" if v is None else v for v in row])


def read_csv(stream: TextIO) -> dict[tuple[str, tuple[str, ...], str], str]:
    """The figures of a CSV written by `to_csv` (values as text), keyed like `Report.figures()` (2 key columns)."""
    text = stream.read().lstrip("\ufeff")
    rows = list(csv.reader(text.splitlines()))
    return {(r[0], (r[1], r[2]), r[4]): r[5] for r in rows[1:] if r[0] != "header" and r[1] != "note"}


def to_xlsx(report: Report, path: Path | str) -> None:
    """Write the report as an XLSX workbook: the header block, the notes and the list of sections on the first
    sheet, then a sheet per section with Vietnamese headers on the first row and English ones on the second."""
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.styles import Font  # type: ignore[import-untyped]
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    book = Workbook()
    first = book.active
    assert first is not None
    first.title = "Thông tin"
    h = report.header
    title = f"{_KIND_NAMES.get(h.kind, h.kind)} công tác bảo vệ, chăm sóc trẻ em - {h.unit_name} ({h.unit_code})"
    first.append([title])
    first.append(["Periodic child-protection report"])
    first["A1"].font = Font(bold=True, size=13)
    first.append([])
    for column, text in header_values(h):
        first.append([f"{column.vietnamese} ({column.english})", text])
    first.append([])
    for note in report.notes:
        first.append(["Ghi chú (note)", note])
    titles = {first.title}
    sheets = [(section, _sheet_title(section.vietnamese, titles)) for section in report.sections]
    for section, title in sheets:
        first.append([_SECTION_ROW, section.code, title, section.english])
    first.column_dimensions["A"].width = 42
    first.column_dimensions["B"].width = 70
    for section, title in sheets:
        sheet = book.create_sheet(title)
        columns = [*section.keys, Column("label", "Tên", "label"), *section.values]
        sheet.append([c.vietnamese for c in columns])
        sheet.append([c.english for c in columns])
        for cell in (*sheet[1], *sheet[2]):
            cell.font = Font(bold=True, italic=cell.row == 2)
        for row in section.rows:
            sheet.append([*row.keys, row.label, *row.values])
        if section.notes:
            sheet.append([])
            for note in section.notes:
                sheet.append([f"{_NOTE} {note}"])
        sheet.freeze_panes = "A3"
        for index, column in enumerate(columns, start=1):
            cells = [column.vietnamese, column.english]
            if index <= len(section.keys):
                cells += [r.keys[index - 1] for r in section.rows]
            elif column.code == "label":
                cells += [r.label for r in section.rows]
            width = min(60, max(12, *(len(c) for c in cells)) + 2)
            sheet.column_dimensions[get_column_letter(index)].width = width
    book.save(str(path))


_SECTION_ROW = "Mục (section)"
_NOTE = "Ghi chú:"


def _sheet_title(title: str, taken: set[str]) -> str:
    """A sheet name Excel accepts: at most 31 characters, none of []:*?/\\, unique in the book."""
    clean = "".join(ch for ch in title if ch not in "[]:*?/\\")[:31]
    name, n = clean, 2
    while name in taken:
        suffix = f" {n}"
        name, n = clean[: 31 - len(suffix)] + suffix, n + 1
    taken.add(name)
    return name


def read_xlsx(path: Path | str) -> dict[tuple[str, tuple[str, ...], str], Scalar]:
    """The figures of a workbook written by `to_xlsx`, keyed like `Report.figures()` (sections found through the
    list on the first sheet, measures through the English header row)."""
    from openpyxl import load_workbook

    book = load_workbook(str(path), read_only=True)
    try:
        found: dict[tuple[str, tuple[str, ...], str], Scalar] = {}
        first = book.worksheets[0]
        sections = {str(r[2]): str(r[1]) for r in first.iter_rows(values_only=True) if r and r[0] == _SECTION_ROW}
        for sheet in book.worksheets[1:]:
            code = sections[sheet.title]
            rows = list(sheet.iter_rows(values_only=True))
            english = ["" if c is None else str(c) for c in rows[1]]
            keys = english.index("label")
            measures = [_MEASURE_CODES.get(m, m) for m in english[keys + 1 :] if m]
            for row in rows[2:]:
                if all(v is None for v in row) or (isinstance(row[0], str) and row[0].startswith(_NOTE)):
                    continue
                key = tuple("" if v is None else str(v) for v in row[:keys])
                for measure, value in zip(measures, row[keys + 1 : keys + 1 + len(measures)], strict=True):
                    found[(code, key, measure)] = value
        return found
    finally:
        book.close()


_MEASURE_CODES = {"amount (VND)": "amount_vnd", "met late": "met_late", "overdue at the end": "overdue",
                  "ratio": "value"}  # fmt: skip


__all__ = [
    "ANNUAL",
    "CALENDAR",
    "DEFAULT_CUTOFFS",
    "KINDS",
    "PERIOD",
    "SIX_MONTH",
    "CalendarEntry",
    "Column",
    "Header",
    "ReadModels",
    "Report",
    "Row",
    "Schedule",
    "Section",
    "build_report",
    "long_rows",
    "quarter",
    "read_csv",
    "read_xlsx",
    "schedule",
    "to_csv",
    "to_xlsx",
]
