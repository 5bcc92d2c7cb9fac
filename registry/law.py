"""Every legal number the registry uses, in one table, each with its basis.

A rule in the code refers to an entry here by name and cites the article in a
comment; nothing legal is hard-coded elsewhere. `verified` is False where the
number comes from a secondary source and awaits a reading of the primary text
(see ../shared/domain.md, "Open / unverified items").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

# Vietnam keeps one time zone (UTC+7) with no daylight saving time: a date in
# a legal text starts at 00:00 there.
VIETNAM = timezone(timedelta(hours=7), "ICT")


@dataclass(frozen=True, slots=True)
class LegalFact:
    name: str
    value: Any
    basis: str
    verified: bool


FACTS: dict[str, LegalFact] = {
    fact.name: fact
    for fact in (
        LegalFact(
            "two_tier_local_government",
            date(2025, 7, 1),
            "NQ 202/2025/QH15 (provinces, 63 -> 34) and the Law on Organisation of Local Government 2025: "
            "from 2025-07-01 local government has two tiers (province, commune); the district level ends",
            verified=True,
        ),
        LegalFact(
            "commune_restructuring_2025",
            "34 resolutions of the NA Standing Committee of 16 June 2025, one per new province "
            "(e.g. 1656/NQ-UBTVQH15 Hà Nội, 1685/NQ-UBTVQH15 Hồ Chí Minh City)",
            "domain.md section 10 (checked against sources)",
            verified=True,
        ),
        LegalFact(
            "child_age_limit",
            16,
            "Law on Children 102/2016/QH13 Art. 1: a child is a person under 16; the record stays, the "
            "classification as a child (and every group of Art. 10) ends on the 16th birthday",
            verified=True,
        ),
        LegalFact(
            "personal_id_structure",
            {"length": 12, "province_digits": 3, "century_sex_digit": 4, "year_digits": (5, 6)},
            "Personal identification number (số định danh cá nhân), Circular 59/2021/TT-BCA (verify): digits 1-3 "
            "the province code of birth registration (the 2-digit unit code zero-padded), digit 4 century and sex "
            "(0/1 male/female born 1900-1999, 2/3 born 2000-2099, 4/5 2100-2199, ...), digits 5-6 the last two "
            "digits of the year of birth, digits 7-12 random",
            verified=False,
        ),
        LegalFact(
            "emergency_protection_hours",
            12,
            "Decree 56/2017/NĐ-CP Art. 26(3), Arts. 31-32: emergency intervention or temporary removal of a child "
            "in danger within 12 hours of receiving the information (wall-clock hours)",
            verified=True,
        ),
        LegalFact(
            "plan_draft_working_days",
            5,
            "Decree 56/2017/NĐ-CP Art. 28(1)-(2): the support/intervention plan (Mẫu 04) within 05 working days, "
            "except emergencies; the start of the period is not fixed by the text (here: the initial assessment)",
            verified=False,
        ),
        LegalFact(
            "plan_approval_working_days",
            7,
            "Administrative procedure 'Phê duyệt kế hoạch hỗ trợ, can thiệp' (Decree 56/2017 Art. 28; Law on "
            "Children Art. 52(2)): 07 working days in all, except emergencies (verify against QĐ 847/QĐ-LĐTBXH)",
            verified=False,
        ),
        LegalFact(
            "unit_code_lengths",
            {"province": 2, "district": 3, "commune": 5},
            "QĐ 124/2004/QĐ-TTg (list of administrative unit codes): each level's code is unique nationwide on "
            "its own, not a concatenation of its parents' codes",
            verified=True,
        ),
        # The audit report (projections/audit_report.py): access "outside working hours" and "late corrections".
        LegalFact(
            "working_days",
            (1, 2, 3, 4, 5),
            "QĐ 188/1999/QĐ-TTg Art. 1: officials and employees of state administrative agencies work 40 hours a "
            "week in five days, with Saturday and Sunday as the two rest days (ISO weekdays 1-5: Monday to "
            "Friday). Public holidays (Labour Code 45/2019/QH14 Art. 112) are working days here: the registry "
            "holds no calendar of them (Tết follows the lunar calendar)",
            verified=True,
        ),
        LegalFact(
            "working_hours",
            (time(7, 0), time(17, 30)),
            "Registry convention, not law: within the 40-hour week of QĐ 188/1999/QĐ-TTg each ministry and "
            "provincial People's Committee sets its offices' daily hours, and they differ by province and season "
            "(e.g. Nghệ An, winter 2023-2024, TB 723/TB-UBND: 7:30-12:00 and 13:30-17:00). The registry takes one "
            "window from the earliest usual start to the latest usual end, the lunch break inside it, so that the "
            "audit lists only access clearly outside office time (Vietnam time); change it here for a province",
            verified=False,
        ),
        LegalFact(
            "late_correction_days",
            30,
            "Registry convention, no legal basis found: an event whose business time (occurred_at) lies more than "
            "30 days before the registry recorded it is listed for auditors as a late correction (a fact or a "
            "report entered a month or more after it happened); change it here",
            verified=False,
        ),
    )
}

TWO_TIER_FROM: date = FACTS["two_tier_local_government"].value
"""The first day without a district level (NQ 202/2025/QH15)."""

CHILD_AGE_LIMIT: int = FACTS["child_age_limit"].value
"""A child is a person under this age (Law on Children 2016 Art. 1)."""


WORKING_DAYS: frozenset[int] = frozenset(FACTS["working_days"].value)
"""ISO weekdays of state offices (QĐ 188/1999/QĐ-TTg Art. 1: Monday to Friday)."""

WORKING_HOURS: tuple[time, time] = FACTS["working_hours"].value
"""The office day in Vietnam time, [start, end): a registry convention (the hours are set per province)."""

LATE_CORRECTION: timedelta = timedelta(days=FACTS["late_correction_days"].value)
"""An event recorded more than this after its business time is a late correction (a registry convention)."""


def in_working_hours(moment: datetime) -> bool:
    """Whether a moment (with its zone) falls in the office hours of a working day, judged in Vietnam time."""
    local = moment.astimezone(VIETNAM)
    start, end = WORKING_HOURS
    return local.isoweekday() in WORKING_DAYS and start <= local.time() < end


def start_of_day(day: date) -> datetime:
    """The moment a legal date begins in Vietnam: the business time of an act effective that day."""
    return datetime.combine(day, time(0), VIETNAM)


__all__ = [
    "CHILD_AGE_LIMIT",
    "FACTS",
    "LATE_CORRECTION",
    "TWO_TIER_FROM",
    "VIETNAM",
    "WORKING_DAYS",
    "WORKING_HOURS",
    "LegalFact",
    "in_working_hours",
    "start_of_day",
]
