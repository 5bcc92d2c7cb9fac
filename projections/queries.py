"""As-of questions over the read models, as exact SQL: "as the world was on D", "as the registry knew it at T".

The structure of units is the one in force on the date asked about: before
2025-07-01, the commune and province a record was made under and its
district; from then, the communes and provinces of the two-tier map
(`*_now` columns), and districts as former districts (the district a
record's commune lay in on 2025-06-30; README, design notes).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import asyncpg

from registry.law import TWO_TIER_FROM, start_of_day
from registry.units import Level


def unit_column(level: Level, on: date) -> str:
    """The column of the read models that names the unit of `level` in the structure in force on `on`."""
    if level is Level.DISTRICT:
        return "district_code"
    now = on >= TWO_TIER_FROM
    return {Level.PROVINCE: "province_now" if now else "province_code",
            Level.COMMUNE: "commune_now" if now else "commune_code"}[level]  # fmt: skip


async def children_by_group(
    conn: asyncpg.Connection,
    level: Level,
    on: date,
    *,
    known_at: datetime | None = None,
    unit: str | None = None,
    schema: str = "read",
) -> dict[tuple[str, str], int]:
    """Children in special circumstances by (unit, group) on `on`, each counted where it lived that day; with
    `known_at`, as the registry knew it at that time."""
    column = unit_column(level, on)
    args: list[object] = [on]
    system = "upper_inf(g.recorded) AND upper_inf(r.recorded)"
    if known_at is not None:
        args.append(known_at)
        system = f"g.recorded @> ${len(args)}::timestamptz AND r.recorded @> ${len(args)}::timestamptz"
    only = ""
    if unit is not None:
        args.append(unit)
        only = f" AND r.{column} = ${len(args)}"
    rows = await conn.fetch(
        f"SELECT r.{column} AS unit, g.group_code, count(DISTINCT g.child_id) AS children"
        f" FROM {schema}.child_groups g JOIN {schema}.child_residences r USING (child_id)"
        f" JOIN {schema}.children c USING (child_id)"
        f" WHERE g.kind = 'group' AND g.valid @> $1::date AND r.valid @> $1::date AND {system}"
        f" AND c.merged_into IS NULL AND r.{column} IS NOT NULL{only} GROUP BY 1, 2",
        *args,
    )
    return {(r["unit"], r["group_code"]): r["children"] for r in rows}


async def children_in(
    conn: asyncpg.Connection, level: Level, unit: str, on: date, *, known_at: datetime | None = None,
    schema: str = "read",
) -> list[str]:  # fmt: skip
    """The ids of the children living in a unit on `on` (the register of that unit on that day)."""
    column = unit_column(level, on)
    system = "upper_inf(r.recorded)" if known_at is None else "r.recorded @> $3::timestamptz"
    args: list[object] = [on, unit] + ([known_at] if known_at is not None else [])
    rows = await conn.fetch(
        f"SELECT r.child_id FROM {schema}.child_residences r JOIN {schema}.children c USING (child_id)"
        f" WHERE r.valid @> $1::date AND r.{column} = $2 AND {system} AND c.merged_into IS NULL"
        " AND c.date_of_birth <= $1::date ORDER BY r.child_id",
        *args,
    )
    return [r["child_id"] for r in rows]


async def open_cases(
    conn: asyncpg.Connection, level: Level, on: date, *, known_at: datetime | None = None, unit: str | None = None,
    schema: str = "read",
) -> dict[tuple[str, str, str], int]:  # fmt: skip
    """Open cases by (unit, stage, case type) at the end of `on` (Vietnam time), each counted where it was handled
    then (a transferred case counts on each side for its own period); with `known_at`, as the registry knew it."""
    column = unit_column(level, on)
    args: list[object] = [start_of_day(on + timedelta(days=1)) - timedelta(microseconds=1)]
    system = "upper_inf(h.recorded)"
    if known_at is not None:
        args.append(known_at)
        system = f"h.recorded @> ${len(args)}::timestamptz"
    only = ""
    if unit is not None:
        args.append(unit)
        only = f" AND h.{column} = ${len(args)}"
    rows = await conn.fetch(
        f"SELECT h.{column} AS unit, h.stage, t.case_type, count(*) AS cases FROM {schema}.case_history h,"
        f" unnest(h.case_types) AS t(case_type) WHERE h.valid @> $1::timestamptz AND {system} AND h.stage <> 'closed'"
        f" AND h.{column} IS NOT NULL{only} GROUP BY 1, 2, 3",
        *args,
    )
    return {(r["unit"], r["stage"], r["case_type"]): r["cases"] for r in rows}


__all__ = ["children_by_group", "children_in", "open_cases", "unit_column"]
