"""The ASGI application: starlette, with the GraphQL API at /graphql (schema/api.py) and the operations endpoints.

/graphql takes POST JSON with a bearer token (registry/tokens.py); a request
without a valid one gets 401 and `extensions.code` UNAUTHENTICATED before any
GraphQL work. A browser's GET of /graphql gets the GraphiQL explorer (its
assets served by the service itself, schema/explorer), where the token goes in
the headers (README). Queries over GET are not accepted.

A process has a role (REGISTRY_ROLE, `registry serve --role`): `api` serves
/graphql, `projector` runs the background work (`BACKGROUND`: the projectors,
each leading its projection through an advisory lock, and the periodic
checkpoints), `all` does both. Every
role serves /healthz, /readyz (schema/health.py) and /metrics
(schema/metrics.py). On shutdown (SIGTERM: uvicorn first finishes the requests
in flight) the background work is told to stop: a projector finishes the batch
it is applying and lets go of its lock, so another process leads at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from projections.register import PROJECTIONS
from projections.runtime import Projection, Projector
from registry.access import Principal
from registry.config import Settings, load_settings
from registry.demo import load_demo
from registry.errors import InvalidInput, RegistryError, ReplicaLag, Unauthenticated
from registry.events import Cursor
from registry.integrity import CheckpointPolicy, keep_checkpoints
from registry.logs import note_error, request_id
from registry.replica import AFTER_HEADER
from registry.runtime import Registry
from registry.tokens import Verifier

from . import explorer
from .api import PURPOSE_HEADER, Context, schema
from .feed import feed_endpoint
from .health import healthz, readyz
from .integration import export_endpoint
from .metrics import Metrics, Observe, metrics
from .subscriptions import Wakeups

log = logging.getLogger(__name__)

SERVING = frozenset({"api", "all"})  # the roles that serve /graphql
BACKGROUND_ROLES = frozenset({"projector", "all"})  # the roles that run the background work


def owner(registry: Registry) -> Callable[[], Awaitable[asyncpg.Connection]]:
    return lambda: registry.database.connect(owner=True)


@dataclass(frozen=True)
class Background:
    """Work a process runs beside its HTTP endpoints until `stop` is set, in the roles named. Each must return
    promptly once `stop` is set (finishing the unit of work under way), and wait out a database outage rather
    than fail."""

    name: str
    roles: frozenset[str]
    run: Callable[[Registry, asyncio.Event, Metrics], Coroutine[Any, Any, None]]


def _projecting(cls: type[Projection]) -> Callable[[Registry, asyncio.Event, Metrics], Coroutine[Any, Any, None]]:
    async def run(registry: Registry, stop: asyncio.Event, metrics: Metrics) -> None:
        # With several processes of these roles, one leads each projection and the others wait (advisory lock).
        await Projector(registry.store, owner(registry), cls(), observe=metrics.count_batch).run(stop)

    return run


async def _checkpointing(registry: Registry, stop: asyncio.Event, metrics: Metrics) -> None:
    settings = registry.settings
    policy = CheckpointPolicy(settings.registry_checkpoint_events, settings.registry_checkpoint_minutes)
    await keep_checkpoints(registry.store, stop, policy)


# What the processes of each role run in the background; one more task is one more entry.
BACKGROUND: list[Background] = [
    *(Background(f"projection {cls.name}", BACKGROUND_ROLES, _projecting(cls)) for cls in PROJECTIONS),
    Background("checkpoints", BACKGROUND_ROLES, _checkpointing),
]


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    role = settings.registry_role
    collected = Metrics(role)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        registry = await Registry.open(settings)
        registry.store.appended = collected.count_append
        replica = " (reads on DATABASE_READ_URL)" if registry.read_pool is not None else ""
        log.info("registry serving as %s from %s%s", role, registry.database.describe(), replica)
        if settings.registry_demo and await load_demo(registry):
            log.info("demonstration data loaded")
        app.state.registry = registry
        wakeups = None
        if role in SERVING:
            app.state.verifier = Verifier(settings)
            app.state.wakeups = wakeups = Wakeups(registry.store, registry.reader)
            await wakeups.start()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(task.run(registry, stop, collected), name=task.name)
                 for task in BACKGROUND if role in task.roles]  # fmt: skip
        try:
            yield
        finally:
            stop.set()
            for task, outcome in zip(tasks, await asyncio.gather(*tasks, return_exceptions=True), strict=True):
                if isinstance(outcome, BaseException):
                    log.error("%s ended with %s", task.get_name(), type(outcome).__name__)
            if wakeups is not None:
                await wakeups.close()
            await registry.close()
            log.info("registry stopped (%s)", role)

    routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
    middleware = [Middleware(Observe)]
    if role in SERVING:
        graphql = GraphQLApp(schema, graphql_ide="graphiql", allow_queries_via_get=False, **websocket(settings))
        routes += [
            Route("/graphql", graphql),
            WebSocketRoute("/graphql", graphql),
            Route("/feed", feed_endpoint),
            Route("/export", export_endpoint),
            *explorer.routes(),
        ]
        middleware += [Middleware(Authenticate), Middleware(ReadAfter)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    state = {"settings": settings, "metrics": collected, "limiter": RateLimiter(settings.registry_rate_limit),
             "request_timeout": settings.registry_request_timeout}  # fmt: skip
    for name, value in state.items():
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
        state = request.scope.get("state", {})
        principal: Principal | None = state.get("principal")
        request_of = state.get("request_id") or request_id(request.headers.get("x-request-id"))
        return Context(registry, principal, request_of, request.headers.get(PURPOSE_HEADER),
                       wakeups=request.app.state.wakeups, websocket=request if isinstance(request, WebSocket) else None,
                       response=response if isinstance(response, Response) else None)  # fmt: skip

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
    note_error(extensions["code"])
    return JSONResponse({"errors": [{"message": message, "extensions": extensions}]}, status_code=status,
                        headers=headers)  # fmt: skip


_PROTECTED = frozenset({"/graphql", "/feed", "/export"})  # the paths that need a bearer token


class Authenticate:
    """Require a valid bearer token on /graphql, /feed and /export (except for a browser's GET of the explorer
    page), hold each principal to its rate limit (429 RATE_LIMITED) and each request to the time limit (503
    TIMEOUT)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in _PROTECTED:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if scope["path"] == "/graphql" and request.method == "GET" and "text/html" in request.headers.get("accept", ""):
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
        if scope["path"] == "/export":  # a stream as long as the unit is large: each of its statements is limited
            await self.app(scope, receive, send)
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


class ReadAfter:
    """Read-your-writes on a read replica: a request to /graphql or /feed sent with X-Registry-After (the globalCursor
    a command answered with, or its response's X-Registry-Written) waits until the replica shows that write
    (registry/replica.py), then goes on; past REGISTRY_REPLICA_WAIT it is answered 503 REPLICA_LAG with
    Retry-After, and a cursor that names no write is 400 BAD_USER_INPUT. Without a replica it waits for nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        given = Headers(scope=scope).get(AFTER_HEADER) if scope["type"] == "http" else None
        if given is not None and scope["path"] in _PROTECTED:
            registry: Registry = scope["app"].state.registry
            try:
                await registry.reader.after(Cursor.from_token(given.strip(), "X-Registry-After"), "X-Registry-After")
            except InvalidInput as exc:
                await _refusal(400, str(exc), {"code": "BAD_USER_INPUT", "field": "X-Registry-After"},
                               {})(scope, receive, send)  # fmt: skip
                return
            except ReplicaLag as exc:
                await _refusal(503, str(exc), {"code": exc.code}, {"Retry-After": "1"})(scope, receive, send)
                return
            except RegistryError as exc:
                await _refusal(503, "the database is unavailable", {"code": exc.code},
                               {"Retry-After": "1"})(scope, receive, send)  # fmt: skip
                return
        await self.app(scope, receive, send)


__all__ = ["BACKGROUND", "Background", "create_app"]
