"""Deadline arithmetic: wall-clock hours, working days around weekends, Tết and other holidays, Vietnam time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.deadlines import DEADLINES, Status, add_working_days, evaluate, is_working_day
from registry.law import VIETNAM


def vn(*args: int) -> datetime:
    return datetime(*args, tzinfo=VIETNAM)  # type: ignore[misc]


def test_every_deadline_names_its_legal_basis() -> None:
    for deadline in DEADLINES:
        assert deadline.basis and (deadline.hours is None) != (deadline.working_days is None), deadline.code


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 11, 20), True),  # Friday
        (date(2026, 11, 21), False),  # Saturday
        (date(2026, 11, 22), False),  # Sunday
        (date(2026, 2, 16), False),  # Tết 2026: New Year's Eve (lunar)
        (date(2026, 2, 20), False),  # the fourth day of Tết
        (date(2026, 2, 23), True),
        (date(2026, 4, 27), False),  # Hùng Kings' day, observed (it fell on a Sunday)
        (date(2026, 9, 2), False),  # National Day
        (date(2025, 4, 26), True),  # a Saturday made a working day in exchange for 2 May 2025
        (date(2025, 5, 2), False),
    ],
)
def test_working_days_skip_weekends_and_public_holidays_lunar_ones_included(day: date, working: bool) -> None:
    assert is_working_day(day) is working


def test_five_working_days_across_tet_end_at_midnight_of_the_fifth() -> None:
    # Assessed on Thursday 12 February 2026; Tết closes 16-20 February.
    due = add_working_days(vn(2026, 2, 12, 15, 0), 5)
    assert due == vn(2026, 2, 27, 0, 0)  # 13, 23, 24, 25, 26: the fifth working day is Thursday 26 February


def test_a_working_day_count_starts_the_day_after_in_vietnam_time() -> None:
    # 20:30 UTC on Friday is 03:30 on Saturday in Vietnam: the count starts from Saturday, i.e. Monday comes first.
    late_friday_utc = datetime(2026, 11, 20, 20, 30, tzinfo=UTC)
    assert add_working_days(late_friday_utc, 1) == vn(2026, 11, 24, 0, 0)  # Monday 23rd is the first working day
    early_friday_utc = datetime(2026, 11, 20, 16, 59, tzinfo=UTC)  # 23:59 on Friday in Vietnam
    assert add_working_days(early_friday_utc, 1) == vn(2026, 11, 24, 0, 0)
    assert add_working_days(vn(2026, 11, 19, 23, 59), 1) == vn(2026, 11, 21, 0, 0)  # Thursday -> end of Friday


def test_the_emergency_clock_runs_through_nights_and_holidays() -> None:
    received = vn(2026, 2, 16, 21, 10)  # Tết eve, 21:10
    [state] = evaluate({"report_received": received}, emergency=True, now=received)
    assert state.deadline.code == "emergency_protection" and state.due_at == vn(2026, 2, 17, 9, 10)
    assert state.status is Status.PENDING
    assert evaluate({"report_received": received}, True, vn(2026, 2, 17, 7, 30))[0].status is Status.DUE_SOON
    assert evaluate({"report_received": received}, True, vn(2026, 2, 17, 9, 11))[0].status is Status.OVERDUE
    late = {"report_received": received, "emergency_measure_applied": vn(2026, 2, 17, 10, 0)}
    assert evaluate(late, True, vn(2026, 3, 1))[0].status is Status.MET_LATE  # the breach stays visible


def test_plan_deadlines_apply_outside_emergencies_only() -> None:
    marks = {"report_received": vn(2026, 11, 16, 9), "initial_assessment": vn(2026, 11, 16, 14)}
    codes = [s.deadline.code for s in evaluate(marks, emergency=False, now=vn(2026, 11, 17))]
    assert codes == ["plan_draft", "plan_approval"]
    assert [s.deadline.code for s in evaluate(marks, emergency=True, now=vn(2026, 11, 17))] == ["emergency_protection"]


@given(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 1), timezones=st.just(VIETNAM)),
       st.integers(1, 15))  # fmt: skip
def test_n_working_days_later_lies_after_exactly_n_working_days(start: datetime, days: int) -> None:
    due = add_working_days(start, days)
    assert due.time() == datetime.min.time() and due.tzinfo is not None
    last = due.date() - timedelta(days=1)
    assert is_working_day(last)
    between = [start.date() + timedelta(days=n) for n in range(1, (last - start.date()).days + 1)]
    assert sum(is_working_day(d) for d in between) == days
