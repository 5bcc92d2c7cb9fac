"""Indicators of the seed plans, computed from the read models for any unit and period, each explained.

Every value comes with the records that make it up: the ids of the children
or cases counted in its numerator and denominator, or the event of an entered
population figure, all read in one snapshot together with the checkpoint of
the projection they come from, so that an auditor can recompute a figure
from its sources (`Value.numerator_records`, `Value.denominator_records`,
`Value.cursor`).

Definitions (domain.md section 5.1, each in `INDICATORS`): children are
counted where they lived on the last day of the period, cases where they were
handled at the end of that day, in the unit structure in force that day.
Indicators the registry cannot compute from its own events (health,
education, injuries) are entered by officers as observations (registry/plans.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import asyncpg

from registry.cases import CaseType
from registry.children import add_years
from registry.law import start_of_day
from registry.population import latest
from registry.store import EventStore
from registry.units import Level

from .queries import unit_column


@dataclass(frozen=True, slots=True)
class Indicator:
    code: str
    vietnamese: str
    definition: str
    source: str
    unit: str = "ratio"  # "ratio" (a fraction: x 100 for a percentage) or "change" (this period / the last - 1)


INDICATORS: dict[str, Indicator] = {
    i.code: i
    for i in (
        Indicator("cisc_rate", "Tỷ lệ trẻ em có hoàn cảnh đặc biệt trên tổng số trẻ em",
                  "children in at least one group of Law on Children Art. 10(1) on the last day of the period / "
                  "child population of the unit for that year (entered)", "S002; S004 #8"),
        Indicator("cisc_supported_pct", "Tỷ lệ trẻ em có hoàn cảnh đặc biệt được trợ giúp",
                  "children in special circumstances on the last day of the period who received at least one "
                  "support dated within the period / children in special circumstances on that day",
                  "S002; S004 #8"),
        Indicator("at_risk_detected_supported", "Trẻ em có nguy cơ được phát hiện, quản lý, can thiệp kịp thời",
                  "children flagged at risk at any time in the period and living in the unit on its last day who "
                  "received a support in the period or are in a case whose plan was approved by its end / those "
                  "children", "S002; S001 §12.4"),
        Indicator("sexual_abuse_case_managed_pct", "Trẻ em bị xâm hại tình dục được hỗ trợ, quản lý ca kịp thời",
                  "cases of sexual abuse received in the period whose support plan was approved by the end of the "
                  "period / cases of sexual abuse received in the period (counted by case: a case may concern a "
                  "child not yet on the register)", "S004 #9; Decree 56/2017 Art. 15-16"),
        Indicator("cases_within_deadlines_pct", "Vụ việc được xử lý trong thời hạn luật định",
                  "legal deadlines of cases (registry/deadlines.py) falling due in the period that were met by "
                  "their due time / deadlines falling due in the period", "S001 §9; Decree 56/2017 Art. 15-16"),
        Indicator("abuse_cases_change", "Số vụ trẻ em bị xâm hại, bạo lực, xâm hại tình dục (so với cùng kỳ)",
                  "cases of abuse (Law on Children Art. 4(8): violence, exploitation, sexual abuse, trafficking, "
                  "abandonment, neglect and other harm; not injuries) received in the period / those received in "
                  "the same period a year earlier, minus 1", "S004 #9", unit="change"),
        Indicator("birth_registration_u5", "Trẻ em dưới 5 tuổi được đăng ký khai sinh",
                  "children under 5 on the register living in the unit on the last day of the period whose birth "
                  "is registered / children under 5 on the register there (the register holds the children it "
                  "protects, not every child: the civil-status figure is entered as an observation)", "S004 #14"),
    )
}  # fmt: skip

ABUSE = sorted(t.value for t in set(CaseType) - {CaseType.INJURY_DROWNING})


@dataclass
class Value:
    code: str
    level: Level
    unit: str
    start: date
    end: date
    numerator: int
    denominator: int | None
    value: float | None  # a ratio, or a change for unit "change"; None when the denominator is unknown or 0
    numerator_records: list[str] = field(default_factory=list)
    denominator_records: list[str] = field(default_factory=list)
    cursor: str = ""  # the checkpoint of the read model(s) the figures were read at


@dataclass(frozen=True)
class _Ask:
    conn: asyncpg.Connection
    store: EventStore
    level: Level
    unit: str
    start: date
    end: date
    schema: str
    case_schema: str

    @property
    def column(self) -> str:
        return unit_column(self.level, self.end)

    @property
    def end_of_period(self) -> object:
        return start_of_day(self.end + timedelta(days=1))  # 24:00 of the last day, Vietnam time

    async def ids(self, sql: str, *args: object) -> list[str]:
        return [r[0] for r in await self.conn.fetch(sql, *args)]

    async def living(self, kind: str, during: bool = False) -> list[str]:
        """Children in a group (kind 'group') or flagged at risk ('at_risk') on the last day (or, with `during`,
        at any time in the period) who lived in the unit on the last day."""
        when = "g.valid && daterange($4::date, $1::date, '[]')" if during else "g.valid @> $1::date"
        return await self.ids(
            f"SELECT DISTINCT g.child_id FROM {self.schema}.child_groups g"
            f" JOIN {self.schema}.child_residences r USING (child_id) JOIN {self.schema}.children c USING (child_id)"
            f" WHERE g.kind = $3 AND upper_inf(g.recorded) AND upper_inf(r.recorded) AND {when}"
            f" AND r.valid @> $1::date AND r.{self.column} = $2 AND c.merged_into IS NULL ORDER BY 1",
            self.end, self.unit, kind, *([self.start] if during else []),
        )  # fmt: skip

    async def supported(self, children: list[str]) -> list[str]:
        return await self.ids(
            f"SELECT DISTINCT child_id FROM {self.schema}.child_supports WHERE child_id = ANY($1)"
            " AND given_on BETWEEN $2 AND $3 ORDER BY 1", children, self.start, self.end)  # fmt: skip

    async def cases(self, types: list[str], start: date, end: date, extra: str = "") -> list[str]:
        """Cases of any of `types` received from `start` to `end` and handled in the unit at the end of `end`."""
        return await self.ids(
            f"SELECT h.case_id FROM {self.case_schema}.case_history h JOIN {self.case_schema}.cases c"
            f" USING (case_id) WHERE upper_inf(h.recorded) AND h.valid @> $1::timestamptz AND h.{self.column} = $2"
            f" AND c.case_types && $3::text[] AND c.received_at >= $4 AND c.received_at < $1{extra} ORDER BY 1",
            start_of_day(end + timedelta(days=1)), self.unit, types, start_of_day(start),
        )  # fmt: skip


def _ratio(numerator: int, denominator: int | None) -> float | None:
    return numerator / denominator if denominator else None


async def _cisc_rate(a: _Ask) -> tuple[list[str], list[str], int | None]:
    cisc = await a.living("group")
    counted = await latest(a.store, a.unit, a.end.year)
    if counted is None:
        return cisc, [], None
    population, position = counted
    return cisc, [f"event {position}: ChildPopulationRecorded ({population.source})"], population.children


async def _cisc_supported(a: _Ask) -> tuple[list[str], list[str], int | None]:
    cisc = await a.living("group")
    return await a.supported(cisc), cisc, len(cisc)


async def _at_risk_supported(a: _Ask) -> tuple[list[str], list[str], int | None]:
    flagged = await a.living("at_risk", during=True)
    helped = set(await a.supported(flagged)) | set(await a.ids(
        f"SELECT DISTINCT x.child_id FROM {a.case_schema}.cases c, unnest(c.child_ids) AS x(child_id)"
        " WHERE x.child_id = ANY($1) AND c.plan_approved < $2", flagged, a.end_of_period))  # fmt: skip
    return sorted(helped), flagged, len(flagged)


async def _sexual_abuse_managed(a: _Ask) -> tuple[list[str], list[str], int | None]:
    cases = await a.cases([CaseType.SEXUAL_ABUSE.value], a.start, a.end)
    managed = await a.ids(
        f"SELECT case_id FROM {a.case_schema}.cases WHERE case_id = ANY($1) AND plan_approved < $2 ORDER BY 1",
        cases, a.end_of_period)  # fmt: skip
    return managed, cases, len(cases)


async def _within_deadlines(a: _Ask) -> tuple[list[str], list[str], int | None]:
    rows = await a.conn.fetch(
        f"SELECT d.case_id || '/' || d.cycle || '/' || d.code AS id, d.met_at IS NOT NULL AND d.met_at <= d.due_at"
        f" AS on_time FROM {a.case_schema}.case_deadlines d JOIN {a.case_schema}.case_history h USING (case_id)"
        f" WHERE upper_inf(h.recorded) AND h.valid @> d.due_at AND h.{a.column} = $1 AND d.due_at >= $2"
        " AND d.due_at < $3 ORDER BY 1", a.unit, start_of_day(a.start), a.end_of_period)  # fmt: skip
    due = [r["id"] for r in rows]
    return [r["id"] for r in rows if r["on_time"]], due, len(due)


async def _abuse_change(a: _Ask) -> tuple[list[str], list[str], int | None]:
    now = await a.cases(ABUSE, a.start, a.end)
    before = await a.cases(ABUSE, add_years(a.start, -1), add_years(a.end, -1))
    return now, before, len(before)


async def _birth_registration(a: _Ask) -> tuple[list[str], list[str], int | None]:
    rows = await a.conn.fetch(
        f"SELECT r.child_id, c.birth_registration = 'registered' AS registered FROM {a.schema}.child_residences r"
        f" JOIN {a.schema}.children c USING (child_id) WHERE upper_inf(r.recorded) AND r.valid @> $1::date"
        f" AND r.{a.column} = $2 AND c.merged_into IS NULL AND c.date_of_birth <= $1::date"
        " AND c.date_of_birth > $3::date AND (c.died_on IS NULL OR c.died_on > $1::date) ORDER BY 1",
        a.end, a.unit, add_years(a.end, -5),
    )  # fmt: skip
    under_five = [r["child_id"] for r in rows]
    return [r["child_id"] for r in rows if r["registered"]], under_five, len(under_five)


_COMPUTE: dict[str, Callable[[_Ask], Awaitable[tuple[list[str], list[str], int | None]]]] = {
    "cisc_rate": _cisc_rate,
    "cisc_supported_pct": _cisc_supported,
    "at_risk_detected_supported": _at_risk_supported,
    "sexual_abuse_case_managed_pct": _sexual_abuse_managed,
    "cases_within_deadlines_pct": _within_deadlines,
    "abuse_cases_change": _abuse_change,
    "birth_registration_u5": _birth_registration,
}


async def compute(
    conn: asyncpg.Connection, store: EventStore, code: str, level: Level, unit: str, start: date, end: date,
    *, schema: str = "read", projection: str = "child_register", case_schema: str | None = None,
    case_projection: str = "case_register",
) -> Value:  # fmt: skip
    """The indicator `code` for a unit and period, with its explanation (one snapshot of the read models).

    `schema`/`projection` name the child register's read models, `case_schema`/`case_projection` the case
    register's (by default the same schema): tests give each projection a schema of its own.
    """
    if code not in INDICATORS:
        raise KeyError(code)
    ask = _Ask(conn, store, level, unit, start, end, schema, case_schema or schema)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await conn.fetch(
            "SELECT c.name, c.transaction_id::text AS tx, c.position FROM projection_checkpoints c"
            " JOIN projection_state s ON s.name = c.name AND s.generation = c.generation WHERE c.name = ANY($1)"
            " ORDER BY c.name", [projection, case_projection],
        )  # fmt: skip
        cursor = ";".join(f"{r['name']}={r['tx']}:{r['position']}" for r in rows)
        numerator, denominator_records, denominator = await _COMPUTE[code](ask)
    count = len(numerator)
    if INDICATORS[code].unit == "change":
        value = None if not denominator else count / denominator - 1
    else:
        value = _ratio(count, denominator)
    return Value(code, level, unit, start, end, count, denominator, value, numerator, denominator_records, cursor)


__all__ = ["ABUSE", "INDICATORS", "Indicator", "Value", "compute"]
