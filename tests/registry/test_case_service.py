"""The case register on a real store: the reporter sealed, roles from the metadata, links, transfers, deadlines."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from registry.cases import (
    ApprovePlan,
    AssessRisk,
    CaseType,
    Channel,
    CompleteDetailedAssessment,
    Confidential,
    InvalidCaseChange,
    LinkChild,
    PlannedService,
    ReceiveReport,
    ReporterKind,
    RiskLevel,
    Stage,
    SubmitPlan,
    TransferCase,
    stream_id,
)
from registry.children import RegisterChild, Sex
from registry.circumstances import SupportLevel
from registry.deadlines import Status
from registry.events import Metadata
from registry.law import VIETNAM
from tests.conftest import NOW, Registry

OFFICER = Metadata(actor_id="officer:7", actor_role="commune_officer")
CHAIR = Metadata(actor_id="chair:1", actor_role="commune_chair")
RECEIVED = datetime(2026, 11, 20, 21, 10, tzinfo=VIETNAM)
SERVICE = PlannedService(service="counselling", level=SupportLevel.INTERVENTION, responsible="social work centre")


def child(registry: Registry, run) -> str:  # type: ignore[no-untyped-def]
    child_id = str(uuid.uuid4())
    run(registry.children.execute(RegisterChild(child_id, "Vàng A Páo", datetime(2018, 1, 1).date(), Sex.MALE,
                                                "03253", datetime(2025, 8, 1).date()), OFFICER))  # fmt: skip
    return child_id


def report(case_id: str, children: tuple[str, ...]) -> ReceiveReport:
    return ReceiveReport(case_id, RECEIVED, Channel.SCHOOL, ReporterKind.TEACHER, (CaseType.NEGLECT,), "03253",
                         "often alone and hungry", child_ids=children, reporter_name="Cô giáo Lan",
                         reporter_contact="0912 000 111", reporter_asked_confidentiality=True)  # fmt: skip


def test_the_reporter_and_the_account_are_sealed_at_rest(run, registry: Registry) -> None:
    case_id = str(uuid.uuid4())
    run(registry.cases.execute(report(case_id, (child(registry, run),)), OFFICER))
    raw = run(registry.db.pool.fetchval("SELECT data::text FROM events WHERE stream_id = $1", stream_id(case_id)))
    for secret in ("Lan", "0912", "hungry"):
        assert secret not in raw
    state = run(registry.cases.load(case_id))
    assert state is not None and isinstance(state.confidential, Confidential)
    assert state.confidential.reporter_name == "Cô giáo Lan" and state.reporter_asked_confidentiality


def test_a_case_links_registered_children_and_a_child_lists_its_cases(run, registry: Registry) -> None:
    first, second = child(registry, run), child(registry, run)
    case_id = str(uuid.uuid4())
    run(registry.cases.execute(report(case_id, (first,)), OFFICER))
    with pytest.raises(InvalidCaseChange) as caught:
        run(registry.cases.execute(LinkChild(case_id, RECEIVED + timedelta(hours=1), str(uuid.uuid4())), OFFICER))
    assert caught.value.reason == "unknown_child"
    run(registry.cases.execute(LinkChild(case_id, RECEIVED + timedelta(hours=1), second), OFFICER))
    assert run(registry.cases.cases_of(second)) == [case_id] and run(registry.cases.cases_of(first)) == [case_id]


def test_the_approver_s_role_and_identity_come_from_the_command_s_metadata(run, registry: Registry) -> None:
    case_id = str(uuid.uuid4())
    cases = registry.cases
    run(cases.execute(report(case_id, (child(registry, run),)), OFFICER))
    run(cases.execute(AssessRisk(case_id, RECEIVED + timedelta(hours=2), RiskLevel.MEDIUM, emergency=False), OFFICER))
    run(cases.execute(CompleteDetailedAssessment(case_id, RECEIVED + timedelta(days=1), "Mẫu 03"), OFFICER))
    run(cases.execute(SubmitPlan(case_id, RECEIVED + timedelta(days=2), ("fed and safe",), (SERVICE,)), OFFICER))
    with pytest.raises(InvalidCaseChange) as caught:
        run(cases.execute(ApprovePlan(case_id, RECEIVED + timedelta(days=2, hours=1)), OFFICER))
    assert caught.value.reason == "not_the_approver"
    own = Metadata(actor_id="officer:7", actor_role="commune_chair")
    with pytest.raises(InvalidCaseChange) as caught:
        run(cases.execute(ApprovePlan(case_id, RECEIVED + timedelta(days=2, hours=1)), own))
    assert caught.value.reason == "own_plan"
    run(cases.execute(ApprovePlan(case_id, RECEIVED + timedelta(days=2, hours=1)), CHAIR))
    state = run(cases.load(case_id))
    assert state is not None and state.stage is Stage.INTERVENTION
    approved = run(registry.store.read_stream(stream_id(case_id)))[-1]
    assert approved.metadata["actor_role"] == "commune_chair"
    assert approved.occurred_at == RECEIVED + timedelta(days=2, hours=1)
    assert {s.deadline.code: s.status for s in state.deadlines(NOW)} == {
        "plan_draft": Status.MET, "plan_approval": Status.MET}  # fmt: skip


def test_a_transfer_moves_the_case_to_a_commune_of_that_date(run, registry: Registry) -> None:
    case_id = str(uuid.uuid4())
    run(registry.cases.execute(report(case_id, (child(registry, run),)), OFFICER))
    moved = RECEIVED + timedelta(hours=3)
    with pytest.raises(InvalidCaseChange) as caught:
        run(registry.cases.execute(TransferCase(case_id, moved, "03274", "x"), OFFICER))  # merged on 2025-07-01
    assert caught.value.reason == "unknown_commune"
    run(registry.cases.execute(TransferCase(case_id, moved, "03127", "the child lives there"), OFFICER))
    state = run(registry.cases.load(case_id))
    assert state is not None and state.commune == "03127" and state.commune_at(RECEIVED) == "03253"
