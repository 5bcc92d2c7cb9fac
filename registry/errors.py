"""The registry's error hierarchy.

Every error carries structured attributes and a message free of personal data:
stream ids are opaque identifiers, field names are schema names, and values
given by a user are never echoed.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base of every error the registry raises on purpose."""

    code = "REGISTRY_ERROR"


class InvalidInput(RegistryError):
    """Raised when input breaks a rule; `field` names the offending field (dotted path)."""

    code = "BAD_USER_INPUT"

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(field={self.field!r}, reason={self.reason!r})"


class UnknownStreamType(InvalidInput):
    """Raised when an append names a stream type the event catalogue does not know."""


class UnknownEventType(InvalidInput):
    """Raised when an event type is not registered for the stream type it is appended to."""


class InvalidEventData(InvalidInput):
    """Raised when an event's data or metadata fails its schema or is not canonical JSON."""


class StreamTypeMismatch(InvalidInput):
    """Raised when an append names another stream type than the stream already has."""


class ConcurrencyError(RegistryError):
    """Raised when an append's expected version is not the stream's current version.

    Nothing was written. Reload the stream, decide again, and retry.
    """

    code = "CONCURRENCY_CONFLICT"

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream_id}: expected version {expected}, actual version {actual}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual

    def __repr__(self) -> str:
        return f"ConcurrencyError(stream_id={self.stream_id!r}, expected={self.expected}, actual={self.actual})"


class IdempotencyConflict(RegistryError):
    """Raised when an idempotency key is reused for an append with other content.

    Nothing was written; the first append under that key stands.
    """

    code = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self, key: str, stream_id: str) -> None:
        super().__init__(f"idempotency key was already used for another request (stream {stream_id})")
        self.key = key
        self.stream_id = stream_id


class NotFound(RegistryError):
    """Raised when a requested stream, checkpoint or record does not exist."""

    code = "NOT_FOUND"


class Unauthenticated(RegistryError):
    """Raised when a request carries no valid bearer token; the reason never echoes the token."""

    code = "UNAUTHENTICATED"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class StoreUnavailable(RegistryError):
    """Raised when the database cannot be reached after the allowed retries."""

    code = "UNAVAILABLE"


class ReplicaLag(RegistryError):
    """Raised when a read asked to follow a write (X-Registry-After) and the replica had not replayed that write
    within the allowed wait; the write is on the primary, so reading again a moment later succeeds."""

    code = "REPLICA_LAG"

    def __init__(self, waited: float) -> None:
        super().__init__(f"the read replica has not yet replayed that write (waited {waited:g} s): try again")
        self.waited = waited


class ConfigError(RegistryError):
    """Raised at start-up when a configuration value is missing or invalid; names the key."""

    code = "CONFIG_ERROR"

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"Config '{key}' {message}")
        self.key = key


class MigrationError(RegistryError):
    """Raised when migrations cannot be applied, or an applied migration was edited."""

    code = "MIGRATION_ERROR"


__all__ = [
    "ConcurrencyError",
    "ConfigError",
    "IdempotencyConflict",
    "InvalidEventData",
    "InvalidInput",
    "MigrationError",
    "NotFound",
    "RegistryError",
    "ReplicaLag",
    "StoreUnavailable",
    "StreamTypeMismatch",
    "Unauthenticated",
    "UnknownEventType",
    "UnknownStreamType",
]
