"""The registry's event catalogue: every stream type and event type the service writes.

Aggregates register their events here (administrative units, children and
cases come with their own modules); the store refuses anything else.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from . import cases, children, duplicate_review, imports, observations, plans, population, units
from .events import Catalog
from .personal import Sealed


class RegistryInitialised(BaseModel):
    """The first event of a deployment: which code and schema created it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    software_version: str
    schema_version: int
    demo: bool


def default_catalog() -> Catalog:
    catalog = Catalog()
    catalog.add_event("registry", "RegistryInitialised", RegistryInitialised)
    for event_type, model in units.EVENT_TYPES.items():
        catalog.add_event(units.STREAM_TYPE, event_type, model)
    catalog.add_event(units.REORGANISATION_STREAM_TYPE, "ReorganisationApplied", units.ReorganisationApplied)
    # A child's personal part is stored sealed (registry/sealing.py): the store accepts only that form.
    for event_type, generic in children.PERSONAL_EVENTS.items():
        catalog.add_event(children.STREAM_TYPE, event_type, generic[Sealed])
    for event_type, model in children.PLAIN_EVENTS.items():
        catalog.add_event(children.STREAM_TYPE, event_type, model)
    # A case's confidential part (the reporter, the account) likewise.
    for event_type, generic in cases.PERSONAL_EVENTS.items():
        catalog.add_event(cases.STREAM_TYPE, event_type, generic[Sealed])
    for event_type, model in cases.PLAIN_EVENTS.items():
        catalog.add_event(cases.STREAM_TYPE, event_type, model)
    catalog.add_event(population.STREAM_TYPE, "ChildPopulationRecorded", population.ChildPopulationRecorded)
    # Plans and their targets, and the figures officers enter for the indicators the registry cannot compute.
    for event_type, model in plans.EVENT_TYPES.items():
        catalog.add_event(plans.STREAM_TYPE, event_type, model)
    catalog.add_event(observations.STREAM_TYPE, "IndicatorObserved", observations.IndicatorObserved)
    # Each run of an import of children (registry/imports.py): the file's digest and what came of its rows.
    catalog.add_event(imports.STREAM_TYPE, "ImportRecorded", imports.ImportRecorded)
    # The review of each suspected pair of duplicate child records (registry/duplicate_review.py): ids and codes only.
    for event_type, model in duplicate_review.EVENT_TYPES.items():
        catalog.add_event(duplicate_review.STREAM_TYPE, event_type, model)
    return catalog


__all__ = ["RegistryInitialised", "default_catalog"]
