"""As-of questions over the read models, as exact SQL: "as the world was on D", "as the registry knew it at T".

The structure of units is the one in force on the date asked about: before
2025-07-01, the commune and province a record was made under and its
district; from then, the communes and provinces of the two-tier map
(`*_now` columns), and districts as former districts (the district a
record's commune lay in on 2025-06-30; README, design notes).

Whether a child counts at all (born by then, not dead, not merged into another record) is read from the version
of `child_lives` held at the same system time as the residences and groups (the current one without `known_at`),
never from the current `children` row: a death, a merge or a correction recorded after T leaves an answer about T
as it was.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import asyncpg

from registry.children import add_years
from registry.law import CHILD_AGE_LIMIT, TWO_TIER_FROM, start_of_day
from registry.units import Level

Source = asyncpg.Connection | asyncpg.Pool  # what the queries read from: a connection (a transaction) or the pool


def unit_column(level: Level, on: date) -> str:
    """The column of the read models that names the unit of `level` in the structure in force on `on`."""
    if level is Level.DISTRICT:
        return "district_code"
    now = on >= TWO_TIER_FROM
    return {Level.PROVINCE: "province_now" if now else "province_code",
            Level.COMMUNE: "commune_now" if now else "commune_code"}[level]  # fmt: skip


def _known(
    args: list[object], aliases: tuple[str, ...], known_at: datetime | None, column: str, unit: str | None
) -> str:
    """The system-time condition on each alias's `recorded` (the versions in force now, or those the registry held
    at `known_at`) and, with `unit`, the unit condition on the last alias; their values are appended to `args`."""
    if known_at is None:
        conditions = [f"upper_inf({alias}.recorded)" for alias in aliases]
    else:
        args.append(known_at)
        conditions = [f"{alias}.recorded @> ${len(args)}::timestamptz" for alias in aliases]
    if unit is not None:
        args.append(unit)
        conditions.append(f"{aliases[-1]}.{column} = ${len(args)}")
    return " AND ".join(conditions)


async def children_by_group(
    conn: Source,
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
    known = _known(args, ("g", "c", "r"), known_at, column, unit)
    rows = await conn.fetch(
        f"SELECT r.{column} AS unit, g.group_code, count(DISTINCT g.child_id) AS children"
        f" FROM {schema}.child_groups g JOIN {schema}.child_residences r USING (child_id)"
        f" JOIN {schema}.child_lives c USING (child_id)"
        f" WHERE g.kind = 'group' AND g.valid @> $1::date AND r.valid @> $1::date AND {known}"
        f" AND c.merged_into IS NULL AND r.{column} IS NOT NULL GROUP BY 1, 2",
        *args,
    )
    return {(r["unit"], r["group_code"]): r["children"] for r in rows}


async def children_in(
    conn: Source, level: Level, unit: str, on: date, *, known_at: datetime | None = None,
    schema: str = "read",
) -> list[str]:  # fmt: skip
    """The ids of the children living in a unit on `on` (the register of that unit on that day)."""
    args: list[object] = [on]
    known = _known(args, ("c", "r"), known_at, unit_column(level, on), unit)
    rows = await conn.fetch(
        f"SELECT r.child_id FROM {schema}.child_residences r JOIN {schema}.child_lives c USING (child_id)"
        f" WHERE r.valid @> $1::date AND {known} AND c.merged_into IS NULL"
        " AND c.date_of_birth <= $1::date ORDER BY r.child_id",
        *args,
    )
    return [r["child_id"] for r in rows]


async def children_page(
    conn: Source, level: Level, unit: str, on: date, *, after: str, limit: int, group: str | None = None,
    known_at: datetime | None = None, schema: str = "read",
) -> list[str]:  # fmt: skip
    """A page of the register of a unit on `on`, by child id after `after`: the children living there that day
    (alive and under 18 then; with `group`, only those in it that day); with `known_at`, as the registry knew it."""
    args: list[object] = [on, add_years(on, -CHILD_AGE_LIMIT), after, limit]
    known = _known(args, ("c", "r"), known_at, unit_column(level, on), unit)
    in_group = ""
    if group is not None:
        args.append(group)
        in_group = (f" AND EXISTS (SELECT FROM {schema}.child_groups g WHERE g.child_id = r.child_id"
                    f" AND g.group_code = ${len(args)} AND g.valid @> $1::date AND "
                    + _known(args, ("g",), known_at, "", None) + ")")  # fmt: skip
    rows = await conn.fetch(
        f"SELECT r.child_id FROM {schema}.child_residences r JOIN {schema}.child_lives c USING (child_id)"
        f" WHERE r.valid @> $1::date AND {known} AND c.merged_into IS NULL AND c.date_of_birth <= $1::date"
        f" AND c.date_of_birth > $2::date AND (c.died_on IS NULL OR c.died_on > $1::date) AND r.child_id > $3"
        f"{in_group} ORDER BY r.child_id LIMIT $4",
        *args,
    )
    return [r["child_id"] for r in rows]


async def open_cases(
    conn: Source, level: Level, on: date, *, known_at: datetime | None = None, unit: str | None = None,
    schema: str = "read",
) -> dict[tuple[str, str, str], int]:  # fmt: skip
    """Open cases by (unit, stage, case type) at the end of `on` (Vietnam time), each counted where it was handled
    then (a transferred case counts on each side for its own period); with `known_at`, as the registry knew it."""
    column = unit_column(level, on)
    args: list[object] = [start_of_day(on + timedelta(days=1)) - timedelta(microseconds=1)]
    known = _known(args, ("h",), known_at, column, unit)
    rows = await conn.fetch(
        f"SELECT h.{column} AS unit, h.stage, t.case_type, count(*) AS cases FROM {schema}.case_history h,"
        f" unnest(h.case_types) AS t(case_type) WHERE h.valid @> $1::timestamptz AND {known} AND h.stage <> 'closed'"
        f" AND h.{column} IS NOT NULL GROUP BY 1, 2, 3",
        *args,
    )
    return {(r["unit"], r["stage"], r["case_type"]): r["cases"] for r in rows}


__all__ = ["children_by_group", "children_in", "children_page", "open_cases", "unit_column"]
