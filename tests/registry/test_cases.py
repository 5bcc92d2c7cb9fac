"""The case process: each typed error, each separation-of-duties rule, the stage machine (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from registry.cases import (
    Actor,
    ApplyEmergencyMeasure,
    ApprovePlan,
    AssessRisk,
    CaseCommand,
    CaseState,
    CaseType,
    Channel,
    CloseCase,
    ClosureReason,
    CommandNotAllowed,
    CompleteDetailedAssessment,
    Context,
    EmergencyMeasure,
    EndEmergencyMeasure,
    InvalidCaseChange,
    LinkChild,
    PlannedService,
    ReceiveReport,
    RejectPlan,
    ReopenCase,
    ReporterKind,
    ReviewOutcome,
    ReviewPlan,
    RevisePlan,
    RiskLevel,
    Stage,
    SubmitPlan,
    TransferCase,
    decide,
    evolve,
)
from registry.circumstances import SupportLevel
from registry.deadlines import Status
from registry.law import VIETNAM

T0 = datetime(2024, 3, 4, 21, 10, tzinfo=VIETNAM)  # domain.md scenario 8.1: a neighbour calls 111
OFFICER = Actor("officer:7", "commune_officer")
CHAIR = Actor("chair:1", "commune_chair")
COMMUNES = {"00001", "00004", "03253"}


def context(actor: Actor = OFFICER, now: datetime = T0 + timedelta(days=400)) -> Context:
    return Context(now, actor, lambda code, at: code in COMMUNES, lambda child: child.startswith("child-"))


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def run(state: CaseState | None, command: CaseCommand, actor: Actor = OFFICER) -> CaseState:
    for event in decide(state, command, context(actor)):
        state = evolve(state, event)
    assert state is not None
    return state


def refused(state: CaseState | None, command: CaseCommand, field: str, reason: str, actor: Actor = OFFICER) -> None:
    with pytest.raises(InvalidCaseChange) as caught:
        decide(state, command, context(actor))
    assert (caught.value.field, caught.value.reason) == (field, reason)


def report(**changes: object) -> ReceiveReport:
    values: dict[str, object] = dict(
        case_id="k-1", at=T0, channel=Channel.HOTLINE_111, reporter_kind=ReporterKind.NEIGHBOUR,
        case_types=(CaseType.SEXUAL_ABUSE,), commune_code="00001", account="molested by a lodger",
        child_ids=("child-1",), reporter_name="a neighbour", reporter_asked_confidentiality=True,
    )  # fmt: skip
    values.update(changes)
    return ReceiveReport(**values)  # type: ignore[arg-type]


COUNSELLING = PlannedService(service="counselling", level=SupportLevel.INTERVENTION, responsible="social work centre")
PLAN = SubmitPlan("k-1", at(200), ("safety", "recovery"), (COUNSELLING,))


@pytest.fixture
def received() -> CaseState:
    return run(None, report())


@pytest.fixture
def emergency(received: CaseState) -> CaseState:
    return run(received, AssessRisk("k-1", at(2.3), RiskLevel.HIGH, emergency=True))


@pytest.fixture
def submitted(received: CaseState) -> CaseState:
    state = run(received, AssessRisk("k-1", at(2), RiskLevel.MEDIUM, emergency=False))
    state = run(state, CompleteDetailedAssessment("k-1", at(60), "Mẫu 03 and the needs meeting"))
    return run(state, PLAN)


def test_a_report_needs_a_known_commune_and_a_child(received: CaseState) -> None:
    refused(None, report(commune_code="99999"), "commune_code", "unknown_commune")
    refused(None, report(child_ids=("someone",)), "child_ids.0", "unknown_child")
    refused(None, report(child_ids=()), "child_ids", "missing")
    refused(None, report(account=""), "account", "string_too_short")
    refused(received, report(), "case_id", "already_received")
    assert run(None, report(child_ids=(), unregistered_children=("a girl of about 10",))).child_ids == ()


def test_times_are_aware_not_in_the_future_and_in_order(received: CaseState) -> None:
    refused(None, report(at=datetime(2024, 3, 4, 21, 10)), "at", "naive_datetime")
    refused(None, report(at=T0 + timedelta(days=500)), "at", "in_the_future")
    refused(received, AssessRisk("k-1", at(-1), RiskLevel.LOW, False), "at", "before_last_event")


def test_a_command_the_stage_does_not_allow_names_the_stage_and_what_it_allows(received: CaseState) -> None:
    with pytest.raises(CommandNotAllowed) as caught:
        decide(received, ApprovePlan("k-1", at(1)), context(CHAIR))
    error = caught.value
    assert (error.field, error.reason, error.stage) == ("command", "not_allowed_in_stage", Stage.RECEIVED)
    assert "AssessRisk" in error.allowed and "ApprovePlan" not in error.allowed
    assert "stage received" in str(error) and "AssessRisk" in str(error)
    # no plan before the assessments, no review before a plan is approved
    refused(received, PLAN, "command", "not_allowed_in_stage")
    refused(received, ReviewPlan("k-1", at(1), ReviewOutcome.STABLE, RiskLevel.LOW), "command", "not_allowed_in_stage")


def test_only_the_commune_chairman_approves_and_never_the_plan_s_author(submitted: CaseState) -> None:
    refused(submitted, ApprovePlan("k-1", at(201)), "actor_role", "not_the_approver", OFFICER)
    author_as_chair = Actor(OFFICER.id, "commune_chair")  # the officer who wrote it, holding the chair's role
    refused(submitted, ApprovePlan("k-1", at(201)), "actor_id", "own_plan", author_as_chair)
    refused(submitted, RejectPlan("k-1", at(201), "x"), "actor_id", "own_plan", author_as_chair)
    approved = run(submitted, ApprovePlan("k-1", at(201)), CHAIR)
    assert approved.stage is Stage.INTERVENTION and approved.plan_approved_by == CHAIR.id
    rejected = run(submitted, RejectPlan("k-1", at(201), "services missing"), CHAIR)
    assert rejected.stage is Stage.PLANNING


def test_emergency_protection_needs_an_assessed_danger_and_blocks_closure(
    received: CaseState, emergency: CaseState
) -> None:
    refused(received, ApplyEmergencyMeasure("k-1", at(3), EmergencyMeasure.TEMPORARY_REMOVAL, "07/QĐ"), "command",
            "not_allowed_in_stage")  # fmt: skip
    calm = run(received, AssessRisk("k-1", at(2), RiskLevel.LOW, emergency=False))
    refused(calm, ApplyEmergencyMeasure("k-1", at(3), EmergencyMeasure.TEMPORARY_REMOVAL, "07/QĐ"), "measure",
            "no_emergency")  # fmt: skip
    protected = run(emergency, ApplyEmergencyMeasure("k-1", at(4.8), EmergencyMeasure.TEMPORARY_REMOVAL, "07/QĐ"))
    refused(protected, ApplyEmergencyMeasure("k-1", at(5), EmergencyMeasure.EMERGENCY_INTERVENTION, "x"), "measure",
            "already_in_force")  # fmt: skip
    refused(protected, CloseCase("k-1", at(6), ClosureReason.UNFOUNDED), "reason", "emergency_in_force")
    ended = run(protected, EndEmergencyMeasure("k-1", at(30), "child with the aunt"))
    refused(ended, EndEmergencyMeasure("k-1", at(31), "x"), "measure", "none_in_force")
    assert [s.status for s in protected.deadlines(at(5))] == [Status.MET]  # within 12 hours of the report


def test_a_caregiver_who_harms_makes_the_case_an_emergency(received: CaseState) -> None:
    state = run(received, AssessRisk("k-1", at(1), RiskLevel.MEDIUM, emergency=False, caregiver_is_perpetrator=True))
    assert state.emergency  # Decree 56/2017 Art. 31(1)


def test_closing_as_resolved_needs_a_review_that_found_the_child_stable(submitted: CaseState) -> None:
    state = run(submitted, ApprovePlan("k-1", at(201)), CHAIR)
    refused(state, CloseCase("k-1", at(300), ClosureReason.RISK_RESOLVED), "reason", "not_reviewed_stable")
    refused(state, CloseCase("k-1", at(300), ClosureReason.UNFOUNDED), "reason", "not_after_a_plan")
    state = run(state, ReviewPlan("k-1", at(2000), ReviewOutcome.CONTINUE, RiskLevel.MEDIUM))
    refused(state, CloseCase("k-1", at(2001), ClosureReason.RISK_RESOLVED), "reason", "not_reviewed_stable")
    state = run(state, ReviewPlan("k-1", at(4000), ReviewOutcome.STABLE, RiskLevel.LOW))
    closed = run(state, CloseCase("k-1", at(4001), ClosureReason.RISK_RESOLVED))
    assert closed.stage is Stage.CLOSED
    refused(closed, LinkChild("k-1", at(4002), "child-1"), "child_id", "already_linked")
    reopened = run(closed, ReopenCase("k-1", at(5000), "new report of violence"))
    assert reopened.stage is Stage.RECEIVED and reopened.cycle == 2 and reopened.plan is None


def test_a_revision_sends_the_case_back_to_planning(submitted: CaseState) -> None:
    state = run(run(submitted, ApprovePlan("k-1", at(201)), CHAIR), RevisePlan("k-1", at(900), "still at risk"))
    assert state.stage is Stage.PLANNING
    assert run(state, replace(PLAN, at=at(950))).stage is Stage.PLAN_SUBMITTED


def test_a_transfer_changes_the_commune_from_its_date(received: CaseState) -> None:
    refused(received, TransferCase("k-1", at(5), "00001", "x"), "to_commune", "same_commune")
    refused(received, TransferCase("k-1", at(5), "77777", "x"), "to_commune", "unknown_commune")
    moved = run(received, TransferCase("k-1", at(5), "03253", "the child lives there (Law Art. 52(2))"))
    assert moved.commune == "03253" and moved.commune_at(at(4)) == "00001" and moved.commune_at(at(5)) == "03253"


def test_children_are_linked_once_and_must_be_registered(received: CaseState) -> None:
    refused(received, LinkChild("k-1", at(1), "child-1"), "child_id", "already_linked")
    refused(received, LinkChild("k-1", at(1), "nobody"), "child_id", "unknown_child")
    assert run(received, LinkChild("k-1", at(1), "child-2")).child_ids == ("child-1", "child-2")


def test_plan_deadlines_are_computed_from_the_events(submitted: CaseState) -> None:
    # assessed Monday 2024-03-04 23:10; plan submitted 200 hours after the report, Tuesday 2024-03-13
    states = {s.deadline.code: s for s in submitted.deadlines(at(201))}
    assert states["plan_draft"].due_at == datetime(2024, 3, 12, 0, 0, tzinfo=VIETNAM)
    assert states["plan_draft"].status is Status.MET_LATE
    assert states["plan_approval"].status is Status.DUE_SOON  # its last working day (Wednesday 13 March)
    assert states["plan_approval"].due_at == datetime(2024, 3, 14, 0, 0, tzinfo=VIETNAM)
    assert {s.deadline.code: s.status for s in submitted.deadlines(at(190))}["plan_approval"] is Status.PENDING


def test_a_case_id_is_required_and_commands_need_a_received_case() -> None:
    refused(None, report(case_id=""), "case_id", "invalid")
    refused(None, AssessRisk("k-9", at(1), RiskLevel.LOW, False), "case_id", "unknown_case")
