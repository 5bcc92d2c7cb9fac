"""Bulk import of children (nhập dữ liệu trẻ em): officers' spreadsheets and the national child database.

`registry import FILE` (and the API's `importChildren`) reads CSV, XLSX or
JSON Lines whose columns are those of registry/child_columns.py (Vietnamese
headings as officers write them, or the English field names), and turns each
row into commands of the children register: a new record is registered and
classified, a record already there is corrected, moved and (re)classified
where the row says otherwise. The commands are decided by the Child
aggregate, exactly as an officer's through the API; nothing is inserted
behind its back. A thousand rows are written in one transaction
(ChildRegister.execute_batch), each row whole or not at all.

Each row names its record by a stable key: the registry's own `child_id` (a
file the registry exported), or else `source_key` under the import's
`--source` (child id = uuid5 of both: the same source row always names the
same record), or else, for a row with neither, the child's personal
identification number, or else the folded name, date of birth and commune
(so a corrected name in such a row makes a new record, which the duplicate
review then finds). Because every row is compared with its record before
anything is decided:

- importing the same file again writes nothing;
- a row that changed becomes a correction (ChildDetailsCorrected, ChildMoved,
  ChildClassified/Declassified) whose metadata names the source;
- an import killed at any point and run again finishes the job: what was
  written is found unchanged, the rest is written, nothing twice.

Rows that cannot be imported are listed with their line, the field and the
reason (a bad personal identification number, a commune code unknown on the
residence date, an impossible date, a missing field, text in another
encoding than UTF-8...) in a report that is itself a file of the same
columns: the officer fixes the cells and imports the report. Good rows are
imported whatever the bad ones hold.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import hashlib
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict, Field

from .child_columns import (
    BY_NAME,
    COLUMNS,
    IGNORED,
    REPORT_COLUMNS,
    REQUIRED,
    ChildRow,
    RowProblems,
    column_of,
    heading_key,
    read_row,
)
from .child_service import Batched, BatchOutcome, ChildRegister
from .children import (
    BirthRegistration,
    ChildCommand,
    ChildState,
    ClassifyChild,
    CorrectChild,
    DeclassifyChild,
    Identity,
    InvalidChildChange,
    MoveChild,
    RegisterChild,
)
from .collector import cycle_collection_paused
from .errors import ConcurrencyError, InvalidInput
from .events import Metadata, NewEvent
from .gazetteer import Gazetteer, fold
from .law import TWO_TIER_FROM, VIETNAM
from .store import EventStore

STREAM_TYPE = "import"
FORMATS = ("csv", "xlsx", "jsonl")
BATCH = 1000  # rows decided and written in one transaction
# The namespace of the child ids an import gives: uuid5(IDS, f"{source}\x1f{source_key}"). A source can compute the
# registry's id of its own records with it.
IDS = uuid.UUID("6f1c2a43-7d0b-4e8a-9b3e-2f5d8c7a1e90")


class ImportFileError(InvalidInput):
    """The file as a whole cannot be imported (its format, its headings): nothing was read from it."""


class ImportRecorded(BaseModel):
    """An import run (nhập dữ liệu) finished: what file (by digest), from where, and what came of its rows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1, max_length=200)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")  # sha-256 of the file: its name is not kept (it may name a child)
    file_format: str
    rows: int = Field(ge=0)
    created: int = Field(ge=0)
    changed: int = Field(ge=0)
    unchanged: int = Field(ge=0)
    rejected: int = Field(ge=0)
    events: int = Field(ge=0)


@dataclass(frozen=True)
class ImportOptions:
    """How a file is imported: from which source, as known on which day, by whom."""

    source: str  # the system or office the file comes from, e.g. "csdl-tre-em-quoc-gia", "ubnd-xa-ban-bo"
    collected_on: date  # ngày thu thập: the day a row without dates describes
    actor_id: str
    actor_role: str
    jurisdiction: str | None = None
    batch: int = BATCH
    dry_run: bool = False

    def __post_init__(self) -> None:
        if not self.source or len(self.source) > 200 or not self.source.isprintable():
            raise InvalidInput("source", "invalid", "must be 1-200 printable characters")
        if not 1 <= self.batch <= 5000:
            raise InvalidInput("batch", "out_of_range", "must be between 1 and 5000")


# -- reading files -----------------------------------------------------------------------------------------------


@dataclass
class RawRow:
    line: int  # in the file: 1 is the headings' line (CSV, XLSX) or the first object (JSON Lines)
    cells: dict[str, object]  # by field name
    values: list[object]  # as the file has them, in its column order (for the report)


class Table:
    """The rows of a file, read one at a time (memory does not grow with the file)."""

    def __init__(self, path: Path, file_format: str | None = None, sheet: str | None = None) -> None:
        self.path = path
        self.format = file_format or _format_of(path)
        self.sheet = sheet
        self.headings: list[str] = []
        self.fields: list[str | None] = []
        self.unknown: list[str] = []  # headings that are not columns of a child record
        if self.format not in FORMATS:
            raise ImportFileError("format", "unknown_format", f"must be one of {', '.join(FORMATS)}")
        if not path.is_file():
            raise ImportFileError("file", "not_found", "is not a readable file")

    def estimate(self) -> int | None:
        """About how many rows the file has (for progress), without reading it whole into memory."""
        if self.format == "xlsx":
            return None
        with self.path.open("rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))

    def digest(self) -> str:
        sha = hashlib.sha256()
        with self.path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                sha.update(chunk)
        return sha.hexdigest()

    def rows(self) -> Iterator[RawRow]:
        if self.format == "csv":
            return self._csv()
        if self.format == "xlsx":
            return self._xlsx()
        return self._jsonl()

    def _set_headings(self, headings: Sequence[object]) -> None:
        self.headings = ["" if h is None else str(h).strip() for h in headings]
        self.fields = []
        seen: dict[str, str] = {}
        for heading in self.headings:
            name = column_of(heading) if heading else None
            if name is not None and name in seen:
                raise ImportFileError("headings", "repeated_column",
                                      f"two columns are the same field: {seen[name]!r} and {heading!r}")  # fmt: skip
            if name is not None:
                seen[name] = heading
            elif heading and heading_key(heading) not in IGNORED:
                self.unknown.append(heading)
            self.fields.append(name)
        missing = [BY_NAME[r].vietnamese for r in REQUIRED if r not in seen]
        if missing:
            raise ImportFileError("headings", "missing_columns", f"the file has no column {', '.join(missing)}: "
                                  "see the column mapping (README, 'Importing children')")  # fmt: skip

    def _cells(self, values: Sequence[object]) -> dict[str, object]:
        cells: dict[str, object] = {}
        for name, value in zip(self.fields, values, strict=False):
            if name is not None:
                cells[name] = value
        return cells

    def _csv(self) -> Iterator[RawRow]:
        with _decoded(self.path.open("rb")) as stream:
            sample = stream.readline()
            delimiter = max((",", ";", "\t"), key=sample.count)
            reader = csv.reader(_chain(sample, stream), delimiter=delimiter)
            for values in reader:
                if not any(v.strip() for v in values):
                    continue
                if not self.fields:
                    self._set_headings(values)
                    continue
                yield RawRow(reader.line_num, self._cells(values), list(values))

    def _xlsx(self) -> Iterator[RawRow]:
        from openpyxl import load_workbook  # type: ignore[import-untyped]

        try:
            book = load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds (zip, XML, key) for a file that is not a workbook
            raise ImportFileError("file", "not_xlsx", f"is not an Excel workbook ({type(exc).__name__})") from None
        try:
            if self.sheet is not None and self.sheet not in book.sheetnames:
                raise ImportFileError("sheet", "not_found", "is not a sheet of the workbook")
            sheet = book[self.sheet] if self.sheet else book.worksheets[0]
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                if not any(v is not None and str(v).strip() for v in values):
                    continue
                if not self.fields:
                    self._set_headings(list(values))
                    continue
                yield RawRow(number, self._cells(values), list(values))
        finally:
            book.close()

    def _jsonl(self) -> Iterator[RawRow]:
        with _decoded(self.path.open("rb")) as stream:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError:
                    value = None
                if not isinstance(value, dict):
                    yield RawRow(number, {"__row__": "not_json"}, [line.rstrip("\n")])
                    continue
                cells: dict[str, object] = {}
                for key, item in value.items():
                    name = column_of(key)
                    if name is None:
                        if heading_key(key) not in IGNORED and key not in self.unknown:
                            self.unknown.append(key)
                        continue
                    cells[name] = None if item is None else item if isinstance(item, int | str) else str(item)
                if not self.fields:  # JSON Lines have no headings row: report in the registry's columns
                    self.headings = [c.name for c in COLUMNS]
                    self.fields = [c.name for c in COLUMNS]
                yield RawRow(number, cells, [cells.get(c.name) for c in COLUMNS])


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    return {"txt": "csv", "tsv": "csv", "json": "jsonl", "ndjson": "jsonl", "xlsm": "xlsx"}.get(suffix, suffix)


def _decoded(raw: BinaryIO) -> io.TextIOWrapper:
    """A file's text: UTF-8 (with or without Excel's BOM), or UTF-16 with its BOM (Excel's 'Unicode text').
    Bytes that are not UTF-8 are kept as surrogates, so the rows that hold them are refused one by one
    ('wrong_encoding') instead of the whole file."""
    head = raw.peek(4)[:4] if hasattr(raw, "peek") else b""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return io.TextIOWrapper(raw, encoding="utf-16", newline="")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")


def _chain(first: str, rest: io.TextIOWrapper) -> Iterator[str]:
    yield first
    yield from rest


# -- rows into commands ------------------------------------------------------------------------------------------


def child_id_of(row: ChildRow, source: str) -> str:
    """The record a row names (see the module docstring): its child_id, or the id its source key has under the
    source, or one made from its personal identification number, or from its folded name, birth and commune."""
    if row.child_id:
        return row.child_id
    if row.source_key:
        key = f"key:{row.source_key}"
    elif row.personal_id:
        key = f"pid:{row.personal_id}"
    else:
        key = f"nbc:{fold(row.full_name)}|{row.date_of_birth.isoformat()}|{row.commune_code}"
    return str(uuid.uuid5(IDS, f"{source}\x1f{key}"))


def plan(row: ChildRow, state: ChildState | None, child_id: str, options: ImportOptions,
         units: Gazetteer) -> list[ChildCommand]:  # fmt: skip
    """The commands that make the record say what the row says (none: it says so already)."""
    evidence = f"import from {options.source}"[:500]
    residence = row.residence_from or options.collected_on
    groups_from = row.groups_from or options.collected_on
    if state is None:
        commands: list[ChildCommand] = [RegisterChild(
            child_id=child_id, full_name=row.full_name, date_of_birth=row.date_of_birth, sex=row.sex,
            commune_code=row.commune_code, residence_from=residence,
            date_of_birth_precision=row.date_of_birth_precision, ethnicity=row.ethnicity,
            personal_id=row.personal_id, personal_id_mismatch_reason=row.personal_id_mismatch_reason,
            birth_registration=row.birth_registration or BirthRegistration.UNKNOWN,
            caregivers=row.caregivers or (), address=row.address)]  # fmt: skip
        for g in row.groups or ():
            commands.append(ClassifyChild(child_id, g.code, g.start or groups_from, evidence, g.subgroup))
        return commands
    if state.merged_into is not None:
        raise InvalidChildChange("source_key", "record_merged", "names a record merged into another: import into "
                                 "the surviving record (its child_id)")  # fmt: skip
    if state.erased or not isinstance(state.personal, Identity):
        raise InvalidChildChange("source_key", "record_erased", "names a record whose personal data was erased")
    return _changes(row, state, state.personal, child_id, options, units, residence, groups_from, evidence)


def _changes(
    row: ChildRow, state: ChildState, identity: Identity, child_id: str, options: ImportOptions, units: Gazetteer,
    residence: date, groups_from: date, evidence: str,
) -> list[ChildCommand]:  # fmt: skip
    details = state.details
    changes: dict[str, Any] = {}
    wanted = {"full_name": row.full_name, "sex": row.sex, "ethnicity": row.ethnicity, "personal_id": row.personal_id,
              "personal_id_mismatch_reason": row.personal_id_mismatch_reason,
              "birth_registration": row.birth_registration}  # fmt: skip
    stored = {"full_name": identity.full_name, "sex": details.sex, "ethnicity": details.ethnicity,
              "personal_id": identity.personal_id, "personal_id_mismatch_reason": identity.personal_id_mismatch_reason,
              "birth_registration": details.birth_registration}  # fmt: skip
    for name, value in wanted.items():
        if value is not None and value != stored[name]:
            changes[name] = value
    if (row.date_of_birth, row.date_of_birth_precision) != (details.date_of_birth, details.date_of_birth_precision):
        changes["date_of_birth"] = row.date_of_birth
        changes["date_of_birth_precision"] = row.date_of_birth_precision
    if row.caregivers is not None:
        given = sorted((g.relation.value, g.status.value, g.name or "") for g in row.caregivers)
        kept = sorted((g.relation.value, g.status.value, name or "")
                      for g, name in zip(details.caregivers, identity.caregiver_names, strict=True))  # fmt: skip
        if given != kept:
            changes["caregivers"] = list(row.caregivers)
    current = state.residences[-1]
    here = units.place(current.commune_code, current.valid_from).commune_now
    moving = units.place(row.commune_code, residence).commune_now != here
    if row.address is not None and row.address != identity.address and not moving:
        changes["address"] = row.address
    commands: list[ChildCommand] = []
    if changes:
        commands.append(CorrectChild(child_id, changes, evidence))
    if moving:
        address = row.address if row.address is not None else identity.address
        commands.append(MoveChild(child_id, row.commune_code, residence, address))
    if row.groups is not None:
        commands.extend(_regroup(row, state, child_id, options, groups_from, evidence))
    return commands


def _regroup(row: ChildRow, state: ChildState, child_id: str, options: ImportOptions, groups_from: date,
             evidence: str) -> list[ChildCommand]:  # fmt: skip
    """The groups of the record made those of the row: a group left is ended on the collection day, a new one
    begins on its day; a changed sub-group ends and begins again on the collection day."""
    assert row.groups is not None
    open_groups = {s.code: s for s in state.groups if s.end is None}
    wanted = {g.code: g for g in row.groups}
    commands: list[ChildCommand] = []
    reason = f"not in the groups given by {options.source} on {options.collected_on.isoformat()}"[:1000]
    for code, spell in open_groups.items():
        if code not in wanted:
            commands.append(DeclassifyChild(child_id, code, options.collected_on, reason))
        elif wanted[code].subgroup != spell.subgroup:
            commands.append(DeclassifyChild(child_id, code, options.collected_on, reason))
            commands.append(ClassifyChild(child_id, code, options.collected_on, evidence, wanted[code].subgroup))
    for code, given in wanted.items():
        if code not in open_groups:
            commands.append(ClassifyChild(child_id, code, given.start or groups_from, evidence, given.subgroup))
    return commands


# Where a command's field is in the row, for the report (the command that broke a rule names its own fields).
_COLUMN_OF_FIELD = {"to_commune": "commune_code", "child_id": "source_key", "group": "groups", "subgroup": "groups",
                    "evidence": "groups", "caregivers": "caregiver_relations"}  # fmt: skip


def problem_of(error: InvalidInput, command: ChildCommand | None) -> tuple[str, str, str]:
    """A rule a row's command broke, as (the row's field, reason, message)."""
    name = error.field.split(".")[-1] if error.field.startswith("changes.") else error.field
    if name == "on":
        name = "residence_from" if isinstance(command, MoveChild) else "groups"
    return _COLUMN_OF_FIELD.get(name, name), error.reason, error.message


def explain_commune(units: Gazetteer, code: str, on: date) -> str | None:
    """Why a commune code is unknown on a day, when the code was a commune at another time."""
    last_legacy = TWO_TIER_FROM - timedelta(days=1)
    if on >= TWO_TIER_FROM and units.find(code, last_legacy) is not None:
        became = units.successors(code, last_legacy, on)
        now = f" (its territory is now in {became[0].unit.code} {became[0].unit.full_name})" if became else ""
        return (f"was the code of a commune until {last_legacy.isoformat()}{now}: give the residence date "
                f"(before {TWO_TIER_FROM.isoformat()}) or today's code")  # fmt: skip
    if on < TWO_TIER_FROM and units.find(code, TWO_TIER_FROM) is not None:
        return f"is the code of a commune from {TWO_TIER_FROM.isoformat()}: the residence date is earlier"
    return None


# -- the run -----------------------------------------------------------------------------------------------------


@dataclass
class Rejection:
    line: int
    problems: list[tuple[str, str, str]]  # (field, reason, message)
    values: list[object]


@dataclass
class ImportSummary:
    rows: int = 0
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: int = 0
    events: int = 0
    seconds: float = 0.0
    unknown_columns: list[str] = field(default_factory=list)
    dry_run: bool = False

    def line(self) -> str:
        rate = self.rows / self.seconds if self.seconds else 0.0
        would = "would be " if self.dry_run else ""
        return (f"import: {self.rows} rows: {self.created} {would}created, {self.changed} {would}changed, "
                f"{self.unchanged} unchanged, {self.rejected} rejected; {self.events} events "
                f"{'decided' if self.dry_run else 'written'} in {self.seconds:.2f} s ({rate:,.0f} rows/s)")  # fmt: skip


class Importer:
    """Import a file's rows through the children register, a batch at a time."""

    def __init__(self, children: ChildRegister, units: Gazetteer, store: EventStore, options: ImportOptions) -> None:
        self.children = children
        self.units = units
        self.store = store
        self.options = options

    async def run(
        self, table: Table, *, on_rejected: Callable[[Rejection], None] = lambda _: None,
        progress: Callable[[int], object] = lambda _: None,
    ) -> ImportSummary:  # fmt: skip
        """Read, check and import every row; rejected rows go to `on_rejected` as they are found."""
        started = time.perf_counter()
        digest = table.digest()
        summary = ImportSummary(dry_run=self.options.dry_run)
        seen: set[int] = set()  # the records named so far (8 bytes of their ids): a second row naming one is refused
        correlation = f"import:{digest[:32]}"  # the same file is the same run, resumed or repeated
        rows = table.rows()
        writing: _Writing | None = None
        try:
            while True:
                with cycle_collection_paused():
                    chunk = self._read(rows, seen, summary, on_rejected, progress)  # while the batch before is written
                    if writing is not None:
                        await self._finish(writing, summary, on_rejected)
                        progress(len(writing.chunk))
                        writing = None
                    if not chunk:
                        break
                    writing = await self._start(chunk, correlation)
        finally:
            if writing is not None:  # a file that broke off (or an interrupt): what was decided is still written
                await asyncio.gather(writing.task, return_exceptions=True)
        summary.unknown_columns = list(table.unknown)
        summary.seconds = time.perf_counter() - started
        if not self.options.dry_run:
            await self._record(table, digest, summary, correlation)
        return summary

    def _read(
        self, rows: Iterator[RawRow], seen: set[int], summary: ImportSummary,
        on_rejected: Callable[[Rejection], None], progress: Callable[[int], object],
    ) -> list[tuple[ChildRow, RawRow, str]]:  # fmt: skip
        """The next batch of rows that read well (the others are rejected on the way); empty at the end."""
        chunk: list[tuple[ChildRow, RawRow, str]] = []
        for raw in rows:
            summary.rows += 1
            parsed = read_row(raw.line, raw.cells) if "__row__" not in raw.cells else _not_json(raw.line)
            if isinstance(parsed, RowProblems):
                self._reject(summary, on_rejected, Rejection(raw.line, parsed.problems, raw.values))
                progress(1)
                continue
            child_id = child_id_of(parsed, self.options.source)
            mark = int.from_bytes(hashlib.blake2b(child_id.encode(), digest_size=8).digest())
            if mark in seen:
                self._reject(summary, on_rejected, Rejection(raw.line, [(
                    "source_key", "repeated_record", "names the same record as an earlier row of this file: "
                    "keep one row per child")], raw.values))  # fmt: skip
                progress(1)
                continue
            seen.add(mark)
            chunk.append((parsed, raw, child_id))
            if len(chunk) >= self.options.batch:
                break
        return chunk

    def _reject(self, summary: ImportSummary, on_rejected: Callable[[Rejection], None], rejection: Rejection) -> None:
        summary.rejected += 1
        on_rejected(rejection)

    async def _start(self, chunk: list[tuple[ChildRow, RawRow, str]], correlation: str) -> _Writing:
        """Decide a batch of rows and start writing it; the rows after it are read while its statement runs."""
        options, units = self.options, self.units

        def planner(row: ChildRow, child_id: str) -> Callable[[ChildState | None], list[ChildCommand]]:
            return lambda state: plan(row, state, child_id, options, units)

        requests = [Batched(child_id, planner(row, child_id), self._metadata(correlation, row))
                    for row, _, child_id in chunk]  # fmt: skip
        prepared = await self.children.prepare_batch(requests, write=not options.dry_run)
        task = asyncio.create_task(self.children.write_batch(prepared))
        await asyncio.sleep(0)  # the statement goes out now
        return _Writing(task, chunk, requests)

    async def _finish(
        self, writing: _Writing, summary: ImportSummary, on_rejected: Callable[[Rejection], None]
    ) -> None:
        """Wait for a batch's write and count what its rows came to; a batch that lost a race with another writer
        is decided again from the records as they are now."""
        try:
            outcomes = await writing.task
        except ConcurrencyError:
            outcomes = await self.children.execute_batch(writing.requests, write=not self.options.dry_run)
        for (row, raw, _), outcome in zip(writing.chunk, outcomes, strict=True):
            if outcome.error is not None:
                self._reject(summary, on_rejected, Rejection(raw.line, [self._problem(row, outcome)], raw.values))
            elif outcome.events == 0:
                summary.unchanged += 1
            else:
                summary.events += outcome.events
                if outcome.before is None:
                    summary.created += 1
                else:
                    summary.changed += 1

    def _problem(self, row: ChildRow, outcome: BatchOutcome) -> tuple[str, str, str]:
        assert outcome.error is not None
        name, reason, message = problem_of(outcome.error, outcome.failed)
        if reason == "unknown_commune":
            day = row.residence_from or self.options.collected_on
            hint = explain_commune(self.units, row.commune_code, day)
            if hint:
                message = f"no commune has this code on {day.isoformat()}: it {hint}"
        return name, reason, message

    def _metadata(self, correlation: str, row: ChildRow) -> Metadata:
        o = self.options
        return Metadata(actor_id=o.actor_id, actor_role=o.actor_role, jurisdiction=o.jurisdiction,
                        correlation_id=correlation, source=f"import:{o.source}"[:1000],
                        reason=f"import from {o.source}, line {row.line}"[:1000])  # fmt: skip

    async def _record(self, table: Table, digest: str, summary: ImportSummary, correlation: str) -> None:
        stream = f"{STREAM_TYPE}:{digest[:40]}"
        version = len(await self.store.read_stream(stream))
        event = ImportRecorded(source=self.options.source, digest=digest, file_format=table.format, rows=summary.rows,
                               created=summary.created, changed=summary.changed, unchanged=summary.unchanged,
                               rejected=summary.rejected, events=summary.events)  # fmt: skip
        metadata = Metadata(actor_id=self.options.actor_id, actor_role=self.options.actor_role,
                            jurisdiction=self.options.jurisdiction, correlation_id=correlation,
                            source=f"import:{self.options.source}"[:1000])  # fmt: skip
        moment = datetime.now(UTC)
        await self.store.append(stream, STREAM_TYPE, version, [NewEvent("ImportRecorded", event, moment)], metadata)


@dataclass
class _Writing:
    """A batch being written, and the rows and requests it was made of."""

    task: asyncio.Task[list[BatchOutcome]]
    chunk: list[tuple[ChildRow, RawRow, str]]
    requests: list[Batched]


def _not_json(line: int) -> RowProblems:
    problems = RowProblems(line)
    problems.add("row", "not_json", "is not a JSON object on one line")
    return problems


# -- the report ----------------------------------------------------------------------------------------------------


class RejectionReport:
    """The rejected rows as a file of the import's own columns, with the line, fields and reasons added: fix the
    cells and import it again (the added columns are ignored). CSV (UTF-8 with a BOM, for Excel) or XLSX."""

    def __init__(self, path: Path, table: Table) -> None:
        self.path = path
        self.table = table
        self.count = 0
        self._format = "xlsx" if path.suffix.lower() == ".xlsx" else "csv"
        self._handle: Any = None
        self._writer: Any = None
        self._book: Any = None
        self._sheet: Any = None

    def heading(self, field_name: str) -> str:
        """The file's own heading of a field (the registry's Vietnamese one if the file has no such column)."""
        for heading, name in zip(self.table.headings, self.table.fields, strict=False):
            if name == field_name:
                return heading
        column = BY_NAME.get(field_name)
        return column.vietnamese if column is not None else field_name

    def _open(self) -> None:
        pairs = zip(self.table.headings, self.table.fields, strict=False)
        vietnamese = any(f is not None and heading_key(h) != heading_key(f) for h, f in pairs)
        added = [vi if vietnamese else en for en, vi in REPORT_COLUMNS]
        headings = [*added, *self.table.headings]
        if self._format == "xlsx":
            from openpyxl import Workbook

            self._book = Workbook(write_only=True)
            self._sheet = self._book.create_sheet("rejected")
            self._sheet.append(headings)
        else:
            self._handle = self.path.open("w", encoding="utf-8-sig", newline="", errors="replace")
            self._writer = csv.writer(self._handle)
            self._writer.writerow(headings)

    def add(self, rejection: Rejection) -> None:
        if self.count == 0:
            self._open()
        self.count += 1
        fields = "; ".join(dict.fromkeys(self.heading(f) for f, _, _ in rejection.problems))
        reasons = "; ".join(f"{self.heading(f)}: {message} ({reason})" for f, reason, message in rejection.problems)
        values = [_printable(v) for v in rejection.values]
        if self._format == "xlsx":
            self._sheet.append([rejection.line, fields, reasons, *values])
        else:
            self._writer.writerow([rejection.line, fields, reasons, *("" if v is None else v for v in values)])

    def close(self) -> None:
        if self._book is not None:
            self._book.save(self.path)
        if self._handle is not None:
            self._handle.close()


def _printable(value: object) -> object:
    """A cell as the report can hold it: bytes that were not UTF-8 become U+FFFD (the row says to retype them)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def today_in_vietnam() -> date:
    return datetime.now(VIETNAM).date()


__all__ = [
    "BATCH",
    "FORMATS",
    "IDS",
    "STREAM_TYPE",
    "ImportFileError",
    "ImportOptions",
    "ImportRecorded",
    "ImportSummary",
    "Importer",
    "Rejection",
    "RejectionReport",
    "Table",
    "child_id_of",
    "plan",
]
