"""The pure core of duplicate detection: names folded, dates compared, scores and reasons, blocking keys."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.children import Context as ChildContext
from registry.children import DatePrecision, NewCaregiver, RegisterChild, Relation, Sex, decide, evolve
from registry.duplicates import (
    REASONS,
    THRESHOLD,
    Profile,
    Reason,
    blocking_keys,
    canonical_name,
    compare,
    compare_birth_dates,
    name_key,
    pair_id,
    pair_of,
    profile,
    profile_of,
    score,
)
from registry.unit_loader import default_plan

UNITS = default_plan().gazetteer
SURNAMES = ["Nguyễn", "Trần", "Lò", "Giàng", "Dương", "Đỗ", "Vàng"]
MIDDLES = ["Thị", "Văn", "A", "Thu", ""]
GIVEN = ["Thúy", "Thuý", "Thuy", "Vy", "Vi", "Dũng", "Giũng", "Sơn", "Xơn", "Trang", "Chang", "Páo", "Mai", "An"]
COMMUNES = ["03253", "03127", "03405"]
CAREGIVERS = ["Lò Thị Mai", "LO THI MAI", "Trần Văn Nam", "Hoa", None]
PIDS = [None, None, "011215000001", "011215000002"]


def full_name(surname: str, middle: str, given_name: str) -> str:
    return " ".join(part for part in (surname, middle, given_name) if part)


names = st.builds(full_name, st.sampled_from(SURNAMES), st.sampled_from(MIDDLES), st.sampled_from(GIVEN))
profiles = st.builds(
    profile,
    st.uuids().map(str),
    names,
    st.builds(date, st.sampled_from([2015, 2016]), st.sampled_from([1, 3, 5, 12]), st.sampled_from([1, 3, 5, 12, 13])),
    st.sampled_from(list(DatePrecision)),
    st.sampled_from(list(Sex)),
    st.sampled_from(PIDS),
    st.frozensets(st.sampled_from(COMMUNES), max_size=2),
    st.lists(st.sampled_from(CAREGIVERS), max_size=2),
)  # fmt: skip


def plain(text: str) -> str:
    """What a keyboard without Vietnamese input gives: no diacritics, đ as d."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@given(profiles, profiles)
def test_comparison_is_symmetric_and_scores_are_two_decimal_probabilities(a: Profile, b: Profile) -> None:
    ab, ba = compare(a, b), compare(b, a)
    assert ab == ba
    assert Decimal(0) <= ab.score <= Decimal(1)
    assert re.fullmatch(r"0\.\d\d|1\.00", ab.text)
    assert len(set(ab.reasons)) == len(ab.reasons)


@given(profiles, profiles)
def test_every_pair_the_score_accepts_shares_a_blocking_key(a: Profile, b: Profile) -> None:
    """Blocking loses nothing: a pair at or above the threshold is always compared by a batch."""
    if compare(a, b).suspected(THRESHOLD):
        assert blocking_keys(a) & blocking_keys(b)


@given(profiles, profiles)
def test_without_a_name_or_the_number_in_common_no_pair_is_suspected(a: Profile, b: Profile) -> None:
    """Twins and siblings share a birth date, a commune and a mother: none of that counts without the name."""
    match = compare(a, b)
    if not {Reason.SAME_NAME, Reason.SIMILAR_NAME, Reason.SAME_PERSONAL_ID} & set(match.reasons):
        assert not match.suspected(THRESHOLD)


@given(st.sets(st.sampled_from(list(Reason))), st.sampled_from([r for r, w in REASONS.items() if w.bits > 0]))
def test_evidence_for_never_lowers_the_score_and_evidence_against_never_raises_it(
    reasons: set[Reason], extra: Reason
) -> None:
    assert score(reasons | {extra}).score >= score(reasons).score
    against = [r for r, w in REASONS.items() if w.bits < 0]
    for reason in against:
        assert score(reasons | {reason}).score <= score(reasons).score or reason in reasons


@given(names)
def test_the_spellings_of_one_name_fold_to_the_same_name(name: str) -> None:
    variants = [name.upper(), name.lower(), plain(name), unicodedata.normalize("NFD", name), f"  {name} "]
    if name.endswith(("Vy", "Vi")):
        variants.append(name[:-1] + ("i" if name.endswith("y") else "y"))
    for variant in variants:
        assert canonical_name(variant) == canonical_name(name)
        assert name_key(variant) == name_key(name)


def test_names_same_similar_and_different() -> None:
    def names_of(x: str, y: str) -> Reason | None:
        a = profile("a", x, date(2015, 1, 1), DatePrecision.DAY, Sex.FEMALE, None, [], [])
        b = profile("b", y, date(2015, 1, 1), DatePrecision.DAY, Sex.FEMALE, None, [], [])
        found = [r for r in compare(a, b).reasons if r in (Reason.SAME_NAME, Reason.SIMILAR_NAME)]
        return found[0] if found else None

    assert names_of("Trần Thị Thuý", "TRAN THI THUY") is Reason.SAME_NAME
    assert names_of("Trần Thị Thúy", "Trần Thị Thuý") is Reason.SAME_NAME  # the tone mark on another vowel
    assert names_of("Nguyễn Ngọc Vy", "Nguyễn Ngọc Vi") is Reason.SAME_NAME  # i/y ending a syllable
    assert names_of("Lý Thị Mỹ", "Lí Thị Mĩ") is Reason.SAME_NAME
    assert names_of("Giàng A Páo", "Giang A Pao") is Reason.SAME_NAME  # a minority name without its tones
    assert names_of("Dương Văn Dũng", "Dương Văn Giũng") is Reason.SIMILAR_NAME  # d/gi: weaker
    assert names_of("Vũ Thị Trang", "Vũ Thị Chang") is Reason.SIMILAR_NAME  # tr/ch
    assert names_of("Hà Văn Sơn", "Hà Văn Xơn") is Reason.SIMILAR_NAME  # s/x
    assert names_of("Nguyễn Thị Mai", "Nguyễn Mai") is Reason.SIMILAR_NAME  # the middle name missing
    assert names_of("Hoàng Văn Huy", "Hoàng Văn Hui") is None  # uy and ui are other rhymes, not i/y
    assert names_of("Lò Văn An", "Lò Văn Bình") is None


def test_dates_of_birth_same_compatible_apart_or_a_typing_slip() -> None:
    day, month, year = DatePrecision.DAY, DatePrecision.MONTH, DatePrecision.YEAR
    assert compare_birth_dates(date(2015, 7, 9), day, date(2015, 7, 9), day) is Reason.SAME_BIRTH_DATE
    assert compare_birth_dates(date(2015, 7, 9), day, date(2015, 9, 7), day) is Reason.COMPATIBLE_BIRTH_DATE
    assert compare_birth_dates(date(2015, 1, 1), year, date(2015, 7, 9), day) is Reason.COMPATIBLE_BIRTH_DATE
    assert compare_birth_dates(date(2015, 7, 1), month, date(2015, 7, 9), day) is Reason.COMPATIBLE_BIRTH_DATE
    assert compare_birth_dates(date(2015, 6, 1), month, date(2015, 7, 9), day) is Reason.BIRTH_DATES_APART
    assert compare_birth_dates(date(2016, 1, 1), year, date(2015, 7, 9), day) is Reason.BIRTH_DATES_APART
    assert compare_birth_dates(date(2015, 7, 19), day, date(2015, 7, 9), day) is None  # one digit typed wrong
    assert compare_birth_dates(date(2015, 3, 21), day, date(2015, 7, 9), day) is Reason.BIRTH_DATES_APART


def test_the_scenario_of_the_domain_file_is_suspected_and_twins_and_namesakes_are_not() -> None:
    """domain.md 8.5: a collaborator's record without a number, born "2015", and the school's with the number and
    the full date, in the same commune."""
    hamlet = profile("a", "Trần Thị Hoa", date(2015, 1, 1), DatePrecision.YEAR, Sex.FEMALE, None, ["03405"], [])
    school = profile("b", "Tran Thi Hoa", date(2015, 7, 9), DatePrecision.DAY, Sex.FEMALE, "089315000001",
                     ["03405"], [])  # fmt: skip
    match = compare(hamlet, school)
    assert match.reasons == (Reason.SAME_NAME, Reason.COMPATIBLE_BIRTH_DATE, Reason.SAME_COMMUNE)
    assert match.suspected() and match.text == "0.85"

    born, mother = date(2016, 4, 2), ["Lò Thị Mai"]
    twin_a = profile("c", "Lò Văn An", born, DatePrecision.DAY, Sex.MALE, None, ["03253"], mother)
    twin_b = profile("d", "Lò Văn Bình", born, DatePrecision.DAY, Sex.MALE, None, ["03253"], mother)
    assert not compare(twin_a, twin_b).suspected() and not blocking_keys(twin_a) & blocking_keys(twin_b)
    namesake = profile("e", "Lò Văn An", born, DatePrecision.DAY, Sex.MALE, None, ["00004"], ["Vi Thị Hằng"])
    assert compare(twin_a, namesake).reasons == (Reason.SAME_NAME, Reason.SAME_BIRTH_DATE)
    assert not compare(twin_a, namesake).suspected()  # name and date alone: namesakes exist across a province
    moved = profile("f", "LO VAN AN", born, DatePrecision.DAY, Sex.MALE, None, ["00004"], ["Lo Thi Mai"])
    assert compare(twin_a, moved).suspected()  # another commune, the same mother

    numbered = profile("g", "Lò Văn An", born, DatePrecision.DAY, Sex.MALE, "011216000001", ["03253"], mother)
    other = profile("h", "Lò Văn An", born, DatePrecision.DAY, Sex.MALE, "011216000002", ["03253"], mother)
    assert Reason.DIFFERENT_PERSONAL_ID in compare(numbered, other).reasons
    assert not compare(numbered, other).suspected()
    renamed = profile("i", "Lò Thị Hương", date(2016, 5, 2), DatePrecision.DAY, Sex.FEMALE, "011216000001",
                      [], [])  # fmt: skip
    assert compare(numbered, renamed).suspected()  # the number alone: one of the two records is wrong


def test_a_record_lies_in_todays_commune_so_a_legacy_code_and_its_successor_agree() -> None:
    context = ChildContext(date(2026, 11, 23), UNITS)
    mother = (NewCaregiver(Relation.MOTHER, name="Lò Thị Mai"),)
    before = RegisterChild("a", "Lò Văn An", date(2016, 4, 2), Sex.MALE, "03400", date(2020, 1, 1),
                           caregivers=mother)  # legacy Tả Lèng  # fmt: skip
    after = RegisterChild("b", "Lo Van An", date(2016, 4, 2), Sex.MALE, "03405", date(2025, 9, 1))  # its successor
    states = [evolve(None, decide(None, command, context)[0]) for command in (before, after)]

    def now(code: str, day: date) -> str:
        return UNITS.place(code, day).commune_now

    a, b = (profile_of(state, now) for state in states)
    assert a is not None and b is not None
    assert a.communes == b.communes == frozenset({"03405"})
    assert a.caregivers == frozenset({"lo thi mai"})
    assert compare(a, b).reasons == (Reason.SAME_NAME, Reason.SAME_BIRTH_DATE, Reason.SAME_COMMUNE)


@given(st.text(min_size=1, max_size=5), st.text(min_size=1, max_size=5))
def test_a_pair_has_one_id_whichever_record_comes_first(a: str, b: str) -> None:
    if a == b:
        with pytest.raises(ValueError):
            pair_of(a, b)
        return
    assert pair_id(a, b) == pair_id(b, a)
    assert pair_of(a, b) == pair_of(b, a) == tuple(sorted((a, b)))
