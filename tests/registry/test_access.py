"""Roles, what each may do, and jurisdiction along the unit tree, over the real administrative units."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.access import PERMISSIONS, Action, Principal, Role, reaches
from registry.errors import InvalidInput
from registry.gazetteer import Gazetteer
from registry.law import TWO_TIER_FROM
from registry.unit_loader import default_plan
from registry.units import Level

UNITS: Gazetteer = default_plan().gazetteer
TODAY = date(2026, 11, 23)
LAST_LEGACY_DAY = TWO_TIER_FROM - timedelta(days=1)
LATER = datetime(2030, 1, 1, tzinfo=UTC)
LEGACY = sorted(s.code for s in UNITS.states() if s.level is Level.COMMUNE and s.at(LAST_LEGACY_DAY) is not None)
NEW = sorted(s.code for s in UNITS.states() if s.level is Level.COMMUNE and s.at(TODAY) is not None)
days = st.dates(date(2021, 1, 1), date(2026, 11, 1))


def principal(role: Role, unit: str | None) -> Principal:
    return Principal("officer:t", role, unit, LATER)


def record(day: date) -> st.SearchStrategy[str]:
    return st.sampled_from(LEGACY if day < TWO_TIER_FROM else NEW)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), day=days)
def test_a_record_lies_in_exactly_one_commune_and_province_of_today(data: st.DataObject, day: date) -> None:
    commune = data.draw(record(day))
    place = UNITS.place(commune, day)
    home = principal(Role.COMMUNE_OFFICER, place.commune_now)
    assert home.covers(place)
    other = data.draw(st.sampled_from(NEW).filter(lambda c: c != place.commune_now))
    assert not principal(Role.COMMUNE_OFFICER, other).covers(place)
    province = principal(Role.PROVINCE_OFFICER, UNITS.path(place.commune_now, TODAY)[-1].code)
    assert province.covers(place)
    assert place.commune_now in {u.code for u in UNITS.communes_of(province.unit or "", TODAY)}
    for role in (Role.NATIONAL_OFFICER, Role.AUDITOR):
        assert principal(role, None).covers(place)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), day=st.dates(date(2021, 1, 1), LAST_LEGACY_DAY))
def test_a_district_officer_covers_the_records_of_the_communes_of_its_district(data: st.DataObject, day: date) -> None:
    commune = data.draw(st.sampled_from(LEGACY))
    district = next(u.code for u in UNITS.path(commune, day) if u.level is Level.DISTRICT)
    place = UNITS.place(commune, day)
    assert principal(Role.DISTRICT_OFFICER, district).covers(place)
    assert not principal(Role.DISTRICT_OFFICER, "001" if district != "001" else "002").covers(place)


def test_the_officer_of_a_new_commune_sees_the_records_of_the_communes_it_was_formed_from() -> None:
    # Tả Lèng (03400) and Giang Ma (03405) of Tam Đường became the new Tả Lèng (03405) on 2025-07-01
    officer = principal(Role.COMMUNE_OFFICER, "03405")
    assert officer.covers(UNITS.place("03400", date(2024, 3, 1)))
    assert officer.covers(UNITS.place("03405", date(2024, 3, 1)))
    assert not principal(Role.COMMUNE_OFFICER, "03394").covers(UNITS.place("03400", date(2024, 3, 1)))
    assert principal(Role.DISTRICT_OFFICER, "106").covers(UNITS.place("03405", date(2026, 1, 1)))


def test_what_each_role_may_do() -> None:
    assert Principal("chair:1", Role.COMMUNE_CHAIR, "03405", LATER).allows(Action.APPROVE_PLAN)
    assert not principal(Role.COMMUNE_OFFICER, "03405").allows(Action.APPROVE_PLAN)
    auditor = principal(Role.AUDITOR, None)
    assert auditor.allows(Action.READ_ACCESS_LOG) and auditor.allows(Action.READ_HISTORY)
    assert not auditor.allows(Action.WRITE)
    client = principal(Role.INTEGRATION_CLIENT, None)
    assert client.allows(Action.IMPORT) and client.allows(Action.FEED) and not client.allows(Action.READ_RECORD)
    assert not any(Action.READ_ACCESS_LOG in PERMISSIONS[r] for r in Role if r is not Role.AUDITOR)
    assert {r for r in Role if Action.WRITE in PERMISSIONS[r]} == {Role.COMMUNE_OFFICER, Role.COMMUNE_CHAIR}


@pytest.mark.parametrize(
    ("role", "unit", "reason"),
    [
        (Role.COMMUNE_OFFICER, None, "wrong_level"),
        (Role.COMMUNE_OFFICER, "12", "wrong_level"),
        (Role.DISTRICT_OFFICER, "03405", "wrong_level"),
        (Role.PROVINCE_OFFICER, "1x", "invalid_code"),
        (Role.AUDITOR, "12", "not_allowed"),
    ],
)
def test_a_principal_names_a_unit_of_its_role_s_level(role: Role, unit: str | None, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        principal(role, unit)
    assert (caught.value.field, caught.value.reason) == ("unit", reason)


def test_which_whole_units_a_principal_reaches() -> None:
    assert reaches(principal(Role.COMMUNE_OFFICER, "03405"), UNITS, "03405", TODAY)
    assert not reaches(principal(Role.COMMUNE_OFFICER, "03405"), UNITS, "03394", TODAY)
    assert not reaches(principal(Role.COMMUNE_OFFICER, "03405"), UNITS, "12", TODAY)
    province = principal(Role.PROVINCE_OFFICER, "12")
    assert reaches(province, UNITS, "12", TODAY) and reaches(province, UNITS, "03405", TODAY)
    assert reaches(province, UNITS, "106", TODAY)  # a former district of Lai Châu
    assert not reaches(province, UNITS, "11", TODAY) and not reaches(province, UNITS, "03253", TODAY)
    district = principal(Role.DISTRICT_OFFICER, "106")
    assert reaches(district, UNITS, "106", TODAY) and reaches(district, UNITS, "03405", TODAY)  # formed within 106
    assert not reaches(district, UNITS, "12", TODAY) and not reaches(district, UNITS, "107", TODAY)
    assert reaches(principal(Role.AUDITOR, None), UNITS, "11", TODAY)
    assert not reaches(province, UNITS, "99999", TODAY)
