"""The data-quality report of a unit (báo cáo chất lượng dữ liệu): the Project 06 cleansing view.

Project 06 (Đề án 06) asks that children's records be cleansed and linked
with the national population database by personal identification number.
For the children living in a unit today (the register of the unit, as an
export reads it: projections/export.py `child_pages`, a commune or province
of today's map or a former district), the report lists what stands in the
way, record by record, and counts each issue (`ISSUES`):

- no personal identification number (`needs_id_match`: the record cannot be
  linked until one is found);
- a birth recorded as not registered, or not known to be registered;
- a date of birth known only to the month or the year;
- no ethnicity;
- in a group of Law on Children Art. 10(1), with no group event (a
  classification or its end) recorded in the last 365 days: the groups were
  not reviewed in a year.

Personal identification numbers are sealed, so each record is opened to be
checked, and every record opened is written to the access log (operation
"quality", a page per statement). A record whose personal data was erased
is checked for the rest (its number was erased by law, not missing). The
child's name is in the list only for a caller who may read it
(`personal`). The review is judged on system time (when the registry
recorded a group event, from `read.child_groups`), since an officer's
review is what was recorded, whatever day it was about.
"""

from __future__ import annotations

import csv
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from registry.access import Principal
from registry.access_log import Access, Outcome, record
from registry.child_columns import write_day
from registry.children import BirthRegistration, ChildState, DatePrecision, Identity
from registry.errors import InvalidInput
from registry.law import VIETNAM
from registry.units import level_of

from .export import PAGE, Sources, Today, admit, child_pages, unit_name

REVIEW_DAYS = 365  # groups reviewed within a year (the issue's "records without a group review in a year")


@dataclass(frozen=True, slots=True)
class Issue:
    code: str
    vietnamese: str
    english: str


ISSUES: tuple[Issue, ...] = (
    Issue("needs_id_match", "Chưa có số định danh cá nhân",
          "no personal identification number: cannot be linked with the national population database (Project 06)"),
    Issue("birth_not_registered", "Chưa đăng ký khai sinh", "the birth is recorded as not registered"),
    Issue("birth_registration_unknown", "Chưa rõ đã đăng ký khai sinh", "whether the birth was registered is unknown"),
    Issue("imprecise_date_of_birth", "Ngày sinh chỉ rõ tháng hoặc năm",
          "the date of birth is known only to the month or the year"),
    Issue("missing_ethnicity", "Chưa có dân tộc", "no ethnicity recorded"),
    Issue("groups_not_reviewed", f"Nhóm hoàn cảnh đặc biệt chưa rà soát trong {REVIEW_DAYS} ngày",
          f"in a group of Art. 10(1), no group event recorded in the last {REVIEW_DAYS} days"),
)  # fmt: skip
BY_CODE = {issue.code: issue for issue in ISSUES}


@dataclass(frozen=True, slots=True)
class QualityRecord:
    """A record with at least one issue: where it lives today and what is wrong (codes of ISSUES)."""

    child_id: str
    full_name: str | None  # None: the caller may not read names, or the record's personal data was erased
    date_of_birth: str  # as the registry writes it: yyyy-mm-dd, yyyy-mm or yyyy
    commune_code: str  # the residence's commune as recorded (a legacy code for one that began before 2025-07-01)
    commune_now: str
    commune_name: str
    issues: tuple[str, ...]


@dataclass
class QualityReport:
    """The report as data: counts per issue over every record checked, and the records with issues."""

    unit: str
    unit_name: str
    on: date
    checked: int
    erased: int  # records checked whose personal data was erased
    counts: dict[str, int]
    records: list[QualityRecord]


_LAST_GROUP_EVENT = """SELECT child_id, max(lower(recorded)) AS at FROM {schema}.child_groups
    WHERE child_id = ANY($1) AND kind = 'group' GROUP BY child_id"""


def issues_of(state: ChildState, today: date, last_group_event: datetime | None, cutoff: datetime) -> list[str]:
    """The codes of what is wrong with a record (ISSUES), judged on `today`."""
    details, found = state.details, []
    if isinstance(state.personal, Identity) and state.personal.personal_id is None:
        found.append("needs_id_match")
    if details.birth_registration is BirthRegistration.NOT_REGISTERED:
        found.append("birth_not_registered")
    elif details.birth_registration is BirthRegistration.UNKNOWN:
        found.append("birth_registration_unknown")
    if details.date_of_birth_precision is not DatePrecision.DAY:
        found.append("imprecise_date_of_birth")
    if details.ethnicity is None:
        found.append("missing_ethnicity")
    if state.groups_on(today) and (last_group_event is None or last_group_event < cutoff):
        found.append("groups_not_reviewed")
    return found


@dataclass
class QualityCheck:
    """One check of a unit. `await check()` refuses a caller out of role or reach (logged); `records()` yields the
    records with issues, a page at a time, as they are read; `counts`, `checked` and `erased` grow as it goes."""

    sources: Sources
    principal: Principal
    unit: str
    purpose: str
    request_id: str
    personal: bool = True
    now: datetime | None = None  # the time the report is for (default: now); the review cut-off is a year before
    page: int = PAGE
    progress: Callable[[int], object] = lambda _: None
    checked: int = field(default=0, init=False)
    erased: int = field(default=0, init=False)
    seconds: float = field(default=0.0, init=False)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BY_CODE, 0), init=False)
    _admitted: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        level_of(self.unit, "unit")
        if not self.purpose or not self.purpose.strip() or len(self.purpose) > 500 or not self.purpose.isprintable():
            raise InvalidInput("purpose", "invalid", "must say why the records are read (1-500 printable characters)")
        if not 1 <= self.page <= 5000:
            raise InvalidInput("page", "out_of_range", "must be between 1 and 5000")
        if self.now is not None and self.now.tzinfo is None:
            raise InvalidInput("now", "no_time_zone", "must be a time with its zone")

    @property
    def moment(self) -> datetime:
        return self.now or datetime.now(UTC)

    @property
    def today(self) -> date:
        return self.moment.astimezone(VIETNAM).date()

    @property
    def unit_name(self) -> str:
        return unit_name(self.sources.units, self.unit, self.today)

    async def check(self) -> None:
        unit_name(self.sources.units, self.unit, self.today)  # the unit must exist today (InvalidInput)
        await admit(self.sources, self.principal, self.unit, self.today, operation="quality", record_kind="child",
                    purpose=self.purpose, request_id=self.request_id)  # fmt: skip
        self._admitted = True

    async def records(self) -> AsyncIterator[QualityRecord]:
        if not self._admitted:
            await self.check()
        started = time.perf_counter()
        today, moment = self.today, self.moment
        units = Today(self.sources.units, today)
        cutoff = moment - timedelta(days=REVIEW_DAYS)
        sql = _LAST_GROUP_EVENT.format(schema=self.sources.read_models.child_schema)
        try:
            async for states in child_pages(self.sources, level_of(self.unit), self.unit, today, page=self.page):
                ids = [s.child_id for s in states]
                read = [Access(self.request_id, "quality", "child", i, self.purpose, Outcome.ALLOWED) for i in ids]
                await record(self.sources.pool, self.principal, read)  # opened to be checked: read
                reviewed = {r["child_id"]: r["at"] for r in await self.sources.pool.fetch(sql, ids)}
                for state in states:
                    self.checked += 1
                    self.erased += state.erased
                    found = issues_of(state, today, reviewed.get(state.child_id), cutoff)
                    for code in found:
                        self.counts[code] += 1
                    if found:
                        yield self._record(state, units, today, found)
                self.progress(len(states))
        finally:
            self.seconds += time.perf_counter() - started

    def _record(self, state: ChildState, units: Today, today: date, found: list[str]) -> QualityRecord:
        identity = state.personal if isinstance(state.personal, Identity) and self.personal else None
        residence = state.residence_on(today)
        commune_now, name, _ = units.of(residence.commune_code, residence.valid_from)
        return QualityRecord(
            state.child_id, None if identity is None else identity.full_name,
            write_day(state.details.date_of_birth, state.details.date_of_birth_precision), residence.commune_code,
            commune_now, name, tuple(found),
        )  # fmt: skip

    def summary(self) -> str:
        rate = self.checked / self.seconds if self.seconds else 0.0
        counts = ", ".join(f"{code} {self.counts[code]:,}" for code in BY_CODE)
        return (f"quality: {self.checked:,} children of {self.unit_name} ({self.unit}) checked on "
                f"{self.today.isoformat()} in {self.seconds:.1f} s ({rate:,.0f} records/s): {counts}")  # fmt: skip


async def build_quality(check: QualityCheck) -> QualityReport:
    """The whole report as data (the API's): every record with an issue, and the counts."""
    found = [r async for r in check.records()]
    return QualityReport(check.unit, check.unit_name, check.today, check.checked, check.erased, dict(check.counts),
                         found)  # fmt: skip


# -- files -------------------------------------------------------------------------------------------------------


def headings(personal: bool, vietnamese: bool) -> list[str]:
    """The list's columns: the record, its issues as one cell, then one column per issue ('x' where it applies,
    so that a spreadsheet's filter finds each)."""
    base = [("child_id", "Mã trẻ em (hệ thống)"), ("full_name", "Họ và tên"), ("date_of_birth", "Ngày sinh"),
            ("commune_code", "Mã xã"), ("commune_now", "Mã xã hiện nay"), ("commune_name", "Tên xã hiện nay"),
            ("issues", "Vấn đề")]  # fmt: skip
    chosen = [vi if vietnamese else en for en, vi in base if personal or en != "full_name"]
    return chosen + [i.vietnamese if vietnamese else i.code for i in ISSUES]


def row(found: QualityRecord, personal: bool, vietnamese: bool) -> list[str]:
    labels = "; ".join(BY_CODE[c].vietnamese if vietnamese else c for c in found.issues)
    cells = [found.child_id, *([found.full_name or ""] if personal else []), found.date_of_birth, found.commune_code,
             found.commune_now, found.commune_name, labels]  # fmt: skip
    return cells + ["x" if i.code in found.issues else "" for i in ISSUES]


class QualityWriter:
    """The report as a file, written as the records come: CSV (UTF-8 with a BOM: the list, one column per issue)
    or XLSX (a summary sheet with the counts, filled at the end, and the list)."""

    def __init__(self, target: Path | TextIO, file_format: str, *, personal: bool, vietnamese: bool = True) -> None:
        if file_format not in ("csv", "xlsx"):
            raise InvalidInput("format", "unknown_format", "must be csv or xlsx")
        if file_format == "xlsx" and not isinstance(target, Path):
            raise InvalidInput("out", "missing", "an XLSX report needs a file")
        self.target, self.format, self.personal, self.vietnamese = target, file_format, personal, vietnamese
        self._stream: Any = None
        if file_format == "xlsx":
            from openpyxl import Workbook  # type: ignore[import-untyped]

            self._book = Workbook(write_only=True)
            self._summary = self._book.create_sheet("Tổng hợp" if vietnamese else "summary")
            self._list = self._book.create_sheet("Danh sách" if vietnamese else "records")
            self._list.append(headings(personal, vietnamese))
            return
        self._stream = target.open("w", encoding="utf-8", newline="") if isinstance(target, Path) else target
        self._stream.write("\ufeff")
        self._csv = csv.writer(self._stream)
        self._csv.writerow(headings(personal, vietnamese))

    def add(self, found: QualityRecord) -> None:
        cells = row(found, self.personal, self.vietnamese)
        if self.format == "xlsx":
            self._list.append([c or None for c in cells])
        else:
            self._csv.writerow(cells)

    def close(self, check: QualityCheck) -> None:
        if self.format == "csv":
            if isinstance(self.target, Path):
                self._stream.close()
            else:
                self._stream.flush()
            return
        vi = self.vietnamese
        self._summary.append([f"Báo cáo chất lượng dữ liệu trẻ em - {check.unit_name} ({check.unit})" if vi
                              else f"Data-quality report - {check.unit_name} ({check.unit})"])  # fmt: skip
        self._summary.append(["Ngày" if vi else "On", check.today.isoformat()])
        self._summary.append(["Số trẻ em đã kiểm tra" if vi else "Children checked", check.checked])
        self._summary.append(["Trong đó đã xóa dữ liệu cá nhân" if vi else "Of which erased", check.erased])
        self._summary.append([])
        self._summary.append(["Vấn đề" if vi else "Issue", "Mã" if vi else "Code", "Số trẻ em" if vi else "Children"])
        for issue in ISSUES:
            self._summary.append([issue.vietnamese if vi else issue.english, issue.code, check.counts[issue.code]])
        assert isinstance(self.target, Path)
        self._book.save(self.target)


__all__ = [
    "ISSUES",
    "REVIEW_DAYS",
    "Issue",
    "QualityCheck",
    "QualityRecord",
    "QualityReport",
    "QualityWriter",
    "build_quality",
    "headings",
    "issues_of",
    "row",
]
