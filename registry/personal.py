"""The personal part of an event: readable in the domain, `Sealed` at rest, `Erased` without its key.

Aggregates whose events carry data that must stay confidential or be
erasable (a child's identity, a reporter's identity) declare those events
generic in one `personal` field and describe them with a `Parts`; the
sealing layer (registry/sealing.py) turns the readable form into the sealed
one on the way to the store and back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Sealed(BaseModel):
    """The personal part at rest: AES-GCM under its subject's key."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sealed: str


class Erased(BaseModel):
    """The personal part after its subject's key was destroyed: unreadable, by design."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    erased: Literal[True] = True


ERASED = Erased()


@dataclass(frozen=True)
class Parts:
    """An aggregate's events: those generic in their personal part, the others, and the readable type."""

    personal: dict[str, Any]  # event type -> generic model (Model[Readable], Model[Sealed], Model[Erased])
    plain: dict[str, type[BaseModel]]
    readable: type[BaseModel]


def event_type(event: BaseModel) -> str:
    """'ChildRegistered' for ChildRegistered[Identity] and ChildRegistered[Sealed] alike."""
    return type(event).__name__.split("[", 1)[0]


__all__ = ["ERASED", "Erased", "Parts", "Sealed", "event_type"]
