"""Read models of the children register and of cases, current and bitemporal.

`children`: the current record per child (no personal data: names stay sealed
in the events and are read through the register when a role may see them).
`child_residences` and `child_groups`: one row per version of a fact, with its
business-time validity (`valid`, a daterange: when it was true in the world)
and its system-time validity (`recorded`, a tstzrange: when the registry held
that version). So "as the world was on D" is `valid @> D AND upper_inf(recorded)`
and "as the registry knew it at T" is `valid @> D AND recorded @> T`. `child_lives`: one row per version of
what decides whether a child is counted at all (date of birth, date of death, the record merged into), by system
time only, so that a death, a merge or a correction recorded after T does not change an answer about T.

`cases` and `case_deadlines`: the current stage, risk and jurisdiction of each
case, and the due and met time of each legal deadline (due/overdue is a
comparison with the time of the question).

Every row carries the province code (of the unit in force on the row's date);
there are no foreign keys across provinces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

import asyncpg

from registry import cases as case_domain
from registry import children as child_domain
from registry.deadlines import evaluate
from registry.events import RecordedEvent
from registry.law import CHILD_AGE_LIMIT

from .duplicate_queue import DuplicateQueue
from .placing import Placed, units_of
from .runtime import Projection

_TODAY_VN = "(now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date"
# A child counts where it lives on the day asked about (today here; projections/queries.py for any day).
_LIVING_TODAY = f"""FROM {{child_groups}} g JOIN {{child_residences}} r USING (child_id)
    JOIN {{children}} c USING (child_id)
    WHERE upper_inf(g.recorded) AND upper_inf(r.recorded) AND g.valid @> {_TODAY_VN} AND r.valid @> {_TODAY_VN}
      AND c.merged_into IS NULL"""


def _per_unit(prefix: str, keys: str, measures: str, source: str) -> str:
    """A view giving `measures` by `keys` for every commune, district and province (the structure in force today;
    districts as former districts: README, design notes), with its level and unit code on every row.

    `prefix` is the alias of the relation that has the unit columns commune_now, district_code and province_now.
    """
    c, d, p = (f"{prefix}.{column}" for column in ("commune_now", "district_code", "province_now"))
    return f"""
        SELECT CASE WHEN grouping({c}) = 0 THEN 'commune' WHEN grouping({d}) = 0 THEN 'district' ELSE 'province'
               END AS level, coalesce({c}, {d}, {p}) AS unit_code, {keys}, {measures}
        {source}
        GROUP BY GROUPING SETS (({c}, {keys}), ({d}, {keys}), ({p}, {keys}))
        HAVING grouping({d}) = 1 OR {d} IS NOT NULL"""


class ChildRegister(Placed):
    name = "child_register"
    version = 5  # 2: the structure in force today on every row; 3: supports with their dates; 4: a fact ended on
    # the day it began is superseded, not left open; 5: child_lives, the date of birth, death and merge by system time,
    # and residences indexed by each unit column
    stream_types = (child_domain.STREAM_TYPE,)
    tables: ClassVar[dict[str, str]] = {
        "children": """child_id text PRIMARY KEY, province_code text NOT NULL, commune_code text NOT NULL,
            district_code text, province_now text NOT NULL, commune_now text NOT NULL, residence_from date NOT NULL,
            date_of_birth date NOT NULL, sex text NOT NULL, birth_registration text NOT NULL,
            ethnicity text, groups text[] NOT NULL DEFAULT '{}', at_risk text[] NOT NULL DEFAULT '{}',
            supports integer NOT NULL DEFAULT 0, supports_vnd bigint NOT NULL DEFAULT 0, died_on date,
            merged_into text, erased boolean NOT NULL DEFAULT false, version integer NOT NULL,
            registered_at timestamptz NOT NULL, last_position bigint NOT NULL""",
        "child_residences": """child_id text NOT NULL, province_code text NOT NULL, commune_code text NOT NULL,
            district_code text, province_now text NOT NULL, commune_now text NOT NULL,
            valid daterange NOT NULL, recorded tstzrange NOT NULL""",
        "child_groups": """child_id text NOT NULL, group_code text NOT NULL, subgroup text, kind text NOT NULL,
            valid daterange NOT NULL, recorded tstzrange NOT NULL""",
        "child_lives": """child_id text NOT NULL, date_of_birth date NOT NULL, died_on date, merged_into text,
            recorded tstzrange NOT NULL""",
        "child_supports": """child_id text NOT NULL, given_on date NOT NULL, kind text NOT NULL, level text NOT NULL,
            amount_vnd bigint, recorded timestamptz NOT NULL""",
    }
    indexes = (
        "CREATE INDEX ON {children} (province_code, commune_code)",
        "CREATE INDEX ON {child_residences} (child_id) WHERE upper_inf(recorded)",
        "CREATE INDEX ON {child_residences} (province_code, commune_code)",
        # A unit's register (projections/queries.py) asks by the column of the structure in force on its day.
        "CREATE INDEX ON {child_residences} (commune_code)",
        "CREATE INDEX ON {child_residences} (commune_now)",
        "CREATE INDEX ON {child_residences} (province_now)",
        "CREATE INDEX ON {child_residences} (district_code)",
        "CREATE INDEX ON {child_groups} (child_id, group_code) WHERE upper_inf(recorded)",
        "CREATE INDEX ON {child_groups} (group_code) WHERE upper_inf(recorded)",
        "CREATE INDEX ON {child_lives} (child_id) WHERE upper_inf(recorded)",
        "CREATE INDEX ON {child_lives} (child_id)",
        "CREATE INDEX ON {child_supports} (child_id, given_on)",
    )
    views: ClassVar[dict[str, str]] = {
        "commune_children_by_group": f"""
            SELECT r.province_now AS province_code, r.commune_now AS commune_code, g.group_code, g.subgroup,
                   count(DISTINCT g.child_id) AS children {_LIVING_TODAY} AND g.kind = 'group' GROUP BY 1, 2, 3, 4""",
        "province_children_by_group": f"""
            SELECT r.province_now AS province_code, g.group_code, count(DISTINCT g.child_id) AS children
            {_LIVING_TODAY} AND g.kind = 'group' GROUP BY 1, 2""",
        "district_children_by_group": f"""
            SELECT r.district_code, g.group_code, count(DISTINCT g.child_id) AS children
            {_LIVING_TODAY} AND g.kind = 'group' AND r.district_code IS NOT NULL GROUP BY 1, 2""",
        "commune_at_risk": f"""
            SELECT r.province_now AS province_code, r.commune_now AS commune_code, g.group_code AS category,
                   count(DISTINCT g.child_id) AS children {_LIVING_TODAY} AND g.kind = 'at_risk' GROUP BY 1, 2, 3""",
        "children_by_group_per_unit": _per_unit(
            "r",
            "g.group_code, g.subgroup",
            "count(DISTINCT g.child_id) AS children",
            f"{_LIVING_TODAY} AND g.kind = 'group'",
        ),
        "at_risk_per_unit": _per_unit(
            "r", "g.group_code", "count(DISTINCT g.child_id) AS children", f"{_LIVING_TODAY} AND g.kind = 'at_risk'"
        ),
        "supports_per_unit": _per_unit(
            "c",
            "s.year, s.kind, s.support_level",
            "count(*) AS supports, count(DISTINCT s.child_id) AS children, sum(s.amount_vnd) AS amount_vnd",
            "FROM (SELECT child_id, extract(year FROM given_on)::int AS year, kind, level AS support_level, amount_vnd"
            " FROM {child_supports}) s JOIN {children} c USING (child_id) WHERE c.merged_into IS NULL",
        ),
    }

    async def apply(self, conn: asyncpg.Connection, tables: dict[str, str], events: Sequence[RecordedEvent]) -> None:
        """Fold a batch set-wise: read the touched children's current rows once, fold in memory, write once."""
        t = tables
        ids = sorted({e.stream_id.split(":", 1)[1] for e in events})
        children = {r["child_id"]: dict(r) for r in await conn.fetch(
            f"SELECT * FROM {t['children']} WHERE child_id = ANY($1)", ids)}  # fmt: skip
        batch = _Batch(children, stored=set(children))
        for r in await conn.fetch(
            f"SELECT ctid, child_id, province_code, commune_code, district_code, province_now, commune_now,"
            f" lower(valid) AS lo, upper(valid) AS hi, lower(recorded) AS since FROM {t['child_residences']}"
            " WHERE child_id = ANY($1) AND upper_inf(recorded)", ids,
        ):  # fmt: skip
            batch.residences.setdefault(r["child_id"], []).append(_Version(
                [r["child_id"], r["province_code"], r["commune_code"], r["district_code"], r["province_now"],
                 r["commune_now"]], r["lo"], r["hi"], r["since"], ctid=r["ctid"]))  # fmt: skip
        for r in await conn.fetch(
            f"SELECT ctid, child_id, group_code, subgroup, kind, lower(valid) AS lo, upper(valid) AS hi,"
            f" lower(recorded) AS since FROM {t['child_groups']} WHERE child_id = ANY($1) AND upper_inf(recorded)",
            ids,
        ):  # fmt: skip
            batch.groups.setdefault(r["child_id"], []).append(_Version(
                [r["child_id"], r["group_code"], r["subgroup"], r["kind"]], r["lo"], r["hi"], r["since"],
                ctid=r["ctid"]))  # fmt: skip
        for r in await conn.fetch(
            f"SELECT ctid, child_id, date_of_birth, died_on, merged_into, lower(recorded) AS since"
            f" FROM {t['child_lives']} WHERE child_id = ANY($1) AND upper_inf(recorded)", ids,
        ):  # fmt: skip
            batch.lives[r["child_id"]] = [_Version(
                [r["child_id"], r["date_of_birth"], r["died_on"], r["merged_into"]], None, None, r["since"],
                ctid=r["ctid"])]  # fmt: skip
        for event in events:
            self._fold(batch, event)
        await batch.write(conn, t)

    def _fold(self, b: _Batch, e: RecordedEvent) -> None:
        child = e.stream_id.split(":", 1)[1]
        data: dict[str, Any] = e.data
        kind, at = e.event_type, e.recorded_at
        if kind == "ChildRegistered":
            details = data["details"]
            since = date.fromisoformat(data["residence_from"])
            province, district, commune_now, province_now = self._place(data["commune_code"], since)
            b.rows[child] = dict(
                child_id=child, province_code=province, commune_code=data["commune_code"], district_code=district,
                province_now=province_now, commune_now=commune_now, residence_from=since,
                date_of_birth=date.fromisoformat(details["date_of_birth"]), sex=details["sex"],
                birth_registration=details.get("birth_registration", "unknown"), ethnicity=details.get("ethnicity"),
                groups=[], at_risk=[], supports=0, supports_vnd=0, died_on=None,
                merged_into=None, erased=False, version=e.version, registered_at=e.occurred_at,
                last_position=e.position,
            )  # fmt: skip
            b.changed.add(child)
            b.residences.setdefault(child, []).append(
                _Version([child, province, data["commune_code"], district, province_now, commune_now], since, None, at)
            )
            b.live(b.rows[child], at)
            return
        row = b.rows.get(child)
        if row is None:
            return  # cannot happen: a child's first event is its registration, in the same stream type
        b.changed.add(child)
        row.update(version=e.version, last_position=e.position)
        if kind == "ChildDetailsCorrected":
            details = data["details"]
            row.update(date_of_birth=date.fromisoformat(details["date_of_birth"]), sex=details["sex"],
                       birth_registration=details.get("birth_registration", "unknown"),
                       ethnicity=details.get("ethnicity"))  # fmt: skip
        elif kind == "ChildMoved":
            on = date.fromisoformat(data["on"])
            province, district, commune_now, province_now = self._place(data["to_commune"], on)
            b.close(b.residences.setdefault(child, []), lambda v: True, on, at)
            b.residences[child].append(
                _Version([child, province, data["to_commune"], district, province_now, commune_now], on, None, at)
            )
            row.update(province_code=province, commune_code=data["to_commune"], district_code=district,
                       province_now=province_now, commune_now=commune_now, residence_from=on)  # fmt: skip
        elif kind in ("ChildClassified", "ChildFlaggedAtRisk"):
            on = date.fromisoformat(data["on"])
            code = data.get("group") or data["category"]
            grouped = kind == "ChildClassified"
            sixteen = child_domain.add_years(row["date_of_birth"], CHILD_AGE_LIMIT)
            upper = sixteen if row["died_on"] is None else min(sixteen, row["died_on"])
            b.groups.setdefault(child, []).append(
                _Version([child, code, data.get("subgroup"), "group" if grouped else "at_risk"], on, upper, at)
            )
            column = "groups" if grouped else "at_risk"
            row[column] = [*row[column], code]
        elif kind in ("ChildDeclassified", "ChildAtRiskCleared"):
            on = date.fromisoformat(data["on"])
            code = data.get("group") or data["category"]
            grouped = kind == "ChildDeclassified"
            which = "group" if grouped else "at_risk"
            b.close(b.groups.setdefault(child, []), lambda v: v.values[1] == code and v.values[3] == which, on, at)
            column = "groups" if grouped else "at_risk"
            row[column] = [c for c in row[column] if c != code]
        elif kind == "SupportRecorded":
            row.update(supports=row["supports"] + 1, supports_vnd=row["supports_vnd"] + (data.get("amount_vnd") or 0))
            b.supports.append((child, date.fromisoformat(data["on"]), data["kind"], data["level"],
                               data.get("amount_vnd"), at))  # fmt: skip
        elif kind == "ChildDied":
            on = date.fromisoformat(data["on"])
            b.close(b.groups.setdefault(child, []), lambda v: True, on, at)
            row.update(died_on=on, groups=[], at_risk=[])
        elif kind == "ChildMergedInto":
            row["merged_into"] = data["survivor_id"]
        elif kind == "ChildDataErased":
            row["erased"] = True
        # DisabilityRecorded, SchoolStatusRecorded, ChildMergeAbsorbed: only the version moves, in these tables
        b.live(row, at)


@dataclass
class _Version:
    """A version of a residence, group or life fact: business-time [lo, hi) (none for a life), system-time
    [since, until)."""

    values: list[Any]
    lo: Any  # a date (residences, groups) or a time (case history)
    hi: Any
    since: datetime
    until: datetime | None = None
    ctid: Any = None  # the stored row it is, if it was read from the table


@dataclass
class _Batch:
    rows: dict[str, dict[str, Any]]  # the current row of each record (child or case) the batch touches
    residences: dict[str, list[_Version]] = field(default_factory=dict)
    history: dict[str, list[_Version]] = field(default_factory=dict)  # of cases
    groups: dict[str, list[_Version]] = field(default_factory=dict)
    lives: dict[str, list[_Version]] = field(default_factory=dict)  # of children: [child_id, born, died, merged]
    supports: list[tuple[Any, ...]] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)
    stored: set[str] = field(default_factory=set)  # the records whose row is in the table already

    @staticmethod
    def close(versions: list[_Version], match: Callable[[_Version], bool], on: Any, at: datetime) -> None:
        """End, from `on`, the current versions that match: each is superseded (system time, from `at`) by a
        version valid until `on` (business time), or by none if it began on `on` or later."""
        for version in list(versions):
            if version.until is None and match(version) and (version.hi is None or version.hi > on):
                version.until = at
                if version.lo < on:
                    versions.append(_Version(list(version.values), version.lo, on, at))

    def live(self, row: dict[str, Any], at: datetime) -> None:
        """A new version of the child's life facts (date of birth, death, merge) from `at`, if the row changed
        them: the current one is superseded then (system time only: they are read as of a time, not of a day)."""
        values = [row["child_id"], row["date_of_birth"], row["died_on"], row["merged_into"]]
        versions = self.lives.setdefault(row["child_id"], [])
        current = [v for v in versions if v.until is None]
        if current and current[-1].values == values:
            return
        for version in current:
            version.until = at
        versions.append(_Version(values, None, None, at))

    async def write(self, conn: asyncpg.Connection, t: dict[str, str]) -> None:
        """Write a batch of the child register: new rows by COPY, ended versions and changed rows by their row."""
        await _write_versions(conn, t["child_residences"], self.residences)
        await _write_versions(conn, t["child_groups"], self.groups)
        await _write_versions(conn, t["child_lives"], self.lives, valid=False)
        await copy(conn, t["child_supports"], self.supports)
        await self._write_rows(conn, t["children"], "child_id")

    async def write_cases(self, conn: asyncpg.Connection, t: dict[str, str]) -> None:
        """Write a batch of the case register: cases, their history, and the deadlines of their current cycle."""
        await _write_versions(conn, t["case_history"], self.history)
        await self._write_rows(conn, t["cases"], "case_id")
        rows = [self.rows[c] for c in sorted(self.changed)]
        await conn.execute(
            f"DELETE FROM {t['case_deadlines']} d USING unnest($1::text[], $2::int[]) AS c(case_id, cycle)"
            " WHERE d.case_id = c.case_id AND d.cycle = c.cycle",
            [r["case_id"] for r in rows], [r["cycle"] for r in rows],
        )  # fmt: skip
        await copy(conn, t["case_deadlines"], [
            (r["case_id"], r["cycle"], state.deadline.code, r["province_code"], r["commune_code"], state.due_at,
             state.met_at)
            for r in rows
            for state in evaluate({m: r[m] for m in _CASE_MARKS if r[m] is not None}, r["emergency"],
                                  r["received_at"], r["province_code"])
        ])  # fmt: skip

    async def _write_rows(self, conn: asyncpg.Connection, table: str, key: str) -> None:
        rows = [self.rows[c] for c in sorted(self.changed) if c in self.rows]
        if not rows:
            return
        names = list(rows[0])
        assert names[0] == key  # the rows are built in the table's column order
        await copy(conn, table, [tuple(r[n] for n in names) for r in rows if r[key] not in self.stored], names)
        stored = [tuple(r[n] for n in names) for r in rows if r[key] in self.stored]
        if stored:
            updates = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, 1) if n != key)
            await conn.executemany(f"UPDATE {table} SET {updates} WHERE {key} = $1", stored)


# The stage a case is in after each kind of event, and the milestone (of the current cycle) each event marks, for
# the legal deadlines (registry/cases.py evolve, registry/deadlines.py); projections/reports.py folds by them too.
STAGE_AFTER: dict[str, str] = {
    "ReportReceived": "received",
    "InitialAssessmentCompleted": "assessed",
    "DetailedAssessmentCompleted": "planning",
    "PlanSubmitted": "plan_submitted",
    "PlanApproved": "intervention",
    "PlanRejected": "planning",
    "PlanRevisionStarted": "planning",
    "CaseClosed": "closed",
    "CaseReopened": "received",
}
MILESTONES: dict[str, str] = {
    "InitialAssessmentCompleted": "initial_assessment",
    "EmergencyMeasureApplied": "emergency_measure_applied",
    "PlanSubmitted": "plan_submitted",
    "PlanApproved": "plan_approved",
}
_CASE_MARKS = ("report_received", "initial_assessment", "emergency_measure_applied", "plan_submitted", "plan_approved")


async def _write_versions(
    conn: asyncpg.Connection, table: str, families: dict[str, list[_Version]], *, valid: bool = True
) -> None:
    """Store the versions of a batch: end the stored ones it superseded, COPY the new ones (with their business
    time `valid` unless the table has none).

    A version superseded at the instant it was recorded (by a later event of the same transaction: an import, a
    registration with its first classification) was never what the registry held at any time; it is not stored,
    or is deleted if a batch before stored it, so that the tables do not depend on where batches begin.
    """
    stored = [v for vs in families.values() for v in vs if v.ctid is not None and v.until is not None]
    ended = [(v.ctid, v.until) for v in stored if v.until != v.since]
    if ended:
        await conn.executemany(
            f"UPDATE {table} SET recorded = tstzrange(lower(recorded), $2::timestamptz) WHERE ctid = $1", ended
        )
    never = [v.ctid for v in stored if v.until == v.since]
    if never:
        await conn.execute(f"DELETE FROM {table} WHERE ctid = ANY($1::tid[])", never)
    await copy(conn, table, [
        (*v.values, *((asyncpg.Range(v.lo, v.hi),) if valid else ()), asyncpg.Range(v.since, v.until))
        for vs in families.values() for v in vs if v.ctid is None and v.until != v.since
    ])  # fmt: skip


async def copy(
    conn: asyncpg.Connection, table: str, records: Sequence[Sequence[Any]], columns: Sequence[str] = ()
) -> None:
    """COPY rows into a table (`schema.name`), in its column order unless `columns` are named."""
    if records:
        schema, name = table.split(".")
        await conn.copy_records_to_table(name, schema_name=schema, records=records, columns=list(columns) or None)


class CaseRegister(Placed):
    """Cases (hồ sơ vụ việc): the current row per case, its history and its legal deadlines.

    `case_history` holds one row per version of what reports count (stage, risk, commune, types, children,
    officer), with business time `valid` (a tstzrange from the step's `at`) and system time `recorded`, in the
    same way as the children's residences: "open cases on D as known at T" is one query (projections/queries.py).
    """

    name = "case_register"
    version = 2  # 2: folded set-wise per batch, with the bitemporal case history
    stream_types = (case_domain.STREAM_TYPE,)
    tables: ClassVar[dict[str, str]] = {
        "cases": """case_id text PRIMARY KEY, province_code text NOT NULL, commune_code text NOT NULL,
            district_code text, province_now text NOT NULL, commune_now text NOT NULL, stage text NOT NULL,
            risk_level text, emergency boolean NOT NULL DEFAULT false,
            emergency_in_force boolean NOT NULL DEFAULT false, case_types text[] NOT NULL, child_ids text[] NOT NULL,
            officer_id text, received_at timestamptz NOT NULL, closed_reason text, cycle integer NOT NULL DEFAULT 1,
            report_received timestamptz, initial_assessment timestamptz, emergency_measure_applied timestamptz,
            plan_submitted timestamptz, plan_approved timestamptz, version integer NOT NULL,
            last_position bigint NOT NULL""",
        "case_history": """case_id text NOT NULL, province_code text NOT NULL, commune_code text NOT NULL,
            district_code text, province_now text NOT NULL, commune_now text NOT NULL, stage text NOT NULL,
            risk_level text, case_types text[] NOT NULL, child_ids text[] NOT NULL,
            officer_id text, cycle integer NOT NULL, emergency_in_force boolean NOT NULL,
            valid tstzrange NOT NULL, recorded tstzrange NOT NULL""",
        "case_deadlines": """case_id text NOT NULL, cycle integer NOT NULL, code text NOT NULL,
            province_code text NOT NULL, commune_code text NOT NULL, due_at timestamptz NOT NULL,
            met_at timestamptz, PRIMARY KEY (case_id, cycle, code)""",
    }
    indexes = (
        "CREATE INDEX ON {cases} (province_code, commune_code, stage)",
        "CREATE INDEX ON {case_history} (case_id) WHERE upper_inf(recorded)",
        "CREATE INDEX ON {case_history} (commune_code)",
    )
    views: ClassVar[dict[str, str]] = {
        "commune_open_cases": """
            SELECT province_code, commune_code, stage, risk_level, unnest(case_types) AS case_type, count(*) AS cases
            FROM {cases} WHERE stage <> 'closed' GROUP BY 1, 2, 3, 4, 5""",
        "overdue_deadlines": """
            SELECT d.* FROM {case_deadlines} d JOIN {cases} c USING (case_id)
            WHERE d.met_at IS NULL AND d.due_at < now() AND d.cycle = c.cycle AND c.stage <> 'closed'""",
        "open_cases_per_unit": _per_unit(
            "c",
            "c.stage, c.risk_level, t.case_type",
            "count(*) AS cases",
            "FROM {cases} c, unnest(c.case_types) AS t(case_type) WHERE c.stage <> 'closed'",
        ),
        "overdue_deadlines_per_unit": _per_unit(
            "c",
            "d.code",
            "count(*) AS deadlines",
            "FROM {case_deadlines} d JOIN {cases} c USING (case_id) WHERE d.met_at IS NULL AND d.due_at < now()"
            " AND d.cycle = c.cycle AND c.stage <> 'closed'",
        ),
        "child_cases": """
            SELECT unnest(child_ids) AS child_id, case_id, province_code, commune_code, stage, case_types
            FROM {cases}""",
    }
    _TRACKED = ("case_id", "province_code", "commune_code", "district_code", "province_now", "commune_now", "stage",
                "risk_level", "case_types", "child_ids",
                "officer_id", "cycle", "emergency_in_force")  # fmt: skip

    async def apply(self, conn: asyncpg.Connection, tables: dict[str, str], events: Sequence[RecordedEvent]) -> None:
        """Fold a batch set-wise: read the touched cases' rows and open history versions once, write once."""
        t = tables
        ids = sorted({e.stream_id.split(":", 1)[1] for e in events})
        cases = {r["case_id"]: dict(r) for r in await conn.fetch(
            f"SELECT * FROM {t['cases']} WHERE case_id = ANY($1)", ids)}  # fmt: skip
        batch = _Batch(cases, stored=set(cases))
        width = len(self._TRACKED)
        for r in await conn.fetch(
            f"SELECT ctid, {', '.join(self._TRACKED)}, lower(valid) AS lo, upper(valid) AS hi,"
            f" lower(recorded) AS since FROM {t['case_history']} WHERE case_id = ANY($1) AND upper_inf(recorded)",
            ids,
        ):  # fmt: skip
            batch.history.setdefault(r["case_id"], []).append(
                _Version(list(r.values())[1 : width + 1], r["lo"], r["hi"], r["since"], ctid=r["ctid"])
            )
        for event in events:
            self._fold(batch, event)
        await batch.write_cases(conn, t)

    def _fold(self, b: _Batch, e: RecordedEvent) -> None:
        case_id = e.stream_id.split(":", 1)[1]
        data: dict[str, Any] = e.data
        kind = e.event_type
        at = datetime.fromisoformat(data["at"])
        if kind == "ReportReceived":
            province, district, commune_now, province_now = self._place(data["commune_code"], at.date())
            row: dict[str, Any] = dict(
                case_id=case_id, province_code=province, commune_code=data["commune_code"], district_code=district,
                province_now=province_now, commune_now=commune_now, stage="received", risk_level=None, emergency=False,
                emergency_in_force=False, case_types=list(data["case_types"]), child_ids=list(data["child_ids"]),
                officer_id=None, received_at=at, closed_reason=None, cycle=1, report_received=at,
                initial_assessment=None, emergency_measure_applied=None, plan_submitted=None, plan_approved=None,
                version=e.version, last_position=e.position,
            )  # fmt: skip
            b.rows[case_id] = row
        else:
            found = b.rows.get(case_id)
            if found is None:
                return  # cannot happen: a case's first event is its report, in the same stream type
            row = found
            if kind in STAGE_AFTER:
                row["stage"] = STAGE_AFTER[kind]
            if kind in MILESTONES and row[MILESTONES[kind]] is None:  # the first time in the cycle
                row[MILESTONES[kind]] = at
            if kind == "InitialAssessmentCompleted":
                row.update(risk_level=data["risk_level"],
                           emergency=bool(data["emergency"] or data["caregiver_is_perpetrator"]))  # fmt: skip
            elif kind == "EmergencyMeasureApplied":
                row["emergency_in_force"] = True
            elif kind == "EmergencyMeasureEnded":
                row["emergency_in_force"] = False
            elif kind == "CaseClosed":
                row["closed_reason"] = data["reason"]
            elif kind == "CaseReopened":
                row.update(cycle=row["cycle"] + 1, closed_reason=None, risk_level=None, emergency=False,
                           report_received=at, initial_assessment=None, emergency_measure_applied=None,
                           plan_submitted=None, plan_approved=None)  # fmt: skip
            elif kind == "CaseTransferred":
                province, district, commune_now, province_now = self._place(data["to_commune"], at.date())
                row.update(commune_code=data["to_commune"], province_code=province, district_code=district,
                           province_now=province_now, commune_now=commune_now)  # fmt: skip
            elif kind == "ChildLinked":
                row["child_ids"] = [*row["child_ids"], data["child_id"]]
            elif kind == "OfficerAssigned":
                row["officer_id"] = data["officer_id"]
            row.update(version=e.version, last_position=e.position)
        b.changed.add(case_id)
        values = [row[c] for c in self._TRACKED]
        versions = b.history.setdefault(case_id, [])
        if any(v.until is None and v.hi is None and v.values == values for v in versions):
            return  # nothing reports count changed (a service delivered, a review)
        b.close(versions, lambda v: True, at, e.recorded_at)
        versions.append(_Version(values, at, None, e.recorded_at))


PROJECTIONS: tuple[type[Projection], ...] = (ChildRegister, CaseRegister, DuplicateQueue)

__all__ = ["MILESTONES", "PROJECTIONS", "STAGE_AFTER", "CaseRegister", "ChildRegister", "units_of"]
