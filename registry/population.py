"""Child population of a unit for a year: the denominators of the indicators, entered, never guessed.

Indicators such as the rate of children in special circumstances divide by
the number of children (under 16) living in the unit (domain.md section 5.1).
The registry does not estimate it from its own records, which hold above all
the children it protects: officers enter the figure per unit and year with
its source (the commune's household register, the statistics office), as an
event. A later figure for the same unit and year supersedes the earlier one;
both stay in the stream `population:{unit}:{year}`.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from .errors import ConcurrencyError, InvalidInput
from .events import Metadata, NewEvent, build
from .gazetteer import Gazetteer
from .law import start_of_day
from .store import AppendResult, EventStore

STREAM_TYPE = "child_population"


class ChildPopulationRecorded(BaseModel):
    """Số trẻ em (dưới 16 tuổi) của đơn vị: the count for a unit and a year, and where it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_code: str
    year: int = Field(ge=2000, le=2100)
    children: int = Field(ge=0, le=50_000_000)
    counted_on: date  # the day the count describes (often 31 December)
    source: str = Field(min_length=1, max_length=300)


def stream_id(unit_code: str, year: int) -> str:
    return f"population:{unit_code}:{year}"


def decide(units: Gazetteer, unit_code: str, year: int, children: int, counted_on: date, source: str) -> BaseModel:
    """The event recording a count, or a typed error naming the field."""
    values = dict(unit_code=unit_code, year=year, children=children, counted_on=counted_on, source=source)
    event = build(ChildPopulationRecorded, values, InvalidInput)
    if counted_on.year != year:
        raise InvalidInput("counted_on", "other_year", "must fall in the year counted")
    units.lookup(unit_code, counted_on, "unit_code")  # the unit must exist on that day
    return event


async def record(
    store: EventStore, units: Gazetteer, metadata: Metadata, *, unit_code: str, year: int, children: int,
    counted_on: date, source: str,
) -> AppendResult:  # fmt: skip
    """Record a count (superseding any earlier one for the same unit and year)."""
    event = decide(units, unit_code, year, children, counted_on, source)
    stream = stream_id(unit_code, year)
    for _ in range(5):
        version = len(await store.read_stream(stream))
        try:
            new = NewEvent("ChildPopulationRecorded", event, start_of_day(counted_on))
            return await store.append(stream, STREAM_TYPE, version, [new], metadata)
        except ConcurrencyError:
            continue  # another count landed first: this one goes after it
    raise ConcurrencyError(stream, version, version + 1)


async def latest(store: EventStore, unit_code: str, year: int) -> tuple[ChildPopulationRecorded, int] | None:
    """The count in force for a unit and year, and the position of its event (for explanations)."""
    events = await store.read_stream(stream_id(unit_code, year))
    if not events:
        return None
    return ChildPopulationRecorded.model_validate(events[-1].data), events[-1].position


__all__ = ["STREAM_TYPE", "ChildPopulationRecorded", "decide", "latest", "record", "stream_id"]
