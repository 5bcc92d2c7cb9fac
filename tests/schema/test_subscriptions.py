"""Subscriptions over a real WebSocket (graphql-transport-ws, the `websockets` client) on loopback: authentication at
connection_init, the token's expiry, origins, and each pushed event checked against the caller's jurisdiction."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from registry.access import Role
from registry.access_log import entries
from registry.tokens import issue
from tests.conftest import Registry
from tests.schema.test_api import ASSESS, RECEIVE, REGISTER, TA_LENG, Api
from tests.schema.test_api import api as api

PROTOCOL = "graphql-transport-ws"
EVENTS = 'subscription($k: [String!]) { events(purpose: "watch the commune", recordKinds: $k) { recordKind recordId' \
         " eventType globalCursor actorRole } }"  # fmt: skip


def ws_url(api: Api) -> str:
    return api.url.replace("http://", "ws://")


async def opened(api: Api, token: str | None, **headers: str) -> ClientConnection:
    """A connection past connection_init (acknowledged), or closed by the server (the caller reads why)."""
    ws = await connect(ws_url(api), subprotocols=[PROTOCOL], additional_headers=headers)  # type: ignore[list-item]
    payload = {} if token is None else {"Authorization": f"Bearer {token}"}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return ws


async def message(ws: ClientConnection, timeout: float = 20) -> dict[str, Any]:
    while True:
        found: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if found["type"] != "ping":
            return found
        await ws.send(json.dumps({"type": "pong"}))


async def closed_with(ws: ClientConnection, timeout: float = 20) -> int | None:
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    return ws.close_code


def test_a_connection_without_a_valid_token_is_refused_at_connection_init(api: Api) -> None:
    async def scenario() -> None:
        for token in (None, "not-a-jwt"):
            ws = await opened(api, token)
            assert await closed_with(ws) == 4403, token
        ws = await connect(ws_url(api), subprotocols=[PROTOCOL])  # type: ignore[list-item]
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}}))
        assert await closed_with(ws) == 4401  # a subscribe before connection_init
        with pytest.raises(InvalidStatus):  # a page of another origin, not configured
            await connect(ws_url(api), subprotocols=[PROTOCOL],  # type: ignore[list-item]
                          additional_headers={"Origin": "https://elsewhere.example"})  # fmt: skip

    asyncio.run(scenario())


def test_a_connection_is_closed_when_its_token_expires(api: Api) -> None:
    async def scenario() -> None:
        token = issue(api.settings, "officer:brief", Role.COMMUNE_OFFICER, TA_LENG, timedelta(seconds=3))
        ws = await opened(api, token)
        ack = await message(ws)
        assert ack["type"] == "connection_ack" and ack["payload"]["subject"] == "officer:brief"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}}))
        assert await closed_with(ws, timeout=30) == 4401

    asyncio.run(scenario())


def test_events_reach_only_the_jurisdiction_they_belong_to_and_each_push_is_logged(  # type: ignore[no-untyped-def]
    api: Api, run, registry: Registry
) -> None:
    subject = f"officer:watch-{uuid.uuid4().hex[:6]}"

    async def scenario() -> list[dict[str, Any]]:
        ws = await opened(api, api.token(Role.COMMUNE_OFFICER, TA_LENG, subject))
        assert (await message(ws))["type"] == "connection_ack"
        subscribe = {"query": EVENTS, "variables": {"k": ["child"]}}
        await ws.send(json.dumps({"id": "e", "type": "subscribe", "payload": subscribe}))
        await asyncio.sleep(1)  # the subscription has taken the head of the log as its start
        for commune, name in (("03394", "Vàng Thị Dua"), (TA_LENG, "Giàng A Páo")):  # the neighbour's first
            new = {"fullName": name, "dateOfBirth": "2020-02-02", "sex": "female", "communeCode": commune,
                   "residenceFrom": "2025-10-01", "idempotencyKey": str(uuid.uuid4())}  # fmt: skip
            made = await asyncio.to_thread(api.post, REGISTER, api.token(Role.COMMUNE_OFFICER, commune), {"i": new})
            assert made.json()["data"]["registerChild"]["userErrors"] == [], made.text
        pushed = await message(ws)
        await ws.close()
        return [pushed]

    (pushed,) = asyncio.run(scenario())
    assert pushed["type"] == "next" and pushed["id"] == "e", pushed
    event = pushed["payload"]["data"]["events"]
    assert (event["recordKind"], event["eventType"], event["actorRole"]) == ("child", "ChildRegistered",
                                                                             "commune_officer")  # fmt: skip
    logged = run(entries(registry.db.pool, subject=subject))
    assert [(e.operation, e.record_id, e.purpose) for e in logged] == [
        ("events", event["recordId"], "watch the commune")]  # fmt: skip
    home = api.post('query($id: ID!) { child(childId: $id, purpose: "check") { commune { code } } }',
                    api.token(Role.COMMUNE_OFFICER, TA_LENG), {"id": event["recordId"]}).json()  # fmt: skip
    assert home["data"]["child"]["commune"]["code"] == TA_LENG  # the neighbour's child never came


def test_case_deadlines_and_projection_progress_are_pushed(api: Api) -> None:
    officer = api.token(Role.COMMUNE_OFFICER, TA_LENG)
    late = {"at": "2026-09-01T08:30:00+07:00", "channel": "hotline_111", "reporterKind": "neighbour",
            "caseTypes": ["neglect"], "communeCode": TA_LENG, "account": "left alone for days",
            "childIds": [api.others[0]], "idempotencyKey": str(uuid.uuid4())}  # fmt: skip
    made = api.post(RECEIVE, officer, {"i": late}).json()["data"]["receiveReport"]
    assert made["userErrors"] == [], made
    case_id = made["case"]["caseId"]
    assess = {
        "caseId": case_id,
        "expectedVersion": 1,
        "at": "2026-09-02T10:00:00+07:00",
        "riskLevel": "medium",
        "emergency": False,
        "idempotencyKey": str(uuid.uuid4()),
    }  # the plan was due within days of this
    assessed = api.post(ASSESS, officer, {"i": assess}).json()["data"]["assessRisk"]
    assert assessed["userErrors"] == [], assessed

    async def scenario() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        ws = await opened(api, officer)
        assert (await message(ws))["type"] == "connection_ack"
        deadlines = f'subscription {{ caseDeadlines(unit: "{TA_LENG}", purpose: "deadline watch", everySeconds: 5)' \
                    " { caseId code status dueAt } }"  # fmt: skip
        await ws.send(json.dumps({"id": "d", "type": "subscribe", "payload": {"query": deadlines}}))
        alerts: list[dict[str, Any]] = []
        while not any(a["caseId"] == case_id for a in alerts):
            found = await message(ws, timeout=60)
            assert found["type"] == "next" and "errors" not in found["payload"], found
            alerts.append(found["payload"]["data"]["caseDeadlines"])
        await ws.send(json.dumps({"id": "d", "type": "complete"}))
        progress = 'subscription { projectionProgress(name: "case_register") { name checkpoint head lagEvents } }'
        await ws.send(json.dumps({"id": "p", "type": "subscribe", "payload": {"query": progress}}))
        found = await message(ws)
        while found.get("id") != "p":  # an alert already on its way when its subscription was completed
            found = await message(ws)
        await ws.close()
        return alerts, found

    alerts, progress = asyncio.run(scenario())
    mine = [a for a in alerts if a["caseId"] == case_id]
    assert {a["status"] for a in mine} == {"overdue"} and mine[0]["code"], mine  # reported in September
    status = progress["payload"]["data"]["projectionProgress"]
    assert status["name"] == "case_register" and status["head"] and status["lagEvents"] >= 0
