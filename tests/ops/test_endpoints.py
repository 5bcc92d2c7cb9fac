"""/healthz, /readyz and /metrics of a real server (uvicorn on loopback, a real database), in each role."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from projections.register import PROJECTIONS
from projections.runtime import Projector
from registry.access import Role
from registry.catalog import default_catalog
from registry.child_service import ChildRegister
from registry.children import RegisterChild, Sex
from registry.events import Metadata
from registry.gazetteer import Gazetteer
from registry.sealing import Keyring
from registry.store import EventStore
from registry.unit_loader import load
from tests.conftest import Db, Registry
from tests.ops.support import REGISTER, eventually, graphql, samples, settings_for, token, value
from tests.registry.test_unit_loader import tiny_plan
from tests.schema.server import deployment, serving

TA_LENG = "03405"
OFFICER = Metadata(actor_id="officer:ops", actor_role="commune_officer")


def ready(base: str) -> httpx.Response | None:
    answer = httpx.get(f"{base}/readyz", timeout=30)
    return answer if answer.status_code == 200 else None


def test_a_server_of_role_all_is_live_ready_and_counts_requests_by_operation_and_errors_by_code(
    registry: Registry, tmp_path: Path
) -> None:
    settings = deployment(registry, tmp_path)
    with serving(settings) as base:
        live = httpx.get(f"{base}/healthz")
        assert (live.status_code, live.json()) == (200, {"status": "ok"})
        checks = eventually(lambda: ready(base)).json()["checks"]  # the projectors of this process catch up
        assert checks["database"] == "ok" and checks["migrations"] == "current" and "replica" not in checks
        assert {name for name, c in checks["projections"].items() if c["built"] and c["ok"]} == {
            p.name for p in PROJECTIONS
        }

        officer = token(settings, Role.COMMUNE_OFFICER, TA_LENG)
        me = graphql(base, "{ me { subject } }", officer, headers={"X-Request-Id": "ops-me-1"})
        assert me.status_code == 200 and me.headers["x-request-id"] == "ops-me-1"
        assert len(graphql(base, "{ me { subject } }", officer).headers["x-request-id"]) == 32  # one of its own
        forged = graphql(base, "{ me { subject } }", officer, headers={"X-Request-Id": "a b<c>" * 30})
        assert forged.headers["x-request-id"] != "a b<c>" * 30  # not a plain token: not taken
        assert graphql(base, "{ me { subject } }", None).status_code == 401
        secret = "Purpose-Mentioning-Nguyen-Van-A"
        bad = graphql(base, f'{{ children(unit: "abc", purpose: "{secret}") {{ edges {{ cursor }} }} }}', officer)
        assert bad.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        new = {"fullName": "Vàng Văn Chư", "dateOfBirth": "2020-02-02", "sex": "female", "communeCode": TA_LENG,
               "residenceFrom": "2025-09-01", "idempotencyKey": str(uuid.uuid4())}  # fmt: skip
        made = graphql(base, REGISTER, officer, {"i": new})
        written = made.json()["data"]["registerChild"]["globalCursor"]
        assert written and made.headers["x-registry-written"] == written
        # On a single server a read after a write needs no wait; a header that is not a cursor is refused.
        child_id = made.json()["data"]["registerChild"]["child"]["childId"]
        query = 'query($id: ID!) { child(childId: $id, purpose: "home visit") { childId } }'
        after = graphql(base, query, officer, {"id": child_id}, headers={"X-Registry-After": written})
        assert after.json()["data"]["child"]["childId"] == child_id
        wrong = graphql(base, query, officer, {"id": child_id}, headers={"X-Registry-After": "not a cursor"})
        assert wrong.status_code == 400
        assert wrong.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "X-Registry-After"}

        page = httpx.get(f"{base}/metrics")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
        found = samples(page.text)
        assert value(found, "registry_graphql_requests_total", type="query", operation="me") >= 3
        assert value(found, "registry_graphql_requests_total", type="mutation", operation="registerChild") == 1
        assert value(found, "registry_graphql_request_duration_seconds_count", type="query", operation="me") >= 3
        assert value(found, "registry_http_requests_total", route="/graphql", method="POST", status="401") == 1
        for code in ("UNAUTHENTICATED", "BAD_USER_INPUT"):
            assert value(found, "registry_errors_total", code=code) >= 1, code
        assert value(found, "registry_events_appended_total", stream_type="child") >= 1
        assert value(found, "registry_events_head_position") > 24_000  # the real units and more
        assert value(found, "registry_database_up") == 1
        assert value(found, "registry_info", role="all") == 1
        for projection in PROJECTIONS:
            assert ("registry_projection_lag_seconds", (("projection", projection.name),)) in found
            assert value(found, "registry_projection_events_total", projection=projection.name) >= 0
        # Labels are operations, never what a query said.
        assert secret not in page.text and "Chư" not in page.text and "children(" not in page.text


def test_a_projector_serves_only_health_readiness_and_metrics_and_metrics_can_require_a_token(
    registry: Registry, tmp_path: Path
) -> None:
    secret = "metrics-token-" + uuid.uuid4().hex
    settings = deployment(registry, tmp_path).model_copy(update={"registry_role": "projector"})
    settings = settings.model_copy(update={"registry_metrics_token": SecretStr(secret)})
    with serving(settings) as base:
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        assert httpx.post(f"{base}/graphql", json={"query": "{ me { subject } }"}).status_code == 404
        eventually(lambda: ready(base))
        assert httpx.get(f"{base}/metrics").status_code == 401
        assert (
            httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer wrong-token-of-some-length"}).status_code
            == 401
        )
        page = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {secret}"})
        assert page.status_code == 200
        assert value(samples(page.text), "registry_info", role="projector") == 1


@dataclass
class Fresh:
    db: Db
    master: bytes
    store: EventStore


@pytest.fixture
def fresh(run, fresh_db: Db, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fresh]:  # type: ignore[no-untyped-def]
    """A database of its own with a country of two provinces (tests/registry/test_unit_loader.py)."""
    store = EventStore(fresh_db.pool, default_catalog(), connect=fresh_db.database.connect)
    run(load(store, tiny_plan(tmp_path_factory.mktemp("units"))))
    yield Fresh(fresh_db, os.urandom(32), store)
    run(store.close())


def test_readiness_fails_on_read_models_not_built_a_lag_over_the_limit_and_a_pending_migration(
    run, fresh: Fresh, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(fresh.db.owner_url, tmp_path, fresh.master, registry_role="api", registry_ready_max_lag=1)
    with serving(settings) as base:
        assert httpx.get(f"{base}/healthz").status_code == 200  # alive all along
        not_built = httpx.get(f"{base}/readyz")  # an api process runs no projector
        assert not_built.status_code == 503 and not_built.json()["status"] == "unavailable"
        assert not any(c["built"] for c in not_built.json()["checks"]["projections"].values())

        def catch_up() -> None:
            async def work() -> None:
                for cls in PROJECTIONS:
                    projection = cls()
                    await Projector(fresh.store, fresh.db.owner, projection).catch_up_once()

            run(work())

        catch_up()
        assert ready(base) is not None

        units = Gazetteer()
        run(units.refresh(fresh.store))
        children = ChildRegister(fresh.store, Keyring(fresh.db.pool, fresh.master), units)
        run(children.execute(RegisterChild(str(uuid.uuid4()), "Đỗ Văn Tí", date(2019, 1, 1), Sex.MALE, "00004",
                                           date(2025, 8, 1)), OFFICER))  # fmt: skip
        run(asyncio.sleep(1.5))
        late = httpx.get(f"{base}/readyz")
        assert late.status_code == 503
        register = late.json()["checks"]["projections"]["child_register"]
        assert register["lag_events"] == 1 and register["lag_seconds"] > 1 and not register["ok"]
        catch_up()
        assert ready(base) is not None

        conn = run(fresh.db.owner())
        try:
            run(
                conn.execute(
                    "DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)"
                )
            )
        finally:
            run(conn.close())
        pending = httpx.get(f"{base}/readyz")
        assert pending.status_code == 503 and pending.json()["checks"]["migrations"].startswith("1 pending")
