"""Who may do what, and where: roles, what each may do, and the jurisdiction a principal's reach follows.

The roles are the actors of the case process (domain.md sections 3 and 7;
Decree 56/2017 Arts. 25-30, Law on Children Arts. 47-52) and the two outside
users of the registry: auditors and the national child database. The API
(schema/) asks two questions of every request: may this principal do this
kind of thing at all (`allows`), and does the record lie within its
jurisdiction (`covers`).

Jurisdiction follows the unit tree. A principal's unit is a unit of today's
structure (a commune or province of the two-tier map) or, for a district
officer, a district of 2025-06-30 (a former district: README, design notes).
A record made under a commune on a day lies where `Gazetteer.place` says:
its commune and province of today (through the reform's successors) and its
district or former district. So the officer of a new commune sees the
records made before the reform under the legacy communes it was formed
from, and a case transferred between communes is checked against each
commune for its own period by the caller (`covers` takes the placement of
one period).

Departure from domain.md's access proposal (section 7): the issue asks that
the district officer above a record may read it (persona tests), so
district and province officers read records of their units, not only
aggregates; every such read carries a purpose and is logged (schema/).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from .errors import InvalidInput
from .gazetteer import Gazetteer, Placement
from .law import TWO_TIER_FROM
from .units import Level, level_of


class Role(StrEnum):
    """A principal's role, as carried by its token."""

    COMMUNE_OFFICER = "commune_officer"  # công chức văn hóa - xã hội phụ trách trẻ em cấp xã
    COMMUNE_CHAIR = "commune_chair"  # Chủ tịch UBND cấp xã: approves support plans (Decree 56/2017 Art. 28)
    DISTRICT_OFFICER = "district_officer"  # Phòng LĐTBXH cấp huyện (former districts after 2025-07-01)
    PROVINCE_OFFICER = "province_officer"  # Sở phụ trách công tác trẻ em cấp tỉnh
    NATIONAL_OFFICER = "national_officer"  # Cục Trẻ em (the ministry)
    AUDITOR = "auditor"  # thanh tra, kiểm soát nội bộ: reads everything, writes nothing
    INTEGRATION_CLIENT = "integration_client"  # the national child database: import and change feed only
    # Whoever runs the `registry` command line on a server (exports, imports, reports): they hold the database and
    # the master key, so their reach is the whole country; the role exists so that the access log says so. It is
    # never carried by a token (registry/tokens.py refuses it): the API has no operators.
    OPERATOR = "operator"


class Action(StrEnum):
    READ_RECORD = "read_record"  # a child or case record (with a purpose)
    READ_AGGREGATES = "read_aggregates"  # counts, indicators, reports
    READ_HISTORY = "read_history"  # the events of a record
    WRITE = "write"  # the commands of the registers
    APPROVE_PLAN = "approve_plan"  # a case's support plan (Decree 56/2017 Art. 28)
    READ_ACCESS_LOG = "read_access_log"
    IMPORT = "import"
    FEED = "feed"
    # The children's personal data in the change feed and in exports: the national child database links records by
    # personal identification number with the national population database (Project 06, domain.md section 4).
    RECEIVE_PERSONAL = "receive_personal"


_OFFICER = frozenset({Action.READ_RECORD, Action.READ_AGGREGATES, Action.READ_HISTORY})
PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.COMMUNE_OFFICER: _OFFICER | {Action.WRITE},
    Role.COMMUNE_CHAIR: _OFFICER | {Action.WRITE, Action.APPROVE_PLAN},
    Role.DISTRICT_OFFICER: _OFFICER,
    Role.PROVINCE_OFFICER: _OFFICER,
    Role.NATIONAL_OFFICER: _OFFICER,
    Role.AUDITOR: _OFFICER | {Action.READ_ACCESS_LOG},
    Role.INTEGRATION_CLIENT: frozenset({Action.IMPORT, Action.FEED, Action.RECEIVE_PERSONAL}),
    Role.OPERATOR: _OFFICER | {Action.IMPORT},
}

# The level of the unit a role's jurisdiction names; None: the whole country.
JURISDICTION_LEVEL: dict[Role, Level | None] = {
    Role.COMMUNE_OFFICER: Level.COMMUNE,
    Role.COMMUNE_CHAIR: Level.COMMUNE,
    Role.DISTRICT_OFFICER: Level.DISTRICT,
    Role.PROVINCE_OFFICER: Level.PROVINCE,
    Role.NATIONAL_OFFICER: None,
    Role.AUDITOR: None,
    Role.INTEGRATION_CLIENT: None,
    Role.OPERATOR: None,
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who asks: an officer, an auditor or a system client, with the unit its reach follows."""

    subject: str
    role: Role
    unit: str | None  # None for the roles of the whole country
    expires_at: datetime

    def __post_init__(self) -> None:
        level = JURISDICTION_LEVEL[self.role]
        if level is None:
            if self.unit is not None:
                raise InvalidInput("unit", "not_allowed", f"a {self.role} has the whole country: no unit")
        elif self.unit is None or level_of(self.unit, "unit") is not level:
            raise InvalidInput("unit", "wrong_level", f"a {self.role} needs a {level} code")

    def allows(self, action: Action) -> bool:
        return action in PERMISSIONS[self.role]

    def covers(self, placement: Placement) -> bool:
        """Whether a record placed there lies within this principal's jurisdiction."""
        level = JURISDICTION_LEVEL[self.role]
        if level is None:
            return True
        found = {Level.COMMUNE: placement.commune_now, Level.DISTRICT: placement.district,
                 Level.PROVINCE: placement.province_now}[level]  # fmt: skip
        return found is not None and found == self.unit


def operator(subject: str, *, now: datetime | None = None) -> Principal:
    """The principal of a command run at a server's shell (`operator:<os user>`): what it reads is logged under it.
    It expires a day after it is made, like no token does: it is made per run and never leaves the process."""
    return Principal(subject, Role.OPERATOR, None, (now or datetime.now(UTC)) + timedelta(days=1))


def reaches(principal: Principal, units: Gazetteer, code: str, today: date) -> bool:
    """Whether a whole unit lies within the principal's jurisdiction, so that its lists may be read: a commune or
    province of today's map, or a district of 2025-06-30 (a former district)."""
    level = JURISDICTION_LEVEL[principal.role]
    if level is None:
        return True
    if level_of(code, "unit") is Level.DISTRICT:
        if principal.unit == code:
            return True
        last_day = TWO_TIER_FROM - timedelta(days=1)
        if level is not Level.PROVINCE or units.find(code, last_day) is None:
            return False
        province = units.path(code, last_day)[-1].code
        return any(s.unit.code == principal.unit for s in units.successors(province, last_day, today))
    if units.find(code, today) is None:
        return False
    if level_of(code) is Level.PROVINCE:
        return level is Level.PROVINCE and principal.unit == code
    return principal.covers(units.place(code, today))


__all__ = ["JURISDICTION_LEVEL", "PERMISSIONS", "Action", "Principal", "Role", "operator", "reaches"]
