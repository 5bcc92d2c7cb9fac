"""The access log: every read of a child or case record, allowed or denied, kept append-only (migration 0007).

The API writes an entry for each record a request reads or is refused
(schema/), before the answer leaves: a read that cannot be logged is not
served. Entries hold the principal, its role and unit, the operation, the
record's kind and id, the purpose the caller gave, the request id and the
outcome; never personal data. Auditors read the log, and that read is
logged too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import asyncpg

from .access import Principal
from .errors import InvalidInput
from .store import driver_errors

PURPOSE_LENGTH = (3, 500)  # characters, once stripped


def purpose_of(value: str | None, field: str = "purpose") -> str:
    """The purpose of a read as the log keeps it, stripped: 3-500 printable characters (one line, no control
    character), or InvalidInput naming `field`. Every way in (API, feed, export, audit commands) asks this."""
    text = (value or "").strip()
    low, high = PURPOSE_LENGTH
    if not low <= len(text) <= high:
        raise InvalidInput(field, "no_purpose", f"says why the records are read ({low}-{high} characters)")
    if not text.isprintable():
        raise InvalidInput(field, "unprintable", "must be one line of printable characters (no control character)")
    return text


def _storable(text: str | None) -> str | None:
    """Text PostgreSQL can keep: NUL and unpaired surrogates, which it cannot, are written as escapes (a record id
    as a caller sent it, refused but still logged)."""
    if text is None or text.isprintable():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


class Outcome(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"  # out of the principal's role or jurisdiction
    NOT_FOUND = "not_found"  # no such record (answered like a denial)


@dataclass(frozen=True, slots=True)
class Access:
    request_id: str
    operation: str  # the GraphQL operation or field, e.g. "child"
    record_kind: str  # "child", "case" or "access_log"
    record_id: str | None
    purpose: str | None
    outcome: Outcome
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    at: datetime
    request_id: str
    subject: str
    role: str
    unit: str | None
    operation: str
    record_kind: str
    record_id: str | None
    purpose: str | None
    outcome: Outcome
    reason: str | None


# One statement for the entries of a request, however many (a page of a register): one round trip, all or none.
_INSERT = """INSERT INTO access_log (request_id, subject, role, unit, operation, record_kind, record_id, purpose,
    outcome, reason)
    SELECT a.request_id, $1, $2, $3, a.operation, a.record_kind, a.record_id, a.purpose, a.outcome, a.reason
    FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
        AS a(request_id, operation, record_kind, record_id, purpose, outcome, reason)"""


async def record(pool: asyncpg.Pool, principal: Principal, accesses: list[Access]) -> None:
    """Write the entries of one request in one statement (all or none)."""
    if not accesses:
        return
    names = ("request_id", "operation", "record_kind", "record_id", "purpose")
    columns = [[_storable(getattr(a, name)) for a in accesses] for name in names]
    with driver_errors():
        await pool.execute(_INSERT, principal.subject, principal.role.value, principal.unit, *columns,
                           [a.outcome.value for a in accesses], [a.reason for a in accesses])  # fmt: skip


async def entries(
    pool: asyncpg.Pool, *, record_kind: str | None = None, record_id: str | None = None, subject: str | None = None,
    after: int = 0, limit: int = 100,
) -> list[Entry]:  # fmt: skip
    """Entries in the order they were written, after the entry id `after`, filtered."""
    with driver_errors():
        rows = await pool.fetch(
            "SELECT * FROM access_log WHERE id > $1 AND ($2::text IS NULL OR record_kind = $2)"
            " AND ($3::text IS NULL OR record_id = $3) AND ($4::text IS NULL OR subject = $4) ORDER BY id LIMIT $5",
            after, record_kind, record_id, subject, limit,
        )  # fmt: skip
    return [Entry(**{**dict(r), "outcome": Outcome(r["outcome"])}) for r in rows]


__all__ = ["Access", "Entry", "Outcome", "entries", "record"]
