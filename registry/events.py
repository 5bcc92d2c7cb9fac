"""Events as the store sees them: what is appended, what is read, and the catalogue.

The catalogue is the one list of stream types, event types and their schema
versions. Appends are checked against it (unknown stream or event types, data
that fails the event's schema); reads upgrade old schema versions through its
upcasters, in `Catalog.upcast`, the one place that decodes stored rows. Stored
rows are never rewritten.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticSerializationError

from .errors import InvalidEventData, InvalidInput, UnknownEventType, UnknownStreamType
from .hashing import check_json
from .types import JSONObject

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,99}$")
STREAM_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")

Upcaster = Callable[[JSONObject], JSONObject]
_I = TypeVar("_I", bound=InvalidInput)
_B = TypeVar("_B", bound=BaseModel)


class Metadata(BaseModel):
    """Who did it, for whom, why and through what: stored with every event of an append."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=1000)

    actor_id: str
    actor_role: str
    jurisdiction: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    reason: str | None = None
    source: str | None = None
    idempotency_key: str | None = None
    client_request_id: str | None = None


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. `data` is a dict or an instance of the event's schema model."""

    event_type: str
    data: Mapping[str, Any] | BaseModel
    occurred_at: datetime


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """A point in the global order: the pair (transaction_id, position).

    Below the visibility horizon no new event can ever sort before a cursor, so
    "everything up to C" is the same set of events forever. Clients see it only
    as an opaque token (`token`).
    """

    transaction_id: int
    position: int

    def token(self) -> str:
        raw = f"{self.transaction_id}:{self.position}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def from_token(cls, token: str, field: str = "cursor") -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            tx, pos = raw.split(":")
            cursor = cls(int(tx), int(pos))
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput(field, "invalid_cursor", "is not a cursor issued by this registry") from None
        if cursor.transaction_id < 0 or cursor.position < 0:
            raise InvalidInput(field, "invalid_cursor", "is not a cursor issued by this registry")
        return cursor


START = Cursor(0, 0)


@dataclass(frozen=True, slots=True)
class Horizon:
    """What the registry knew at a point of system time: the events up to a cursor of the global order, or those
    recorded by a time (both when both are given). "As of" reads fold only the events it includes."""

    cursor: Cursor | None = None
    time: datetime | None = None

    def includes(self, event: RecordedEvent) -> bool:
        if self.cursor is not None and event.cursor > self.cursor:
            return False
        return self.time is None or event.recorded_at <= self.time


class RecordedEvent(NamedTuple):
    """An event as stored, its data upgraded to the current schema version.

    A NamedTuple rather than a frozen dataclass: followers build one per
    event read, and a tuple is several times cheaper to construct.
    """

    position: int
    transaction_id: int
    stream_id: str
    stream_type: str
    version: int
    event_type: str
    schema_version: int
    data: JSONObject
    metadata: JSONObject
    occurred_at: datetime
    recorded_at: datetime
    prev_hash: bytes | None
    hash: bytes
    stored_schema_version: int

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.transaction_id, self.position)


@dataclass(frozen=True, slots=True)
class EventSchema:
    stream_type: str
    event_type: str
    version: int
    model: type[BaseModel]
    # upcasters[v] turns data of schema version v into version v + 1
    upcasters: Mapping[int, Upcaster] = field(default_factory=dict)


class Catalog:
    """The registered stream types and, for each, its event types and schemas."""

    def __init__(self) -> None:
        self._streams: dict[str, dict[str, EventSchema]] = {}
        self._events: dict[str, EventSchema] = {}

    def add_stream_type(self, stream_type: str) -> None:
        if not NAME_PATTERN.match(stream_type):
            raise ValueError(f"invalid stream type name {stream_type!r}")
        self._streams.setdefault(stream_type, {})

    def add_event(
        self,
        stream_type: str,
        event_type: str,
        model: type[BaseModel],
        *,
        version: int = 1,
        upcasters: Mapping[int, Upcaster] | None = None,
    ) -> None:
        """Register an event type at its current schema version, with upcasters from each older one."""
        if not NAME_PATTERN.match(event_type):
            raise ValueError(f"invalid event type name {event_type!r}")
        if event_type in self._events:
            raise ValueError(f"event type {event_type!r} is already registered")
        upcasters = dict(upcasters or {})
        if sorted(upcasters) != list(range(1, version)):
            raise ValueError(f"{event_type}: need one upcaster from each version 1..{version - 1}")
        self.add_stream_type(stream_type)
        schema = EventSchema(stream_type, event_type, version, model, upcasters)
        self._streams[stream_type][event_type] = schema
        self._events[event_type] = schema

    @property
    def stream_types(self) -> list[str]:
        return sorted(self._streams)

    def check_stream_type(self, stream_type: str) -> None:
        if stream_type not in self._streams:
            raise UnknownStreamType("stream_type", "unknown_stream_type", "is not a registered stream type")

    def schema(self, stream_type: str, event_type: str, field: str = "event_type") -> EventSchema:
        self.check_stream_type(stream_type)
        schema = self._streams[stream_type].get(event_type)
        if schema is None:
            raise UnknownEventType(field, "unknown_event_type", "is not an event type of this stream type")
        return schema

    def validate(self, stream_type: str, event: NewEvent, field: str) -> tuple[int, JSONObject]:
        """Return the event's current schema version and its data as JSON, checked against the schema."""
        schema = self.schema(stream_type, event.event_type, f"{field}.event_type")
        data = event.data
        if isinstance(data, BaseModel):
            if type(data) is not schema.model:
                raise InvalidEventData(f"{field}.data", "wrong_model", "is not this event type's model")
        else:
            try:
                data = schema.model.model_validate(data)
            except ValidationError as exc:
                raise validation_error(exc, f"{field}.data") from None
        try:
            return schema.version, data.model_dump(mode="json")
        except PydanticSerializationError:
            check_json(data.model_dump(), f"{field}.data")  # names the path of the offending value
            raise InvalidEventData(f"{field}.data", "not_json", "holds a value that is not JSON") from None

    def current_version(self, event_type: str) -> int:
        """The schema version events of this type are written at now (0 if unknown)."""
        schema = self._events.get(event_type)
        return 0 if schema is None else schema.version

    def upcast(self, event_type: str, schema_version: int, data: JSONObject) -> tuple[int, JSONObject]:
        """Upgrade stored data to the event type's current schema version."""
        schema = self._events.get(event_type)
        if schema is None or schema_version >= schema.version:
            return schema_version, data
        while schema_version < schema.version:
            data = schema.upcasters[schema_version](data)
            schema_version += 1
        return schema_version, data


def field_error(exc: ValidationError, error: type[_I], prefix: str = "") -> _I:
    """The first pydantic error as a typed error naming the field (a dotted path), never the value."""
    first = exc.errors(include_input=False, include_url=False)[0]
    path = ".".join(str(part) for part in ((prefix,) if prefix else ()) + tuple(first["loc"]))
    return error(path, first["type"], first["msg"])


def validation_error(exc: ValidationError, prefix: str) -> InvalidEventData:
    return field_error(exc, InvalidEventData, prefix)


def build(model: type[_B], values: Mapping[str, Any], error: type[InvalidInput], prefix: str = "") -> _B:
    """Validate `values` into `model`; the first failure is raised as `error` naming the field.

    The one way the domain modules turn a command's values into an event or a record.
    """
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise field_error(exc, error, prefix) from None


__all__ = [
    "START",
    "build",
    "field_error",
    "Catalog",
    "Cursor",
    "EventSchema",
    "Horizon",
    "Metadata",
    "NewEvent",
    "RecordedEvent",
    "Upcaster",
    "validation_error",
]
