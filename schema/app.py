"""The ASGI application: starlette, with /healthz now and the GraphQL API to come (schema/)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from projections.register import PROJECTIONS
from projections.runtime import Projector
from registry.config import Settings, load_settings
from registry.demo import load_demo
from registry.errors import RegistryError
from registry.runtime import Registry
from registry.store import driver_errors

log = logging.getLogger(__name__)


async def healthz(request: Request) -> JSONResponse:
    """Liveness: the database answers `SELECT 1`."""
    registry: Registry = request.app.state.registry
    try:
        with driver_errors():
            await registry.pool.fetchval("SELECT 1", timeout=5)
    except RegistryError as exc:
        log.warning("healthz: %s", exc)
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


def owner(registry: Registry) -> Callable[[], Awaitable[asyncpg.Connection]]:
    return lambda: registry.database.connect(owner=True)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        registry = await Registry.open(settings)
        log.info("registry serving from %s", registry.database.describe())
        if settings.registry_demo and await load_demo(registry):
            log.info("demonstration data loaded")
        app.state.registry = registry
        # The read models follow the log in this process (a separate projector process comes with operations);
        # with several app processes, one leads each projection and the others wait (advisory lock).
        stop = asyncio.Event()
        projectors = [
            asyncio.create_task(Projector(registry.store, owner(registry), cls()).run(stop)) for cls in PROJECTIONS
        ]
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*projectors, return_exceptions=True)
            await registry.close()

    return Starlette(routes=[Route("/healthz", healthz)], lifespan=lifespan)


__all__ = ["create_app", "healthz"]
