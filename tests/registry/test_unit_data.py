"""The official data: counts before and after 2025-07-01, the crosswalk, lookups and search (in memory)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from registry.errors import InvalidInput
from registry.gazetteer import Gazetteer, fold
from registry.unit_loader import DATA_FILE, default_plan
from registry.units import Level

BEFORE = date(2024, 1, 1)
LAST_LEGACY_DAY = date(2025, 6, 30)
REFORM = date(2025, 7, 1)
TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def units() -> Gazetteer:
    return default_plan().gazetteer


def test_the_data_file_names_its_source_version_and_licence() -> None:
    source = json.loads(DATA_FILE.read_text(encoding="utf-8"))["source"]
    assert source["name"] == "vietnamadminunits" and source["version"] == "1.0.4"
    assert source["licence"].startswith("MIT")
    assert (DATA_FILE.parent / "LICENSE.vietnamadminunits").read_text().startswith("MIT License")


@pytest.mark.parametrize(
    ("day", "provinces", "districts", "communes"),
    [(BEFORE, 63, 696, 10_035), (LAST_LEGACY_DAY, 63, 696, 10_035), (REFORM, 34, 0, 3_321), (TODAY, 34, 0, 3_321)],
)
def test_counts_before_and_after_the_reform(
    units: Gazetteer, day: date, provinces: int, districts: int, communes: int
) -> None:
    assert [units.count(level, day) for level in Level] == [provinces, districts, communes]


def test_every_legacy_commune_maps_to_a_new_commune(units: Gazetteer) -> None:
    legacy = [s for s in units.states() if s.level is Level.COMMUNE and s.at(LAST_LEGACY_DAY) is not None]
    assert len(legacy) == 10_035
    divided = 0
    for state in legacy:
        successors = units.successors(state.code, LAST_LEGACY_DAY, TODAY)
        assert successors, state.code
        assert all(s.unit.level is Level.COMMUNE and s.unit.valid_to is None for s in successors)
        assert sum(s.default for s in successors) == 1  # exactly one default, also where divided
        divided += len(successors) > 1
    assert divided == 471  # legacy communes divided between several new ones (counted in the data)


def test_every_new_commune_has_a_province_and_predecessors(units: Gazetteer) -> None:
    new = [s for s in units.states() if s.level is Level.COMMUNE and s.at(TODAY) is not None]
    assert len(new) == 3_321
    for state in new:
        path = units.path(state.code, TODAY)
        assert [u.level for u in path] == [Level.COMMUNE, Level.PROVINCE]
        assert units.predecessors(state.code, TODAY) or state.established is None  # carried on unchanged


def test_a_commune_by_code_before_and_after(units: Gazetteer) -> None:
    """Tuần Giáo (Điện Biên, seed S001): a township of a district, then a commune of the province."""
    before = units.path("03253", BEFORE)
    assert [(u.code, u.full_name) for u in before] == [
        ("03253", "Thị trấn Tuần Giáo"), ("099", "Huyện Tuần Giáo"), ("11", "Tỉnh Điện Biên")]  # fmt: skip
    after = units.path("03253", TODAY)
    assert [(u.code, u.full_name) for u in after] == [("03253", "Xã Tuần Giáo"), ("11", "Tỉnh Điện Biên")]
    assert before[0].unit_id != after[0].unit_id  # the code names a new, larger commune
    assert [u.code for u in units.predecessors("03253", TODAY)] == ["03253", "03274", "03289"]
    assert [u.full_name for u in units.former_districts("03253", TODAY)] == ["Huyện Tuần Giáo"]
    legacy = json.loads(DATA_FILE.read_text(encoding="utf-8"))["legacy"]["communes"]
    assert [u.code for u in units.communes_of("099", BEFORE)] == sorted(c for c, *_, d in legacy if d == "099")
    assert len(units.communes_of("11", TODAY)) == 45  # Điện Biên's communes from 2025-07-01


def test_provinces_merged_under_a_kept_code(units: Gazetteer) -> None:
    """Kiên Giang (91) and An Giang (89) became An Giang under code 91 (domain.md section 6)."""
    assert units.lookup("91", BEFORE).full_name == "Tỉnh Kiên Giang"
    assert units.lookup("91", TODAY).full_name == "Tỉnh An Giang"
    assert units.find("89", TODAY) is None
    assert [s.unit.code for s in units.successors("89", BEFORE, TODAY)] == ["91"]
    assert [u.code for u in units.predecessors("91", TODAY)] == ["89", "91"]
    # Lai Châu and Điện Biên were not merged: the same unit before and after
    assert units.lookup("12", BEFORE).unit_id == units.lookup("12", TODAY).unit_id == "unit:12:initial"


def test_an_island_district_became_a_special_zone(units: Gazetteer) -> None:
    successors = units.successors("318", BEFORE, TODAY)  # Huyện Bạch Long Vĩ, Hải Phòng
    assert [(s.unit.full_name, s.unit.level) for s in successors] == [("Đặc khu Bạch Long Vĩ", Level.COMMUNE)]


def test_search_with_and_without_diacritics(units: Gazetteer) -> None:
    assert fold("Tuần Giáo") == fold("tuan giao") == "tuan giao"
    assert fold("Đắk Lắk") == "dak lak"
    for text in ("Tuần Giáo", "tuan giao", "TUAN GIAO", " tuần  giáo "):
        found = units.search(text, BEFORE)
        assert {u.code for u in found[:2]} == {"099", "03253"}, text
    assert [u.full_name for u in units.search("huyen tuan giao", BEFORE)][0] == "Huyện Tuần Giáo"
    assert [u.full_name for u in units.search("tuan giao", TODAY)] == ["Xã Tuần Giáo"]
    assert [u.code for u in units.search("tuan giao", TODAY, level=Level.DISTRICT)] == []
    everything = units.search("tuan giao")
    assert {u.unit_id for u in everything} == {"unit:099:initial", "unit:03253:initial", "unit:03253:2025-07-01"}
    # the spelling typed first wins among names that fold alike
    assert all(u.name.startswith("Hòa") for u in units.search("Hòa", TODAY, limit=5))
    assert not all(u.name.startswith("Hòa") for u in units.search("hoa", TODAY, limit=20))


@pytest.mark.parametrize(
    ("call", "field", "reason"),
    [
        (lambda u: u.lookup("1234", TODAY), "code", "invalid_code"),
        (lambda u: u.lookup("099", TODAY), "code", "unknown_unit"),
        (lambda u: u.search("  ", TODAY), "text", "empty"),
        (lambda u: u.successors("03253", TODAY, BEFORE), "to", "before_on"),
        (lambda u: u.former_districts("11", TODAY), "code", "not_a_commune"),
    ],
)
def test_bad_queries_are_typed_errors(units: Gazetteer, call: object, field: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        call(units)  # type: ignore[operator]
    assert (caught.value.field, caught.value.reason) == (field, reason)


def test_a_record_is_placed_in_both_structures(units: Gazetteer) -> None:
    # Tả Lèng (03400, Tam Đường, Lai Châu) was merged into the new Tả Lèng (03405) on 2025-07-01
    before = units.place("03400", date(2024, 5, 1))
    assert (before.commune, before.province, before.district, before.commune_now, before.province_now) == (
        "03400", "12", "106", "03405", "12")  # fmt: skip
    assert before.unit(Level.COMMUNE, date(2024, 12, 31)) == "03400"
    assert before.unit(Level.COMMUNE, date(2025, 12, 31)) == "03405"
    assert before.unit(Level.DISTRICT, date(2025, 12, 31)) == "106"  # a former district after the reform
    after = units.place("03405", date(2025, 8, 1))  # a new commune formed within one former district
    assert (after.province, after.district, after.commune_now, after.province_now) == ("12", "106", "03405", "12")
    unknown = units.place("99999", date(2025, 8, 1))
    assert (unknown.province, unknown.district, unknown.province_now) == ("??", None, "??")
