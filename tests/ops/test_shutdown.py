"""Graceful shutdown: a projector told to stop finishes its batch and lets go of its lead; SIGTERM lets requests in
flight finish, stops the projectors, and another process takes the lead at once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
import httpx

from projections.register import ChildRegister as ChildProjection
from projections.runtime import Projector, lock_key
from registry.access import Role
from registry.catalog import default_catalog
from registry.child_service import ChildRegister
from registry.children import RegisterChild, Sex
from registry.events import Metadata, RecordedEvent
from registry.gazetteer import Gazetteer
from registry.sealing import Keyring
from registry.store import EventStore
from registry.unit_loader import load
from tests.conftest import Db, Registry
from tests.ops.support import eventually, settings_for, token
from tests.projections.test_projector import isolated
from tests.registry.test_cli import environment
from tests.registry.test_unit_loader import tiny_plan
from tests.schema.server import free_port

PROJECT = Path(__file__).resolve().parents[2]
OFFICER = Metadata(actor_id="officer:ops", actor_role="commune_officer")


def test_a_projector_told_to_stop_finishes_the_batch_it_applies_and_releases_its_lead(run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    for n in range(4):  # at least a few batches of child events in the log
        run(registry.children.execute(RegisterChild(str(uuid.uuid4()), f"Trẻ {n}", date(2017, 1, 1), Sex.MALE,
                                                    "03405", date(2025, 8, 1)), OFFICER))  # fmt: skip
    stop = asyncio.Event()

    class Stopping(ChildProjection):
        applied: ClassVar[list[int]] = []

        async def apply(self, conn: asyncpg.Connection, tables: dict[str, str],
                        events: Sequence[RecordedEvent]) -> None:  # fmt: skip
            stop.set()  # the stop comes in the middle of the first batch
            await asyncio.sleep(0.2)
            await super().apply(conn, tables, events)
            self.applied.append(len(events))

    projection = isolated(Stopping)
    projector = Projector(registry.store, registry.db.owner, projection, batch=2)
    run(asyncio.wait_for(projector.run(stop, poll=30), 60))  # returns without sitting out its 30 s poll

    assert Stopping.applied == [2]  # that batch, whole, and no other
    conn = run(registry.db.owner())
    try:
        events = run(conn.fetchval("SELECT events FROM projection_checkpoints WHERE name = $1", projection.name))
        assert events == 2  # its checkpoint was committed with it
        assert run(conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(projection.name)))  # the lead is free
    finally:
        run(conn.close())


def serve(role: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the process writes to its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "registry.cli", "serve", "--role", role, "--port", str(port)],
                                cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def said(log: Path, message: str) -> bool:
    return any(message in line["message"] for line in lines(log))


def up(port: int, path: str = "/healthz") -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_sigterm_finishes_a_request_in_flight_stops_the_projectors_and_another_process_leads_at_once(
    run, fresh_db: Db, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    store = EventStore(fresh_db.pool, default_catalog(), connect=fresh_db.database.connect)
    run(load(store, tiny_plan(tmp_path)))
    master = os.urandom(32)
    settings = settings_for(fresh_db.owner_url, tmp_path / "data", master)
    env = environment(DATABASE_URL=fresh_db.owner_url, REGISTRY_DATA_DIR=str(tmp_path / "data"),
                      REGISTRY_MASTER_KEY=settings.registry_master_key.get_secret_value(),  # type: ignore[union-attr]
                      REGISTRY_LOG_FORMAT="json", REGISTRY_SHUTDOWN_TIMEOUT="20")  # fmt: skip
    bearer = token(settings, Role.COMMUNE_OFFICER, "00004")
    first_port, second_port = free_port(), free_port()
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = serve("all", first_port, env, first_log)
    second: subprocess.Popen[bytes] | None = None
    try:
        eventually(lambda: up(first_port, "/readyz"), 120)
        # Ready means within the lag allowed, not leading yet: the second starts once the first holds both locks.
        eventually(lambda: said(first_log, "projection child_register: leading")
                   and said(first_log, "projection case_register: leading"), 60)  # fmt: skip
        second = serve("projector", second_port, env, second_log)
        eventually(lambda: up(second_port), 120)
        assert not said(second_log, "leading")  # the first one leads; the second waits for the lock

        # A request whose body is still on its way when SIGTERM arrives is served in full.
        body = json.dumps({"query": "{ me { subject } }"}).encode()
        with socket.create_connection(("127.0.0.1", first_port), timeout=30) as raw:
            raw.sendall(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        b"Authorization: Bearer " + bearer.encode() + b"\r\n"
                        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:10])  # fmt: skip
            run(asyncio.sleep(0.3))
            first.send_signal(signal.SIGTERM)
            run(asyncio.sleep(0.5))
            raw.sendall(body[10:])
            answer = b""
            while chunk := raw.recv(65536):
                answer += chunk
        head, _, content = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), answer
        assert json.loads(content)["data"]["me"]["subject"] == "officer:ops"

        assert first.wait(60) in (0, -signal.SIGTERM)
        assert said(first_log, "projection child_register: stopped") and said(first_log, "registry stopped (all)")
        # The second process takes the lead at once (its next try of the lock), and follows the log.
        eventually(lambda: said(second_log, "projection child_register: leading")
                   and said(second_log, "projection case_register: leading"), 30)  # fmt: skip
        units = Gazetteer()
        run(units.refresh(store))
        children = ChildRegister(store, Keyring(fresh_db.pool, master), units)
        run(children.execute(RegisterChild(str(uuid.uuid4()), "Đinh Thị Mai", date(2019, 1, 1), Sex.FEMALE, "00004",
                                           date(2025, 8, 1)), OFFICER))  # fmt: skip
        projected = "SELECT events FROM projection_checkpoints c JOIN projection_state s USING (name, generation)" \
                    " WHERE name = 'child_register'"  # fmt: skip
        eventually(lambda: run(fresh_db.pool.fetchval(projected)) == 1, 30)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()
        run(store.close())
