"""Demonstration data for `registry serve --demo`: idempotent, loaded on first start.

The administrative units are the real ones (`registry units load`). The
children and cases are synthetic: names from Faker's vi_VN provider, spread over the
real communes (most in the four provinces of the seed plans: Điện Biên, Lai
Châu, Đồng Tháp, An Giang), every group of Law on Children Art. 10(1)
represented; 32 cases in every stage of the process, some overdue. They are
made through the registers' commands, like an officer's, never inserted as
rows; fixed seeds and idempotency keys make a second run write nothing.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version

from faker import Faker

from . import population
from .case_service import CaseRegister
from .cases import (
    ApplyEmergencyMeasure,
    ApprovePlan,
    AssessRisk,
    CaseCommand,
    CaseType,
    Channel,
    CloseCase,
    ClosureReason,
    CompleteDetailedAssessment,
    DeliverService,
    EmergencyMeasure,
    EndEmergencyMeasure,
    PlannedService,
    ReceiveReport,
    ReopenCase,
    ReporterKind,
    ReviewOutcome,
    ReviewPlan,
    RiskLevel,
    SubmitPlan,
)
from .catalog import RegistryInitialised
from .child_service import ChildRegister
from .children import (
    BirthRegistration,
    CaregiverStatus,
    ChildCommand,
    ClassifyChild,
    EraseChildData,
    FlagAtRisk,
    MergeChild,
    MoveChild,
    NewCaregiver,
    RecordDeath,
    RecordSchoolStatus,
    RecordSupport,
    RegisterChild,
    Relation,
    SchoolStatus,
    Sex,
    add_years,
)
from .circumstances import ETHNIC_GROUPS, GROUPS, MONEY_SUPPORTS, AtRiskCategory, SupportKind, SupportLevel
from .events import Metadata, NewEvent
from .gazetteer import Gazetteer
from .integrity import create_checkpoint
from .law import CHILD_AGE_LIMIT, TWO_TIER_FROM, VIETNAM
from .migrations import discover
from .plans import load_seed_plans
from .runtime import Registry
from .store import EventStore
from .unit_loader import default_plan, load
from .units import Level

SYSTEM = Metadata(actor_id="system:demo-loader", actor_role="system", source="registry serve --demo (synthetic)")
CHILDREN = 300
SEED = 2016  # the year of the Law on Children
SEED_PROVINCES = ("11", "12", "82", "91")  # Điện Biên, Lai Châu, Đồng Tháp, An Giang (codes from 2025-07-01)
_NAMESPACE = uuid.UUID("6f1c0b4e-5d0a-4d57-9a3e-1f2a0c7b8d90")


async def load_demo(registry: Registry, *, children: int = CHILDREN) -> bool:
    """Load what of the demonstration data is not there yet; return whether anything was written."""
    store = registry.store
    report = await load(store, default_plan())
    wrote = report.written_events > 0
    if not await store.read_stream("registry"):
        wrote = await _initialise(store) or wrote
    before = (await store.stats())[0]
    register = await registry.children()
    units = await registry.gazetteer()
    plans = await _children(store, register, units, children)
    await _cases(store, await registry.cases(), units, plans)
    await _population(store, units, datetime.now(UTC).astimezone(VIETNAM).date())
    await load_seed_plans(store, units)
    wrote = wrote or (await store.stats())[0] > before
    if wrote:
        await create_checkpoint(store)
    return wrote


async def _population(store: EventStore, units: Gazetteer, today: date) -> None:
    """Synthetic child populations (the denominators of the indicators) for the communes and provinces of the
    seed provinces this year, and for those provinces in 2024, before the reform; a figure already there stays."""
    rng = random.Random(SEED)
    wanted: list[tuple[str, int, int, date]] = []
    for province in SEED_PROVINCES:
        communes = [(c.code, rng.randrange(1_200, 4_500)) for c in units.communes_of(province, today)]
        wanted += [(code, today.year, count, date(today.year, 1, 1)) for code, count in communes]
        wanted.append((province, today.year, sum(count for _, count in communes), date(today.year, 1, 1)))
        before = [u.code for u in units.predecessors(province, today) if u.level is Level.PROVINCE] or [province]
        wanted += [(code, 2024, rng.randrange(150_000, 300_000), date(2024, 12, 31)) for code in before]
    for code, year, count, counted_on in wanted:
        if await population.latest(store, code, year) is None:
            await population.record(store, units, SYSTEM, unit_code=code, year=year, children=count,
                                    counted_on=counted_on, source="synthetic demonstration figure")  # fmt: skip


async def _initialise(store: EventStore) -> bool:
    event = NewEvent(
        "RegistryInitialised",
        RegistryInitialised(
            software_version=version("child-protection-registry"),
            schema_version=discover()[-1].version,
            demo=True,
        ),
        datetime.now(UTC),
    )
    result = await store.append("registry", "registry", 0, [event], SYSTEM, idempotency_key="demo:registry-initialised")
    return not result.replayed


def plan_children(units: Gazetteer, count: int, today: date) -> list[list[ChildCommand]]:
    """The commands of each synthetic child, in order (the same children for the same count; their dates
    are placed relative to `today`, so that every child is under 16 when registered)."""
    rng = random.Random(SEED)
    fake = Faker("vi_VN")
    fake.seed_instance(SEED)
    reform = TWO_TIER_FROM
    last_legacy_day = reform - timedelta(days=1)
    new_communes = [u for u in units.states() if u.level is Level.COMMUNE and u.at(today) is not None]
    seeded = [u for u in new_communes if units.path(u.code, today)[-1].code in SEED_PROVINCES]
    groups = sorted(GROUPS)
    plans = []
    for index in range(count):
        child_id = str(uuid.uuid5(_NAMESPACE, f"demo-child-{index}"))
        sex = rng.choice([Sex.MALE, Sex.FEMALE])
        born = date(2011, 1, 1) + timedelta(days=rng.randrange(0, 365 * 14))
        if born + timedelta(days=60) > today:
            born = today - timedelta(days=400)
        commune = rng.choice(seeded) if rng.random() < 0.7 else rng.choice(new_communes)
        # Most records were made before the reform, under the legacy commune the new one was formed from.
        since = born + timedelta(days=rng.randrange(0, max(1, (today - born).days)))
        code = commune.code
        if since < reform:
            legacy = [p for p in units.predecessors(commune.code, today) if p.level is Level.COMMUNE]
            if legacy and (origin := rng.choice(legacy)).valid_from is None:
                code = origin.code
            else:
                since = max(since, reform)
        if units.find(code, since) is None:
            code, since = commune.code, max(since, reform)
        middle = "Thị" if sex is Sex.FEMALE and rng.random() < 0.6 else fake.middle_name()
        first = fake.first_name_female() if sex is Sex.FEMALE else fake.first_name_male()
        name = f"{fake.last_name()} {middle} {first}"
        province = units.path(code, since)[-1].code
        personal_id = None
        if rng.random() < 0.6:
            digit = (2 if born.year >= 2000 else 0) + (1 if sex is Sex.FEMALE else 0)
            personal_id = f"0{province}{digit}{born.year % 100:02d}{rng.randrange(10**6):06d}"
        mother = f"{fake.last_name()} Thị {fake.first_name_female()}"
        commands: list[ChildCommand] = [RegisterChild(
            child_id, name, born, sex, code, since,
            ethnicity=rng.choice(["01"] * 6 + sorted(ETHNIC_GROUPS)[1:12]),
            personal_id=personal_id,
            birth_registration=BirthRegistration.REGISTERED if personal_id else rng.choice(list(BirthRegistration)),
            caregivers=(NewCaregiver(Relation.MOTHER, rng.choice([CaregiverStatus.ALIVE] * 5 + list(CaregiverStatus)),
                                     mother),),
            address=f"Thôn {rng.randrange(1, 12)}",
        )]  # fmt: skip
        first_fact = since + timedelta(days=1)
        latest = min(today, add_years(born, CHILD_AGE_LIMIT) - timedelta(days=1))
        if first_fact <= latest:

            def some_day(low: date = first_fact, high: date = latest) -> date:
                return low + timedelta(days=rng.randrange(0, (high - low).days + 1))

            if index < 3 * len(groups) or rng.random() < 0.15:  # every group, three times over, then at random
                group = groups[index % len(groups)] if index < 3 * len(groups) else rng.choice(groups)
                subgroups = sorted(GROUPS[group].subgroups)
                day = some_day()
                commands.append(ClassifyChild(child_id, group, day, f"Biên bản xác minh số {index + 1}/UBND",
                                              rng.choice(subgroups) if subgroups else None))  # fmt: skip
                kind = rng.choice(list(SupportKind))
                amount = rng.choice([300_000, 500_000, 1_000_000]) if kind in MONEY_SUPPORTS else None
                commands.append(RecordSupport(child_id, kind, rng.choice(list(SupportLevel)), "UBND xã", day, amount))
            if rng.random() < 0.2:
                commands.append(FlagAtRisk(child_id, rng.choice(list(AtRiskCategory)), some_day()))
            if born.year <= today.year - 6:
                commands.append(RecordSchoolStatus(child_id, rng.choice(list(SchoolStatus)[2:5]), some_day()))
            if rng.random() < 0.08 and since < last_legacy_day <= latest:
                target = rng.choice(seeded)
                if target.code != code:
                    commands.append(MoveChild(child_id, target.code, reform + timedelta(days=rng.randrange(1, 300)),
                                              f"Tổ {rng.randrange(1, 9)}"))  # fmt: skip
            if rng.random() < 0.01:
                commands.append(RecordDeath(child_id, latest))
        plans.append(commands)
    # One record whose personal data was erased at the guardian's request (crypto-shredding).
    if count > 37:
        plans[37].append(EraseChildData(plans[37][0].child_id, "Law 91/2025/QH15 on personal data protection: "
                                        "the guardian withdrew consent (synthetic)"))  # fmt: skip
    # Two duplicates, each merged into the record before it (scenario 8.5 of domain.md).
    for index in (11, 23):
        registered = plans[index][0]
        assert isinstance(registered, RegisterChild)
        survivor = plans[index - 1][0]
        assert isinstance(survivor, RegisterChild)
        plans[index].append(MergeChild(registered.child_id, survivor.child_id, "same child recorded twice"))
    return plans


async def _children(
    store: EventStore, register: ChildRegister, units: Gazetteer, count: int
) -> list[list[ChildCommand]]:
    plans = plan_children(units, count, datetime.now(UTC).date())
    gate = asyncio.Semaphore(8)
    merges = [plan for plan in plans if isinstance(plan[-1], MergeChild)]

    async def run(commands: list[ChildCommand], skip: Callable[[ChildCommand], bool]) -> None:
        async with gate:
            if not skip(commands[0]) and await store.recorded(f"demo:{commands[0].child_id}:0") is not None:
                return  # made on an earlier start (perhaps on another day: its plan may differ now)
            for n, command in enumerate(commands):
                if not skip(command):
                    await register.execute(command, SYSTEM, idempotency_key=f"demo:{command.child_id}:{n}")

    await asyncio.gather(*(run(plan, lambda c: isinstance(c, MergeChild)) for plan in plans))
    await asyncio.gather(*(run(plan, lambda c: not isinstance(c, MergeChild)) for plan in merges))
    return plans


def plan_cases(
    units: Gazetteer, children: list[list[ChildCommand]], now: datetime
) -> list[list[tuple[CaseCommand, Metadata]]]:
    """Synthetic cases in every stage of the process, some overdue, in several real communes of the seed provinces.

    Each case concerns a demonstration child of a matching group (the sexually abused, the neglected, ...) and is
    reported to the commune it lives in today; every command is given by a synthetic officer or commune chairman.
    """
    rng = random.Random(SEED + 1)
    today = now.astimezone(VIETNAM).date()
    live = [p for p in children if not any(isinstance(c, MergeChild | EraseChildData | RecordDeath) for c in p)]
    stories = [
        ("received", CaseType.NEGLECT, False), ("received", CaseType.PHYSICAL_VIOLENCE, True),
        ("assessed", CaseType.SEXUAL_ABUSE, True), ("assessed_overdue", CaseType.SEXUAL_ABUSE, True),
        ("assessed", CaseType.LABOUR_EXPLOITATION, False), ("planning", CaseType.NEGLECT, False),
        ("planning_overdue", CaseType.ABANDONMENT, False), ("plan_submitted", CaseType.PHYSICAL_VIOLENCE, False),
        ("plan_submitted_overdue", CaseType.EMOTIONAL_VIOLENCE, False), ("intervention", CaseType.SEXUAL_ABUSE, True),
        ("intervention", CaseType.TRAFFICKING, True), ("intervention", CaseType.NEGLECT, False),
        ("closed", CaseType.PHYSICAL_VIOLENCE, False), ("closed", CaseType.SEXUAL_ABUSE, True),
        ("closed_unfounded", CaseType.NEGLECT, False), ("reopened", CaseType.PHYSICAL_VIOLENCE, False),
    ]  # fmt: skip
    plans = []
    for index, (story, case_type, emergency) in enumerate(stories * 2):
        registered = rng.choice(live)[0]
        assert isinstance(registered, RegisterChild)
        commune = units.find(registered.commune_code, today) or units.successors(
            registered.commune_code, registered.residence_from, today)[0].unit  # fmt: skip
        officer = Metadata(actor_id=f"officer:demo-{commune.code}", actor_role="commune_officer", source=SYSTEM.source)
        chair = Metadata(actor_id=f"chair:demo-{commune.code}", actor_role="commune_chair", source=SYSTEM.source)
        case_id = str(uuid.uuid5(_NAMESPACE, f"demo-case-{index}"))
        overdue = story.endswith("_overdue")
        if story.startswith(("intervention", "closed", "reopened")):
            days_ago = rng.randrange(40, 200)
        else:
            days_ago = rng.randrange(15, 30) if overdue else rng.randrange(0, 3)
        received = now - timedelta(days=days_ago, hours=rng.randrange(0, 24))
        received = min(received, now - timedelta(hours=1))
        step = timedelta(hours=2) if emergency else timedelta(days=1)
        when = [received + step * n for n in range(1, 12)]
        commands: list[tuple[CaseCommand, Metadata]] = [(ReceiveReport(
            case_id, received, rng.choice(list(Channel)), rng.choice(list(ReporterKind)), (case_type,), commune.code,
            "Tình huống mô phỏng (synthetic account)", child_ids=(registered.child_id,),
            reporter_name="Người báo tin mô phỏng", reporter_asked_confidentiality=rng.random() < 0.5,
        ), officer)]  # fmt: skip
        stage_rank = ["received", "assessed", "planning", "plan_submitted", "intervention", "closed", "reopened"]
        rank = stage_rank.index(story.replace("_overdue", "").replace("_unfounded", ""))
        if rank >= 1:
            level = RiskLevel.HIGH if emergency else rng.choice([RiskLevel.MEDIUM, RiskLevel.LOW])
            commands.append((AssessRisk(case_id, when[0], level, emergency=emergency), officer))
            if emergency and story != "assessed_overdue":
                commands.append((ApplyEmergencyMeasure(case_id, when[1], EmergencyMeasure.TEMPORARY_REMOVAL,
                                                       f"{index + 1}/QĐ-UBND (Mẫu 07)"), chair))  # fmt: skip
        if story == "closed_unfounded":
            commands.append(
                (CloseCase(case_id, when[2], ClosureReason.UNFOUNDED, "verification found no harm"), officer)
            )
        elif rank >= 2:
            if emergency:
                commands.append((EndEmergencyMeasure(case_id, when[3], "the child is safe with relatives"), chair))
            commands.append((CompleteDetailedAssessment(case_id, when[4], "Mẫu 03; needs meeting held"), officer))
            if rank >= 3:
                service = PlannedService(service="tư vấn tâm lý", level=SupportLevel.INTERVENTION,
                                         responsible="Trung tâm công tác xã hội")  # fmt: skip
                commands.append((SubmitPlan(case_id, when[5], ("an toàn", "phục hồi"), (service,)), officer))
            if rank >= 4:
                commands.append((ApprovePlan(case_id, when[6]), chair))
                commands.append((DeliverService(case_id, when[7], "tư vấn tâm lý", SupportLevel.INTERVENTION,
                                                "Trung tâm công tác xã hội"), officer))  # fmt: skip
            if rank >= 5:
                commands.append((ReviewPlan(case_id, when[8], ReviewOutcome.STABLE, RiskLevel.LOW), officer))
                commands.append((CloseCase(case_id, when[9], ClosureReason.RISK_RESOLVED), chair))
            if rank >= 6:
                commands.append((ReopenCase(case_id, when[10], "a new report about the same child"), officer))
        plans.append([(c, m) for c, m in commands if c.at <= now])
    return plans


async def _cases(
    store: EventStore, register: CaseRegister, units: Gazetteer, children: list[list[ChildCommand]]
) -> None:
    plans = plan_cases(units, children, datetime.now(UTC))
    for commands in plans:
        first = commands[0][0]
        if await store.recorded(f"demo:case:{first.case_id}:0") is not None:
            continue  # made on an earlier start
        for n, (command, metadata) in enumerate(commands):
            await register.execute(command, metadata, idempotency_key=f"demo:case:{command.case_id}:{n}")


__all__ = ["CHILDREN", "load_demo", "plan_cases", "plan_children"]
