"""The ASGI application: starlette, with /healthz and the GraphQL API at /graphql (schema/api.py).

/graphql takes POST JSON with a bearer token (registry/tokens.py); a request
without a valid one gets 401 and `extensions.code` UNAUTHENTICATED before any
GraphQL work. A browser's GET of /graphql gets the GraphiQL explorer (its
assets served by the service itself, schema/explorer), where the token goes in
the headers (README). Queries over GET are not accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from projections.register import PROJECTIONS
from projections.runtime import Projector
from registry.access import Principal
from registry.config import Settings, load_settings
from registry.demo import load_demo
from registry.errors import RegistryError, Unauthenticated
from registry.runtime import Registry
from registry.store import driver_errors
from registry.tokens import Verifier

from . import explorer
from .api import PURPOSE_HEADER, Context, schema
from .subscriptions import Wakeups

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
        app.state.verifier = Verifier(settings)
        app.state.wakeups = Wakeups(registry.store)
        await app.state.wakeups.start()
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
            await app.state.wakeups.close()
            await registry.close()

    limits = {"limiter": RateLimiter(settings.registry_rate_limit),
              "request_timeout": settings.registry_request_timeout}  # fmt: skip
    graphql = GraphQLApp(schema, graphql_ide="graphiql", allow_queries_via_get=False, **websocket(settings))
    app = Starlette(
        routes=[Route("/healthz", healthz), Route("/graphql", graphql), WebSocketRoute("/graphql", graphql),
                *explorer.routes()],
        middleware=[Middleware(Authenticate)],
        lifespan=lifespan,
    )  # fmt: skip
    for name, value in limits.items():
        setattr(app.state, name, value)
    return app


GRAPHQL_RESPONSE = "application/graphql-response+json"


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI view, answering as the GraphQL-over-HTTP specification asks of a client that accepts
    application/graphql-response+json: that media type, and 400 for a request error (a query that does not parse
    or validate, answered without a `data` entry). Other clients get application/json and 200, as before."""

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = GRAPHQL_RESPONSE if GRAPHQL_RESPONSE in request.headers.get("accept", "") else None
        return sub_response

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        if sub_response.media_type != GRAPHQL_RESPONSE or isinstance(response_data, list):
            return super().create_response(response_data, sub_response)
        request_error = response_data.get("data") is None and bool(response_data.get("errors")) and not any(
            "path" in error for error in response_data["errors"])  # fmt: skip
        if request_error:
            response_data = {k: v for k, v in response_data.items() if k != "data"}
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = f"{GRAPHQL_RESPONSE}; charset=utf-8"
        if request_error:
            response.status_code = 400
        return response

    async def render_graphql_ide(self, request: Request) -> Response:
        return explorer.response(self.graphql_ide_html, request)  # its assets served here, not from a CDN

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        registry: Registry = request.app.state.registry
        principal: Principal | None = request.scope.get("state", {}).get("principal")
        return Context(registry, principal, request.headers.get("x-request-id") or uuid.uuid4().hex,
                       request.headers.get(PURPOSE_HEADER), wakeups=request.app.state.wakeups,
                       websocket=request if isinstance(request, WebSocket) else None)  # fmt: skip

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate a WebSocket at its connection_init: the bearer token in the payload's Authorization
        (or in the handshake's header); refused with 4403. The connection is closed with 4401 when it expires."""
        params = context.connection_params or {}
        header = str(params.get("Authorization") or params.get("authorization") or "")
        websocket: WebSocket = context.websocket
        header = header or websocket.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("missing", "a bearer token is required in connection_init's Authorization")
            verifier: Verifier = websocket.app.state.verifier
            context.authenticated = await verifier.verify(token.strip())
        except Unauthenticated as exc:
            log.info("websocket %s refused: %s", context.request_id, exc.reason)
            raise ConnectionRejectionError({"code": exc.code, "reason": exc.reason}) from None
        delay = (context.authenticated.expires_at - datetime.now(UTC)).total_seconds()
        asyncio.get_running_loop().call_later(max(delay, 0), _expire, websocket)
        return {"subject": context.authenticated.subject, "expiresAt": context.authenticated.expires_at.isoformat()}


def websocket(settings: Settings) -> dict[str, Any]:
    """The WebSocket settings of the API (../shared/API.md item 21): graphql-transport-ws only, 10 s to send
    connection_init, at most 20 operations at once per connection, other origins only when configured."""
    origins = [o.strip() for o in settings.registry_allowed_origins.split(",") if o.strip()]
    return {"subscription_protocols": (GRAPHQL_TRANSPORT_WS_PROTOCOL,), "max_subscriptions_per_connection": 20,
            "connection_init_wait_timeout": timedelta(seconds=10), "allowed_origins": origins}  # fmt: skip


def _expire(websocket: WebSocket) -> None:
    """Close a WebSocket whose token has expired (4401); nothing to do if it is closed already."""

    async def close() -> None:
        with contextlib.suppress(Exception):
            await websocket.close(code=4401, reason="token expired")

    _EXPIRING.add(task := asyncio.create_task(close()))
    task.add_done_callback(_EXPIRING.discard)


_EXPIRING: set[asyncio.Task[None]] = set()  # closes under way (a task needs a reference until it is done)


class RateLimiter:
    """A token bucket per principal: `per_minute` requests, refilled continuously (in this process; a deployment
    of several processes allows each its own)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # subject -> (tokens, when counted)

    def take(self, subject: str) -> float:
        """Take one request for `subject`: 0 if it may go ahead, else the seconds until it may."""
        now, rate = self._clock(), self.per_minute / 60
        tokens, then = self._buckets.get(subject, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - then) * rate)
        if tokens < 1:
            self._buckets[subject] = (tokens, now)
            return (1 - tokens) / rate
        self._buckets[subject] = (tokens - 1, now)
        if len(self._buckets) > 10_000:  # forget the buckets that have filled up again
            full = [k for k, (t, w) in self._buckets.items() if t + (now - w) * rate >= self.per_minute]
            for key in full:
                del self._buckets[key]
        return 0.0


def _refusal(status: int, message: str, extensions: dict[str, Any], headers: dict[str, str]) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": extensions}]}, status_code=status,
                        headers=headers)  # fmt: skip


class Authenticate:
    """Require a valid bearer token on /graphql (except for a browser's GET of the explorer page), hold each
    principal to its rate limit (429 RATE_LIMITED) and each request to the time limit (503 TIMEOUT)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/graphql":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            await self.app(scope, receive, send)  # the explorer page: it sends the token with each query
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("missing", "a bearer token is required (Authorization: Bearer ...)")
            verifier: Verifier = request.app.state.verifier
            scope.setdefault("state", {})["principal"] = await verifier.verify(token.strip())
        except Unauthenticated as exc:
            response = _refusal(401, str(exc), {"code": exc.code, "reason": exc.reason},
                                {"WWW-Authenticate": 'Bearer realm="registry"'})  # fmt: skip
            await response(scope, receive, send)
            return
        limiter: RateLimiter = request.app.state.limiter
        wait = limiter.take(scope["state"]["principal"].subject)
        if wait:
            seconds = max(1, round(wait))
            await _refusal(429, f"too many requests: try again in {seconds} s", {"code": "RATE_LIMITED",
                           "retryAfter": seconds}, {"Retry-After": str(seconds)})(scope, receive, send)  # fmt: skip
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        limit: float = request.app.state.request_timeout
        try:
            async with asyncio.timeout(limit):
                await self.app(scope, receive, sending)
        except TimeoutError:
            log.warning("request %s over its time limit of %s s", request.headers.get("x-request-id", "-"), limit)
            if not started:  # a command whose answer was lost this way is sent again with its idempotency key
                await _refusal(503, f"the request took longer than {limit:g} s", {"code": "TIMEOUT"},
                               {"Retry-After": "1"})(scope, receive, send)  # fmt: skip


__all__ = ["create_app", "healthz"]
