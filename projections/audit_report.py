"""The audit report of a unit and period (báo cáo kiểm toán): for auditors, thanh tra and internal control.

Five sections, each a sheet of the workbook, with a summary sheet first:

1. changes by officer (thay đổi theo cán bộ): per actor (id, role) and event
   type, the events written to the unit's records in the period;
2. late corrections (cập nhật muộn): events of those records whose business
   time (occurred_at) lies more than `LATE_CORRECTION` (registry/law.py, a
   registry convention) before the registry recorded them;
3. access outside working hours (truy cập ngoài giờ làm việc): access-log
   entries on the unit's records, or by the unit's principals, outside the
   office hours of a working day (registry/law.py `in_working_hours`: the
   working days of QĐ 188/1999/QĐ-TTg, office hours a registry convention),
   judged in Vietnam time, whatever their outcome;
4. denied access attempts (truy cập bị từ chối): entries with the outcome
   denied or not_found, on the unit's records or by its principals;
5. out-of-jurisdiction attempts (truy cập ngoài địa bàn): the denied entries
   whose reason is the jurisdiction (schema/api.py, projections/export.py:
   "jurisdiction"): officers of other units trying the unit's records, and
   the unit's officers trying records elsewhere (column "scope").

The period is one of days in Vietnam time, both ends included, judged on
system time: what the registry recorded (events' recorded_at, the access
log's `at`) from 00:00 of the first day to 24:00 of the last.

The unit's records are those the read models place in the unit, in the
structure in force on each day of the period (projections/queries.py): a
child whose residence lay in the unit on a day of the period, a case handled
there; before 2025-07-01 under the commune and province the record was made
under (`commune_code`, `province_code`), from then in the two-tier map
(`commune_now`, `province_now`), and under its (former) district for a
district. Only versions the registry held during the period count, so a
residence corrected away in the period counts for both communes, and one
corrected away before it for neither. The unit's principals are those whose
unit (the access log's `unit`) is the unit or lies within it in the structure
of the entry's day: the communes of a district or province, its (former)
districts.

No personal data: record ids, actor ids, roles, unit codes, event types,
times and the events' reasons (the officer's own words, kept in every
record's history) only; never a name, a number or the purpose given to the
log. Reading the log for the report is itself logged (record kind
access_log), as the API logs an auditor's read.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from registry.access import Principal, operator
from registry.access_log import Access, Outcome, record
from registry.cases import STREAM_TYPE as CASE_STREAM
from registry.children import STREAM_TYPE as CHILD_STREAM
from registry.config import Settings
from registry.errors import InvalidInput, RegistryError
from registry.gazetteer import Gazetteer, UnitView
from registry.law import (
    FACTS,
    LATE_CORRECTION,
    TWO_TIER_FROM,
    VIETNAM,
    WORKING_DAYS,
    WORKING_HOURS,
    in_working_hours,
    start_of_day,
)
from registry.runtime import Registry
from registry.store import driver_errors
from registry.units import Level, level_of

from .reports import ReadModels

LAST_LEGACY_DAY = TWO_TIER_FROM - timedelta(days=1)  # 2025-06-30, the last day with districts
ROW_LIMIT = 100_000  # rows per section at most (a sheet holds 1,048,576): the summary says when one is cut
ZONE = "Asia/Ho_Chi_Minh"  # the server's name for Vietnam time (UTC+7, no daylight saving time)
READ_MODELS = ReadModels()  # the deployment's: schema read
JURISDICTION = "jurisdiction"  # the reason of a denial out of the principal's jurisdiction (schema/api.py)


class ReadModelsMissing(RegistryError):
    """Raised when the read models that place records in units are not built (run `registry project run --once`)."""

    code = "NOT_READY"


# -- the report as data ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfficerChanges:
    """The events one actor wrote of one type to the unit's records in the period."""

    actor_id: str
    actor_role: str
    event_type: str
    events: int
    records: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True, slots=True)
class LateCorrection:
    """An event recorded long after its business time."""

    stream_id: str
    version: int
    event_type: str
    actor_id: str
    actor_role: str
    reason: str | None
    source: str | None
    occurred_at: datetime
    recorded_at: datetime

    @property
    def gap_days(self) -> float:
        return round((self.recorded_at - self.occurred_at) / timedelta(days=1), 1)


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """An access-log entry of the report; `scope` says why it is the unit's: "record" (one of the unit's
    records), "principal" (by one of the unit's principals) or "record+principal"."""

    id: int
    at: datetime
    subject: str
    role: str
    unit: str | None
    operation: str
    record_kind: str
    record_id: str | None
    outcome: str
    reason: str | None
    scope: str

    @property
    def in_working_hours(self) -> bool:
        return in_working_hours(self.at)

    @property
    def out_of_jurisdiction(self) -> bool:
        return self.outcome == Outcome.DENIED.value and self.reason is not None and JURISDICTION in self.reason


@dataclass(frozen=True, slots=True)
class AuditReport:
    unit: str
    unit_name: str
    level: Level
    start: date
    end: date
    generated_at: datetime
    children: int  # the unit's child records in the period
    cases: int  # the unit's case records in the period
    changes: tuple[OfficerChanges, ...]
    late: tuple[LateCorrection, ...]
    after_hours: tuple[AccessEntry, ...]
    denied: tuple[AccessEntry, ...]
    out_of_jurisdiction: tuple[AccessEntry, ...]
    cursors: tuple[tuple[str, str], ...]  # each read model's checkpoint: how far the placement of records goes
    truncated: tuple[str, ...] = ()  # the sections cut at ROW_LIMIT rows
    notes: tuple[str, ...] = field(default=())

    @property
    def filename(self) -> str:
        return filename(self.unit, self.start, self.end)

    def summary_lines(self) -> list[str]:
        """One line per section (the command prints them): counts only."""
        officers = {(c.actor_id, c.actor_role) for c in self.changes}
        cut = {name: " (first rows only)" if name in self.truncated else "" for name in SECTIONS}
        return [
            f"changes by officer: {sum(c.events for c in self.changes):,} events by {len(officers):,} actors on "
            f"{self.children:,} children and {self.cases:,} cases of the unit{cut['changes']}",
            f"late corrections: {len(self.late):,} events recorded more than {LATE_CORRECTION.days} days after their "
            f"business time{cut['late']}",
            f"access outside working hours: {len(self.after_hours):,} entries{cut['access']}",
            f"denied access attempts: {len(self.denied):,} entries{cut['access']}",
            f"out-of-jurisdiction attempts: {len(self.out_of_jurisdiction):,} entries{cut['access']}",
        ]


SECTIONS = ("changes", "late", "access")  # the queries a limit can cut


def filename(unit: str, start: date, end: date) -> str:
    return f"bao-cao-kiem-toan-{unit}-{start.isoformat()}-{end.isoformat()}.xlsx"


def check_period(start: date, end: date) -> None:
    """The period's days (`registry audit report --from --to`); InvalidInput naming the option otherwise."""
    if end < start:
        raise InvalidInput("to", "before_from", "the last day must not be before the first day (--from)")


# -- where the unit lies in each structure ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Era:
    """The part of the period in one structure: before 2025-07-01 (legacy) or from then (two-tier)."""

    first: date
    last: date
    legacy: bool
    unit: UnitView | None  # the unit bearing the code in this structure (a district: as on 2025-06-30)

    @property
    def days(self) -> tuple[datetime, datetime]:
        return start_of_day(self.first), start_of_day(self.last + timedelta(days=1))


def _eras(units: Gazetteer, code: str, level: Level, start: date, end: date) -> list[_Era]:
    parts = []
    if start < TWO_TIER_FROM:
        parts.append((start, min(end, LAST_LEGACY_DAY), True))
    if end >= TWO_TIER_FROM:
        parts.append((max(start, TWO_TIER_FROM), end, False))
    eras = []
    for first, last, legacy in parts:
        days = (LAST_LEGACY_DAY,) if level is Level.DISTRICT and not legacy else (last, first)
        found = next((u for u in (units.find(code, d) for d in days) if u is not None), None)
        eras.append(_Era(first, last, legacy, found))
    return eras


def _principal_units(units: Gazetteer, era: _Era, level: Level) -> set[str]:
    """The unit codes a principal of the unit bears in an era: the unit and every unit within it."""
    if era.unit is None:
        return set()
    code = era.unit.code
    found = {code}
    if level is Level.COMMUNE:
        return found
    for day in sorted({era.first, era.last}):
        if level is Level.DISTRICT and not era.legacy:
            # A former district: the communes of the two-tier map formed (at least partly) from its communes.
            for legacy in units.communes_of(code, LAST_LEGACY_DAY):
                for successor in units.successors(legacy.code, LAST_LEGACY_DAY, max(day, TWO_TIER_FROM)):
                    if code in {d.code for d in units.former_districts(successor.unit.code, day)}:
                        found.add(successor.unit.code)
            continue
        if units.find(code, day) is None:
            continue
        communes = units.communes_of(code, day)
        found.update(c.code for c in communes)
        if level is Level.PROVINCE:
            if era.legacy:
                found.update(d.code for d in units.children(code, day) if d.level is Level.DISTRICT)
            else:  # its former districts: those its communes were formed from
                for commune in communes:
                    found.update(d.code for d in units.former_districts(commune.code, day))
    return found


def _columns(level: Level) -> tuple[str, str]:
    """The read models' unit column before and from 2025-07-01 (projections/queries.py `unit_column`)."""
    return {Level.COMMUNE: ("commune_code", "commune_now"), Level.DISTRICT: ("district_code", "district_code"),
            Level.PROVINCE: ("province_code", "province_now")}[level]  # fmt: skip


def _ranges(eras: Sequence[_Era], timed: bool) -> list[asyncpg.Range[Any]]:
    """Each era's business-time range (days, or moments for the cases' tstzrange), empty where the code named no
    unit in that structure: [legacy, two-tier]."""
    found: dict[bool, asyncpg.Range[Any]] = {True: asyncpg.Range(empty=True), False: asyncpg.Range(empty=True)}
    for era in eras:
        if era.unit is not None:
            lower, upper = era.days if timed else (era.first, era.last + timedelta(days=1))
            found[era.legacy] = asyncpg.Range(lower, upper)
    return [found[True], found[False]]


# -- reading ---------------------------------------------------------------------------------------------------------

_MEMBERS_SQL = """SELECT DISTINCT {key} AS id FROM {table} r
    WHERE r.recorded && tstzrange($1, $2)
      AND ((r.valid && $3 AND r.{old} = $5) OR (r.valid && $4 AND r.{new} = $5))
    ORDER BY 1"""

_CHANGES_SQL = """SELECT coalesce(metadata->>'actor_id', '') AS actor_id, coalesce(metadata->>'actor_role', '')
        AS actor_role, event_type, count(*) AS events, count(DISTINCT stream_id) AS records,
        min(recorded_at) AS first_at, max(recorded_at) AS last_at
    FROM events WHERE stream_id IN (SELECT unnest($1::text[])) AND recorded_at >= $2 AND recorded_at < $3
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 LIMIT $4"""

_LATE_SQL = """SELECT stream_id, version, event_type, coalesce(metadata->>'actor_id', '') AS actor_id,
        coalesce(metadata->>'actor_role', '') AS actor_role, metadata->>'reason' AS reason,
        metadata->>'source' AS source, occurred_at, recorded_at
    FROM events WHERE stream_id IN (SELECT unnest($1::text[])) AND recorded_at >= $2 AND recorded_at < $3
      AND occurred_at < recorded_at - $4::interval
    ORDER BY recorded_at, stream_id, version LIMIT $5"""

# The entries of the period outside office hours or not allowed, on the unit's records or by its principals (the
# principals' codes of each structure apply to the entries of its days). Office hours in Vietnam time.
_ACCESS_SQL = f"""SELECT * FROM (
    SELECT a.id, a.at, a.subject, a.role, a.unit, a.operation, a.record_kind, a.record_id, a.outcome, a.reason,
        ((a.record_kind = 'child' AND a.record_id IN (SELECT unnest($3::text[])))
          OR (a.record_kind = 'case' AND a.record_id IN (SELECT unnest($4::text[])))) AS on_record,
        coalesce((a.at < $5 AND a.unit = ANY($6::text[])) OR (a.at >= $5 AND a.unit = ANY($7::text[])), false)
          AS by_principal,
        (extract(isodow FROM a.at AT TIME ZONE '{ZONE}')::int = ANY($8::int[])
          AND (a.at AT TIME ZONE '{ZONE}')::time >= $9 AND (a.at AT TIME ZONE '{ZONE}')::time < $10) AS office
    FROM access_log a WHERE a.at >= $1 AND a.at < $2
) e WHERE (on_record OR by_principal) AND (outcome <> 'allowed' OR NOT office) ORDER BY at, id LIMIT $11"""

_CURSORS_SQL = """SELECT c.name, c.transaction_id::text AS tx, c.position FROM projection_checkpoints c
    JOIN projection_state s ON s.name = c.name AND s.generation = c.generation WHERE c.name = ANY($1::text[])"""


async def build_audit_report(
    pool: asyncpg.Pool,
    units: Gazetteer,
    unit: str,
    start: date,
    end: date,
    *,
    reader: Principal,
    request_id: str,
    log: asyncpg.Pool | None = None,
    sources: ReadModels = READ_MODELS,
    now: datetime | None = None,
    limit: int = ROW_LIMIT,
) -> AuditReport:
    """The audit report of a unit (a commune or province of the structure in force on the period's days, or a
    (former) district) for the days `start` to `end`, read from `pool` (a replica will do) and the read models of
    `sources`. The read of the access log is logged under `reader` in `log` (default `pool`; the caller has
    checked that the reader may read it). Bad input is an InvalidInput naming the option: unit, from, to."""
    level = level_of(unit, "unit")
    check_period(start, end)
    eras = _eras(units, unit, level, start, end)
    known = [e.unit for e in eras if e.unit is not None]
    if not known:
        raise InvalidInput("unit", "unknown_unit",
                           f"no administrative unit bears this code between {start.isoformat()} and "
                           f"{end.isoformat()} (a district: nor on {LAST_LEGACY_DAY.isoformat()})")  # fmt: skip
    from_at, until_at = start_of_day(start), start_of_day(end + timedelta(days=1))
    old, new = _columns(level)
    principals = {era.legacy: _principal_units(units, era, level) for era in eras}
    opens, closes = WORKING_HOURS
    await record(log or pool, reader, [Access(request_id, "auditReport", "access_log", unit,
                                              f"audit report {unit} {start.isoformat()}..{end.isoformat()}",
                                              Outcome.ALLOWED)])  # fmt: skip
    with driver_errors():
        async with pool.acquire() as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                for table in (f"{sources.child_schema}.child_residences", f"{sources.case_schema}.case_history"):
                    if await conn.fetchval("SELECT to_regclass($1)", table) is None:
                        raise ReadModelsMissing(f"the read model {table} is not built: run `registry project run "
                                                "--once` first")  # fmt: skip
                cursors = await conn.fetch(_CURSORS_SQL, [sources.child_projection, sources.case_projection])
                children = [r["id"] for r in await conn.fetch(
                    _MEMBERS_SQL.format(key="r.child_id", table=f"{sources.child_schema}.child_residences", old=old,
                                        new=new),
                    from_at, until_at, *_ranges(eras, timed=False), unit,
                )]  # fmt: skip
                cases = [r["id"] for r in await conn.fetch(
                    _MEMBERS_SQL.format(key="r.case_id", table=f"{sources.case_schema}.case_history", old=old,
                                        new=new),
                    from_at, until_at, *_ranges(eras, timed=True), unit,
                )]  # fmt: skip
                streams = [f"{CHILD_STREAM}:{c}" for c in children] + [f"{CASE_STREAM}:{c}" for c in cases]
                changes = await conn.fetch(_CHANGES_SQL, streams, from_at, until_at, limit + 1)
                late = await conn.fetch(_LATE_SQL, streams, from_at, until_at, LATE_CORRECTION, limit + 1)
                access = await conn.fetch(
                    _ACCESS_SQL, from_at, until_at, children, cases, start_of_day(TWO_TIER_FROM),
                    sorted(principals.get(True, ())), sorted(principals.get(False, ())), sorted(WORKING_DAYS),
                    opens, closes, limit + 1,
                )  # fmt: skip
    truncated = tuple(name for name, rows in (("changes", changes), ("late", late), ("access", access))
                      if len(rows) > limit)  # fmt: skip
    entries = [_entry(r) for r in access[:limit]]
    notes = [
        "Thời gian theo giờ Việt Nam (UTC+7). Times are Vietnam time (UTC+7).",
        "Ngày làm việc / working days: " + FACTS["working_days"].basis,
        f"Giờ làm việc / office hours {opens:%H:%M}-{closes:%H:%M}: " + FACTS["working_hours"].basis,
        f"Cập nhật muộn / late corrections, more than {LATE_CORRECTION.days} days: "
        + FACTS["late_correction_days"].basis,
        "Requests for a whole unit's list that were refused name no record: they are here by the principal only.",
    ]
    if any(not e.legacy for e in eras) and level is Level.DISTRICT:
        notes.append("Địa bàn huyện cũ: from 2025-07-01 the district as it was on 2025-06-30 (no district level).")
    return AuditReport(
        unit=unit, unit_name=known[-1].full_name, level=level, start=start, end=end,
        generated_at=now or datetime.now(UTC), children=len(children), cases=len(cases),
        changes=tuple(OfficerChanges(**dict(r)) for r in changes[:limit]),
        late=tuple(LateCorrection(**dict(r)) for r in late[:limit]),
        after_hours=tuple(e for e in entries if not e.in_working_hours),
        denied=tuple(e for e in entries if e.outcome != Outcome.ALLOWED.value),
        out_of_jurisdiction=tuple(e for e in entries if e.out_of_jurisdiction),
        cursors=tuple((r["name"], f"{r['tx']}:{r['position']}") for r in cursors),
        truncated=truncated, notes=tuple(notes),
    )  # fmt: skip


def _entry(r: asyncpg.Record) -> AccessEntry:
    scope = "+".join(name for name, match in (("record", r["on_record"]), ("principal", r["by_principal"])) if match)
    return AccessEntry(r["id"], r["at"], r["subject"], r["role"], r["unit"], r["operation"], r["record_kind"],
                       r["record_id"], r["outcome"], r["reason"], scope)  # fmt: skip


# -- the workbook ----------------------------------------------------------------------------------------------------

_WEEKDAYS = ("Thứ Hai (Mon)", "Thứ Ba (Tue)", "Thứ Tư (Wed)", "Thứ Năm (Thu)", "Thứ Sáu (Fri)", "Thứ Bảy (Sat)",
             "Chủ nhật (Sun)")  # fmt: skip
_SCOPES = {"record": "hồ sơ của đơn vị (the unit's record)", "principal": "cán bộ của đơn vị (the unit's principal)",
           "record+principal": "cả hai (both)"}  # fmt: skip

SHEETS: tuple[tuple[str, str, str], ...] = (  # (section, Vietnamese sheet title, English title)
    ("summary", "Tổng hợp", "Summary"),
    ("changes", "1. Thay đổi theo cán bộ", "Changes by officer"),
    ("late", "2. Cập nhật muộn", "Late corrections"),
    ("after_hours", "3. Truy cập ngoài giờ", "Access outside working hours"),
    ("denied", "4. Truy cập bị từ chối", "Denied access attempts"),
    ("out_of_jurisdiction", "5. Truy cập ngoài địa bàn", "Out-of-jurisdiction attempts"),
)

_CHANGE_COLUMNS = (("Mã cán bộ", "actor id"), ("Vai trò", "actor role"), ("Loại sự kiện", "event type"),
                   ("Số sự kiện", "events"), ("Số hồ sơ", "records"), ("Ghi nhận lần đầu", "first recorded"),
                   ("Ghi nhận lần cuối", "last recorded"))  # fmt: skip
_LATE_COLUMNS = (("Hồ sơ (luồng sự kiện)", "stream"), ("Phiên bản", "version"), ("Loại sự kiện", "event type"),
                 ("Mã cán bộ", "actor id"), ("Vai trò", "actor role"), ("Lý do", "reason"), ("Nguồn", "source"),
                 ("Thời điểm nghiệp vụ", "business time (occurred)"), ("Thời điểm ghi nhận", "recorded"),
                 ("Chênh lệch (ngày)", "gap (days)"))  # fmt: skip
_ACCESS_COLUMNS = (("Số nhật ký", "log entry"), ("Thời điểm", "at"), ("Thứ", "weekday"),
                   ("Người truy cập", "subject"), ("Vai trò", "role"), ("Đơn vị của người truy cập", "their unit"),
                   ("Thao tác", "operation"), ("Loại hồ sơ", "record kind"), ("Mã hồ sơ", "record id"),
                   ("Kết quả", "outcome"), ("Lý do", "reason"), ("Phạm vi", "scope"))  # fmt: skip


def _local(moment: datetime) -> datetime:
    """A cell's time: Vietnam time without its zone (a workbook holds none; the headings say UTC+7)."""
    return moment.astimezone(VIETNAM).replace(tzinfo=None)


def to_xlsx(report: AuditReport, path: Path | str) -> None:
    """Write the report as an XLSX workbook: the summary sheet, then a sheet per section with Vietnamese headings
    on the first row and English ones on the second (as projections/reports.py)."""
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
    from openpyxl.styles import Font  # type: ignore[import-untyped]

    book = Workbook(write_only=True)
    sheets = {code: book.create_sheet(title) for code, title, _ in SHEETS}

    def cell(sheet: Any, value: Any, *, bold: bool = False, italic: bool = False) -> Any:
        """A cell; text is always text (a reason or an id that begins with '=' is never a formula Excel runs)."""
        if isinstance(value, datetime):
            value = _local(value)
        made = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str):
            made.data_type = "s"
        elif isinstance(value, datetime):
            made.number_format = "yyyy-mm-dd hh:mm:ss"
        if bold or italic:
            made.font = Font(bold=bold, italic=italic)
        return made

    def table(code: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], widths: Sequence[int]) \
            -> None:  # fmt: skip
        sheet = sheets[code]
        for index, width in enumerate(widths):
            sheet.column_dimensions[chr(ord("A") + index)].width = width
        sheet.freeze_panes = "A3"
        sheet.append([cell(sheet, vi, bold=True) for vi, _ in columns])
        sheet.append([cell(sheet, en, bold=True, italic=True) for _, en in columns])
        for row in rows:
            sheet.append([cell(sheet, value) for value in row])

    summary = sheets["summary"]
    summary.column_dimensions["A"].width = 48
    summary.column_dimensions["B"].width = 90
    r = report
    summary.append([cell(summary, f"Báo cáo kiểm toán - {r.unit_name} ({r.unit})", bold=True)])
    summary.append([cell(summary, "Audit report", italic=True)])
    summary.append([])
    hours = f"{WORKING_HOURS[0]:%H:%M}-{WORKING_HOURS[1]:%H:%M}"
    for label, value in (
        ("Đơn vị (unit)", f"{r.unit_name} ({r.unit}, {r.level.value})"),
        ("Từ ngày (from)", r.start.isoformat()), ("Đến ngày (to)", r.end.isoformat()),
        ("Lập lúc (generated, UTC+7)", r.generated_at),
        ("Số hồ sơ trẻ em của đơn vị (children)", r.children), ("Số hồ sơ vụ việc của đơn vị (cases)", r.cases),
        ("Giờ làm việc (office hours, Mon-Fri)", hours),
        ("Cập nhật muộn sau (late after, days)", LATE_CORRECTION.days),
        *((f"Mô hình đọc (read model) {name}", cursor or "-") for name, cursor in r.cursors),
    ):  # fmt: skip
        summary.append([cell(summary, label), cell(summary, value)])
    summary.append([])
    summary.append([cell(summary, "Mục (section)", bold=True), cell(summary, "Số dòng (rows)", bold=True)])
    counts = {"changes": len(r.changes), "late": len(r.late), "after_hours": len(r.after_hours),
              "denied": len(r.denied), "out_of_jurisdiction": len(r.out_of_jurisdiction)}  # fmt: skip
    for code, title, english in SHEETS[1:]:
        cut = "access" if code in ("after_hours", "denied", "out_of_jurisdiction") else code
        more = f" (first {ROW_LIMIT:,} only)" if cut in r.truncated else ""
        summary.append([cell(summary, f"{title} ({english})"), cell(summary, f"{counts[code]:,}{more}")])
    summary.append([])
    for note in r.notes:
        summary.append([cell(summary, "Ghi chú (note)"), cell(summary, note)])

    table("changes", _CHANGE_COLUMNS,
          [(c.actor_id, c.actor_role, c.event_type, c.events, c.records, c.first_at, c.last_at) for c in r.changes],
          (28, 20, 30, 12, 12, 20, 20))  # fmt: skip
    table("late", _LATE_COLUMNS,
          [(c.stream_id, c.version, c.event_type, c.actor_id, c.actor_role, c.reason or "", c.source or "",
            c.occurred_at, c.recorded_at, c.gap_days) for c in r.late],
          (46, 10, 28, 24, 18, 40, 16, 20, 20, 14))  # fmt: skip
    for code in ("after_hours", "denied", "out_of_jurisdiction"):
        entries: tuple[AccessEntry, ...] = getattr(r, code)
        table(code, _ACCESS_COLUMNS,
              [(e.id, e.at, _WEEKDAYS[e.at.astimezone(VIETNAM).weekday()], e.subject, e.role, e.unit or "",
                e.operation, e.record_kind, e.record_id or "", e.outcome, e.reason or "", _SCOPES[e.scope])
               for e in entries],
              (12, 20, 16, 26, 18, 14, 16, 12, 38, 12, 16, 34))  # fmt: skip
    book.save(str(path))


# -- the command -----------------------------------------------------------------------------------------------------


def report_command(settings: Settings, args: argparse.Namespace) -> int:
    """`registry audit report --unit CODE --from DAY --to DAY [--out FILE]`: the workbook, and a line per section
    on standard output. Run `registry project run --once` first: the unit's records are found in the read models."""
    check_period(args.start, args.end)
    level_of(args.unit, "unit")

    async def work() -> int:
        registry = await Registry.open(settings)
        try:
            built = await build_audit_report(
                registry.reader.pool, await registry.gazetteer(), args.unit, args.start, args.end,
                reader=operator(f"operator:{getpass.getuser()}"), request_id=f"cli-audit-report:{uuid.uuid4().hex}",
                log=registry.pool,
            )  # fmt: skip
        finally:
            await registry.close()
        out: Path = args.out or Path(built.filename)
        to_xlsx(built, out)
        print(f"audit report: {built.unit_name} ({built.unit}), {built.start.isoformat()} to "
              f"{built.end.isoformat()}: {out}")  # fmt: skip
        for line in built.summary_lines():
            print(f"  {line}")
        return 0

    return asyncio.run(work())


__all__ = [
    "JURISDICTION",
    "READ_MODELS",
    "ROW_LIMIT",
    "SHEETS",
    "AccessEntry",
    "AuditReport",
    "LateCorrection",
    "OfficerChanges",
    "ReadModelsMissing",
    "build_audit_report",
    "check_period",
    "filename",
    "report_command",
    "to_xlsx",
]
