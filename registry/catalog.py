"""The registry's event catalogue: every stream type and event type the service writes.

Aggregates register their events here (administrative units, children and
cases come with their own modules); the store refuses anything else.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from . import units
from .events import Catalog


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
    return catalog


__all__ = ["RegistryInitialised", "default_catalog"]
