"""Indicators of the seed plans, computed from the read models for any unit and period, each explained.

Every value comes with the records that make it up: the ids of the children
counted in its numerator and denominator, or the event of an entered
population figure, all read in one snapshot together with the checkpoint of
the projection they come from, so that an auditor can recompute a figure
from its sources (`Value.numerator_records`, `Value.denominator_records`,
`Value.cursor`).

Definitions (domain.md section 5.1): children are counted where they lived
on the last day of the period, in the unit structure in force that day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import asyncpg

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
    )
}  # fmt: skip


@dataclass
class Value:
    code: str
    level: Level
    unit: str
    start: date
    end: date
    numerator: int
    denominator: int | None
    value: float | None  # a ratio (multiply by 100 for a percentage); None when the denominator is unknown or 0
    numerator_records: list[str] = field(default_factory=list)
    denominator_records: list[str] = field(default_factory=list)
    cursor: str = ""  # the checkpoint of the child register the figures were read at


async def compute(
    conn: asyncpg.Connection, store: EventStore, code: str, level: Level, unit: str, start: date, end: date,
    *, schema: str = "read", projection: str = "child_register",
) -> Value:  # fmt: skip
    """The indicator `code` for a unit and period, with its explanation (one snapshot of the read models)."""
    if code not in INDICATORS:
        raise KeyError(code)
    column = unit_column(level, end)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        row = await conn.fetchrow(
            "SELECT c.transaction_id::text AS tx, c.position FROM projection_checkpoints c JOIN projection_state s"
            " ON s.name = c.name AND s.generation = c.generation WHERE c.name = $1", projection,
        )  # fmt: skip
        cursor = "" if row is None else f"{row['tx']}:{row['position']}"
        cisc = [r["child_id"] for r in await conn.fetch(
            f"SELECT DISTINCT g.child_id FROM {schema}.child_groups g"
            f" JOIN {schema}.child_residences r USING (child_id) JOIN {schema}.children c USING (child_id)"
            " WHERE g.kind = 'group' AND upper_inf(g.recorded) AND upper_inf(r.recorded) AND g.valid @> $1::date"
            f" AND r.valid @> $1::date AND r.{column} = $2 AND c.merged_into IS NULL ORDER BY 1",
            end, unit,
        )]  # fmt: skip
        if code == "cisc_rate":
            counted = await latest(store, unit, end.year)
            if counted is None:
                return Value(code, level, unit, start, end, len(cisc), None, None, cisc, [], cursor)
            population, position = counted
            ratio = len(cisc) / population.children if population.children else None
            return Value(code, level, unit, start, end, len(cisc), population.children, ratio, cisc,
                         [f"event {position}: ChildPopulationRecorded ({population.source})"], cursor)  # fmt: skip
        supported = [r["child_id"] for r in await conn.fetch(
            f"SELECT DISTINCT child_id FROM {schema}.child_supports WHERE child_id = ANY($1)"
            " AND given_on BETWEEN $2 AND $3 ORDER BY 1", cisc, start, end)]  # fmt: skip
        ratio = len(supported) / len(cisc) if cisc else None
        return Value(code, level, unit, start, end, len(supported), len(cisc), ratio, supported, cisc, cursor)


__all__ = ["INDICATORS", "Indicator", "Value", "compute"]
