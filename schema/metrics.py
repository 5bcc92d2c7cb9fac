"""What a process of the registry reports: /metrics in Prometheus's text format, and one log line per request.

Metrics (prometheus_client, one collector registry per app):

    registry_http_requests_total{route,method,status}          every HTTP request answered
    registry_graphql_requests_total{type,operation}            GraphQL requests over HTTP, by operation
    registry_graphql_request_duration_seconds{type,operation}  their latency (histogram)
    registry_errors_total{code}                                errors answered, by code: GraphQL errors
                                                                (BAD_USER_INPUT, FORBIDDEN, ...), HTTP refusals
                                                                (UNAUTHENTICATED, RATE_LIMITED, TIMEOUT,
                                                                REPLICA_LAG) and commands' userErrors
    registry_websocket_connections                             WebSockets open now (subscriptions)
    registry_events_appended_total{stream_type}                events this process appended
    registry_events_head_position                              the highest position in the log (sampled at the
                                                                scrape: its rate is the deployment's append rate)
    registry_projection_events_total{projection}               events this process's projectors applied
    registry_projection_batch_duration_seconds{projection}     their batches (histogram)
    registry_projection_lag_events{projection}                 events not yet projected (sampled; at most 10,000)
    registry_projection_lag_seconds{projection}                age of the oldest of them (sampled)
    registry_replica_lag_seconds                               how far the read replica is behind (sampled)
    registry_database_up                                       1 if the scrape's samples could be read
    registry_info{role}                                        1, naming the process's role

An operation is the first root field a request selects (`child`, `registerChild`; a request with several is
counted under its first), with its type; never the query's text, its operation name (the client's choice, which
would let callers grow the label set) or its variables. /metrics needs no token unless REGISTRY_METRICS_TOKEN is
set; it says nothing personal, but it tells how the service is used, so firewall it or set the token.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Iterator
from typing import Any

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode, get_operation_ast
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from projections.register import PROJECTIONS
from projections.runtime import lag
from registry import logs
from registry.errors import RegistryError
from registry.runtime import Registry
from registry.store import driver_errors

log = logging.getLogger(__name__)

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LAG_CAP = 10_000  # projection lag is counted up to this many events (a count of a million would scan them all)
_ROUTES = ("/graphql", "/healthz", "/readyz", "/metrics")
_QUIET = ("/healthz", "/readyz", "/metrics")  # polled by machines: their requests are logged at debug only


class Metrics:
    """The metrics of one app (a collector registry of its own, so that several apps in one process keep theirs
    apart)."""

    def __init__(self, role: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http = Counter("registry_http_requests", "HTTP requests answered.", ["route", "method", "status"],
                            registry=r)  # fmt: skip
        self.requests = Counter("registry_graphql_requests", "GraphQL requests over HTTP, by operation.",
                                ["type", "operation"], registry=r)  # fmt: skip
        self.latency = Histogram("registry_graphql_request_duration_seconds", "GraphQL request latency.",
                                 ["type", "operation"], buckets=_LATENCY, registry=r)  # fmt: skip
        self.errors = Counter("registry_errors", "Errors answered, by code.", ["code"], registry=r)
        self.websockets = Gauge("registry_websocket_connections", "WebSocket connections open.", registry=r)
        self.appended = Counter("registry_events_appended", "Events this process appended.", ["stream_type"],
                                registry=r)  # fmt: skip
        self.head = Gauge("registry_events_head_position", "Highest position in the event log.", registry=r)
        self.projected = Counter("registry_projection_events", "Events this process's projectors applied.",
                                 ["projection"], registry=r)  # fmt: skip
        self.batches = Histogram("registry_projection_batch_duration_seconds", "Projection batch duration.",
                                 ["projection"], buckets=_BATCH, registry=r)  # fmt: skip
        self.lag_events = Gauge("registry_projection_lag_events", f"Events not yet projected (at most {LAG_CAP}).",
                                ["projection"], registry=r)  # fmt: skip
        self.lag_seconds = Gauge("registry_projection_lag_seconds", "Age of the oldest event not yet projected.",
                                 ["projection"], registry=r)  # fmt: skip
        self.replica_lag = Gauge("registry_replica_lag_seconds", "How far the read replica is behind.", registry=r)
        self.database_up = Gauge("registry_database_up", "1 if the samples of the last scrape could be read.",
                                 registry=r)  # fmt: skip
        Gauge("registry_info", "The process's role.", ["role"], registry=r).labels(role).set(1)
        for projection in PROJECTIONS:  # every series exists from the start, at zero
            self.projected.labels(projection.name)

    def count_append(self, stream_type: str, events: int) -> None:
        self.appended.labels(stream_type).inc(events)

    def count_batch(self, projection: str, events: int, seconds: float) -> None:
        self.projected.labels(projection).inc(events)
        self.batches.labels(projection).observe(seconds)

    async def sample(self, registry: Registry) -> None:
        """Read what the database knows now: the log's head, each projection's lag, the replica's."""
        try:
            async with asyncio.timeout(5):
                with driver_errors():
                    self.head.set(await registry.pool.fetchval("SELECT coalesce(max(position), 0) FROM events"))
                for projection in PROJECTIONS:
                    behind = await lag(registry.pool, projection.name, projection.stream_types, LAG_CAP)
                    self.lag_events.labels(projection.name).set(behind.events)
                    self.lag_seconds.labels(projection.name).set(behind.seconds)
                self.replica_lag.set(await registry.reader.lag())
        except (RegistryError, TimeoutError) as exc:
            log.warning("metrics: the database could not be sampled (%s)", type(exc).__name__)
            self.database_up.set(0)
            return
        self.database_up.set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)


async def metrics(request: Request) -> Response:
    """/metrics: Prometheus's text format; with REGISTRY_METRICS_TOKEN set, only for `Bearer <token>`."""
    wanted = request.app.state.settings.registry_metrics_token
    if wanted is not None:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), wanted.get_secret_value().encode()):
            return JSONResponse({"status": "unauthorized"}, status_code=401,
                                headers={"WWW-Authenticate": 'Bearer realm="metrics"'})  # fmt: skip
    collected: Metrics = request.app.state.metrics
    registry: Registry | None = getattr(request.app.state, "registry", None)
    if registry is not None:
        await collected.sample(registry)
    return Response(collected.render(), media_type=CONTENT_TYPE_LATEST)


def _route(path: str) -> str:
    if path in _ROUTES:
        return path
    return "/graphql/explorer" if path.startswith("/graphql/explorer/") else "other"


class Observe:
    """Outermost middleware: gives each request its id (X-Request-Id, echoed in the response), logs one line when
    it is answered (method, route, status, time; never the query string) and counts it in the metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id")
        info = logs.RequestInfo(logs.request_id(given.decode("latin-1") if given else None))
        token = logs.CURRENT.set(info)
        scope.setdefault("state", {})["request_id"] = info.request_id
        collected: Metrics = scope["app"].state.metrics
        try:
            if scope["type"] == "websocket":
                collected.websockets.inc()
                try:
                    await self.app(scope, receive, send)
                finally:
                    collected.websockets.dec()
                return
            await self._http(scope, receive, send, info, collected)
        finally:
            logs.CURRENT.reset(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, info: logs.RequestInfo,
                    collected: Metrics) -> None:  # fmt: skip
        status = 500
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", info.request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route, method = _route(scope["path"]), scope["method"]
            collected.http.labels(route, method, str(status)).inc()
            if info.operation is not None:
                kind = info.operation_type or "query"
                collected.requests.labels(kind, info.operation).inc()
                collected.latency.labels(kind, info.operation).observe(seconds)
            for code in info.errors:
                collected.errors.labels(code).inc()
            level = logging.DEBUG if route in _QUIET and status < 400 else logging.INFO
            log.log(level, "%s %s %d", method, route, status,
                    extra={"method": method, "route": route, "status": status, "duration_ms": round(seconds * 1000, 1),
                           "operation": info.operation})  # fmt: skip


class MeasureOperation(SchemaExtension):
    """Name the request's operation for its metrics and log line: the type and first root field, once the document
    is parsed (a document that does not parse has none)."""

    def on_execute(self) -> Iterator[None]:
        info, ec = logs.CURRENT.get(), self.execution_context
        if info is not None and ec.graphql_document is not None:
            operation = get_operation_ast(ec.graphql_document, ec.operation_name)
            if operation is not None:
                info.operation_type = operation.operation.value
                info.operation = _first_field(operation.selection_set, ec.graphql_document) or "-"
        yield


def _first_field(selections: SelectionSetNode, document: Any) -> str | None:
    for node in selections.selections:
        if isinstance(node, FieldNode):
            return node.name.value
        if isinstance(node, InlineFragmentNode):
            found = _first_field(node.selection_set, document)
        elif isinstance(node, FragmentSpreadNode):
            fragments = {d.name.value: d for d in document.definitions if hasattr(d, "type_condition")}
            fragment = fragments.get(node.name.value)
            found = None if fragment is None else _first_field(fragment.selection_set, document)
        else:
            found = None
        if found is not None:
            return found
    return None


__all__ = ["LAG_CAP", "MeasureOperation", "Metrics", "Observe", "metrics"]
