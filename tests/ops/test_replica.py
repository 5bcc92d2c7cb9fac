"""A read replica by PostgreSQL's own streaming replication: the API with DATABASE_URL on a primary and
DATABASE_READ_URL on its hot standby, both started here from the embedded server's binaries on loopback (whatever
server the rest of the suite runs on)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from websockets.asyncio.client import connect

from registry.access import Role
from registry.catalog import default_catalog
from registry.db import create_scratch_database, with_database
from registry.events import Cursor
from registry.store import EventStore
from registry.unit_loader import load
from tests.ops.cluster import Server, primary_and_standby, wait_streaming
from tests.ops.support import REGISTER, eventually, graphql, samples, settings_for, token, value
from tests.registry.test_unit_loader import tiny_plan
from tests.schema.server import serving

BA_DINH = "00004"  # a ward of the tests' small country (tests/registry/test_unit_loader.py TINY), from 2025-07-01
CHILD = 'query($id: ID!) { child(childId: $id, purpose: "home visit") { childId fullName } }'
EVENTS = 'subscription { events(purpose: "watch the ward", recordKinds: ["child"]) { recordId globalCursor } }'


async def prepare(primary: Server, standby: Server, tmp: Path) -> str:
    """A migrated registry database on the primary, with the small country's units; its name."""
    await wait_streaming(primary, standby)
    name = "registry"
    database = await create_scratch_database(primary.url, name)
    pool = await database.create_pool(2)
    store = EventStore(pool, default_catalog(), connect=database.connect)
    try:
        await load(store, tiny_plan(tmp))
    finally:
        await store.close()
        await pool.close()
    return name


async def on_standby(standby: Server, sql: str) -> Any:
    conn = await asyncpg.connect(standby.url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def child(name: str) -> dict[str, str]:
    return {"fullName": name, "dateOfBirth": "2019-03-03", "sex": "male", "communeCode": BA_DINH,
            "residenceFrom": "2025-08-01", "idempotencyKey": str(uuid.uuid4())}  # fmt: skip


async def pushed_after_a_write(base: str, bearer: str) -> tuple[str, str]:
    """Subscribe to the ward's child events (read on the replica), write a child, and wait for its push."""
    async with connect(base.replace("http://", "ws://") + "/graphql",
                       subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]  # fmt: skip
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {bearer}"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 20))["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}}))
        await asyncio.sleep(0.5)  # the subscription has read the horizon: what follows is new
        made = await asyncio.to_thread(graphql, base, REGISTER, bearer, {"i": child("Vũ Văn Khánh")})
        written = made.json()["data"]["registerChild"]["child"]["childId"]
        while True:
            found = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if found["type"] == "next":
                event = found["payload"]["data"]["events"]
                return written, event["recordId"]


def test_the_api_reads_a_streaming_replica_and_a_read_after_a_write_waits_for_it(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with primary_and_standby() as (primary, standby):
        name = run(prepare(primary, standby, tmp_path))
        settings = settings_for(with_database(primary.url, name), tmp_path, registry_replica_wait=1.0,
                                database_read_url=with_database(standby.url, name))  # fmt: skip
        with serving(settings) as base:
            ready = eventually(lambda: httpx.get(f"{base}/readyz").status_code == 200 and httpx.get(f"{base}/readyz"))
            assert "lag_seconds" in ready.json()["checks"]["replica"]
            officer = token(settings, Role.COMMUNE_OFFICER, BA_DINH)

            # A write goes to the primary and answers with its cursor; a read sent with it sees the write.
            made = graphql(base, REGISTER, officer, {"i": child("Hà Văn Tùng")}).json()["data"]["registerChild"]
            assert made["userErrors"] == [] and made["globalCursor"]
            read = graphql(base, CHILD, officer, {"id": made["child"]["childId"]},
                           headers={"X-Registry-After": made["globalCursor"]})  # fmt: skip
            assert read.status_code == 200 and read.json()["data"]["child"]["fullName"] == "Hà Văn Tùng"

            # Subscriptions read the replica too; their wake-up (LISTEN, on the primary) waits for it.
            written, pushed = run(pushed_after_a_write(base, officer))
            assert pushed == written

            # With the standby's replay paused, the primary has writes the replica has not: reads are stale, and
            # prove they are served by the replica; without a cursor they answer (null), never fail; with one they
            # wait, then say REPLICA_LAG; once replay resumes, the same read sees the write.
            run(on_standby(standby, "SELECT pg_wal_replay_pause()"))
            try:
                late = graphql(base, REGISTER, officer, {"i": child("Lường Văn Sơn")}).json()["data"]["registerChild"]
                stale = graphql(base, CHILD, officer, {"id": late["child"]["childId"]})
                assert stale.status_code == 200 and stale.json()["data"] == {"child": None}
                assert "errors" not in stale.json()
                began = time.monotonic()
                waited = graphql(base, CHILD, officer, {"id": late["child"]["childId"]},
                                 headers={"X-Registry-After": late["globalCursor"]})  # fmt: skip
                assert waited.status_code == 503 and time.monotonic() - began >= 1.0
                assert waited.headers["retry-after"] == "1"
                assert waited.json()["errors"][0]["extensions"]["code"] == "REPLICA_LAG"
                lag = samples(httpx.get(f"{base}/metrics").text)
                assert value(lag, "registry_replica_lag_seconds") >= 0 and value(lag, "registry_errors_total",
                                                                                   code="REPLICA_LAG") == 1  # fmt: skip
            finally:
                run(on_standby(standby, "SELECT pg_wal_replay_resume()"))
            seen = graphql(base, CHILD, officer, {"id": late["child"]["childId"]},
                           headers={"X-Registry-After": late["globalCursor"]})  # fmt: skip
            assert seen.json()["data"]["child"]["fullName"] == "Lường Văn Sơn"

            # A cursor the primary never wrote is refused at once rather than waited for.
            forged = Cursor(2**40, 2**40).token()
            refused = graphql(base, CHILD, officer, {"id": late["child"]["childId"]},
                              headers={"X-Registry-After": forged})  # fmt: skip
            assert refused.status_code == 400
            assert refused.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "X-Registry-After"}
            assert run(on_standby(standby, "SELECT pg_is_in_recovery()")) is True  # a standby all along
