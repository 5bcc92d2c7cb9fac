"""/healthz (liveness) and /readyz (readiness), for container runtimes, load balancers and operators.

/healthz answers `{"status": "ok"}` as long as the process serves HTTP: its lifespan has opened the registry (a
process whose database was unreachable at start never answers) and its event loop is not stuck. It does not ask
the database, so that an outage of PostgreSQL does not make the container runtime restart every process of the
deployment (they would come back to the same outage); readiness says whether to send traffic.

/readyz answers 200 when the process can do its work, else 503, with one entry per check:
- `database`: the primary answers `SELECT 1` (and `replica` the read replica, when DATABASE_READ_URL is set);
- `migrations`: none is pending and none applied was edited (`registry migrate` is a separate step);
- `projections`: each read model is built and its oldest event not yet projected was recorded at most
  REGISTRY_READY_MAX_LAG seconds ago (0 turns the check off). Lag in seconds rather than in events: a threshold
  in events means a different delay at night and at the morning's peak, while seconds are what an officer who
  registered a child and looks for it in the register waits.
Neither needs a token; neither says anything but states and counts.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse

from projections.register import PROJECTIONS
from projections.runtime import lag
from registry.errors import RegistryError
from registry.migrations import pending
from registry.runtime import Registry
from registry.store import driver_errors

TIMEOUT = 5.0  # seconds each check may take before it counts as failed


async def healthz(request: Request) -> JSONResponse:
    """Liveness: the process serves (no database round trip; see the module docstring)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Readiness: database (and replica) reachable, migrations current, projections within the allowed lag."""
    registry: Registry = request.app.state.registry
    checks: dict[str, Any] = {}
    ready = True
    for name, check in (("database", _database), ("replica", _replica), ("migrations", _migrations),
                        ("projections", _projections)):  # fmt: skip
        try:
            async with asyncio.timeout(TIMEOUT):
                ok, detail = await check(registry)
        except (RegistryError, TimeoutError) as exc:
            ok, detail = False, f"unavailable ({type(exc).__name__})"
        if detail is not None:
            checks[name] = detail
        ready = ready and ok
    return JSONResponse({"status": "ready" if ready else "unavailable", "checks": checks},
                        status_code=200 if ready else 503)  # fmt: skip


async def _database(registry: Registry) -> tuple[bool, Any]:
    with driver_errors():
        await registry.pool.fetchval("SELECT 1", timeout=TIMEOUT)
    return True, "ok"


async def _replica(registry: Registry) -> tuple[bool, Any]:
    if registry.read_pool is None:
        return True, None
    with driver_errors():
        await registry.read_pool.fetchval("SELECT 1", timeout=TIMEOUT)
    return True, {"lag_seconds": round(await registry.reader.lag(), 3)}


async def _migrations(registry: Registry) -> tuple[bool, Any]:
    with driver_errors():
        async with registry.pool.acquire() as conn:
            todo = await pending(cast(asyncpg.Connection, conn))  # MigrationError: an applied file edited, gone
    return (True, "current") if not todo else (False, f"{len(todo)} pending ({todo[0].name} first)")


async def _projections(registry: Registry) -> tuple[bool, Any]:
    limit = registry.settings.registry_ready_max_lag
    found, ok = {}, True
    for projection in PROJECTIONS:
        behind = await lag(registry.pool, projection.name, projection.stream_types)
        late = limit > 0 and (not behind.built or behind.seconds > limit)
        ok = ok and not late
        found[projection.name] = {"built": behind.built, "lag_events": behind.events,
                                  "lag_seconds": round(behind.seconds, 3), "ok": not late}  # fmt: skip
    return ok, found


__all__ = ["healthz", "readyz"]
