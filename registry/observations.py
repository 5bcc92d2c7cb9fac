"""Figures of indicators the registry cannot compute itself, entered by officers with their source (số liệu).

Most targets of a plan (registry/plans.py) are health, education or
participation figures: infant mortality, immunisation, school completion
(seed S004, chỉ tiêu 2-7 and 15-24). Their sources are the health and
education services, not the registry's events, so an officer enters the
figure per unit, indicator and year, as an event: the value in the
indicator's measure, its numerator and denominator when known, the day it
describes and where it comes from. A later figure for the same unit,
indicator and year supersedes the earlier one (a correction, a final figure
after a provisional one); both stay in the stream
`observation:{unit}:{code}:{year}`, as with the child population
(registry/population.py).

Figures are decimals, never floats (registry/hashing.py). When numerator and
denominator are given they must agree with the value (to a rounding of 0.05
or 0.5 %), so a mistyped figure is caught where it is entered: a ratio times
its scale (percent 100, per 100,000, per 1,000 live births), or for a change
(`percent_change`) (numerator / denominator - 1) x 100, numerator being the
year's count and denominator the baseline's.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field

from .errors import ConcurrencyError
from .events import Metadata, NewEvent, build
from .law import start_of_day
from .plans import INDICATOR_CODE, SCALE, WHOLE, InvalidPlan, Measure, Units, check_amount
from .store import AppendResult, EventStore

STREAM_TYPE = "indicator_observation"


class IndicatorObserved(BaseModel):
    """Số liệu chỉ tiêu: an indicator's figure for a unit and a year, and where it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_code: str
    code: str = Field(pattern=INDICATOR_CODE)
    year: int = Field(ge=2000, le=2100)
    measure: Measure
    value: Decimal = Field(max_digits=18, decimal_places=4)
    numerator: int | None = Field(default=None, ge=0, le=10**15)
    denominator: int | None = Field(default=None, ge=1, le=10**15)
    observed_on: date  # the day the figure describes (often 31 December, or the end of a school year)
    source: str = Field(min_length=1, max_length=500)


def stream_id(unit_code: str, code: str, year: int) -> str:
    return f"observation:{unit_code}:{code}:{year}"


def implied(measure: Measure, numerator: int, denominator: int) -> Fraction:
    """The figure a numerator and a denominator make in `measure` (exact)."""
    ratio = Fraction(numerator, denominator)
    if measure is Measure.PERCENT_CHANGE:
        return (ratio - 1) * 100
    return ratio * SCALE[measure]


def decide(
    units: Units, *, unit_code: str, code: str, year: int, measure: Measure | str, value: Decimal | int | str,
    observed_on: date, source: str, numerator: int | None = None, denominator: int | None = None,
) -> IndicatorObserved:  # fmt: skip
    """The event recording a figure, or a typed error naming the field."""
    values = dict(unit_code=unit_code, code=code, year=year, measure=measure, value=value, numerator=numerator,
                  denominator=denominator, observed_on=observed_on, source=source)  # fmt: skip
    event = build(IndicatorObserved, values, InvalidPlan)
    if observed_on.year != year:
        raise InvalidPlan("observed_on", "other_year", "must fall in the year observed")
    ratio = event.numerator is not None and event.denominator is not None
    if event.measure in WHOLE and (event.numerator is not None or event.denominator is not None):
        raise InvalidPlan("numerator", "not_a_ratio", f"a figure in {event.measure.value} has no numerator")
    if ratio:
        assert event.numerator is not None and event.denominator is not None
        expected = implied(event.measure, event.numerator, event.denominator)
        if abs(Fraction(event.value) - expected) > max(Fraction(1, 20), abs(expected) / 200):
            raise InvalidPlan("value", "inconsistent", "does not agree with numerator / denominator")
    # A percentage above 100 (cases tried per case received) stands only on its numerator and denominator.
    if not (ratio and event.measure is Measure.PERCENT and event.value > 100):
        check_amount(event.measure, event.value, "value")
    units.lookup(unit_code, observed_on, "unit_code")  # the unit must exist on that day
    return event


async def record(
    store: EventStore, units: Units, metadata: Metadata, *, unit_code: str, code: str, year: int,
    measure: Measure | str, value: Decimal | int | str, observed_on: date, source: str,
    numerator: int | None = None, denominator: int | None = None,
) -> AppendResult:  # fmt: skip
    """Record a figure (superseding any earlier one for the same unit, indicator and year)."""
    event = decide(units, unit_code=unit_code, code=code, year=year, measure=measure, value=value,
                   observed_on=observed_on, source=source, numerator=numerator, denominator=denominator)  # fmt: skip
    stream = stream_id(unit_code, code, year)
    for _ in range(5):
        version = len(await store.read_stream(stream))
        try:
            new = NewEvent("IndicatorObserved", event, start_of_day(observed_on))
            return await store.append(stream, STREAM_TYPE, version, [new], metadata)
        except ConcurrencyError:
            continue  # another figure landed first: this one goes after it
    raise ConcurrencyError(stream, version, version + 1)


async def latest(store: EventStore, unit_code: str, code: str, year: int) -> tuple[IndicatorObserved, int] | None:
    """The figure in force for a unit, indicator and year, and the position of its event (for explanations)."""
    events = await store.read_stream(stream_id(unit_code, code, year))
    if not events:
        return None
    return IndicatorObserved.model_validate(events[-1].data), events[-1].position


__all__ = ["STREAM_TYPE", "IndicatorObserved", "decide", "implied", "latest", "record", "stream_id"]
