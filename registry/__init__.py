"""The child-protection case registry: event store, domain, configuration and CLI."""

from .errors import (
    ConcurrencyError,
    IdempotencyConflict,
    InvalidEventData,
    InvalidInput,
    NotFound,
    RegistryError,
    StoreUnavailable,
    StreamTypeMismatch,
    UnknownEventType,
    UnknownStreamType,
)
from .events import START, Catalog, Cursor, Metadata, NewEvent, RecordedEvent
from .store import AppendResult, EventStore

__all__ = [
    "START",
    "AppendResult",
    "Catalog",
    "ConcurrencyError",
    "Cursor",
    "EventStore",
    "IdempotencyConflict",
    "InvalidEventData",
    "InvalidInput",
    "Metadata",
    "NewEvent",
    "NotFound",
    "RecordedEvent",
    "RegistryError",
    "StoreUnavailable",
    "StreamTypeMismatch",
    "UnknownEventType",
    "UnknownStreamType",
]
