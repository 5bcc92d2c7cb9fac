"""The child record: every validation rule, as an example named by the rule (pure, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from registry.children import (
    ChildCommand,
    ChildState,
    ClassifyChild,
    ClearAtRisk,
    Context,
    CorrectChild,
    DeclassifyChild,
    DisabilityLevel,
    EraseChildData,
    FlagAtRisk,
    InvalidChildChange,
    MergeChild,
    MoveChild,
    NewCaregiver,
    RecordDeath,
    RecordDisability,
    RecordSchoolStatus,
    RecordSupport,
    RegisterChild,
    Relation,
    SchoolStatus,
    Sex,
    add_years,
    decide,
    evolve,
)
from registry.circumstances import AtRiskCategory, SupportKind, SupportLevel
from registry.gazetteer import Gazetteer
from registry.unit_loader import default_plan

TODAY = date(2026, 11, 23)
TUAN_GIAO = "03253"  # Điện Biên: a township until 2025-06-30, a commune from 2025-07-01
QUAI_NUA = "03274"  # merged into Tuần Giáo on 2025-07-01
MUONG_AO = "03127"  # Điện Biên Phủ, a ward from 2025-07-01


@pytest.fixture(scope="module")
def units() -> Gazetteer:
    return default_plan().gazetteer


@pytest.fixture
def context(units: Gazetteer) -> Context:
    return Context(TODAY, units)


def register(**changes: object) -> RegisterChild:
    values: dict[str, object] = dict(
        child_id="c-1", full_name="Lò Thị Mai", date_of_birth=date(2013, 5, 2), sex=Sex.FEMALE,
        commune_code=QUAI_NUA, residence_from=date(2020, 1, 1), ethnicity="03",
        personal_id="011313000123", caregivers=(NewCaregiver(Relation.MOTHER, name="Lò Thị Hoa"),),
        address="Bản Phiêng",
    )  # fmt: skip
    values.update(changes)
    return RegisterChild(**values)  # type: ignore[arg-type]


@pytest.fixture
def mai(context: Context) -> ChildState:
    """A girl born 2013-05-02, living in Quài Nưa from 2020, then in Tuần Giáo from 2025-08-01."""
    state = evolve(None, decide(None, register(), context)[0])
    return evolve(state, decide(state, MoveChild("c-1", TUAN_GIAO, date(2025, 8, 1), "Tổ 3"), context)[0])


def refused(state: ChildState | None, command: ChildCommand, context: Context, field: str, reason: str) -> None:
    with pytest.raises(InvalidChildChange) as caught:
        decide(state, command, context)
    assert (caught.value.field, caught.value.reason) == (field, reason)
    assert "Lò" not in str(caught.value) and "0113" not in str(caught.value)  # no personal data in errors


def apply(state: ChildState, command: ChildCommand, context: Context) -> ChildState:
    for event in decide(state, command, context):
        state = evolve(state, event)
    return state


# -- registration ---------------------------------------------------------------


def test_a_registered_child_reads_back_with_its_residence_history(mai: ChildState) -> None:
    assert mai.personal.full_name == "Lò Thị Mai"  # type: ignore[union-attr]
    assert mai.commune_on(date(2024, 1, 1)) == QUAI_NUA and mai.commune == TUAN_GIAO
    assert mai.personal.address == "Tổ 3"  # type: ignore[union-attr]


def test_a_date_of_birth_in_the_future_is_refused(context: Context) -> None:
    refused(None, register(date_of_birth=date(2027, 1, 1), personal_id=None), context, "date_of_birth",
            "in_the_future")  # fmt: skip


def test_a_person_of_16_or_older_is_not_registered_as_a_child(context: Context) -> None:
    refused(None, register(date_of_birth=date(2010, 11, 23), personal_id=None), context, "date_of_birth",
            "not_a_child")  # fmt: skip
    decide(None, register(date_of_birth=date(2010, 11, 24), personal_id=None, residence_from=date(2011, 1, 1)),
           context)  # one day short of 16: still a child  # fmt: skip


def test_a_personal_id_must_be_12_digits(context: Context) -> None:
    refused(None, register(personal_id="01131300012"), context, "personal_id", "invalid_format")
    refused(None, register(personal_id="01131300012a"), context, "personal_id", "invalid_format")


def test_a_personal_id_starts_with_a_province_code(context: Context) -> None:
    refused(None, register(personal_id="099313000123"), context, "personal_id", "unknown_province")
    decide(None, register(personal_id="089313000123"), context)  # An Giang before the reform: still valid


def test_a_personal_id_must_agree_with_the_year_of_birth_unless_a_reason_is_given(context: Context) -> None:
    refused(None, register(personal_id="011314000123"), context, "personal_id", "year_mismatch")
    refused(None, register(personal_id="011113000123"), context, "personal_id", "year_mismatch")  # 1913
    decide(None, register(personal_id="011314000123", personal_id_mismatch_reason="birth year corrected by court"),
           context)  # fmt: skip


def test_a_personal_id_must_agree_with_the_sex_unless_a_reason_is_given(context: Context) -> None:
    refused(None, register(personal_id="011213000123"), context, "personal_id", "sex_mismatch")
    decide(None, register(personal_id="011213000123", sex=Sex.UNKNOWN), context)


def test_a_commune_code_must_exist_on_the_date_it_is_used(context: Context) -> None:
    refused(None, register(residence_from=date(2025, 7, 1)), context, "commune_code", "unknown_commune")  # merged
    refused(None, register(commune_code="99999"), context, "commune_code", "unknown_commune")
    refused(None, register(commune_code="099"), context, "commune_code", "invalid_code")  # a district


def test_an_unknown_ethnicity_is_refused(context: Context) -> None:
    refused(None, register(ethnicity="55"), context, "ethnicity", "unknown_ethnicity")


def test_a_residence_cannot_begin_before_birth_or_after_today(context: Context) -> None:
    refused(None, register(residence_from=date(2013, 5, 1)), context, "residence_from", "before_birth")
    refused(None, register(commune_code=TUAN_GIAO, residence_from=date(2026, 12, 1)), context, "residence_from",
            "in_the_future")  # fmt: skip


def test_a_child_is_registered_once(mai: ChildState, context: Context) -> None:
    refused(mai, register(), context, "child_id", "already_registered")
    refused(None, MoveChild("c-2", TUAN_GIAO, date(2026, 1, 1)), context, "child_id", "unknown_child")


def test_a_name_is_required(context: Context) -> None:
    refused(None, register(full_name=""), context, "full_name", "string_too_short")


# -- moves --------------------------------------------------------------------


def test_a_move_to_the_commune_the_child_lives_in_is_refused(mai: ChildState, context: Context) -> None:
    refused(mai, MoveChild("c-1", TUAN_GIAO, date(2026, 1, 1)), context, "to_commune", "same_commune")


def test_a_move_comes_after_the_latest_residence_began(mai: ChildState, context: Context) -> None:
    refused(mai, MoveChild("c-1", MUONG_AO, date(2025, 8, 1)), context, "on", "before_last_move")
    refused(mai, MoveChild("c-1", QUAI_NUA, date(2025, 9, 1)), context, "to_commune", "unknown_commune")


# -- groups, at-risk, supports ---------------------------------------------------


def test_no_classification_before_birth_after_death_or_from_the_16th_birthday(
    mai: ChildState, context: Context
) -> None:
    classify = ClassifyChild("c-1", "hiv_aids", date(2013, 5, 1), "hospital letter")
    refused(mai, classify, context, "on", "before_birth")
    dead = apply(mai, RecordDeath("c-1", date(2026, 3, 1)), context)
    refused(dead, replace(classify, on=date(2026, 3, 1)), context, "on", "after_death")
    later = Context(date(2030, 1, 1), context.units)
    refused(mai, replace(classify, on=date(2029, 5, 2)), later, "on", "aged_out")


def test_a_group_is_one_of_the_14_and_its_sub_group_one_of_its_own(mai: ChildState, context: Context) -> None:
    refused(mai, ClassifyChild("c-1", "homeless", date(2026, 1, 1), "x"), context, "group", "unknown_group")
    refused(mai, ClassifyChild("c-1", "sexually_abused", date(2026, 1, 1), "x"), context, "subgroup", "missing")
    refused(mai, ClassifyChild("c-1", "sexually_abused", date(2026, 1, 1), "x", "no_caregiver"), context,
            "subgroup", "unknown_subgroup")  # fmt: skip


def test_a_child_enters_a_group_once_and_leaves_it_after_entering(mai: ChildState, context: Context) -> None:
    state = apply(mai, ClassifyChild("c-1", "sexually_abused", date(2026, 1, 1), "Mẫu 02", "molestation"), context)
    refused(state, ClassifyChild("c-1", "sexually_abused", date(2026, 2, 1), "x", "rape"), context, "group",
            "already_classified")  # fmt: skip
    refused(state, DeclassifyChild("c-1", "sexually_abused", date(2026, 1, 1), "x"), context, "on",
            "before_classification")  # fmt: skip
    refused(state, DeclassifyChild("c-1", "hiv_aids", date(2026, 2, 1), "x"), context, "group", "not_classified")
    state = apply(state, DeclassifyChild("c-1", "sexually_abused", date(2026, 6, 1), "plan closed"), context)
    refused(state, ClassifyChild("c-1", "sexually_abused", date(2026, 5, 1), "x", "rape"), context, "on", "overlaps")
    assert [g.code for g in state.groups_on(date(2026, 3, 1))] == ["sexually_abused"]
    assert state.groups_on(date(2026, 6, 1)) == []


def test_groups_end_on_the_16th_birthday_without_an_event(mai: ChildState, context: Context) -> None:
    state = apply(mai, ClassifyChild("c-1", "disabled", date(2026, 1, 1), "certificate", "mild"), context)
    assert state.sixteenth_birthday == date(2029, 5, 2)
    assert [g.code for g in state.groups_on(date(2029, 5, 1))] == ["disabled"]
    assert state.groups_on(date(2029, 5, 2)) == [] and not state.is_child_on(date(2029, 5, 2))
    assert add_years(date(2012, 2, 29), 16) == date(2028, 2, 29)
    assert add_years(date(2012, 2, 29), 15) == date(2027, 3, 1)  # the day after 28 February in a common year


def test_at_risk_flags_follow_the_same_rules(mai: ChildState, context: Context) -> None:
    state = apply(mai, FlagAtRisk("c-1", AtRiskCategory.CHILD_LABOUR, date(2026, 1, 1)), context)
    refused(state, FlagAtRisk("c-1", AtRiskCategory.CHILD_LABOUR, date(2026, 2, 1)), context, "category",
            "already_flagged")  # fmt: skip
    refused(state, ClearAtRisk("c-1", AtRiskCategory.SUICIDE, date(2026, 2, 1), "x"), context, "category",
            "not_flagged")  # fmt: skip
    refused(state, ClearAtRisk("c-1", AtRiskCategory.CHILD_LABOUR, date(2025, 12, 1), "x"), context, "on",
            "before_flag")  # fmt: skip


def test_a_support_in_money_has_an_amount_and_others_have_none(mai: ChildState, context: Context) -> None:
    gift = RecordSupport("c-1", SupportKind.CASH_GIFT, SupportLevel.SUPPORT, "UBND xã", date(2026, 6, 1))
    refused(mai, gift, context, "amount_vnd", "missing")
    refused(mai, replace(gift, amount_vnd=-1), context, "amount_vnd", "greater_than_equal")
    counselling = RecordSupport("c-1", SupportKind.COUNSELLING, SupportLevel.INTERVENTION, "CTXH", date(2026, 6, 1),
                                amount_vnd=100)  # fmt: skip
    refused(mai, counselling, context, "amount_vnd", "not_money")
    refused(mai, replace(gift, amount_vnd=300_000, on=date(2027, 1, 1)), context, "on", "in_the_future")
    assert apply(mai, replace(gift, amount_vnd=300_000), context).supports[0].amount_vnd == 300_000


def test_disability_school_and_death_are_facts_within_the_child_s_life(mai: ChildState, context: Context) -> None:
    refused(mai, RecordDisability("c-1", DisabilityLevel.MILD, date(2012, 1, 1)), context, "on", "before_birth")
    refused(mai, RecordSchoolStatus("c-1", SchoolStatus.PRIMARY, date(2027, 1, 1)), context, "on", "in_the_future")
    dead = apply(mai, RecordDeath("c-1", date(2026, 3, 1)), context)
    refused(dead, RecordDeath("c-1", date(2026, 2, 1)), context, "on", "already_deceased")
    refused(dead, MoveChild("c-1", MUONG_AO, date(2026, 4, 1)), context, "on", "after_death")


# -- corrections, merges, erasure --------------------------------------------------


def test_a_correction_names_correctable_fields_changes_something_and_rechecks_the_record(
    mai: ChildState, context: Context
) -> None:
    refused(mai, CorrectChild("c-1", {"commune_code": "00001"}, "x"), context, "changes.commune_code",
            "not_correctable")  # fmt: skip
    refused(mai, CorrectChild("c-1", {"full_name": "Lò Thị Mai"}, "x"), context, "changes", "no_change")
    refused(mai, CorrectChild("c-1", {"sex": Sex.MALE}, "typo"), context, "personal_id", "sex_mismatch")
    refused(mai, CorrectChild("c-1", {"date_of_birth": date(2021, 1, 1)}, "x"), context, "date_of_birth",
            "after_recorded_events")  # fmt: skip
    refused(mai, CorrectChild("c-1", {"full_name": "Lò Thị Mải"}, ""), context, "reason", "string_too_short")
    fixed = apply(mai, CorrectChild("c-1", {"full_name": "Lò  Thị Mải", "ethnicity": "01"}, "birth certificate"),
                  context)  # fmt: skip
    assert fixed.personal.full_name == "Lò Thị Mải" and fixed.details.ethnicity == "01"  # type: ignore[union-attr]


def test_a_merged_record_points_to_the_survivor_and_takes_no_more_commands(mai: ChildState, context: Context) -> None:
    twin = evolve(None, decide(None, register(child_id="c-2", personal_id=None), context)[0])
    refused(mai, MergeChild("c-1", "c-1", "x"), context, "survivor_id", "self")
    refused(mai, MergeChild("c-1", "c-3", "x"), context, "survivor_id", "unknown_child")
    merged = apply(mai, MergeChild("c-1", "c-2", "same child, school sync"), replace(context, survivor=twin))
    assert merged.merged_into == "c-2"
    refused(merged, RecordDeath("c-1", date(2026, 1, 1)), context, "child_id", "merged")


def test_an_erased_record_reads_as_erased_and_takes_no_more_commands(mai: ChildState, context: Context) -> None:
    erased = apply(mai, EraseChildData("c-1", "Law 91/2025/QH15, request of the guardian"), context)
    assert erased.erased and not hasattr(erased.personal, "full_name")
    assert erased.commune == TUAN_GIAO  # what is not personal stays: the register still counts the child
    refused(erased, ClassifyChild("c-1", "hiv_aids", date(2026, 1, 1), "x"), context, "child_id", "erased")
