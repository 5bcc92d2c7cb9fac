"""Export of a unit's children and cases as of a date (xuất dữ liệu): CSV, XLSX and JSON Lines, streamed.

The children of an export are the register of a unit on a business day `on`
(projections/queries.py `children_page`: a commune or province of the
structure in force that day, or a district of 2025-06-30 as a former
district), optionally as the registry knew it at `known_at`; the cases are
those handled in the unit at the end of that day (`read.case_history`, as
`open_cases` reads it, closed ones included). Records are read a page at a
time (the ids from the read model, then the records themselves, opened with
their keys, in one query each: `ChildRegister.load_many`,
`CaseRegister.load_many`) and encoded as they are read, so memory does not
grow with the unit. Every record served is written to the access log, a
page at a time (one statement per page) before the page is encoded: a read
that cannot be logged is not served.

A child is a row of the columns of registry/child_columns.py that an import
reads back (`registry import` of an exported file names the same records
through `child_id` and changes nothing), plus the columns an import ignores
(today's commune, its name). The residence is the one in force on `on` as it
was recorded (a legacy commune code for a residence that began before
2025-07-01, so that the row imports into an empty registry too); the
address below the commune is kept for the latest residence only (a record
keeps no history of addresses), so it is written only when that is the one
exported. A record whose personal data was erased is exported with its
personal fields empty; `personal=False` leaves those columns out. Cases never
carry their sealed part (the reporter, the account).

`Export.chunks()` is the one entry point: an async generator of encoded
bytes, for the command line (`projections/cli.py export`) and an HTTP
streaming response alike. CSV and JSON Lines are yielded page by page; an
XLSX workbook is a zip that can only be finished at the end, so it is
written row by row to a temporary file (openpyxl's write-only mode keeps
rows out of memory) and then streamed from that file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from registry.access import Action, Principal, reaches
from registry.access_log import Access, Outcome, purpose_of, record
from registry.case_service import CaseRegister
from registry.cases import CaseState
from registry.child_columns import COLUMNS, EXPORT_COLUMNS, write_choice, write_day, write_groups
from registry.child_service import ChildRegister
from registry.children import ChildState, Identity, Relation
from registry.circumstances import ETHNIC_GROUPS
from registry.deadlines import DEADLINES
from registry.errors import InvalidInput, RegistryError
from registry.events import Horizon
from registry.gazetteer import Gazetteer
from registry.law import TWO_TIER_FROM, VIETNAM, start_of_day
from registry.units import Level, level_of

from .queries import children_page, unit_column
from .reports import ReadModels

FORMATS = ("csv", "xlsx", "jsonl")
RECORDS = ("children", "cases")
PAGE = 500  # records read, logged and encoded at a time
LAST_LEGACY_DAY = TWO_TIER_FROM - timedelta(days=1)
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "jsonl": "application/x-ndjson; charset=utf-8",
}
# The fields an export leaves out for a caller that may not read personal data (registry/children.py Identity).
PERSONAL_FIELDS = frozenset({"full_name", "personal_id", "personal_id_mismatch_reason", "address", "father_name",
                             "mother_name", "caregiver_names"})  # fmt: skip
# An export names its records itself: `source_key` is another system's key, left empty so that a re-import names
# each record by its `child_id`; `groups_from` is empty because every group is written with its first day.
_EMPTY = frozenset({"source_key", "groups_from"})


class ExportRefused(RegistryError):
    """Raised when the caller may not read the records of the unit asked for (its role or its jurisdiction); the
    refusal is in the access log. `reason` is "role" or "jurisdiction"."""

    code = "FORBIDDEN"

    def __init__(self, reason: str) -> None:
        super().__init__("this unit's records are outside your role or jurisdiction")
        self.reason = reason


@dataclass(frozen=True)
class ExportRequest:
    """What to export: the records of a unit on a day, as known at a time, in a format, for a purpose."""

    unit: str  # 2 (province), 3 (district: as of 2025-06-30 from 2025-07-01) or 5 (commune) digits
    purpose: str  # why (kept in the access log with every record)
    on: date | None = None  # the business day (default: today in Vietnam)
    records: str = "children"  # or "cases"
    file_format: str = "csv"
    known_at: datetime | None = None  # as the registry knew it then (None: as it knows it now)
    vietnamese: bool | None = None  # headings and values in Vietnamese (default: yes for CSV/XLSX, no for JSONL)
    personal: bool = True  # False: the personal fields are left out

    def __post_init__(self) -> None:
        level_of(self.unit, "unit")
        purpose_of(self.purpose)
        if self.records not in RECORDS:
            raise InvalidInput("records", "unknown", f"must be one of {', '.join(RECORDS)}")
        if self.file_format not in FORMATS:
            raise InvalidInput("format", "unknown_format", f"must be one of {', '.join(FORMATS)}")
        if self.known_at is not None and self.known_at.tzinfo is None:
            raise InvalidInput("known_at", "no_time_zone", "must be a time with its zone")

    @property
    def level(self) -> Level:
        return level_of(self.unit, "unit")

    @property
    def in_vietnamese(self) -> bool:
        return self.file_format != "jsonl" if self.vietnamese is None else self.vietnamese


@dataclass(frozen=True)
class Sources:
    """What exports and quality checks read: the read models (ids of a unit's records), the registers (the
    records, opened with their keys), the units, and the pool the access log is written through."""

    pool: asyncpg.Pool
    children: ChildRegister
    cases: CaseRegister
    units: Gazetteer
    read_models: ReadModels = ReadModels()


@dataclass
class ExportSummary:
    records: int = 0
    pages: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def line(self, request: ExportRequest, unit_name: str, on: date, where: str) -> str:
        rate = self.records / self.seconds if self.seconds else 0.0
        known = f", as known at {request.known_at.isoformat()}" if request.known_at else ""
        return (f"export: {self.records:,} {request.records} of {unit_name} ({request.unit}) on {on.isoformat()}{known}"
                f" as {request.file_format} in {self.seconds:.1f} s ({rate:,.0f} records/s): {where}")  # fmt: skip


def unit_name(units: Gazetteer, code: str, on: date) -> str:
    """The unit's full name on `on` (a district's on 2025-06-30 after the reform); InvalidInput if none bore it."""
    level = level_of(code, "unit")
    day = min(on, LAST_LEGACY_DAY) if level is Level.DISTRICT else on
    found = units.find(code, day)
    if found is None:
        raise InvalidInput("unit", "unknown_unit", f"no unit bears this code on {day.isoformat()}")
    return found.full_name


async def admit(
    sources: Sources, principal: Principal, unit: str, on: date, *, operation: str, record_kind: str, purpose: str,
    request_id: str,
) -> None:  # fmt: skip
    """Refuse (ExportRefused, logged) a caller whose role may not read records or whose jurisdiction does not
    reach the whole unit in the structure of `on`."""
    reason = None
    # Officers read the records of their jurisdiction; the national child database's client, which receives the
    # children's personal data (the change feed), exports whole units too (its first load before it follows the feed).
    if not (principal.allows(Action.READ_RECORD) or principal.allows(Action.RECEIVE_PERSONAL)):
        reason = "role"
    elif not reaches(principal, sources.units, unit, on):
        reason = "jurisdiction"
    if reason is not None:
        await record(sources.pool, principal,
                     [Access(request_id, operation, record_kind, None, purpose, Outcome.DENIED, reason)])  # fmt: skip
        raise ExportRefused(reason)


async def child_pages(
    sources: Sources, level: Level, unit: str, on: date, *, known_at: datetime | None = None, page: int = PAGE
) -> AsyncIterator[list[ChildState]]:
    """The register of a unit on `on` (as known at `known_at`), a page of records at a time, by child id: the ids
    from the read model, then the records themselves (events and keys in one query each)."""
    after, known = "", None if known_at is None else Horizon(time=known_at)
    schema = sources.read_models.child_schema
    while True:
        ids = await children_page(sources.pool, level, unit, on, after=after, limit=page, known_at=known_at,
                                  schema=schema)  # fmt: skip
        if not ids:
            return
        states = await sources.children.load_many(ids, known=known)
        # A record the read model has but the log lacks as known then, or merged meanwhile (the read model lags
        # the log by moments): not part of the register.
        yield [s for s in (states[i] for i in ids) if s is not None and s.merged_into is None]
        if len(ids) < page:
            return
        after = ids[-1]


# -- the rows of a child ---------------------------------------------------------------------------------------------


def child_fields(personal: bool = True) -> list[str]:
    """The columns of an exported child, by field name, in order."""
    names = [c.name for c in COLUMNS if personal or c.name not in PERSONAL_FIELDS]
    return names + [name for name, _ in EXPORT_COLUMNS]


def child_headings(personal: bool, vietnamese: bool) -> list[str]:
    headings = [c.vietnamese if vietnamese else c.name for c in COLUMNS if personal or c.name not in PERSONAL_FIELDS]
    return headings + [vi if vietnamese else en for en, vi in EXPORT_COLUMNS]


class Today:
    """Where a residence or case recorded under a commune from a day lies today: today's commune and its name.

    Looked up once per unit incarnation and side of the reform (the answer depends on nothing else: as the child
    register's projection caches it), since the rows of a unit share a few communes and Gazetteer.place walks the
    unit tree (it was 40% of an export's time)."""

    def __init__(self, units: Gazetteer, today: date) -> None:
        self.units = units
        self.today = today
        self._found: dict[tuple[str | None, bool, str], tuple[str, str, str]] = {}

    def of(self, commune: str, since: date) -> tuple[str, str, str]:
        """(today's commune code, its full name, the province the record was made under)."""
        key = (self.units.unit_id_at(commune, since), since >= TWO_TIER_FROM, commune)
        found = self._found.get(key)
        if found is None:
            place = self.units.place(commune, since)
            now = self.units.find(place.commune_now, self.today)
            found = (place.commune_now, "" if now is None else now.full_name, place.province)
            if len(self._found) > 100_000:
                self._found.clear()
            self._found[key] = found
        return found


def child_row(state: ChildState, on: date, units: Gazetteer | Today, today: date, *, vietnamese: bool,
              personal: bool = True) -> dict[str, str]:  # fmt: skip
    """A record as the cells of a row (every value a string, '' for none), as `registry import` reads them back."""
    details = state.details
    identity = state.personal if isinstance(state.personal, Identity) and personal else None
    residence = state.residence_on(on)
    latest = residence == state.residences[-1]
    cells: dict[str, str] = dict.fromkeys(child_fields(personal), "")
    cells["child_id"] = state.child_id
    cells["date_of_birth"] = write_day(details.date_of_birth, details.date_of_birth_precision)
    cells["sex"] = write_choice(details.sex, vietnamese)
    if details.ethnicity is not None:
        code = details.ethnicity
        cells["ethnicity"] = ETHNIC_GROUPS.get(code, code) if vietnamese else code  # the name reads back as its code
    cells["birth_registration"] = write_choice(details.birth_registration, vietnamese)
    cells["commune_code"] = residence.commune_code
    cells["residence_from"] = write_day(residence.valid_from)
    names: list[str | None] = list(identity.caregiver_names) if identity else [None] * len(details.caregivers)
    others: list[tuple[str, str, str]] = []
    for giver, name in zip(details.caregivers, names, strict=True):
        column = giver.relation.value if giver.relation in (Relation.FATHER, Relation.MOTHER) else None
        if column is not None and not cells[f"{column}_status"]:
            cells[f"{column}_status"] = write_choice(giver.status, vietnamese)
            if personal:
                cells[f"{column}_name"] = name or ""
        else:  # a second father or mother (rare) goes to the lists too: "Cha"/"Mẹ" read back as such
            kind, status = write_choice(giver.relation, vietnamese), write_choice(giver.status, vietnamese)
            others.append((name or "", kind, status))
    if others:
        if personal:
            cells["caregiver_names"] = "; ".join(name for name, _, _ in others)
        cells["caregiver_relations"] = "; ".join(kind for _, kind, _ in others)
        cells["caregiver_statuses"] = "; ".join(status for _, _, status in others)
    cells["groups"] = write_groups([(s.code, s.subgroup, s.start) for s in state.groups_on(on)])
    if identity is not None:
        cells["full_name"] = identity.full_name
        cells["personal_id"] = identity.personal_id or ""
        cells["personal_id_mismatch_reason"] = identity.personal_id_mismatch_reason or ""
        cells["address"] = (identity.address or "") if latest else ""
    where = units if isinstance(units, Today) else Today(units, today)
    cells["commune_now"], cells["commune_name"], _ = where.of(residence.commune_code, residence.valid_from)
    for name in _EMPTY:
        cells[name] = ""
    return cells


# -- the rows of a case ----------------------------------------------------------------------------------------------

_DEADLINE_VI = {"emergency_protection": "can thiệp khẩn cấp", "plan_draft": "xây dựng kế hoạch",
                "plan_approval": "phê duyệt kế hoạch"}  # fmt: skip
CASE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("case_id", "Mã vụ việc"),
    ("stage", "Giai đoạn"),
    ("channel", "Kênh tiếp nhận"),
    ("case_types", "Loại vụ việc"),
    ("received_at", "Thời điểm tiếp nhận"),
    ("risk_level", "Mức độ nguy cơ"),
    ("emergency", "Cần bảo vệ khẩn cấp"),
    ("commune_code", "Mã xã xử lý"),
    ("commune_now", "Mã xã hiện nay"),
    ("commune_name", "Tên xã hiện nay"),
    ("child_ids", "Mã trẻ em (hệ thống)"),
    ("closed_reason", "Lý do kết thúc"),
    *((f"deadline_{d.code}", f"Thời hạn {_DEADLINE_VI.get(d.code, d.code)}") for d in DEADLINES),
    *((f"deadline_{d.code}_due", f"Hạn {_DEADLINE_VI.get(d.code, d.code)}") for d in DEADLINES),
)  # fmt: skip


def case_row(state: CaseState, at: datetime, units: Gazetteer | Today, today: date) -> dict[str, Any]:
    """A case (folded up to the end of the day asked about), in JSON types (lists, a boolean, None); never its
    sealed part. Deadlines: the status of each legal time limit of the current cycle at `at` (pending, due_soon,
    overdue, met, met_late) and its due time; empty where it does not apply."""
    jurisdiction = state.jurisdictions[-1]  # the case was folded up to the end of the day: the one in force then
    where = units if isinstance(units, Today) else Today(units, today)
    commune_now, name, province = where.of(jurisdiction.commune_code, jurisdiction.since.astimezone(VIETNAM).date())
    row: dict[str, Any] = {
        "case_id": state.case_id, "stage": state.stage.value, "channel": state.channel.value,
        "case_types": [t.value for t in state.case_types], "received_at": state.received_at.astimezone(VIETNAM),
        "risk_level": None if state.risk_level is None else state.risk_level.value, "emergency": state.emergency,
        "commune_code": jurisdiction.commune_code, "commune_now": commune_now, "commune_name": name or None,
        "child_ids": list(state.child_ids),
        "closed_reason": None if state.closed is None else state.closed.reason.value,
    }  # fmt: skip
    for deadline in DEADLINES:
        row[f"deadline_{deadline.code}"] = row[f"deadline_{deadline.code}_due"] = None
    for found in state.deadlines(at, province):
        row[f"deadline_{found.deadline.code}"] = found.status.value
        row[f"deadline_{found.deadline.code}_due"] = found.due_at.astimezone(VIETNAM)
    return {name: row.get(name) for name, _ in CASE_COLUMNS}


def _case_cell(value: Any, vietnamese: bool) -> str:
    """A case's value as a spreadsheet cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return ("Có" if value else "Không") if vietnamese else ("true" if value else "false")
    if isinstance(value, list):
        return "; ".join(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


_CASE_PAGE = """SELECT DISTINCT h.case_id FROM {schema}.case_history h
    WHERE h.valid @> $1::timestamptz AND {known} AND h.{column} = $2 AND h.case_id > $3 ORDER BY h.case_id LIMIT $4"""


async def case_pages(
    sources: Sources, level: Level, unit: str, on: date, *, known_at: datetime | None = None, page: int = PAGE
) -> AsyncIterator[list[CaseState]]:
    """The cases handled in a unit at the end of `on` (Vietnam time; each where it was handled then, closed ones
    included), as known at `known_at`, a page at a time by case id, each as it stood at the end of that day."""
    end = start_of_day(on + timedelta(days=1))
    known = "upper_inf(h.recorded)" if known_at is None else "h.recorded @> $5::timestamptz"
    sql = _CASE_PAGE.format(schema=sources.read_models.case_schema, column=unit_column(level, on), known=known)
    horizon = None if known_at is None else Horizon(time=known_at)
    after = ""
    while True:
        args: list[object] = [end - timedelta(microseconds=1), unit, after, page]
        if known_at is not None:
            args.append(known_at)
        ids = [r[0] for r in await sources.pool.fetch(sql, *args)]
        if not ids:
            return
        states = await sources.cases.load_many(ids, before=end, known=horizon)
        yield [s for s in (states[i] for i in ids) if s is not None]
        if len(ids) < page:
            return
        after = ids[-1]


# -- encoding --------------------------------------------------------------------------------------------------------


class _Encoder:
    """Rows into bytes of one format; `rows` returns what to send now (XLSX: nothing until `finish`)."""

    def __init__(self, file_format: str, headings: Sequence[str], fields: Sequence[str]) -> None:
        self.format = file_format
        self.fields = list(fields)
        self.headings = list(headings)
        self._book: Any = None
        self._sheet: Any = None
        self._path: str | None = None

    def start(self, sheet: str) -> bytes:
        if self.format == "csv":
            return b"\xef\xbb\xbf" + self._csv([self.headings])  # the BOM: Excel reads the text as UTF-8
        if self.format == "xlsx":
            from openpyxl import Workbook  # type: ignore[import-untyped]

            self._book = Workbook(write_only=True)
            self._sheet = self._book.create_sheet(sheet)
            self._sheet.append(self.headings)
        return b""

    def rows(self, rows: Iterable[dict[str, Any]], cell: Callable[[Any], str] | None = None) -> bytes:
        """Encode rows; `cell` turns a value into a spreadsheet cell (None: the values are cells already)."""
        if self.format == "jsonl":
            lines = (json.dumps({k: _json(v) if v != "" else None for k, v in row.items()}, ensure_ascii=False)
                     for row in rows)  # fmt: skip
            return "".join(f"{line}\n" for line in lines).encode()
        fields = self.fields
        values = [[row[n] for n in fields] if cell is None else [cell(row[n]) for n in fields] for row in rows]
        if self.format == "csv":
            return self._csv(values)
        for line in values:
            self._sheet.append([self._cell(v) for v in line])
        return b""

    def _cell(self, value: str) -> Any:
        """A workbook cell: empty for '', and text that begins with '=' kept as text (openpyxl would store it as a
        formula, which Excel runs: a name or an address is never one)."""
        if not value:
            return None
        if value.startswith("="):
            from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]

            cell = WriteOnlyCell(self._sheet, value=value)
            cell.data_type = "s"
            return cell
        return value

    def _csv(self, rows: Iterable[Sequence[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        return buffer.getvalue().encode()

    def finish(self) -> str | None:
        """The path of the finished workbook (XLSX: the caller streams it, then `discard`s it), else None."""
        if self._book is None:
            return None
        handle, self._path = tempfile.mkstemp(prefix="registry-export-", suffix=".xlsx")
        os.close(handle)
        self._book.save(self._path)
        self._book = None
        return self._path

    def discard(self) -> None:
        """Remove what an XLSX export left on disk, finished or abandoned (a client gone mid-way): openpyxl keeps
        each sheet's rows in a temporary file until the workbook is saved, and removes them only then."""
        if self._book is not None:
            self.finish()
        if self._path is not None:
            os.unlink(self._path)
            self._path = None


@dataclass
class Export:
    """One export run. `await check()` refuses a caller out of role or reach before anything is sent (an HTTP
    endpoint answers 403 then); `chunks()` yields the encoded file and checks first if `check` was not called;
    `summary` counts as it goes."""

    sources: Sources
    principal: Principal
    request: ExportRequest
    request_id: str
    today: date | None = None  # for today's communes (default: today in Vietnam)
    page: int = PAGE
    progress: Callable[[int], object] = lambda _: None
    summary: ExportSummary = field(default_factory=ExportSummary, init=False)
    _checked: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if not 1 <= self.page <= 5000:
            raise InvalidInput("page", "out_of_range", "must be between 1 and 5000")
        if not 1 <= len(self.request_id) <= 100:
            raise InvalidInput("request_id", "invalid", "must be 1-100 characters")

    @property
    def on(self) -> date:
        return self.request.on or self._today

    @property
    def _today(self) -> date:
        return self.today or datetime.now(VIETNAM).date()

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.request.file_format]

    @property
    def filename(self) -> str:
        """A file name that names no child: `tre-em-03405-2026-11-23.csv`, `vu-viec-...` for cases."""
        kind = "tre-em" if self.request.records == "children" else "vu-viec"
        return f"{kind}-{self.request.unit}-{self.on.isoformat()}.{self.request.file_format}"

    @property
    def unit_name(self) -> str:
        return unit_name(self.sources.units, self.request.unit, self.on)

    async def check(self) -> None:
        """Refuse (ExportRefused, logged) a caller out of role or jurisdiction; an unknown unit is InvalidInput."""
        unit_name(self.sources.units, self.request.unit, self.on)  # the unit must exist on the day asked about
        kind = "child" if self.request.records == "children" else "case"
        await admit(self.sources, self.principal, self.request.unit, self.on, operation="export", record_kind=kind,
                    purpose=self.request.purpose, request_id=self.request_id)  # fmt: skip
        self._checked = True

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file, encoded, a page at a time (XLSX: once it is written)."""
        if not self._checked:
            await self.check()
        started = time.perf_counter()
        r = self.request
        vietnamese = r.in_vietnamese
        if r.records == "children":
            encoder = _Encoder(r.file_format, child_headings(r.personal, vietnamese), child_fields(r.personal))
        else:
            encoder = _Encoder(r.file_format, [vi if vietnamese else en for en, vi in CASE_COLUMNS],
                               [en for en, _ in CASE_COLUMNS])  # fmt: skip
        head = encoder.start("tre-em" if r.records == "children" else "vu-viec")
        if head:
            yield self._sent(head)
        try:
            async for rows in self._rows(vietnamese):
                chunk = encoder.rows(rows, None if r.records == "children" else lambda v: _case_cell(v, vietnamese))
                if chunk:
                    yield self._sent(chunk)
            path = encoder.finish()
            if path is not None:
                with open(path, "rb") as handle:
                    while block := handle.read(1 << 16):
                        yield self._sent(block)
        finally:
            encoder.discard()
            self.summary.seconds = time.perf_counter() - started

    def _sent(self, chunk: bytes) -> bytes:
        self.summary.bytes += len(chunk)
        return chunk

    async def _rows(self, vietnamese: bool) -> AsyncIterator[list[dict[str, Any]]]:
        """The rows of each page, once the page's records are in the access log."""
        r, today = self.request, self._today
        units = Today(self.sources.units, today)
        if r.records == "children":
            async for states in child_pages(self.sources, r.level, r.unit, self.on, known_at=r.known_at,
                                            page=self.page):  # fmt: skip
                await self._log("child", [s.child_id for s in states])
                yield [child_row(s, self.on, units, today, vietnamese=vietnamese, personal=r.personal) for s in states]
            return
        end = start_of_day(self.on + timedelta(days=1)) - timedelta(microseconds=1)
        at = min(end, datetime.now(UTC) if r.known_at is None else min(r.known_at, datetime.now(UTC)))
        async for cases in case_pages(self.sources, r.level, r.unit, self.on, known_at=r.known_at, page=self.page):
            await self._log("case", [c.case_id for c in cases])
            yield [case_row(c, at, units, today) for c in cases]

    async def _log(self, kind: str, ids: list[str]) -> None:
        r = self.request
        await record(self.sources.pool, self.principal,
                     [Access(self.request_id, "export", kind, i, r.purpose, Outcome.ALLOWED) for i in ids])  # fmt: skip
        self.summary.records += len(ids)
        self.summary.pages += 1
        self.progress(len(ids))


__all__ = [
    "CASE_COLUMNS",
    "FORMATS",
    "MEDIA_TYPES",
    "PAGE",
    "PERSONAL_FIELDS",
    "RECORDS",
    "Export",
    "ExportRefused",
    "ExportRequest",
    "ExportSummary",
    "Sources",
    "Today",
    "admit",
    "case_pages",
    "case_row",
    "child_fields",
    "child_headings",
    "child_pages",
    "child_row",
    "unit_name",
]
