"""Hypothesis state machine over the case commands: replay reproduces the state and its deadlines, and no
accepted sequence skips a mandatory step of the process."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from pydantic import BaseModel

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
    CompleteDetailedAssessment,
    Context,
    DeliverService,
    EmergencyMeasure,
    EndEmergencyMeasure,
    InvalidCaseChange,
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
    allowed_commands,
    decide,
    evolve,
    replay,
)
from registry.circumstances import SupportLevel
from registry.law import VIETNAM

START = datetime(2026, 2, 12, 20, 0, tzinfo=VIETNAM)  # just before Tết 2026
ACTORS = [
    Actor("officer:1", "commune_officer"),
    Actor("officer:2", "commune_officer"),
    Actor("chair:1", "commune_chair"),
    Actor("officer:1", "commune_chair"),  # the author of a plan, holding the chair's role: may not approve it
]
SERVICE = PlannedService(service="counselling", level=SupportLevel.SUPPORT, responsible="social work centre")


class CaseProcess(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.state: CaseState | None = None
        self.events: list[BaseModel] = []
        self.history: list[str] = []  # the event types accepted, in order

    def attempt(self, command: CaseCommand, actor: Actor) -> None:
        context = Context(self.now, actor, lambda code, at: code in {"00001", "00004"})
        before = self.state
        try:
            events = decide(self.state, command, context)
        except InvalidCaseChange:
            assert self.state is before
            return
        for decided in events:
            self.state = evolve(self.state, decided)
            self.events.append(decided)
            self.history.append(type(decided).__name__.split("[")[0])
        event(f"accepted {type(command).__name__}")

    @initialize()
    def report(self) -> None:
        report = ReceiveReport("k", self.now, Channel.HOTLINE_111, ReporterKind.NEIGHBOUR, (CaseType.NEGLECT,),
                               "00001", "left alone", unregistered_children=("a boy of 8",))  # fmt: skip
        self.attempt(report, ACTORS[0])

    @rule(hours=st.integers(0, 200))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @rule(data=st.data(), actor=st.sampled_from(ACTORS), follow=st.integers(0, 9))
    def step(self, data: st.DataObject, actor: Actor, follow: int) -> None:
        now = self.now
        commands: list[CaseCommand] = [
            AssessRisk("k", now, RiskLevel.HIGH, emergency=True),
            AssessRisk("k", now, RiskLevel.LOW, emergency=False),
            ApplyEmergencyMeasure("k", now, EmergencyMeasure.TEMPORARY_REMOVAL, "07/QĐ"),
            EndEmergencyMeasure("k", now, "safe"),
            CompleteDetailedAssessment("k", now, "Mẫu 03"),
            SubmitPlan("k", now, ("safety",), (SERVICE,)),
            ApprovePlan("k", now),
            RejectPlan("k", now, "incomplete"),
            DeliverService("k", now, "counselling", SupportLevel.SUPPORT, "CTXH"),
            ReviewPlan("k", now, ReviewOutcome.STABLE, RiskLevel.LOW),
            ReviewPlan("k", now, ReviewOutcome.CONTINUE, RiskLevel.MEDIUM),
            RevisePlan("k", now, "still at risk"),
            CloseCase("k", now, ClosureReason.RISK_RESOLVED),
            CloseCase("k", now, ClosureReason.UNFOUNDED),
            ReopenCase("k", now, "new report"),
            TransferCase("k", now, "00004", "the child moved"),
            TransferCase("k", now, "00001", "the child moved back"),
        ]  # fmt: skip
        if follow and self.state is not None:  # mostly a command the stage allows, to reach every stage
            allowed = allowed_commands(self.state.stage)
            commands = [c for c in commands if type(c).__name__ in allowed] or commands
        self.attempt(data.draw(st.sampled_from(commands)), actor)

    @rule(data=st.data(), actor=st.sampled_from(ACTORS))
    def advance(self, data: st.DataObject, actor: Actor) -> None:
        """The step that moves the case on from its stage (approvals by any actor: the rules pick who may)."""
        if self.state is None:
            return
        now = self.now
        choices: dict[Stage, list[CaseCommand]] = {
            Stage.RECEIVED: [AssessRisk("k", now, RiskLevel.HIGH, emergency=True),
                             AssessRisk("k", now, RiskLevel.MEDIUM, emergency=False)],
            Stage.ASSESSED: [CompleteDetailedAssessment("k", now, "Mẫu 03")],
            Stage.PLANNING: [SubmitPlan("k", now, ("safety",), (SERVICE,))],
            Stage.PLAN_SUBMITTED: [ApprovePlan("k", now), RejectPlan("k", now, "incomplete")],
            Stage.INTERVENTION: [ReviewPlan("k", now, ReviewOutcome.STABLE, RiskLevel.LOW),
                                 ReviewPlan("k", now, ReviewOutcome.REVISE, RiskLevel.HIGH),
                                 RevisePlan("k", now, "still at risk"),
                                 CloseCase("k", now, ClosureReason.RISK_RESOLVED)],
            Stage.CLOSED: [ReopenCase("k", now, "a new report")],
        }  # fmt: skip
        self.attempt(data.draw(st.sampled_from(choices[self.state.stage])), actor)

    @invariant()
    def replay_reproduces_the_state_and_its_deadlines(self) -> None:
        rebuilt = replay(self.events)
        assert rebuilt == self.state
        if rebuilt is not None and self.state is not None:
            assert rebuilt.deadlines(self.now) == self.state.deadlines(self.now)

    @invariant()
    def no_mandatory_step_is_skipped(self) -> None:
        state = self.state
        if state is None:
            return
        starts = [i for i, name in enumerate(self.history) if name in ("ReportReceived", "CaseReopened")]
        cycle = self.history[starts[-1] :]  # the events since the report or the latest reopening
        if state.stage in (Stage.PLANNING, Stage.PLAN_SUBMITTED, Stage.INTERVENTION):
            assert "InitialAssessmentCompleted" in cycle and "DetailedAssessmentCompleted" in cycle
        if state.stage is Stage.INTERVENTION:
            assert state.plan is not None and state.plan_approved_by not in (None, state.plan.author_id)
        if state.closed is not None:
            assert state.emergency_measure is None  # never closed with emergency protection in force
            if state.closed.reason is ClosureReason.RISK_RESOLVED:
                assert state.last_review is not None and state.last_review.outcome is ReviewOutcome.STABLE
        if "EmergencyMeasureApplied" in cycle:
            assert cycle.index("InitialAssessmentCompleted") < cycle.index("EmergencyMeasureApplied")


TestCaseProcess = CaseProcess.TestCase
TestCaseProcess.settings = settings(max_examples=80, stateful_step_count=50, deadline=None)
