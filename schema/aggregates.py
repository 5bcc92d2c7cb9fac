"""Figures of a unit in the API: the plans' indicators and the periodic reports (projections/indicators.py,
projections/reports.py).

Counts and codes only, never a record: no purpose is asked and nothing goes to
the access log, but the role must read aggregates and the unit must lie within
the caller's jurisdiction in the structure of the period's last day. The
records behind an indicator (which an auditor can recompute it from) stay in
`registry report`'s files, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, cast

import asyncpg
import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON
from strawberry.types import Info

from projections.indicators import INDICATORS, compute
from projections.reports import KINDS, PERIOD, Report, Section, build_report, header_values
from registry.access import Action, reaches
from registry.errors import InvalidInput, RegistryError
from registry.units import level_of

from .context import AS_OF_TIME, Context, bad_input, context, require_read_models

READ_MODELS = ("read.children", "read.child_residences", "read.child_groups", "read.child_lives",
               "read.child_supports", "read.cases", "read.case_history")  # fmt: skip


@strawberry.type(description="An indicator of the plans for a unit and period (domain.md section 5.1).")
class IndicatorValue:
    code: str
    vietnamese: str
    definition: str
    source: str = strawberry.field(description="The plan or seed document that asks for it.")
    kind: str = strawberry.field(description="ratio (a fraction: x 100 for a percentage) or change.")
    numerator: int
    denominator: int | None = strawberry.field(description="Null when it is not known (a population not entered).")
    value: float | None
    read_model_cursor: str = strawberry.field(description="The checkpoints of the read models it was computed at.")


@strawberry.type(description="A figure's column: its code and its heading in Vietnamese and English.")
class ReportColumn:
    code: str
    vietnamese: str
    english: str


@strawberry.type
class ReportRow:
    keys: list[str] = strawberry.field(description="The codes of the key columns (empty: all of them, a total).")
    label: str
    values: list[JSON | None] = strawberry.field(description="One figure per value column (a number, a text or null).")


@strawberry.type
class ReportSection:
    code: str
    vietnamese: str
    english: str
    key_columns: list[ReportColumn]
    value_columns: list[ReportColumn]
    rows: list[ReportRow]
    notes: list[str]

    @classmethod
    def of(cls, s: Section) -> ReportSection:
        columns = [ReportColumn(code=c.code, vietnamese=c.vietnamese, english=c.english) for c in s.values]
        return cls(code=s.code, vietnamese=s.vietnamese, english=s.english, value_columns=columns,
                   key_columns=[ReportColumn(code=c.code, vietnamese=c.vietnamese, english=c.english) for c in s.keys],
                   rows=[ReportRow(keys=list(r.keys), label=r.label, values=cast(list[JSON | None], list(r.values)))
                         for r in s.rows],
                   notes=list(s.notes))  # fmt: skip


@strawberry.type
class ReportField:
    code: str
    vietnamese: str
    value: str


@strawberry.type(description="Báo cáo định kỳ: a periodic report of a unit (six-month, annual, or any period).")
class PeriodicReport:
    header: list[ReportField]
    sections: list[ReportSection]
    notes: list[str]

    @classmethod
    def of(cls, report: Report) -> PeriodicReport:
        header = [ReportField(code=c.code, vietnamese=c.vietnamese, value=v) for c, v in header_values(report.header)]
        return cls(header=header, sections=[ReportSection.of(s) for s in report.sections], notes=list(report.notes))


@dataclass(frozen=True)
class _Scope:
    ctx: Context
    unit: str


async def _within(info: Info, unit: str, on: date) -> _Scope:
    """The caller may read the figures of `unit` (in the structure of `on`), or a FORBIDDEN/BAD_USER_INPUT error."""
    ctx = context(info)
    try:
        level_of(unit, "unit")
    except RegistryError as exc:
        raise bad_input("unit", "must be 2 (province), 3 (district) or 5 (commune) digits") from exc
    units = await ctx.units()
    if not (ctx.principal.allows(Action.READ_AGGREGATES) and reaches(ctx.principal, units, unit, on)):
        raise GraphQLError("this unit is outside your jurisdiction", extensions={"code": "FORBIDDEN"})
    await require_read_models(ctx, *READ_MODELS)
    return _Scope(ctx, unit)


def _invalid(exc: InvalidInput, names: dict[str, str]) -> GraphQLError:
    """A registry InvalidInput as a BAD_USER_INPUT naming the argument it came from."""
    return bad_input(names.get(exc.field, exc.field), exc.message)


@strawberry.type
class AggregateQuery:
    @strawberry.field(
        description="The plans' indicators for a unit and period (children counted where they lived on `to`, cases "
        "where they were handled then); all of them unless `codes` names some."
    )
    async def indicators(
        self, info: Info, unit: str, from_: Annotated[date, strawberry.argument(name="from")], to: date,
        codes: list[str] | None = None,
    ) -> list[IndicatorValue]:  # fmt: skip
        if from_ > to:
            raise bad_input("from", "must not be after `to`")
        wanted = list(INDICATORS) if codes is None else codes
        for n, code in enumerate(wanted):
            if code not in INDICATORS:
                raise bad_input(f"codes.{n}", f"must be one of {', '.join(INDICATORS)}")
        scope = await _within(info, unit, to)
        values = []
        async with scope.ctx.reader.pool.acquire() as conn:
            for code in wanted:
                v = await compute(
                    cast(asyncpg.Connection, conn), scope.ctx.reader.store, code, level_of(unit), unit, from_, to
                )
                i = INDICATORS[code]
                values.append(IndicatorValue(code=code, vietnamese=i.vietnamese, definition=i.definition,
                                             source=i.source, kind=i.unit, numerator=v.numerator,
                                             denominator=v.denominator, value=v.value,
                                             read_model_cursor=v.cursor))  # fmt: skip
        return values

    @strawberry.field(description="A periodic report of a unit: `kind` six_month or annual with `year` (period and "
                      "due date from the reporting calendar), or period with `from` and `to`.")  # fmt: skip
    async def report(
        self, info: Info, unit: str, kind: str, year: int | None = None,
        from_: Annotated[date | None, strawberry.argument(name="from")] = None, to: date | None = None,
        as_of_time: Annotated[datetime | None, strawberry.argument(description=AS_OF_TIME)] = None,
    ) -> PeriodicReport:  # fmt: skip
        if kind not in KINDS:
            raise bad_input("kind", f"must be one of {', '.join(KINDS)}")
        if kind == PERIOD and (from_ is None or to is None):
            raise bad_input("from" if from_ is None else "to", "a report of a period needs `from` and `to`")
        if as_of_time is not None and as_of_time.tzinfo is None:
            raise bad_input("asOfTime", "needs its time zone (e.g. 2026-10-01T09:00:00+07:00)")
        ctx = context(info)
        day = to or (date(year, 12, 31) if year else ctx.today())
        scope = await _within(info, unit, min(day, ctx.today()))
        units = await ctx.units()
        names = {"unit_code": "unit", "year": "year", "start": "from", "end": "to", "kind": "kind", "level": "unit"}
        try:
            async with ctx.reader.pool.acquire() as proxy:
                conn = cast(asyncpg.Connection, proxy)
                report = await build_report(conn, ctx.reader.store, units, None, scope.unit, kind, year,
                                            start=from_, end=to, known_at=as_of_time)  # fmt: skip
        except InvalidInput as exc:
            raise _invalid(exc, names) from exc
        return PeriodicReport.of(report)


__all__ = ["AggregateQuery", "IndicatorValue", "PeriodicReport"]
