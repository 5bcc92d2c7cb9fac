"""The access log: entries of a request written together, read back in order, never changed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from registry.access import Principal, Role
from registry.access_log import Access, Outcome, entries, purpose_of, record
from registry.errors import InvalidInput, RegistryError
from tests.conftest import Registry

OFFICER = Principal("officer:log", Role.COMMUNE_OFFICER, "03405", datetime(2030, 1, 1, tzinfo=UTC))


def test_entries_are_written_per_request_and_read_back_in_order(run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    request, child = str(uuid.uuid4()), str(uuid.uuid4())
    run(record(registry.db.pool, OFFICER, [
        Access(request, "child", "child", child, "case review", Outcome.ALLOWED),
        Access(request, "child", "child", "someone-else", "case review", Outcome.DENIED, "out_of_jurisdiction"),
    ]))  # fmt: skip
    found = run(entries(registry.db.pool, subject="officer:log"))
    assert [(e.record_id, e.outcome, e.reason) for e in found[-2:]] == [
        (child, Outcome.ALLOWED, None), ("someone-else", Outcome.DENIED, "out_of_jurisdiction")]  # fmt: skip
    assert {(e.request_id, e.role, e.unit, e.purpose) for e in found[-2:]} == {
        (request, "commune_officer", "03405", "case review")}  # fmt: skip
    assert run(entries(registry.db.pool, record_kind="child", record_id=child))[0].id == found[-2].id
    assert run(entries(registry.db.pool, subject="officer:log", after=found[-1].id)) == []


def test_the_log_cannot_be_changed_by_the_application(run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    run(record(registry.db.pool, OFFICER, [Access("r", "case", "case", "k", None, Outcome.NOT_FOUND)]))
    for statement in ("UPDATE access_log SET outcome = 'allowed'", "DELETE FROM access_log", "TRUNCATE access_log"):
        with pytest.raises(Exception) as caught:
            run(registry.db.pool.execute(statement))
        assert "access_log" in str(caught.value) or "permission" in str(caught.value), statement
    with pytest.raises(RegistryError):  # a bad row is refused whole, the others of its request with it
        run(record(registry.db.pool, OFFICER, [Access("r2", "case", "case", "k", None, Outcome.ALLOWED),
                                                Access("", "case", "case", "k", None, Outcome.ALLOWED)]))  # fmt: skip
    assert (
        run(entries(registry.db.pool, subject="officer:log", record_kind="case", record_id="k"))[-1].request_id == "r"
    )


def test_an_id_the_database_cannot_hold_is_logged_escaped_and_a_purpose_must_be_one_printable_line(  # type: ignore[no-untyped-def]
    run, registry: Registry
) -> None:
    request = str(uuid.uuid4())
    run(record(registry.db.pool, OFFICER, [Access(request, "child", "child", "a\x00b\ud800", "case review",
                                                   Outcome.DENIED, "no_purpose")]))  # fmt: skip
    assert [e.record_id for e in run(entries(registry.db.pool, subject="officer:log")) if e.request_id == request] == [
        "a\\x00b\\ud800"]  # fmt: skip
    assert purpose_of("  case review ") == "case review"
    for bad, reason in (("", "no_purpose"), ("ab", "no_purpose"), ("x" * 501, "no_purpose"),
                        ("case\x00review", "unprintable"), ("case\nreview", "unprintable")):  # fmt: skip
        with pytest.raises(InvalidInput) as caught:
            purpose_of(bad, "why")
        assert (caught.value.field, caught.value.reason) == ("why", reason), bad
