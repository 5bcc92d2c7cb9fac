"""The API's rate limit per principal and its time limit per request (schema/app.py), on the real middleware."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from registry.access import Role
from registry.config import load_settings
from registry.tokens import Verifier, issue
from schema.app import Authenticate, RateLimiter


@given(per_minute=st.integers(1, 120), gaps=st.lists(st.floats(0, 5), max_size=300))
def test_a_principal_never_gets_more_than_its_rate(per_minute: int, gaps: list[float]) -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute, clock=lambda: now[0])
    allowed = 0
    for gap in gaps:
        now[0] += gap
        wait = limiter.take("officer:a")
        allowed += wait == 0
        assert wait >= 0
    assert allowed <= per_minute + now[0] * per_minute / 60 + 1e-9  # the bucket, then the refill
    assert limiter.take("officer:b") == 0  # each principal has its own


def test_over_the_rate_is_429_and_over_the_time_is_503(tmp_path: Path) -> None:
    settings = load_settings(registry_data_dir=tmp_path)

    async def slow(request: Request) -> JSONResponse:
        await asyncio.sleep(float(request.query_params.get("sleep", "0")))
        return JSONResponse({"data": {}})

    app = Starlette(routes=[Route("/graphql", slow, methods=["POST"])], middleware=[Middleware(Authenticate)])
    app.state.verifier, app.state.limiter, app.state.request_timeout = Verifier(settings), RateLimiter(3), 0.5
    token = issue(settings, "officer:busy", Role.COMMUNE_OFFICER, "03405", timedelta(minutes=5))
    headers = {"Authorization": f"Bearer {token}"}

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as client:
            assert (await client.post("/graphql", headers={"Authorization": "Bearer nope"})).status_code == 401
            late = await client.post("/graphql?sleep=2", headers=headers)
            assert late.status_code == 503 and late.json()["errors"][0]["extensions"] == {"code": "TIMEOUT"}
            assert [(await client.post("/graphql", headers=headers)).status_code for _ in range(2)] == [200, 200]
            over = await client.post("/graphql", headers=headers)
            assert over.status_code == 429 and int(over.headers["retry-after"]) >= 1
            assert over.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
            other = issue(settings, "officer:calm", Role.COMMUNE_OFFICER, "03405", timedelta(minutes=5))
            assert (await client.post("/graphql", headers={"Authorization": f"Bearer {other}"})).status_code == 200

    asyncio.run(scenario())
