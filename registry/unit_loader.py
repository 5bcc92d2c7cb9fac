"""Load Vietnam's official administrative units, and the 2025 reform, into the store as events.

The data is `registry/data/admin_units.json` (built from the published
`vietnamadminunits` dataset by `registry/data/build_admin_units.py`; source,
version and licence inside). `plan` turns it into unit commands and decides
them, in memory, through the units aggregate, so the data is checked against
every rule before anything is written:

1. the legacy list (units in force on 2025-06-30, establishment dates unknown:
   "in force since before records begin"), provinces, then districts, then
   communes;
2. the reform of 2025-07-01 as one `Reorganise` act: legacy units end (merged,
   split, dissolved), the new units are established, units that carry on
   (the same code, one predecessor, not divided) move under their new
   province and take their new name;
3. a `ReorganisationApplied` record of the act.

`load` writes what the store does not hold yet, stream by stream: a stream
already holding its planned events is left alone, so loading twice writes
nothing and an interrupted load finishes where it stopped. A stream whose
stored events differ from the plan is reported and never overwritten.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .errors import InvalidInput
from .events import Metadata
from .gazetteer import REFERENCE_STREAM_TYPES, Gazetteer
from .law import FACTS, TWO_TIER_FROM
from .store import EventStore
from .unit_service import as_new_event, units_lock
from .units import (
    REORGANISATION_STREAM_TYPE,
    STREAM_TYPE,
    Change,
    DissolveUnit,
    EndCommand,
    EstablishUnit,
    Kind,
    MergeUnit,
    RenameUnit,
    ReorganisationApplied,
    Reorganise,
    ReparentUnit,
    SplitUnit,
    decide,
    reorganisation_stream,
    reorganise,
    unit_id,
)

DATA_FILE = Path(__file__).parent / "data" / "admin_units.json"
_PROVINCE_BASIS = "NQ 202/2025/QH15 on the restructuring of provincial administrative units"
_COMMUNE_BASIS = str(FACTS["commune_restructuring_2025"].value)
_DISTRICT_BASIS = str(FACTS["two_tier_local_government"].basis)


@dataclass(frozen=True)
class Dataset:
    document: dict[str, Any]
    digest: str

    @property
    def source(self) -> str:
        source = self.document["source"]
        return f"{source['name']} {source['version']}"

    @property
    def listed_on(self) -> date:
        return date.fromisoformat(self.document["legacy"]["in_force_on"])

    @property
    def reform_date(self) -> date:
        return date.fromisoformat(self.document["reform"]["effective"])


def read_dataset(path: Path = DATA_FILE) -> Dataset:
    raw = path.read_bytes()
    try:
        document = json.loads(raw)
        for part, keys in (("legacy", ("provinces", "districts", "communes")), ("reform", ("provinces", "communes"))):
            for key in keys:
                if not isinstance(document[part][key], list):
                    raise TypeError(f"{part}.{key}")
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("file", "invalid_dataset", f"is not an administrative-units data file ({exc})") from None
    return Dataset(document, hashlib.sha256(raw).hexdigest())


@dataclass
class Plan:
    """The events the data amounts to, in the order they are written, and the units they make."""

    dataset: Dataset
    phases: list[tuple[str, list[Change]]]
    marker: ReorganisationApplied
    gazetteer: Gazetteer

    @property
    def event_count(self) -> int:
        return sum(len(c.events) for _, changes in self.phases for c in changes) + 1


@cache
def default_plan() -> Plan:
    """The plan of the shipped data file, decided once per process (treat it as read-only)."""
    return plan(read_dataset())


def plan(dataset: Dataset) -> Plan:
    """Decide the whole dataset in memory; a rule the data breaks is raised here, before any write."""
    doc = dataset.document
    units = Gazetteer()
    phases: list[tuple[str, list[Change]]] = []
    listed = f"official list of units in force on {dataset.listed_on.isoformat()} ({dataset.source})"

    for level in ("provinces", "districts", "communes"):
        changes = []
        for code, kind, name, parent in doc["legacy"][level]:
            command = EstablishUnit(code, Kind(kind), name, unit_id(parent, None) if parent else None, None, listed)
            events = decide(units.get(command.unit_id), command, units)
            units.apply(command.unit_id, events[0])
            changes.append(Change(command.unit_id, 0, tuple(events)))
        phases.append((f"legacy {level}", changes))

    day = dataset.reform_date
    if day != TWO_TIER_FROM:
        raise InvalidInput("reform.effective", "unexpected_date", "is not the date of the two-tier reform")
    act = _reform(doc, day)
    changes = reorganise(act, units)
    for change in changes:
        for event in change.events:
            units.apply(change.stream_id, event)
    phases.append((f"reform of {day.isoformat()}", changes))
    marker = ReorganisationApplied(
        effective_date=day,
        basis=act.basis,
        established=len(act.establishments),
        ended=len(act.ends),
        changed=len(act.changes),
        source=f"{dataset.source}, sha256 {dataset.digest}",
    )
    return Plan(dataset, phases, marker, units)


def _reform(doc: dict[str, Any], day: date) -> Reorganise:
    province_sources: dict[str, list[str]] = defaultdict(list)
    for legacy, new in doc["provinces"]:
        province_sources[new].append(legacy)
    commune_targets: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    commune_sources: dict[str, list[str]] = defaultdict(list)
    for legacy, new, default in doc["communes"]:
        commune_targets[legacy].append((new, default))
        commune_sources[new].append(legacy)

    carries_on_province = {code for code, sources in province_sources.items() if sources == [code]}
    carries_on_commune = {
        code for code, sources in commune_sources.items()
        if sources == [code] and len(code) == 5 and [t for t, _ in commune_targets[code]] == [code]
    }  # fmt: skip

    def province(code: str) -> str:
        return unit_id(code, None if code in carries_on_province else day)

    def commune(code: str) -> str:
        return unit_id(code, None if code in carries_on_commune else day)

    ends: list[EndCommand] = []
    establishments: list[EstablishUnit] = []
    changes: list[RenameUnit | ReparentUnit] = []
    legacy_provinces = {row[0]: row for row in doc["legacy"]["provinces"]}
    for code, kind, name, _ in doc["reform"]["provinces"]:
        if code in carries_on_province:
            _, old_kind, old_name, _ = legacy_provinces[code]
            if (old_kind, old_name) != (kind, name):
                changes.append(RenameUnit(province(code), name, Kind(kind), day, _PROVINCE_BASIS))
        else:
            establishments.append(EstablishUnit(code, Kind(kind), name, None, day, _PROVINCE_BASIS))
    for new, sources in sorted(province_sources.items()):
        for legacy in sources:
            if new not in carries_on_province:
                ends.append(MergeUnit(unit_id(legacy, None), province(new), day, _PROVINCE_BASIS))

    legacy_communes = {row[0]: row for row in doc["legacy"]["communes"]}
    for code, kind, name, parent in doc["reform"]["communes"]:
        if code in carries_on_commune:
            changes.append(ReparentUnit(commune(code), province(parent), day, _COMMUNE_BASIS))
            _, old_kind, old_name, _ = legacy_communes[code]
            if (old_kind, old_name) != (kind, name):
                changes.append(RenameUnit(commune(code), name, Kind(kind), day, _COMMUNE_BASIS))
        else:
            establishments.append(EstablishUnit(code, Kind(kind), name, province(parent), day, _COMMUNE_BASIS))
    island_successors: dict[str, tuple[str, ...]] = {}
    for legacy, targets in sorted(commune_targets.items()):
        if len(legacy) == 3:  # an island district without communes, now a special zone
            island_successors[legacy] = tuple(commune(t) for t, _ in targets)
        elif legacy in carries_on_commune:
            continue
        elif len(targets) == 1:
            ends.append(MergeUnit(unit_id(legacy, None), commune(targets[0][0]), day, _COMMUNE_BASIS))
        else:
            into = tuple(commune(t) for t, _ in targets)
            default = next(commune(t) for t, is_default in targets if is_default)
            ends.append(SplitUnit(unit_id(legacy, None), into, default, day, _COMMUNE_BASIS))
    for code, *_ in doc["legacy"]["districts"]:
        successors = island_successors.get(code, ())
        ends.append(DissolveUnit(unit_id(code, None), day, _DISTRICT_BASIS, successors))
    basis = f"{_PROVINCE_BASIS}; {_COMMUNE_BASIS}"
    return Reorganise(day, basis, ends, establishments, changes)


# -- writing -----------------------------------------------------------------


@dataclass
class LoadReport:
    written_events: int = 0
    written_appends: int = 0
    unchanged_appends: int = 0
    diverged: list[str] = field(default_factory=list)  # stream ids whose stored events differ from the plan

    def summary(self) -> str:
        text = (
            f"{self.written_events} events written in {self.written_appends} appends, "
            f"{self.unchanged_appends} appends already in the store"
        )
        if self.diverged:
            text += f", {len(self.diverged)} unit streams differ from the data and were left alone"
        return text


@cache
def _metadata(source: str, digest: str) -> Metadata:
    return Metadata(
        actor_id="system:units-loader",
        actor_role="system",
        source=source,
        correlation_id=f"units:{digest[:32]}",
        reason="official administrative units",
    )


async def _stored(store: EventStore) -> dict[str, list[tuple[str, Any]]]:
    """The (event type, data) of every stored unit or reorganisation event, by stream."""
    streams: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    async for batch in store.iterate(batch=10_000, stream_types=REFERENCE_STREAM_TYPES):
        for event in batch:
            streams[event.stream_id].append((event.event_type, event.data))
    return streams


async def load(
    store: EventStore,
    the_plan: Plan,
    *,
    progress: Callable[[int], object] = lambda n: None,
    concurrency: int = 8,
) -> LoadReport:
    """Write the plan's events that the store does not hold yet (see the module docstring)."""
    async with units_lock(store):
        return await _load(store, the_plan, progress, concurrency)


async def _load(store: EventStore, the_plan: Plan, progress: Callable[[int], object], concurrency: int) -> LoadReport:
    dataset = the_plan.dataset
    metadata = _metadata(dataset.source, dataset.digest)
    stored = await _stored(store)
    report = LoadReport()
    gate = asyncio.Semaphore(concurrency)

    async def write(stream_id: str, stream_type: str, expected: int, events: Sequence[BaseModel]) -> None:
        async with gate:
            await store.append(
                stream_id,
                stream_type,
                expected,
                [as_new_event(e, dataset.listed_on) for e in events],
                metadata,
                idempotency_key=f"units:{stream_id}:{expected + 1}:{dataset.digest[:16]}",
            )
        stored[stream_id].extend((type(e).__name__, e.model_dump(mode="json")) for e in events)
        report.written_events += len(events)
        report.written_appends += 1
        progress(len(events))

    marker_stream = reorganisation_stream(the_plan.marker.effective_date)
    for _, changes in the_plan.phases:
        todo = []
        for change in changes:
            have = stored[change.stream_id]
            wanted = [(type(e).__name__, e.model_dump(mode="json")) for e in change.events]
            end = change.expected_version + len(wanted)
            if len(have) >= end:
                if have[change.expected_version : end] == wanted:
                    report.unchanged_appends += 1
                    progress(len(wanted))
                else:
                    report.diverged.append(change.stream_id)
            elif len(have) == change.expected_version:
                todo.append(write(change.stream_id, STREAM_TYPE, change.expected_version, change.events))
            else:
                report.diverged.append(change.stream_id)
        # One phase at a time: the log reads in an order the rules accept.
        await asyncio.gather(*todo)
    if report.diverged:
        return report  # the record of the act is written only once the act is complete
    if stored.get(marker_stream):
        report.unchanged_appends += 1
        progress(1)
    else:
        await write(marker_stream, REORGANISATION_STREAM_TYPE, 0, [the_plan.marker])
    return report


__all__ = ["DATA_FILE", "Dataset", "LoadReport", "Plan", "default_plan", "load", "plan", "read_dataset"]
