"""The national child database's side of the API: importing a file of children (`importChildren`), exporting a
unit's children or cases (`GET /export`, and the query `export` that checks a request and names its URL).

An import through the API is `registry import` (registry/imports.py) run on the file the client sends: the same
columns, the same checks, the same commands through the Child aggregate, idempotent (sending the same file again
writes nothing), each rejected row given back with its line, field and reason, and as a report file in the
file's own format that the client can fix and send again. The file travels inside the request, as text (CSV,
JSON Lines) or base64 (any format, XLSX included), up to MAX_BYTES and MAX_ROWS rows; larger files go through
`registry import` on the server, or in parts (each part is idempotent on its own).

An export is `registry export` (projections/export.py) for the bearer of a token: `GET /export?unit=...&purpose=
...&records=children|cases&on=YYYY-MM-DD&knownAt=...&format=csv|xlsx|jsonl&english=true&personal=false` streams the
file a page of records at a time (memory does not grow with the unit; XLSX once it is whole), every record
logged with the purpose. It is for roles that read records within their reach, and for the national child
database's client (whole units, personal data included: its first load before it follows the change feed).
The GraphQL query `export` takes the same arguments, answers the refusal or the bad argument as GraphQL errors
(FORBIDDEN, BAD_USER_INPUT naming the field) and, when the export may run, the URL to GET with the same token.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

import strawberry
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from strawberry.types import Info

from projections.export import Export, ExportRefused, ExportRequest, Sources
from projections.quality import QualityCheck, build_quality
from registry.access import Action, Principal
from registry.case_service import CaseRegister
from registry.child_service import ChildRegister
from registry.errors import InvalidInput
from registry.gazetteer import Gazetteer
from registry.imports import FORMATS, Importer, ImportOptions, Rejection, RejectionReport, Table, today_in_vietnam
from registry.runtime import Registry

from .context import UserError, bad_input, context, require_read_models, user_error
from .cost import MAX_PAGE

MAX_BYTES = 20 * 1024 * 1024  # a file sent inside a request
MAX_ROWS = 20_000  # rows of one request: about as many as an import writes within the request's time limit
MAX_LISTED = 1000  # rejected rows listed in the answer (all of them are in the report)


@strawberry.input(description="A file of children to import (the columns of `registry import`: README, 'Importing "
                  "children').")  # fmt: skip
class ImportChildrenInput:
    source: str = strawberry.field(
        description="Where the rows come from (e.g. csdl-tre-em-quoc-gia): with each "
        "row's key it names the row's record; keep it the same for every file of a source."
    )
    format: str = strawberry.field(description=f"One of: {', '.join(FORMATS)}.")
    content: str = strawberry.field(description="The file: its text (csv, jsonl), or base64 with `base64: true`.")
    base64: bool = strawberry.field(default=False, description="`content` is base64 (required for xlsx).")
    collected_on: date | None = strawberry.field(
        default=None,
        description="The day the file describes: the residence and group date of rows that give none (default today).",
    )
    dry_run: bool = strawberry.field(default=False, description="Check and decide every row, write nothing.")


@strawberry.type(description="What an import came to.")
class ImportSummaryType:
    rows: int
    created: int
    changed: int
    unchanged: int
    rejected: int
    events: int = strawberry.field(description="Events written (decided, in a dry run).")
    dry_run: bool
    unknown_columns: list[str] = strawberry.field(description="Headings that are not columns of a child record.")


@strawberry.type(description="A problem of a rejected row: nothing of the row was written.")
class ImportProblem:
    line: int
    field: str = strawberry.field(description="The row's field (its column), e.g. date_of_birth.")
    reason: str = strawberry.field(description="e.g. impossible_date, unknown_commune, wrong_encoding, missing.")
    message: str


@strawberry.type(description="The import's summary and rejected rows, or why it was not run.")
class ImportChildrenPayload:
    summary: ImportSummaryType | None
    problems: list[ImportProblem] = strawberry.field(description=f"Of the first {MAX_LISTED} rejected rows.")
    report: str | None = strawberry.field(
        description="The rejected rows as a file of the same format (csv or xlsx; "
        "csv for jsonl), base64: fix the cells and import it again."
    )
    user_errors: list[UserError]


def _refused(code: str, message: str, field: str | None) -> ImportChildrenPayload:
    return ImportChildrenPayload(summary=None, problems=[], report=None,
                                 user_errors=[UserError(code=code, message=message, field=field)])  # fmt: skip


@dataclass
class _Received:
    problems: list[ImportProblem]
    report: RejectionReport

    def add(self, rejection: Rejection) -> None:
        self.report.add(rejection)
        for field, reason, message in rejection.problems:
            if len(self.problems) < MAX_LISTED:
                self.problems.append(ImportProblem(line=rejection.line, field=field, reason=reason, message=message))


@strawberry.type
class IntegrationMutation:
    @strawberry.mutation(description="Nhập dữ liệu trẻ em: import a file of children through the register's "
                         "commands (the integration client of the national child database). Sending the same "
                         "file again writes nothing; a changed row is a correction naming the source.")  # fmt: skip
    async def import_children(
        self, info: Info, input: Annotated[ImportChildrenInput, strawberry.argument(description="The file.")]
    ) -> ImportChildrenPayload:
        ctx = context(info)
        principal = ctx.principal
        if not principal.allows(Action.IMPORT):
            return _refused("FORBIDDEN", "your role does not import", None)
        if input.format not in FORMATS:
            return _refused("INVALID_CHOICE", f"must be one of {', '.join(FORMATS)}", "input.format")
        try:
            raw = (
                base64.b64decode(input.content, validate=True)
                if input.base64
                else input.content.encode("utf-8", "surrogatepass")
            )
        except (binascii.Error, ValueError):
            return _refused("NOT_BASE64", "is not base64", "input.content")
        if len(raw) > MAX_BYTES:
            return _refused("TOO_LARGE", f"send at most {MAX_BYTES // (1024 * 1024)} MB a request (or in parts)",
                            "input.content")  # fmt: skip
        try:
            options = ImportOptions(source=input.source, collected_on=input.collected_on or today_in_vietnam(),
                                    actor_id=principal.subject, actor_role=principal.role.value,
                                    jurisdiction=principal.unit, dry_run=input.dry_run)  # fmt: skip
        except InvalidInput as exc:
            return ImportChildrenPayload(summary=None, problems=[], report=None, user_errors=[user_error(exc)])
        with tempfile.TemporaryDirectory(prefix="registry-import-") as folder:
            path = Path(folder) / f"import.{input.format}"
            path.write_bytes(raw)
            table = Table(path, input.format)
            rows = table.estimate()
            if rows is not None and rows > MAX_ROWS + 1:
                return _refused("TOO_MANY_ROWS", f"send at most {MAX_ROWS:,} rows a request (or in parts)",
                                "input.content")  # fmt: skip
            report_path = Path(folder) / f"rejected.{'xlsx' if input.format == 'xlsx' else 'csv'}"
            received = _Received([], RejectionReport(report_path, table))
            units, children = await ctx.units(), await ctx.registry.children()
            try:
                summary = await Importer(children, units, ctx.registry.store, options).run(
                    table, on_rejected=received.add
                )
            except InvalidInput as exc:  # the file as a whole (its format, its headings)
                return ImportChildrenPayload(summary=None, problems=[], report=None, user_errors=[user_error(exc)])
            finally:
                received.report.close()
            report = base64.b64encode(report_path.read_bytes()).decode() if received.report.count else None
        return ImportChildrenPayload(
            summary=ImportSummaryType(rows=summary.rows, created=summary.created, changed=summary.changed,
                                      unchanged=summary.unchanged, rejected=summary.rejected, events=summary.events,
                                      dry_run=summary.dry_run, unknown_columns=summary.unknown_columns),
            problems=received.problems, report=report, user_errors=[],
        )  # fmt: skip


def _export_request(
    unit: str, purpose: str, records: str, on: date | None, known_at: datetime | None, file_format: str,
    english: bool, personal: bool, principal: Principal,
) -> ExportRequest:  # fmt: skip
    """The export asked for (InvalidInput naming the field for a bad argument); personal fields only for a role that
    reads them."""
    personal = personal and (principal.allows(Action.READ_RECORD) or principal.allows(Action.RECEIVE_PERSONAL))
    vietnamese = False if file_format == "jsonl" else not english
    return ExportRequest(unit=unit, purpose=purpose, on=on, records=records, file_format=file_format,
                         known_at=known_at, vietnamese=vietnamese, personal=personal)  # fmt: skip


def _sources(registry: Registry, children: ChildRegister, cases: CaseRegister, units: Gazetteer) -> Sources:
    # Exports read the primary: they write the access log page by page, beside the read models they page through.
    return Sources(registry.pool, children, cases, units)


async def export_endpoint(request: Request) -> Response:
    """GET /export: a unit's children or cases streamed (schema/app.py has authenticated the bearer token)."""
    principal: Principal = request.scope["state"]["principal"]
    registry: Registry = request.app.state.registry
    query = request.query_params
    try:
        on = None if not query.get("on") else date.fromisoformat(query["on"])
    except ValueError:
        return _refusal(400, "BAD_USER_INPUT", "on: must be a date, YYYY-MM-DD", "on")
    try:
        known_at = None if not query.get("knownAt") else datetime.fromisoformat(query["knownAt"])
    except ValueError:
        return _refusal(400, "BAD_USER_INPUT", "knownAt: must be a time with its zone (ISO 8601)", "knownAt")
    try:
        wanted = _export_request(query.get("unit", ""), query.get("purpose", ""), query.get("records", "children"),
                                 on, known_at, query.get("format", "csv"), query.get("english") == "true",
                                 query.get("personal") != "false", principal)  # fmt: skip
        job = Export(_sources(registry, await registry.children(), await registry.cases(),
                              await registry.gazetteer(max_age=1.0)), principal, wanted,
                     request.headers.get("x-request-id") or uuid.uuid4().hex)  # fmt: skip
        await job.check()
    except ExportRefused as exc:
        return _refusal(403, "FORBIDDEN", str(exc), "unit")
    except InvalidInput as exc:
        return _refusal(400, "BAD_USER_INPUT", str(exc), {"known_at": "knownAt"}.get(exc.field, exc.field))
    headers = {"Content-Disposition": f'attachment; filename="{job.filename}"'}
    return StreamingResponse(job.chunks(), media_type=job.media_type, headers=headers)


def _refusal(status: int, code: str, message: str, field: str | None) -> JSONResponse:
    extensions = {"code": code, **({"field": field} if field else {})}
    return JSONResponse({"errors": [{"message": message, "extensions": extensions}]}, status_code=status)


@strawberry.type(description="An export that may run: GET `url` with the same bearer token to stream the file.")
class ExportLink:
    url: str = strawberry.field(description="The path of GET /export with the arguments given.")
    filename: str
    media_type: str


@strawberry.type(description="A record with at least one issue of data quality.")
class QualityRecordType:
    child_id: strawberry.ID
    full_name: str | None = strawberry.field(description="Null when your role does not read names, or erased.")
    date_of_birth: str = strawberry.field(description="yyyy-mm-dd, yyyy-mm or yyyy (as much as is known).")
    commune_code: str = strawberry.field(description="As recorded (a legacy code for a residence before the reform).")
    commune_now: str
    issues: list[str] = strawberry.field(description="needs_id_match, birth_not_registered, "
                                         "birth_registration_unknown, imprecise_date_of_birth, missing_ethnicity, "
                                         "groups_not_reviewed.")  # fmt: skip


@strawberry.type(description="Báo cáo chất lượng dữ liệu (Đề án 06): the children of a unit today, checked.")
class QualityReportType:
    unit: str
    on: date
    checked: int
    erased: int = strawberry.field(description="Records checked whose personal data was erased (not counted as "
                                   "missing a personal identification number).")  # fmt: skip
    counts: list[QualityCount]
    records: list[QualityRecordType] = strawberry.field(description="The first `first` records with an issue "
                                                        "(`registry quality` writes them all).")  # fmt: skip


@strawberry.type
class QualityCount:
    issue: str
    records: int


@strawberry.type
class IntegrationQuery:
    @strawberry.field(description="Báo cáo chất lượng dữ liệu: the children of a unit of today's map (or a former "
                      "district) checked for what Project 06 needs (a personal identification number, a registered "
                      "birth, ...); every record opened is logged with `purpose`.")  # fmt: skip
    async def data_quality(self, info: Info, unit: str, purpose: str, first: int = 50) -> QualityReportType:
        ctx = context(info)
        if not 0 <= first <= MAX_PAGE:
            raise bad_input("first", f"must be between 0 and {MAX_PAGE}")
        await require_read_models(ctx, "read.children", "read.child_residences", "read.child_groups",
                                  "read.child_lives")  # fmt: skip
        registry = ctx.registry
        personal = ctx.principal.allows(Action.READ_RECORD) or ctx.principal.allows(Action.RECEIVE_PERSONAL)
        try:
            check = QualityCheck(_sources(registry, await registry.children(), await registry.cases(),
                                          await ctx.units()), ctx.principal, unit, purpose, ctx.request_id,
                                 personal=personal)  # fmt: skip
            report = await build_quality(check)
        except ExportRefused as exc:
            raise GraphQLError(str(exc), extensions={"code": "FORBIDDEN", "field": "unit"}) from exc
        except InvalidInput as exc:
            raise bad_input(exc.field, exc.message) from exc
        return QualityReportType(
            unit=report.unit, on=report.on, checked=report.checked, erased=report.erased,
            counts=[QualityCount(issue=code, records=n) for code, n in report.counts.items()],
            records=[QualityRecordType(child_id=strawberry.ID(r.child_id), full_name=r.full_name,
                                       date_of_birth=r.date_of_birth, commune_code=r.commune_code,
                                       commune_now=r.commune_now, issues=list(r.issues))
                     for r in report.records[:first]],
        )  # fmt: skip

    @strawberry.field(
        description="Xuất dữ liệu: check an export of a unit's children (or cases) on a day, as CSV, XLSX or JSON "
        "Lines, and name its URL (GET it with the same token to stream the file; every record is logged with "
        "`purpose`). The children's file has the columns of the import (README)."
    )
    async def export(
        self, info: Info, unit: str, purpose: str, records: str = "children", on: date | None = None,
        known_at: datetime | None = None, format: str = "csv", english: bool = False, personal: bool = True,
    ) -> ExportLink:  # fmt: skip
        ctx = context(info)
        try:
            wanted = _export_request(unit, purpose, records, on, known_at, format, english, personal, ctx.principal)
        except InvalidInput as exc:
            raise bad_input({"known_at": "knownAt"}.get(exc.field, exc.field), exc.message) from exc
        await require_read_models(ctx, "read.children", "read.child_residences", "read.child_lives",
                                  "read.case_history")  # fmt: skip
        registry = ctx.registry
        job = Export(_sources(registry, await registry.children(), await registry.cases(), await ctx.units()),
                     ctx.principal, wanted, ctx.request_id)  # fmt: skip
        try:
            await job.check()
        except ExportRefused as exc:
            raise GraphQLError(str(exc), extensions={"code": "FORBIDDEN", "field": "unit"}) from exc
        except InvalidInput as exc:
            raise bad_input(exc.field, exc.message) from exc
        given = {"unit": unit, "purpose": purpose, "records": records, "on": on.isoformat() if on else None,
                 "knownAt": known_at.isoformat() if known_at else None, "format": format,
                 "english": "true" if english else None, "personal": None if personal else "false"}  # fmt: skip
        return ExportLink(url=f"/export?{urlencode({k: v for k, v in given.items() if v is not None})}",
                          filename=job.filename, media_type=job.media_type)  # fmt: skip


__all__ = ["IntegrationMutation", "IntegrationQuery", "MAX_BYTES", "MAX_ROWS", "export_endpoint"]
