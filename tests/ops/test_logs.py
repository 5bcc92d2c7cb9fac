"""Structured logs: one JSON object a line, each with the request's id, and no personal data in any of them."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry import logs
from registry.access import Role
from registry.config import load_settings
from tests.conftest import Registry
from tests.ops.support import REGISTER, graphql, token
from tests.schema.server import deployment, serving

TA_LENG = "03405"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every record of every logger, at debug level, as the JSON lines REGISTRY_LOG_FORMAT=json writes."""
    stream = io.StringIO()
    handler = logs.handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_request_logs_json_lines_with_its_id_and_never_the_childs_name(
    registry: Registry, tmp_path: Path, captured: io.StringIO
) -> None:
    settings = deployment(registry, tmp_path)
    # A synthetic name no other line could hold by chance; the request sends it in variables, in a query literal,
    # in a refused command and in a query that does not parse.
    given, family = f"Quyzt{uuid.uuid4().hex[:6]}", "Xưởngvịt"
    name = f"{family} Văn {given}"  # no "hoa", "lò", "thị": tests/schema/test_api.py searches the commune
    request = f"logs-{uuid.uuid4().hex[:8]}"
    with serving(settings) as base:
        officer = token(settings, Role.COMMUNE_OFFICER, TA_LENG)
        new = {"fullName": name, "dateOfBirth": "2018-06-06", "sex": "female", "communeCode": TA_LENG,
               "residenceFrom": "2025-09-01", "idempotencyKey": str(uuid.uuid4()),
               "reason": f"visit to {name}"}  # fmt: skip
        made = graphql(base, REGISTER, officer, {"i": new}, headers={"X-Request-Id": request})
        assert made.json()["data"]["registerChild"]["child"]["fullName"] == name
        child_id = made.json()["data"]["registerChild"]["child"]["childId"]
        found = graphql(base, f'{{ children(unit: "{TA_LENG}", purpose: "find {name}", name: "{given}") '
                              "{ edges { node { childId } } } }", officer)  # fmt: skip
        assert found.status_code == 200  # found or not yet (the register's read model follows a moment later)
        early = {**new, "dateOfBirth": "2030-01-01", "idempotencyKey": str(uuid.uuid4())}
        refused = graphql(base, REGISTER, officer, {"i": early}).json()["data"]["registerChild"]
        assert refused["userErrors"]
        broken = graphql(base, f'{{ child(childId: "{name}", purpose: "x {name}" {{ fullName }} }}', officer)
        assert broken.json()["errors"]
        denied = graphql(base, f'{{ child(childId: "{child_id}", purpose: "{name}") {{ fullName }} }}',
                         token(settings, Role.COMMUNE_OFFICER, "03394"))  # fmt: skip
        assert denied.json()["data"]["child"] is None

    lines = [line for line in captured.getvalue().splitlines() if line]
    assert lines
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message", "request_id"} <= set(r) for r in records)
    mine = [r for r in records if r["request_id"] == request]
    assert any(r["logger"] == "schema.metrics" and r.get("status") == 200 and r.get("operation") == "registerChild"
               for r in mine), mine  # fmt: skip
    for text in (name, given, family):
        assert not [line for line in lines if text in line], text
    assert not [line for line in lines if "Xuongvit" in line.replace("ư", "u").replace("ở", "o").replace("ị", "i")]


def test_the_log_format_and_level_are_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    kept, level = list(root.handlers), root.level
    try:
        logs.configure(load_settings(registry_log_format="json", registry_log_level="warning"))
        assert root.level == logging.WARNING and isinstance(root.handlers[0].formatter, logs.JsonFormatter)
        assert logging.getLogger("websockets").getEffectiveLevel() >= logging.INFO  # its debug lines hold frames
        logs.configure(load_settings(registry_log_format="text"))
        assert isinstance(root.handlers[0].formatter, logs.TextFormatter)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in kept:
            root.addHandler(handler)
        root.setLevel(level)
    assert (
        logs.request_id("abc-123") == "abc-123" and logs.request_id("a b") != "a b" and len(logs.request_id(None)) == 32
    )
