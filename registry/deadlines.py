"""The legal time limits of a child-protection case, as data with their basis, and the arithmetic.

Every deadline is computed from a case's events, never entered by hand
(registry/cases.py calls `evaluate`). A limit is either wall-clock hours
(the 12-hour emergency clock runs through nights and holidays) or working
days: Monday to Friday, without Vietnam's public holidays (lunar ones
included) and with the Saturdays the government makes working days in
exchange, as the `holidays` package records them. A day limit ends at the
close of the last working day (24:00 in Vietnam). Times are in
Asia/Ho_Chi_Minh (UTC+7, no daylight saving).

Provinces may add steps and shorter limits by their own coordination
regulations (domain.md section 3.1: Điện Biên QĐ 241/QĐ-UBND 2020, An Giang
QĐ 3004/QĐ-UBND 2020); `PROVINCIAL` holds such rules by province code. It is
empty until a regulation's text is at hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache

import holidays

from .law import FACTS, VIETNAM, start_of_day


@dataclass(frozen=True, slots=True)
class Deadline:
    code: str
    step: str
    starts: str = ""  # the clock starts at this milestone of the case
    ends: str = ""  # and is met by this one
    hours: int | None = None
    working_days: int | None = None
    emergency_only: bool = False
    except_emergency: bool = False
    basis: str = ""
    verified: bool = True


def _from_law(code: str, step: str, fact: str, **rule: object) -> Deadline:
    """A deadline whose number and basis are those of a fact in registry/law.py (the one table of legal numbers)."""
    legal = FACTS[fact]
    unit = "hours" if fact.endswith("_hours") else "working_days"
    return Deadline(code, step, basis=legal.basis, verified=legal.verified, **{unit: legal.value}, **rule)  # type: ignore[arg-type]


DEADLINES: tuple[Deadline, ...] = (
    _from_law("emergency_protection", "Emergency intervention or temporary removal of a child in danger",
              "emergency_protection_hours", starts="report_received", ends="emergency_measure_applied",
              emergency_only=True),
    _from_law("plan_draft", "Support/intervention plan drafted (Mẫu số 04) and submitted", "plan_draft_working_days",
              starts="initial_assessment", ends="plan_submitted", except_emergency=True),
    _from_law("plan_approval", "Support/intervention plan approved by the chairman of the commune People's Committee",
              "plan_approval_working_days", starts="initial_assessment", ends="plan_approved", except_emergency=True),
)  # fmt: skip

PROVINCIAL: dict[str, tuple[Deadline, ...]] = {}


class Status(StrEnum):
    PENDING = "pending"  # running, not yet due soon
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    MET = "met"
    MET_LATE = "met_late"  # done, but after the due time: the breach stays visible


@dataclass(frozen=True, slots=True)
class DeadlineState:
    deadline: Deadline
    started_at: datetime
    due_at: datetime
    met_at: datetime | None
    status: Status


@lru_cache(maxsize=64)
def _calendar(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("VN", years=[year - 1, year, year + 1])


def is_working_day(day: date) -> bool:
    """Monday to Friday (or a Saturday made a working day), and not a public holiday in Vietnam."""
    return bool(_calendar(day.year).is_working_day(day))


def add_working_days(start: datetime, days: int) -> datetime:
    """The end (24:00, Vietnam time) of the `days`-th working day after the day of `start`."""
    return _working_days_after(start.astimezone(VIETNAM).date(), days)


@lru_cache(maxsize=8192)  # every case started on the same day has the same due time
def _working_days_after(day: date, days: int) -> datetime:
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return start_of_day(day + timedelta(days=1))


def due_time(deadline: Deadline, started_at: datetime) -> datetime:
    if deadline.hours is not None:
        return started_at + timedelta(hours=deadline.hours)
    assert deadline.working_days is not None
    return add_working_days(started_at, deadline.working_days)


def soon_before(deadline: Deadline, due_at: datetime) -> datetime:
    """From when a running deadline is 'due soon': 2 hours before an hour limit, the last working day of a day limit."""
    if deadline.hours is not None:
        return due_at - timedelta(hours=2)
    return due_at - timedelta(days=1)


def evaluate(
    milestones: dict[str, datetime], emergency: bool, now: datetime, province: str | None = None
) -> list[DeadlineState]:
    """Every deadline that applies to a case with these milestones, and where it stands at `now`."""
    found = []
    for deadline in DEADLINES + PROVINCIAL.get(province or "", ()):
        if (deadline.emergency_only and not emergency) or (deadline.except_emergency and emergency):
            continue
        started = milestones.get(deadline.starts)
        if started is None:
            continue
        due = due_time(deadline, started)
        met = milestones.get(deadline.ends)
        if met is not None:
            status = Status.MET if met <= due else Status.MET_LATE
        elif now > due:
            status = Status.OVERDUE
        elif now >= soon_before(deadline, due):
            status = Status.DUE_SOON
        else:
            status = Status.PENDING
        found.append(DeadlineState(deadline, started, due, met, status))
    return found


__all__ = [
    "DEADLINES",
    "PROVINCIAL",
    "Deadline",
    "DeadlineState",
    "Status",
    "add_working_days",
    "due_time",
    "evaluate",
    "is_working_day",
]
