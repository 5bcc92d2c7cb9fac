"""Hypothesis state machine over the child commands: the record rebuilt from its events is the record
the commands made, and no accepted sequence reaches a state the rules forbid."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from pydantic import BaseModel

from registry.children import (
    ChildCommand,
    ChildState,
    ClassifyChild,
    ClearAtRisk,
    Context,
    CorrectChild,
    DeclassifyChild,
    EraseChildData,
    FlagAtRisk,
    InvalidChildChange,
    MergeChild,
    MoveChild,
    RecordDeath,
    RecordSupport,
    RegisterChild,
    Sex,
    decide,
    evolve,
    replay,
)
from registry.circumstances import GROUPS, AtRiskCategory, SupportKind, SupportLevel
from registry.unit_loader import default_plan

UNITS = default_plan().gazetteer
# Communes of Điện Biên on both sides of the reform (legacy codes before 2025-07-01, new after).
LEGACY = ["03253", "03274", "03289", "03292", "03295"]
NEW = ["03253", "03127", "03151", "03158"]
BORN = date(2012, 2, 29)  # turns 16 on 2028-02-29
ago = st.integers(-30, 2500)  # days before "today": mostly in the past, sometimes in the future


class ChildRecord(RuleBasedStateMachine):
    """One child (c-1) and a possible survivor (c-2); `today` moves forward so aging out is reached."""

    def __init__(self) -> None:
        super().__init__()
        self.today = date(2020, 1, 1)
        self.state: ChildState | None = None
        self.events: list[BaseModel] = []
        self.survivor: ChildState | None = None
        self.accepted = 0

    def attempt(self, command: ChildCommand) -> None:
        context = Context(self.today, UNITS, self.survivor)
        before = self.state
        try:
            events = decide(self.state, command, context)
        except InvalidChildChange:
            assert self.state is before  # a refused command changes nothing
            return
        assert self.state is None or (self.state.merged_into is None and not self.state.erased)
        for decided in events:
            self.state = evolve(self.state, decided)
            self.events.append(decided)
        self.accepted += 1
        event(f"accepted {type(command).__name__}")

    @initialize(day=st.integers(0, 2000))
    def register(self, day: int) -> None:
        self.today = BORN + timedelta(days=day + 1)
        commune = "03253"
        self.attempt(RegisterChild("c-1", "Hà Văn Nam", BORN, Sex.MALE, commune, self.today, ethnicity="03"))
        twin = RegisterChild("c-2", "Hà Văn Nam", BORN, Sex.MALE, commune, self.today)
        self.survivor = evolve(None, decide(None, twin, Context(self.today, UNITS))[0])

    @rule(days_later=st.integers(1, 900))
    def time_passes(self, days_later: int) -> None:
        self.today += timedelta(days=days_later)

    @rule(commune=st.sampled_from(sorted(set(LEGACY + NEW))), ago=ago)
    def move(self, commune: str, ago: int) -> None:
        on = self.today - timedelta(days=ago)
        self.attempt(MoveChild("c-1", commune, on, "thôn 1"))

    @rule(group=st.sampled_from(sorted(GROUPS)), ago=ago, data=st.data())
    def classify(self, group: str, ago: int, data: st.DataObject) -> None:
        on = self.today - timedelta(days=ago)
        subgroups = sorted(GROUPS[group].subgroups) or [None]
        self.attempt(ClassifyChild("c-1", group, on, "decision", data.draw(st.sampled_from(subgroups))))

    def _open(self, spells: str) -> list[str]:
        state = self.state
        return sorted({s.code for s in getattr(state, spells) if s.end is None}) if state else []

    @rule(ago=st.integers(-30, 400), data=st.data())
    def declassify(self, ago: int, data: st.DataObject) -> None:
        on = self.today - timedelta(days=ago)
        group = data.draw(st.sampled_from(self._open("groups") or sorted(GROUPS)))  # mostly a group it is in
        self.attempt(DeclassifyChild("c-1", group, on, "no longer"))

    @rule(category=st.sampled_from(list(AtRiskCategory)), ago=ago)
    def flag_at_risk(self, category: AtRiskCategory, ago: int) -> None:
        self.attempt(FlagAtRisk("c-1", category, self.today - timedelta(days=ago)))

    @rule(ago=st.integers(-30, 400), data=st.data())
    def clear_at_risk(self, ago: int, data: st.DataObject) -> None:
        category = data.draw(st.sampled_from(self._open("at_risk") or [c.value for c in AtRiskCategory]))
        self.attempt(ClearAtRisk("c-1", AtRiskCategory(category), self.today - timedelta(days=ago), "ok"))

    @rule(kind=st.sampled_from(list(SupportKind)), ago=ago, amount=st.one_of(st.none(), st.integers(0, 10**9)))
    def support(self, kind: SupportKind, ago: int, amount: int | None) -> None:
        on = self.today - timedelta(days=ago)
        self.attempt(RecordSupport("c-1", kind, SupportLevel.SUPPORT, "UBND xã", on, amount))

    @rule(field=st.sampled_from(["full_name", "sex", "date_of_birth", "address", "ethnicity"]), data=st.data())
    def correct(self, field: str, data: st.DataObject) -> None:
        value = {
            "full_name": st.sampled_from(["Hà Văn Nam", "Hà Văn Năm", ""]),
            "sex": st.sampled_from(list(Sex)),
            "date_of_birth": st.sampled_from([BORN, BORN + timedelta(days=30), BORN - timedelta(days=30)]),
            "address": st.sampled_from([None, "bản Phiêng"]),
            "ethnicity": st.sampled_from(["01", "03", "99"]),
        }[field]
        self.attempt(CorrectChild("c-1", {field: data.draw(value)}, "checked against the birth certificate"))

    @precondition(lambda self: self.accepted > 6)
    @rule(ago=ago)
    def die(self, ago: int) -> None:
        on = self.today - timedelta(days=ago)
        self.attempt(RecordDeath("c-1", on))

    @precondition(lambda self: self.accepted > 8)
    @rule(erase=st.booleans())
    def end_the_record(self, erase: bool) -> None:
        command = EraseChildData("c-1", "request") if erase else MergeChild("c-1", "c-2", "duplicate")
        self.attempt(command)

    @invariant()
    def rebuilding_from_the_events_gives_the_same_record(self) -> None:
        assert replay(self.events) == self.state

    @invariant()
    def the_child_lives_in_one_commune_at_a_time_and_groups_fall_within_its_life(self) -> None:
        state = self.state
        if state is None:
            return
        starts = [r.valid_from for r in state.residences]
        assert starts == sorted(set(starts))  # one residence per day: never two communes at once
        assert all(
            a.commune_code != b.commune_code for a, b in zip(state.residences, state.residences[1:], strict=False)
        )
        born = state.details.date_of_birth
        for spells in (state.groups, state.at_risk):
            for spell in spells:
                assert born <= spell.start < state.sixteenth_birthday
                assert state.died_on is None or spell.start < state.died_on
                assert spell.end is None or spell.end > spell.start
            for code in {s.code for s in spells}:
                same = sorted((s for s in spells if s.code == code), key=lambda s: s.start)
                assert all(a.end is not None and a.end <= b.start for a, b in zip(same, same[1:], strict=False))
        for support in state.supports:
            assert born <= support.on and (state.died_on is None or support.on < state.died_on)
        for residence in state.residences[1:]:
            assert residence.valid_from >= born and (state.died_on is None or residence.valid_from < state.died_on)


TestChildRecord = ChildRecord.TestCase
TestChildRecord.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
