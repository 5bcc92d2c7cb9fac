"""Child-protection cases (quản lý trường hợp): the support and intervention process as a state machine.

Pure decide/evolve, no I/O, one stream per case (`case:{id}`). The process is
that of the Law on Children 2016 (Arts. 47-52) and Decree 56/2017/NĐ-CP
Chapter III (../shared/domain.md section 3):

    received --assess--> assessed --detailed assessment + needs meeting--> planning
    planning --submit plan--> plan_submitted --approve--> intervention
    plan_submitted --reject--> planning;  intervention --revise--> planning
    intervention --close--> closed;  received/assessed --close (unfounded, ...)--> closed
    closed --reopen--> received

Emergency protection (Art. 26(3), Arts. 31-32) runs beside the stages once an
assessment found the child in danger; a case cannot close while a measure is
in force. Services, referrals, links to children, assignments and transfers
between communes happen in any open stage. A command the stage does not
allow is a typed error naming the stage and the commands it allows.

The reporter's identity and the account of what was reported are the case's
confidential part (`Confidential`), sealed at rest like a child's personal
data (registry/sealing.py, `case_keys`).

Deadlines are computed from the events (registry/deadlines.py), never stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .circumstances import SupportLevel
from .deadlines import DeadlineState, evaluate
from .errors import InvalidInput
from .events import build
from .personal import ERASED, Erased, Parts, Sealed, event_type

STREAM_TYPE = "case"
APPROVER_ROLE = "commune_chair"  # Chủ tịch UBND cấp xã approves the plan (Decree 56/2017 Art. 28; Law Art. 52)


def stream_id(case_id: str) -> str:
    return f"case:{case_id}"


class InvalidCaseChange(InvalidInput):
    """Raised when a command on a case breaks a rule; nothing is written."""


class CommandNotAllowed(InvalidCaseChange):
    """Raised when the case's stage does not allow the command; names the stage and what it allows."""

    def __init__(self, stage: Stage, command: str, allowed: Sequence[str]) -> None:
        super().__init__(
            "command", "not_allowed_in_stage", f"{command} is not allowed in stage {stage.value}; allowed: "
            + ", ".join(sorted(allowed)),
        )  # fmt: skip
        self.stage = stage
        self.allowed = tuple(sorted(allowed))


class Stage(StrEnum):
    RECEIVED = "received"  # tiếp nhận thông tin (Mẫu 01)
    ASSESSED = "assessed"  # đánh giá nguy cơ ban đầu (Mẫu 02)
    PLANNING = "planning"  # thu thập thông tin, đánh giá cụ thể (Mẫu 03), họp, xây dựng kế hoạch
    PLAN_SUBMITTED = "plan_submitted"  # kế hoạch (Mẫu 04) trình phê duyệt (Mẫu 05)
    INTERVENTION = "intervention"  # thực hiện kế hoạch, rà soát (Mẫu 06)
    CLOSED = "closed"  # kết thúc


class Channel(StrEnum):
    """How the report came in (domain.md section 3.2)."""

    HOTLINE_111 = "hotline_111"
    POLICE = "police_113"
    LABOUR_OFFICE = "labour_office"
    COMMUNE_PC = "commune_pc"
    PROVINCIAL_HOTLINE = "provincial_hotline"
    SCHOOL = "school"
    HEALTH_FACILITY = "health_facility"
    ONLINE_PORTAL = "online_portal"
    BORDER_GUARD = "border_guard"
    SELF_REPORT = "self_report"
    COMMUNITY = "community"


class ReporterKind(StrEnum):
    CHILD = "child"
    PARENT_OR_CAREGIVER = "parent_or_caregiver"
    NEIGHBOUR = "neighbour"
    TEACHER = "teacher"
    HEALTH_WORKER = "health_worker"
    POLICE = "police"
    OFFICIAL = "official"
    ANONYMOUS = "anonymous"
    OTHER = "other"


class CaseType(StrEnum):
    """Forms of abuse and other grounds for a case (domain.md section 3.3); a case may have several."""

    PHYSICAL_VIOLENCE = "physical_violence"
    EMOTIONAL_VIOLENCE = "emotional_violence"
    SEXUAL_ABUSE = "sexual_abuse"
    EXPLOITATION = "exploitation"
    LABOUR_EXPLOITATION = "labour_exploitation"
    NEGLECT = "neglect"
    ABANDONMENT = "abandonment"
    TRAFFICKING = "trafficking"
    ABDUCTION = "abduction"
    ONLINE_ABUSE = "online_abuse"
    CHILD_MARRIAGE = "child_marriage"
    INJURY_DROWNING = "injury_drowning"


class RiskLevel(StrEnum):
    HIGH = "high"  # cao
    MEDIUM = "medium"  # trung bình
    LOW = "low"  # thấp


class EmergencyMeasure(StrEnum):
    EMERGENCY_INTERVENTION = "emergency_intervention"  # can thiệp khẩn cấp (Art. 31)
    TEMPORARY_REMOVAL = "temporary_removal"  # tạm thời cách ly trẻ em (Art. 32, decision Mẫu 07)


class ReferralTarget(StrEnum):
    HEALTH = "health"
    POLICE = "police"
    COURT = "court"
    SHELTER = "shelter"
    SOCIAL_WORK_CENTRE = "social_work_centre"
    LEGAL_AID = "legal_aid"
    EDUCATION = "education"
    OTHER_COMMUNE = "other_commune"


class ReviewOutcome(StrEnum):
    """Rà soát, đánh giá (Decree 56/2017 Art. 30(1))."""

    STABLE = "stable"  # no longer at risk and stable: the case may close (Art. 30(1)(b))
    CONTINUE = "continue"  # the plan goes on
    REVISE = "revise"  # still at risk or not stable: a new plan (Art. 30(1)(c))


class ClosureReason(StrEnum):
    RISK_RESOLVED = "risk_resolved"  # after a review found the child safe and stable
    UNFOUNDED = "unfounded"  # verification found no abuse or risk
    DUPLICATE = "duplicate"
    AGED_OUT = "aged_out"  # the child turned 16
    CHILD_DIED = "child_died"
    HANDED_OVER = "handed_over"  # to another system (e.g. adult services) by decision


# -- the confidential part ------------------------------------------------------


class Confidential(BaseModel):
    """Who reported and what they said: sealed at rest, readable only where a role needs it (the API)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reporter_name: str | None = Field(default=None, max_length=200)
    reporter_contact: str | None = Field(default=None, max_length=200)
    account: str = Field(min_length=1, max_length=10_000)  # what was reported
    unregistered_children: list[str] = Field(default_factory=list)  # described, not yet in the register


P = TypeVar("P", Confidential, Sealed, Erased)


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: datetime  # when it happened (business time, aware)


class ReportReceived(_Event, Generic[P]):
    """Tiếp nhận thông tin, thông báo, tố giác (Decree 56/2017 Art. 25, Mẫu 01)."""

    case_id: str
    channel: Channel
    reporter_kind: ReporterKind
    reporter_asked_confidentiality: bool
    case_types: list[CaseType] = Field(min_length=1)
    commune_code: str  # the commune responsible
    child_ids: list[str]
    received_by: str
    personal: P


class InitialAssessmentCompleted(_Event):
    """Đánh giá nguy cơ ban đầu (Art. 26, Mẫu 02): the risk, and whether the child needs emergency protection."""

    risk_level: RiskLevel
    emergency: bool
    caregiver_is_perpetrator: bool


class EmergencyMeasureApplied(_Event):
    measure: EmergencyMeasure
    decision: str = Field(min_length=1, max_length=200)  # e.g. the removal decision (Mẫu 07)


class EmergencyMeasureEnded(_Event):
    reason: str = Field(min_length=1, max_length=1000)


class DetailedAssessmentCompleted(_Event):
    """Thu thập thông tin, đánh giá nguy cơ cụ thể (Art. 27(1), Mẫu 03) and the needs meeting (Art. 27(2))."""

    summary: str = Field(min_length=1, max_length=2000)


class PlannedService(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    service: str = Field(min_length=1, max_length=300)
    level: SupportLevel
    responsible: str = Field(min_length=1, max_length=300)
    due: datetime | None = None


class PlanSubmitted(_Event):
    """Kế hoạch hỗ trợ, can thiệp (Art. 28, Mẫu 04) submitted for approval (draft decision Mẫu 05)."""

    author_id: str
    goals: list[str] = Field(min_length=1)
    services: list[PlannedService] = Field(min_length=1)


class PlanApproved(_Event):
    approver_id: str


class PlanRejected(_Event):
    approver_id: str
    reason: str = Field(min_length=1, max_length=1000)


class ServiceDelivered(_Event):
    service: str = Field(min_length=1, max_length=300)
    level: SupportLevel
    provider: str = Field(min_length=1, max_length=300)


class ReferralMade(_Event):
    target: ReferralTarget
    organisation: str = Field(min_length=1, max_length=300)


class PlanReviewed(_Event):
    """Rà soát, đánh giá (Art. 30, Mẫu 06)."""

    outcome: ReviewOutcome
    harm: RiskLevel
    note: str | None = Field(default=None, max_length=2000)


class PlanRevisionStarted(_Event):
    reason: str = Field(min_length=1, max_length=1000)


class CaseClosed(_Event):
    reason: ClosureReason
    note: str | None = Field(default=None, max_length=1000)


class CaseReopened(_Event):
    reason: str = Field(min_length=1, max_length=1000)


class CaseTransferred(_Event):
    """The case moves to another commune (e.g. where the child lives, Law Art. 52(2))."""

    from_commune: str
    to_commune: str
    reason: str = Field(min_length=1, max_length=1000)


class ChildLinked(_Event):
    child_id: str


class OfficerAssigned(_Event):
    officer_id: str


PERSONAL_EVENTS: dict[str, Any] = {"ReportReceived": ReportReceived}
PLAIN_EVENTS: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (
        InitialAssessmentCompleted,
        EmergencyMeasureApplied,
        EmergencyMeasureEnded,
        DetailedAssessmentCompleted,
        PlanSubmitted,
        PlanApproved,
        PlanRejected,
        ServiceDelivered,
        ReferralMade,
        PlanReviewed,
        PlanRevisionStarted,
        CaseClosed,
        CaseReopened,
        CaseTransferred,
        ChildLinked,
        OfficerAssigned,
    )  # fmt: skip
}
PARTS = Parts(PERSONAL_EVENTS, PLAIN_EVENTS, Confidential)


# -- state -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    commune_code: str
    since: datetime


@dataclass(frozen=True, slots=True)
class CaseState:
    case_id: str
    stage: Stage
    channel: Channel
    case_types: tuple[CaseType, ...]
    confidential: Confidential | Erased
    reporter_asked_confidentiality: bool
    received_at: datetime
    jurisdictions: tuple[Jurisdiction, ...]
    child_ids: tuple[str, ...]
    last_at: datetime
    risk_level: RiskLevel | None = None
    emergency: bool = False
    caregiver_is_perpetrator: bool = False
    emergency_measure: EmergencyMeasureApplied | None = None  # the one in force
    officer_id: str | None = None
    plan: PlanSubmitted | None = None  # the plan submitted or in force
    plan_approved_by: str | None = None
    last_review: PlanReviewed | None = None
    services: tuple[ServiceDelivered, ...] = ()
    referrals: tuple[ReferralMade, ...] = ()
    closed: CaseClosed | None = None
    milestones: dict[str, datetime] = field(default_factory=dict)  # of the current cycle, for deadlines
    cycle: int = 1  # 1 + number of reopenings
    version: int = 1

    @property
    def commune(self) -> str:
        return self.jurisdictions[-1].commune_code

    def commune_at(self, moment: datetime) -> str | None:
        """The commune responsible at `moment` (a transfer changes who sees the case from its date)."""
        found = None
        for j in self.jurisdictions:
            if j.since <= moment:
                found = j.commune_code
        return found

    def deadlines(self, now: datetime, province: str | None = None) -> list[DeadlineState]:
        """Every legal time limit of the current cycle, computed from the events (registry/deadlines.py)."""
        return evaluate(self.milestones, self.emergency, now, province)


def evolve(state: CaseState | None, event: BaseModel) -> CaseState:
    if isinstance(event, ReportReceived):
        personal = event.personal if isinstance(event.personal, Confidential | Erased) else ERASED
        return CaseState(
            event.case_id, Stage.RECEIVED, event.channel, tuple(event.case_types), personal,
            event.reporter_asked_confidentiality, event.at, (Jurisdiction(event.commune_code, event.at),),
            tuple(event.child_ids), event.at, milestones={"report_received": event.at},
        )  # fmt: skip
    if state is None:
        raise ValueError(f"{event_type(event)} before ReportReceived")
    at: datetime = getattr(event, "at")  # noqa: B009 - every case event has it
    state = replace(state, version=state.version + 1, last_at=max(state.last_at, at))
    marks = dict(state.milestones)
    if isinstance(event, InitialAssessmentCompleted):
        marks.setdefault("initial_assessment", at)
        return replace(state, stage=Stage.ASSESSED, risk_level=event.risk_level, milestones=marks,
                       emergency=event.emergency or event.caregiver_is_perpetrator,
                       caregiver_is_perpetrator=event.caregiver_is_perpetrator)  # fmt: skip
    if isinstance(event, EmergencyMeasureApplied):
        marks.setdefault("emergency_measure_applied", at)
        return replace(state, emergency_measure=event, milestones=marks)
    if isinstance(event, EmergencyMeasureEnded):
        return replace(state, emergency_measure=None)
    if isinstance(event, DetailedAssessmentCompleted):
        return replace(state, stage=Stage.PLANNING)
    if isinstance(event, PlanSubmitted):
        marks.setdefault("plan_submitted", at)
        return replace(state, stage=Stage.PLAN_SUBMITTED, plan=event, plan_approved_by=None, milestones=marks)
    if isinstance(event, PlanApproved):
        marks.setdefault("plan_approved", at)
        return replace(state, stage=Stage.INTERVENTION, plan_approved_by=event.approver_id, milestones=marks)
    if isinstance(event, PlanRejected):
        return replace(state, stage=Stage.PLANNING)
    if isinstance(event, ServiceDelivered):
        return replace(state, services=(*state.services, event))
    if isinstance(event, ReferralMade):
        return replace(state, referrals=(*state.referrals, event))
    if isinstance(event, PlanReviewed):
        return replace(state, last_review=event)
    if isinstance(event, PlanRevisionStarted):
        return replace(state, stage=Stage.PLANNING, last_review=None)
    if isinstance(event, CaseClosed):
        return replace(state, stage=Stage.CLOSED, closed=event)
    if isinstance(event, CaseReopened):
        # A new cycle: its own assessment, plan and deadlines, counted from the reopening.
        return replace(state, stage=Stage.RECEIVED, closed=None, plan=None, plan_approved_by=None, last_review=None,
                       risk_level=None, emergency=False, caregiver_is_perpetrator=False, cycle=state.cycle + 1,
                       milestones={"report_received": at})  # fmt: skip
    if isinstance(event, CaseTransferred):
        return replace(state, jurisdictions=(*state.jurisdictions, Jurisdiction(event.to_commune, at)))
    if isinstance(event, ChildLinked):
        return replace(state, child_ids=(*state.child_ids, event.child_id))
    if isinstance(event, OfficerAssigned):
        return replace(state, officer_id=event.officer_id)
    raise TypeError(f"not a case event: {type(event).__name__}")


# -- commands ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Actor:
    """Who gives the command: decide checks roles and separation of duties against it."""

    id: str
    role: str


@dataclass(frozen=True, slots=True)
class ReceiveReport:
    case_id: str
    at: datetime
    channel: Channel
    reporter_kind: ReporterKind
    case_types: tuple[CaseType, ...]
    commune_code: str
    account: str
    child_ids: tuple[str, ...] = ()
    unregistered_children: tuple[str, ...] = ()
    reporter_name: str | None = None
    reporter_contact: str | None = None
    reporter_asked_confidentiality: bool = False


@dataclass(frozen=True, slots=True)
class AssessRisk:
    case_id: str
    at: datetime
    risk_level: RiskLevel
    emergency: bool
    caregiver_is_perpetrator: bool = False


@dataclass(frozen=True, slots=True)
class ApplyEmergencyMeasure:
    case_id: str
    at: datetime
    measure: EmergencyMeasure
    decision: str


@dataclass(frozen=True, slots=True)
class EndEmergencyMeasure:
    case_id: str
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class CompleteDetailedAssessment:
    case_id: str
    at: datetime
    summary: str


@dataclass(frozen=True, slots=True)
class SubmitPlan:
    case_id: str
    at: datetime
    goals: tuple[str, ...]
    services: tuple[PlannedService, ...]


@dataclass(frozen=True, slots=True)
class ApprovePlan:
    case_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RejectPlan:
    case_id: str
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class DeliverService:
    case_id: str
    at: datetime
    service: str
    level: SupportLevel
    provider: str


@dataclass(frozen=True, slots=True)
class ReferCase:
    case_id: str
    at: datetime
    target: ReferralTarget
    organisation: str


@dataclass(frozen=True, slots=True)
class ReviewPlan:
    case_id: str
    at: datetime
    outcome: ReviewOutcome
    harm: RiskLevel
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RevisePlan:
    case_id: str
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class CloseCase:
    case_id: str
    at: datetime
    reason: ClosureReason
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ReopenCase:
    case_id: str
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class TransferCase:
    case_id: str
    at: datetime
    to_commune: str
    reason: str


@dataclass(frozen=True, slots=True)
class LinkChild:
    case_id: str
    at: datetime
    child_id: str


@dataclass(frozen=True, slots=True)
class AssignOfficer:
    case_id: str
    at: datetime
    officer_id: str


CaseCommand = (
    ReceiveReport | AssessRisk | ApplyEmergencyMeasure | EndEmergencyMeasure | CompleteDetailedAssessment | SubmitPlan
    | ApprovePlan | RejectPlan | DeliverService | ReferCase | ReviewPlan | RevisePlan | CloseCase | ReopenCase
    | TransferCase | LinkChild | AssignOfficer
)  # fmt: skip

_OPEN = frozenset(Stage) - {Stage.CLOSED}
_AFTER_ASSESSMENT = frozenset({Stage.ASSESSED, Stage.PLANNING, Stage.PLAN_SUBMITTED, Stage.INTERVENTION})
ALLOWED: dict[type, frozenset[Stage]] = {
    AssessRisk: frozenset({Stage.RECEIVED}),
    ApplyEmergencyMeasure: _AFTER_ASSESSMENT,  # after the initial assessment found danger (Art. 26(2)-(3))
    EndEmergencyMeasure: _AFTER_ASSESSMENT,
    CompleteDetailedAssessment: frozenset({Stage.ASSESSED}),
    SubmitPlan: frozenset({Stage.PLANNING}),
    ApprovePlan: frozenset({Stage.PLAN_SUBMITTED}),
    RejectPlan: frozenset({Stage.PLAN_SUBMITTED}),
    DeliverService: _AFTER_ASSESSMENT,
    ReferCase: _OPEN,
    ReviewPlan: frozenset({Stage.INTERVENTION}),
    RevisePlan: frozenset({Stage.INTERVENTION}),
    CloseCase: _OPEN,  # risk_resolved only after a review found the child stable (see _close)
    ReopenCase: frozenset({Stage.CLOSED}),
    TransferCase: _OPEN,
    LinkChild: frozenset(Stage),
    AssignOfficer: _OPEN,
}


def allowed_commands(stage: Stage) -> list[str]:
    return sorted(command.__name__ for command, stages in ALLOWED.items() if stage in stages)


@dataclass(frozen=True)
class Context:
    now: datetime
    actor: Actor
    commune_exists: Callable[[str, datetime], bool]
    child_exists: Callable[[str], bool] = lambda _: True


# -- decide ------------------------------------------------------------------


def decide(state: CaseState | None, command: CaseCommand, context: Context) -> list[BaseModel]:
    """The events `command` produces on the case, or a typed error naming the field; pure."""
    at = command.at
    if not isinstance(at, datetime) or at.utcoffset() is None:
        raise InvalidCaseChange("at", "naive_datetime", "must be a time with a time zone")
    if at > context.now:
        raise InvalidCaseChange("at", "in_the_future", "is later than now")
    if isinstance(command, ReceiveReport):
        if state is not None:
            raise InvalidCaseChange("case_id", "already_received", "a case with this id exists")
        return [_receive(command, context)]
    if state is None:
        raise InvalidCaseChange("case_id", "unknown_case", "no case with this id")
    if type(command) in ALLOWED and state.stage not in ALLOWED[type(command)]:
        raise CommandNotAllowed(state.stage, type(command).__name__, allowed_commands(state.stage))
    if at < state.last_at:
        raise InvalidCaseChange("at", "before_last_event", "is before the case's latest recorded step")
    if isinstance(command, AssessRisk):
        return [InitialAssessmentCompleted(at=at, risk_level=command.risk_level, emergency=command.emergency,
                                           caregiver_is_perpetrator=command.caregiver_is_perpetrator)]  # fmt: skip
    if isinstance(command, ApplyEmergencyMeasure):
        # Decree 56/2017 Art. 31(1): emergency protection where the child is in danger or the caregiver is the harmer.
        if not state.emergency:
            raise InvalidCaseChange("measure", "no_emergency", "the assessment did not find the child in danger")
        if state.emergency_measure is not None:
            raise InvalidCaseChange("measure", "already_in_force", "an emergency measure is in force already")
        return [_valid(EmergencyMeasureApplied, at=at, measure=command.measure, decision=command.decision)]
    if isinstance(command, EndEmergencyMeasure):
        if state.emergency_measure is None:
            raise InvalidCaseChange("measure", "none_in_force", "no emergency measure is in force")
        return [_valid(EmergencyMeasureEnded, at=at, reason=command.reason)]
    if isinstance(command, CompleteDetailedAssessment):
        return [_valid(DetailedAssessmentCompleted, at=at, summary=command.summary)]
    if isinstance(command, SubmitPlan):
        return [_valid(PlanSubmitted, at=at, author_id=context.actor.id, goals=list(command.goals),
                       services=list(command.services))]  # fmt: skip
    if isinstance(command, ApprovePlan | RejectPlan):
        # Decree 56/2017 Art. 28: the chairman of the commune People's Committee approves; the one who wrote the
        # plan may not approve it (separation of duties).
        if context.actor.role != APPROVER_ROLE:
            raise InvalidCaseChange("actor_role", "not_the_approver", f"only the {APPROVER_ROLE} approves a plan")
        assert state.plan is not None
        if context.actor.id == state.plan.author_id:
            raise InvalidCaseChange("actor_id", "own_plan", "the author of a plan may not approve or reject it")
        if isinstance(command, RejectPlan):
            return [_valid(PlanRejected, at=at, approver_id=context.actor.id, reason=command.reason)]
        return [PlanApproved(at=at, approver_id=context.actor.id)]
    if isinstance(command, DeliverService):
        return [_valid(ServiceDelivered, at=at, service=command.service, level=command.level,
                       provider=command.provider)]  # fmt: skip
    if isinstance(command, ReferCase):
        return [_valid(ReferralMade, at=at, target=command.target, organisation=command.organisation)]
    if isinstance(command, ReviewPlan):
        return [_valid(PlanReviewed, at=at, outcome=command.outcome, harm=command.harm, note=command.note)]
    if isinstance(command, RevisePlan):
        return [_valid(PlanRevisionStarted, at=at, reason=command.reason)]
    if isinstance(command, CloseCase):
        return [_close(state, command)]
    if isinstance(command, ReopenCase):
        return [_valid(CaseReopened, at=at, reason=command.reason)]
    if isinstance(command, TransferCase):
        if command.to_commune == state.commune:
            raise InvalidCaseChange("to_commune", "same_commune", "the case is in this commune already")
        if not context.commune_exists(command.to_commune, at):
            raise InvalidCaseChange("to_commune", "unknown_commune", "no commune has this code on that date")
        return [_valid(CaseTransferred, at=at, from_commune=state.commune, to_commune=command.to_commune,
                       reason=command.reason)]  # fmt: skip
    if isinstance(command, LinkChild):
        if command.child_id in state.child_ids:
            raise InvalidCaseChange("child_id", "already_linked", "the child is linked to this case already")
        if not context.child_exists(command.child_id):
            raise InvalidCaseChange("child_id", "unknown_child", "no child record with this id")
        return [ChildLinked(at=at, child_id=command.child_id)]
    if isinstance(command, AssignOfficer):
        return [OfficerAssigned(at=at, officer_id=command.officer_id)]
    raise TypeError(f"not a case command: {type(command).__name__}")


def _receive(c: ReceiveReport, context: Context) -> ReportReceived[Confidential]:
    if not c.case_id or len(c.case_id) > 100:
        raise InvalidCaseChange("case_id", "invalid", "must be 1-100 characters")
    if not context.commune_exists(c.commune_code, c.at):
        raise InvalidCaseChange("commune_code", "unknown_commune", "no commune has this code on that date")
    for index, child in enumerate(c.child_ids):
        if not context.child_exists(child):
            raise InvalidCaseChange(f"child_ids.{index}", "unknown_child", "no child record with this id")
    if not c.child_ids and not c.unregistered_children:
        raise InvalidCaseChange("child_ids", "missing", "a case concerns a registered child or a described one")
    confidential = _valid(Confidential, reporter_name=c.reporter_name, reporter_contact=c.reporter_contact,
                          account=c.account, unregistered_children=list(c.unregistered_children))  # fmt: skip
    return _valid(ReportReceived[Confidential], case_id=c.case_id, at=c.at, channel=c.channel,
                  reporter_kind=c.reporter_kind, reporter_asked_confidentiality=c.reporter_asked_confidentiality,
                  case_types=list(c.case_types), commune_code=c.commune_code, child_ids=list(c.child_ids),
                  received_by=context.actor.id, personal=confidential)  # fmt: skip


def _close(state: CaseState, c: CloseCase) -> CaseClosed:
    if state.emergency_measure is not None:
        raise InvalidCaseChange("reason", "emergency_in_force", "end the emergency measure before closing the case")
    if c.reason is ClosureReason.RISK_RESOLVED:
        # Decree 56/2017 Art. 30(1)(b): close when a review finds the child no longer at risk and stable.
        if (
            state.stage is not Stage.INTERVENTION
            or state.last_review is None
            or (state.last_review.outcome is not ReviewOutcome.STABLE)
        ):
            raise InvalidCaseChange("reason", "not_reviewed_stable", "needs a review that found the child stable")
    elif state.stage is Stage.INTERVENTION and c.reason in (ClosureReason.UNFOUNDED, ClosureReason.DUPLICATE):
        raise InvalidCaseChange("reason", "not_after_a_plan", "a case with an approved plan is not unfounded")
    return _valid(CaseClosed, at=c.at, reason=c.reason, note=c.note)


_M = TypeVar("_M", bound=BaseModel)


def _valid(model: type[_M], **values: Any) -> _M:
    return build(model, values, InvalidCaseChange)


def replay(events: Sequence[BaseModel]) -> CaseState | None:
    state = None
    for event in events:
        state = evolve(state, event)
    return state


__all__ = [
    "ALLOWED",
    "APPROVER_ROLE",
    "PARTS",
    "STREAM_TYPE",
    "Actor",
    "AssessRisk",
    "AssignOfficer",
    "ApplyEmergencyMeasure",
    "ApprovePlan",
    "CaseClosed",
    "CaseCommand",
    "CaseState",
    "CaseType",
    "Channel",
    "CloseCase",
    "ClosureReason",
    "CommandNotAllowed",
    "CompleteDetailedAssessment",
    "Confidential",
    "Context",
    "DeliverService",
    "EmergencyMeasure",
    "EndEmergencyMeasure",
    "InvalidCaseChange",
    "LinkChild",
    "PlannedService",
    "ReceiveReport",
    "ReferCase",
    "ReferralTarget",
    "RejectPlan",
    "ReopenCase",
    "ReporterKind",
    "ReviewOutcome",
    "ReviewPlan",
    "RevisePlan",
    "RiskLevel",
    "Stage",
    "SubmitPlan",
    "TransferCase",
    "allowed_commands",
    "decide",
    "evolve",
    "replay",
    "stream_id",
]
