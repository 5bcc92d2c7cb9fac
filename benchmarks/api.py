"""API benchmark: `registry bench api [--help]`.

Every figure is measured in one run, on one server (DATABASE_URL, or else a
throw-away embedded PostgreSQL), in a fresh database dropped at the end:

- setup: the demonstration data (`registry/demo.py`: the real administrative
  units, synthetic children and cases, populations, plans) is loaded into the
  fresh database by this process; then the real app (`schema.app:create_app`)
  is started under uvicorn on 127.0.0.1 on a free port, in a subprocess, and
  the benchmark waits until its projectors have caught up (every read model
  built, lag 0; the GraphQL pages then list the children the direct path
  reads). Tokens are issued with registry.tokens.issue for a commune officer
  of a demo commune (the one with the most children today), the district
  officer above it (its former district of 2025-06-30), its province officer
  and the commune officer of the case with the most events;
- the operations an officer's screen sends, over one keep-alive HTTP
  connection (httpx.Client), each `--iterations` times after `--warmup`:
  the commune's register page (up to 20 children with their groups), the
  province's register page (a full page of 20), a case with its deadlines and
  history, the plans' indicators of the district for this year, the
  commune's register page as the registry knew it at an event's
  `globalCursor` (taken from a child's history), and `registerChild` with a
  fresh idempotency key each time;
- direct: the same reads done by hand on an asyncpg pool of this process, as
  lean as a hand-written service would do them, measured in the same run,
  alternating with the GraphQL requests. The register page is the
  children_page SQL of projections/queries.py and one query reading those
  children's events (the rows the API folds); as of a cursor, the same with
  the cursor's recorded time looked up first and the events cut at the
  cursor; the case is one query for its events; the indicators are
  projections.indicators.compute for each indicator on one connection (the
  code the resolver calls). The direct path does not verify a token, check
  the role or jurisdiction, fold events, open the sealed personal part
  (AES-GCM, one key fetch per record), compute deadlines, write the access
  log, or parse, validate and serialise GraphQL and HTTP: ratio = GraphQL /
  direct at p95 is what all of that costs. For the mutation a raw INSERT is
  not comparable; its reference is the children register's own
  `ChildRegister.execute` of the same command in this process (idempotency
  check, load, decide, key, seal, append), which the resolver wraps.

Why a subprocess: the HTTP client, the direct path and the timing run here,
the server (uvicorn, the app and its background projectors) in its own
interpreter, so neither one's Python work (and GIL) is counted in the other's
figures, as with a real client on another machine; a thread would share one
GIL. The server runs with uvicorn's defaults (h11, asyncio loop: uvloop and
httptools are not dependencies) at log level warning, so no access line per
request is written, and with the rate limit per principal (REGISTRY_RATE_LIMIT)
raised out of the way of one client's thousand requests (it is still checked).

The first row is the floor of any request: `{ me { subject } }` (token,
HTTP, GraphQL, no database) beside `SELECT 1` on the pool; a read whose
direct path costs less than half that floor cannot be within 2x.

Latencies are round trips as the client sees them (request sent to response
read; the request body encoded before the clock starts); req/s is one client's
sequential rate (iterations / their summed time). Targets (API issue):
GraphQL <= 2x direct at p95 for reads on the demo data, a mutation round
trip under 20 ms at p95.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
import orjson

from projections.indicators import INDICATORS, compute
from projections.queries import children_page
from projections.register import PROJECTIONS
from projections.runtime import Projector
from registry.access import Role
from registry.children import RegisterChild, Sex
from registry.config import PROJECT_DIR, Settings, load_settings
from registry.db import create_scratch_database, drop_database, server_url, with_database
from registry.demo import CHILDREN, load_demo
from registry.events import Cursor, Metadata
from registry.law import VIETNAM
from registry.runtime import Registry
from registry.tokens import issue, signing_key
from registry.units import Level, level_of

JSON_SCHEMA_VERSION = 1
READ_RATIO_TARGET = 2.0  # GraphQL p95 / direct p95, reads
MUTATION_P95_TARGET_MS = 20.0
PAGE = 20
PURPOSE = "annual review of the register (benchmark)"
META = Metadata(actor_id="officer:bench-direct", actor_role="commune_officer", source="bench")

REGISTER_QUERY = """query Register($unit: String!, $purpose: String!, $asOf: String) {
  children(unit: $unit, purpose: $purpose, first: 20, asOf: $asOf) {
    edges { node { id childId fullName dateOfBirth sex groups { code start } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
CASE_QUERY = """query Case($id: ID!, $purpose: String!) {
  case(caseId: $id, purpose: $purpose) {
    stage riskLevel deadlines { code status dueAt }
    history(first: 50) { edges { node { eventType occurredAt actorId reason } } }
  }
}"""
INDICATORS_QUERY = """query Indicators($unit: String!, $from: Date!, $to: Date!) {
  indicators(unit: $unit, from: $from, to: $to) { code numerator denominator value }
}"""
REGISTER_CHILD = """mutation RegisterChild($input: RegisterChildInput!) {
  registerChild(input: $input) { child { childId version } userErrors { code message field } }
}"""
HISTORY_QUERY = """query History($id: ID!, $purpose: String!) {
  child(childId: $id, purpose: $purpose) { history(first: 1) { edges { node { position globalCursor } } } }
}"""

_COLUMNS = """position, transaction_id, stream_id, stream_type, version, event_type, schema_version,
    data, metadata, occurred_at, recorded_at, prev_hash, hash"""
EVENTS_OF = f"SELECT {_COLUMNS} FROM events WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, version"
EVENTS_OF_UNTIL = (
    f"SELECT {_COLUMNS} FROM events WHERE stream_id = ANY($1::text[])"
    " AND (transaction_id, position) <= ($2::xid8, $3::bigint) ORDER BY stream_id, version"
)
STREAM = f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 ORDER BY version"
RECORDED_AT = "SELECT recorded_at FROM events WHERE position = $1 AND transaction_id = $2::xid8"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def today() -> date:
    return datetime.now(UTC).astimezone(VIETNAM).date()


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of samples in seconds."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Operation:
    name: str
    token: str
    query: str
    variables: Callable[[], dict[str, Any]]
    check: Callable[[dict[str, Any]], bool]  # the response's data is what was asked for
    direct: Callable[[], Awaitable[Any]]
    mutation: bool = False
    reference: bool = False  # the floor of any request: measured, not held to a target
    graphql: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)

    def figures(self, samples: list[float]) -> dict[str, float | int]:
        return {
            "p50_ms": statistics.median(samples) * 1000,
            "p95_ms": percentile(samples, 95) * 1000,
            "mean_ms": statistics.fmean(samples) * 1000,
            "requests_per_second": len(samples) / sum(samples),
            "samples": len(samples),
        }

    def result(self) -> dict[str, Any]:
        graphql, direct = self.figures(self.graphql), self.figures(self.baseline)
        ratio = graphql["p95_ms"] / direct["p95_ms"]
        if self.reference:
            target, met = "reference: the floor of every request", True
        elif self.mutation:
            target, met = f"p95 < {MUTATION_P95_TARGET_MS:g} ms", graphql["p95_ms"] < MUTATION_P95_TARGET_MS
        else:
            target, met = f"p95 ratio <= {READ_RATIO_TARGET:g}", ratio <= READ_RATIO_TARGET
        return {"graphql": graphql, "direct": direct, "ratio_p95": ratio, "target": target, "met": met}


class Server:
    """The app under uvicorn in a subprocess (see the module docstring for why not a thread)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [sys.executable, "-m", "uvicorn", "schema.app:create_app", "--factory", "--host", "127.0.0.1",
                   "--port", str(self.port), "--log-level", "warning", "--app-dir", str(PROJECT_DIR)]  # fmt: skip
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, env=env, cwd=PROJECT_DIR, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bench: the server exited ({self.process.returncode}):\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"bench: the server did not answer /healthz within {timeout:.0f} s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # uvicorn shuts down gracefully on SIGTERM: projectors, pool
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class Bench:
    def __init__(self, args: argparse.Namespace, registry: Registry, client: httpx.Client) -> None:
        self.args = args
        self.registry = registry
        self.client = client
        self.records: dict[str, Any] = {}

    def post(self, token: str, query: str, variables: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """One GraphQL request; its round trip in seconds (the body encoded before the clock starts)."""
        body = orjson.dumps({"query": query, "variables": variables})
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        started = time.perf_counter()
        response = self.client.post("/graphql", content=body, headers=headers)
        elapsed = time.perf_counter() - started
        answer: dict[str, Any] = response.json()
        if response.status_code != 200 or answer.get("errors") or answer.get("data") is None:
            raise SystemExit(f"bench: the API answered {response.status_code}: {response.text[:2000]}")
        return elapsed, answer["data"]

    async def caught_up(self, timeout: float) -> None:
        """Wait until every projection of the server has a serving generation and no lag."""
        registry = self.registry
        started = time.monotonic()
        reported = 0.0
        while True:
            lags = {}
            for cls in PROJECTIONS:
                status = await Projector(registry.store, lambda: registry.database.connect(owner=True), cls()).status()
                lags[status.name] = status.lag_events if status.generation > 0 else -1
            if all(lag == 0 for lag in lags.values()):
                return
            waited = time.monotonic() - started
            if waited > timeout:
                raise SystemExit(f"bench: the projections did not catch up within {timeout:.0f} s: {lags}")
            if waited - reported >= 5:
                reported = waited
                say(f"bench: waiting for the read models: {lags} (events behind; -1: not built yet)")
            await asyncio.sleep(0.5)

    async def choose(self) -> None:
        """The demo records the operations read: the commune with the most children today (its register pages,
        the mutation), its former district (indicators) and province, and the case with the most events."""
        registry, day = self.registry, today()
        units, cases = await registry.gazetteer(), await registry.cases()
        commune = await registry.pool.fetchval(
            "SELECT commune_now FROM read.child_residences WHERE upper_inf(recorded) AND valid @> $1::date"
            " AND commune_now IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1", day)  # fmt: skip
        case_events, case = await registry.pool.fetchrow(
            "SELECT count(*), split_part(stream_id, ':', 2) FROM events WHERE stream_type = 'case' GROUP BY stream_id"
            " ORDER BY 1 DESC, 2 LIMIT 1")  # fmt: skip
        state = await cases.load(case)
        assert state is not None
        here = state.jurisdictions[-1]
        case_commune = units.place(here.commune_code, here.since.astimezone(VIETNAM).date()).unit(Level.COMMUNE, day)
        path = units.path(commune, day)
        districts = units.former_districts(commune, day)
        self.records = {"commune": commune, "commune_name": path[0].full_name, "case": case,
                        "case_events": case_events, "case_commune": case_commune, "province": path[-1].code,
                        "district": districts[0].code if districts else path[-1].code}  # fmt: skip

    def tokens(self) -> dict[str, str]:
        settings, r, life = self.registry.settings, self.records, timedelta(hours=6)
        district_role = Role.DISTRICT_OFFICER if len(r["district"]) == 3 else Role.PROVINCE_OFFICER
        return {
            "commune": issue(settings, "officer:bench-commune", Role.COMMUNE_OFFICER, r["commune"], life),
            "case": issue(settings, "officer:bench-case", Role.COMMUNE_OFFICER, r["case_commune"], life),
            "district": issue(settings, "officer:bench-district", district_role, r["district"], life),
            "province": issue(settings, "officer:bench-province", Role.PROVINCE_OFFICER, r["province"], life),
        }

    async def direct_page(self, level: Level, unit: str, as_of: tuple[Cursor, str] | None = None) -> list[Any]:
        """The register page by hand: (the cursor's time,) the page's ids, then those children's events."""
        async with self.registry.pool.acquire() as proxy:
            conn = cast(asyncpg.Connection, proxy)
            if as_of is None:
                ids = await children_page(conn, level, unit, today(), after="", limit=PAGE + 1)
                return await conn.fetch(EVENTS_OF, [f"child:{i}" for i in ids[:PAGE]])
            cursor = as_of[0]
            at = await conn.fetchval(RECORDED_AT, cursor.position, cursor.transaction_id)
            ids = await children_page(conn, level, unit, at.astimezone(VIETNAM).date(), after="", limit=PAGE + 1,
                                      known_at=at)  # fmt: skip
            return await conn.fetch(EVENTS_OF_UNTIL, [f"child:{i}" for i in ids[:PAGE]], cursor.transaction_id,
                                    cursor.position)  # fmt: skip

    async def direct_floor(self) -> Any:
        """The lightest round trip to the database, beside the lightest authenticated GraphQL request."""
        return await self.registry.pool.fetchval("SELECT 1")

    async def direct_case(self, case_id: str) -> list[Any]:
        return await self.registry.pool.fetch(STREAM, f"case:{case_id}")

    async def direct_indicators(self, unit: str, start: date, end: date) -> list[Any]:
        async with self.registry.pool.acquire() as proxy:
            conn = cast(asyncpg.Connection, proxy)
            return [await compute(conn, self.registry.store, code, level_of(unit), unit, start, end)
                    for code in INDICATORS]  # fmt: skip

    async def direct_register(self) -> Any:
        register = await self.registry.children()
        command = RegisterChild(str(uuid.uuid4()), "Lò Thị Bench", date(2019, 4, 2), Sex.FEMALE,
                                self.records["commune"], date(2025, 9, 1))  # fmt: skip
        return await register.execute(command, META, idempotency_key=f"bench-direct-{uuid.uuid4().hex}")

    def operations(self, tokens: dict[str, str], as_of: str) -> list[Operation]:
        r = self.records
        cursor = Cursor.from_token(as_of, "asOf")
        period = {"unit": r["district"], "from": date(today().year, 1, 1).isoformat(), "to": today().isoformat()}

        def page(unit: str, cursor: str | None = None) -> Callable[[], dict[str, Any]]:
            return lambda: {"unit": unit, "purpose": PURPOSE, "asOf": cursor}

        def registration() -> dict[str, Any]:
            return {"input": {"fullName": "Sùng Thị Bench", "dateOfBirth": "2019-04-02", "sex": "female",
                              "communeCode": r["commune"], "residenceFrom": "2025-09-01",
                              "idempotencyKey": f"bench-{uuid.uuid4().hex}", "reason": "home visit"}}  # fmt: skip

        def listed(data: dict[str, Any]) -> bool:
            return bool(data["children"]["edges"])

        return [
            Operation("floor: me (no database)", tokens["commune"], "{ me { subject } }", dict,
                      lambda data: bool(data["me"]["subject"]), self.direct_floor, reference=True),
            Operation("commune register page", tokens["commune"], REGISTER_QUERY, page(r["commune"]), listed,
                      lambda: self.direct_page(Level.COMMUNE, r["commune"])),
            Operation("province register page", tokens["province"], REGISTER_QUERY, page(r["province"]), listed,
                      lambda: self.direct_page(Level.PROVINCE, r["province"])),
            Operation("case with history", tokens["case"], CASE_QUERY,
                      lambda: {"id": r["case"], "purpose": PURPOSE},
                      lambda data: data["case"] is not None and bool(data["case"]["history"]["edges"]),
                      lambda: self.direct_case(r["case"])),
            Operation("district indicators", tokens["district"], INDICATORS_QUERY, lambda: period,
                      lambda data: len(data["indicators"]) == len(INDICATORS),
                      lambda: self.direct_indicators(r["district"], date(today().year, 1, 1), today())),
            Operation("as-of register page", tokens["commune"], REGISTER_QUERY, page(r["commune"], as_of), listed,
                      lambda: self.direct_page(Level.COMMUNE, r["commune"], (cursor, as_of))),
            Operation("registerChild mutation", tokens["commune"], REGISTER_CHILD, registration,
                      lambda data: not data["registerChild"]["userErrors"], self.direct_register, mutation=True),
        ]  # fmt: skip

    async def as_of_cursor(self, token: str) -> str:
        """The globalCursor of the latest registration among the commune's page (from each child's history)."""
        _, data = self.post(token, REGISTER_QUERY, {"unit": self.records["commune"], "purpose": PURPOSE})
        found = []
        for edge in data["children"]["edges"]:
            _, child = self.post(token, HISTORY_QUERY, {"id": edge["node"]["childId"], "purpose": PURPOSE})
            found.append(child["child"]["history"]["edges"][0]["node"])
        return str(max(found, key=lambda node: node["position"])["globalCursor"])

    async def sanity(self, operations: list[Operation]) -> None:
        """The GraphQL pages list the children the direct path reads (like is compared with like)."""
        for op in operations:
            if op.query != REGISTER_QUERY:
                continue
            _, data = self.post(op.token, op.query, op.variables())
            served = sorted(f"child:{e['node']['childId']}" for e in data["children"]["edges"])
            read = sorted({row["stream_id"] for row in await op.direct()})
            if served != read:
                raise SystemExit(f"bench: {op.name}: the API served {served}, the direct path read {read}")
            self.records[f"{op.name} size"] = len(served)

    async def measure(self, op: Operation) -> None:
        iterations, warmup = self.args.iterations, self.args.warmup
        say(f"bench: {op.name} ({warmup} warm-up, {iterations} iterations, GraphQL and direct alternating)")
        for n in range(warmup + iterations):
            elapsed, data = self.post(op.token, op.query, op.variables())
            if not op.check(data):
                raise SystemExit(f"bench: {op.name}: unexpected answer {str(data)[:500]}")
            started = time.perf_counter()
            await op.direct()
            direct = time.perf_counter() - started
            if n >= warmup:
                op.graphql.append(elapsed)
                op.baseline.append(direct)


async def load(admin_url: str, name: str, settings: Settings, children: int) -> None:
    """Load the demonstration data with commits that do not wait for their WAL flush (about 25,000 transactions,
    one per unit: a throw-away database needs no durability); the setting is reset before anything is measured."""
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        registry = await Registry.open(settings)
        try:
            await load_demo(registry, children=children)
        finally:
            await registry.close()
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" RESET synchronous_commit')
        await admin.close()


async def run(args: argparse.Namespace, admin_url: str, scratch: Path) -> dict[str, Any]:
    name = f"registry_bench_{uuid.uuid4().hex[:10]}"
    await create_scratch_database(admin_url, name)
    url = with_database(admin_url, name)
    master = base64.urlsafe_b64encode(os.urandom(32)).decode()
    data_dir = scratch / "data"
    settings = load_settings(database_url=url, database_owner_url=url, registry_master_key=master,
                             registry_data_dir=data_dir, registry_demo=False)  # fmt: skip
    server: Server | None = None
    say(f"bench: loading the demonstration data ({args.children} children, the units, cases, plans)")
    started = time.perf_counter()
    await load(admin_url, name, settings, args.children)
    registry = await Registry.open(settings)
    try:
        events, _ = await registry.store.stats()
        say(f"bench: {events:,} events in {time.perf_counter() - started:.0f} s; starting the app under uvicorn")
        signing_key(settings)  # made here, before the server reads it
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REGISTRY_"))}
        env.update(DATABASE_URL=url, DATABASE_OWNER_URL=url, REGISTRY_MASTER_KEY=master,
                   REGISTRY_DATA_DIR=str(data_dir), REGISTRY_DEMO="false", REGISTRY_LOG_LEVEL="warning",
                   REGISTRY_RATE_LIMIT="1000000")  # fmt: skip
        server = Server(env, scratch / "server.log")
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=60) as client:
            bench = Bench(args, registry, client)
            await bench.caught_up(timeout=300)
            await bench.choose()
            r = bench.records
            say(f"bench: commune {r['commune']}, case {r['case']} ({r['case_events']} events) of {r['case_commune']}, "
                f"district {r['district']}, province {r['province']}")  # fmt: skip
            tokens = bench.tokens()
            as_of = await bench.as_of_cursor(tokens["commune"])
            operations = bench.operations(tokens, as_of)
            await bench.sanity(operations)
            load_before = os.getloadavg()[0]
            for op in operations:  # the mutation last: it adds children to the commune's register
                await bench.measure(op)
            load_after = os.getloadavg()[0]
        server_version = await registry.pool.fetchval("SHOW server_version")
        commit = await registry.pool.fetchval("SHOW synchronous_commit")
    finally:
        if server is not None:
            server.stop()
        await registry.close()
        await drop_database(admin_url, name)
    return {
        "server_version": server_version,
        "synchronous_commit": commit,
        "load_average": [load_before, load_after],  # 1-minute, before and after the measurements (other work)
        "events": events,
        "records": {**r, "as_of": as_of},
        "operations": {op.name: op.result() for op in operations},
    }


def table(figures: dict[str, Any]) -> str:
    header = (f"{'operation':<26} {'GraphQL p50':>11} {'p95 ms':>7} {'direct p50':>11} {'p95 ms':>7} "
              f"{'ratio p95':>9} {'GraphQL/s':>10} {'direct/s':>9}  target")  # fmt: skip
    lines = [header, "-" * (len(header) + 20)]
    for name, f in figures["operations"].items():
        g, d = f["graphql"], f["direct"]
        lines.append(f"{name:<26} {g['p50_ms']:>11.2f} {g['p95_ms']:>7.2f} {d['p50_ms']:>11.2f} {d['p95_ms']:>7.2f} "
                     f"{f['ratio_p95']:>9.2f} {g['requests_per_second']:>10,.0f} {d['requests_per_second']:>9,.0f}"
                     f"  {f['target']}: {'met' if f['met'] else 'MISSED'}")  # fmt: skip
    return "\n".join(lines)


def verdict(figures: dict[str, Any]) -> str:
    ops = figures["operations"]
    reads = {n: f for n, f in ops.items() if f["target"].startswith("p95 ratio")}
    writes = {n: f for n, f in ops.items() if f["target"].startswith("p95 <")}
    over = [f"{n} {f['ratio_p95']:.1f}x" for n, f in reads.items() if not f["met"]]
    worst = max(reads.values(), key=lambda f: f["ratio_p95"])["ratio_p95"]
    read_line = f"met (worst {worst:.2f}x)" if not over else f"MISSED ({', '.join(over)})"
    write_line = "; ".join(f"{n} p95 {f['graphql']['p95_ms']:.1f} ms {'met' if f['met'] else 'MISSED'}"
                           for n, f in writes.items())  # fmt: skip
    return f"verdict: reads GraphQL <= {READ_RATIO_TARGET:g}x direct at p95: {read_line}; " \
           f"mutation < {MUTATION_P95_TARGET_MS:g} ms at p95: {write_line}"  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="registry bench api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=200, help="measured requests per operation and path")
    parser.add_argument("--warmup", type=int, default=20, help="requests per operation and path before measuring")
    parser.add_argument("--children", type=int, default=CHILDREN,
                        help=f"demonstration children to load (default {CHILDREN}, as `serve --demo`)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.iterations < 1 or args.warmup < 0 or args.children < 40:
        parser.error("--iterations must be >= 1, --warmup >= 0, --children >= 40 (the demo's cases need them)")
    started = time.perf_counter()
    if not os.environ.get("DATABASE_URL"):
        say("bench: starting a throw-away embedded PostgreSQL")
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as scratch:
        with server_url(os.environ.get("DATABASE_URL"), Path(scratch)) as url:
            figures = asyncio.run(run(args, url, Path(scratch)))
    seconds = time.perf_counter() - started
    where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded"
    r = figures["records"]
    print(f"PostgreSQL {figures['server_version']} ({where}; synchronous_commit {figures['synchronous_commit']}); "
          f"demo data: {args.children} children, {figures['events']:,} events; {args.iterations} iterations after "
          f"{args.warmup} warm-up")  # fmt: skip
    pages = (
        f"commune {r['commune']} {r['commune_name']} ({r['commune register page size']} children), province "
        f"{r['province']} ({r['province register page size']}), as of a cursor ({r['as-of register page size']})"
    )
    print(f"register pages: {pages}; case of {r['case_events']} events; indicators of {r['district']}")
    print(table(figures))
    before, after = figures["load_average"]
    print(f"load average (1 min) of this {os.cpu_count()}-CPU machine: {before:.1f} before the measurements, "
          f"{after:.1f} after")  # fmt: skip
    print("direct: the same reads by hand on asyncpg in this process (no token, access check, folding, decryption, "
          "access log, GraphQL or HTTP); mutation: ChildRegister.execute in this process")  # fmt: skip
    print(verdict(figures))
    print(f"({seconds:.0f} s in all)")
    if args.json is not None:
        figures.update(schema_version=JSON_SCHEMA_VERSION, measured_at=datetime.now(UTC).isoformat(), server=where,
                       sizes={"iterations": args.iterations, "warmup": args.warmup, "children": args.children},
                       seconds=seconds)  # fmt: skip
        args.json.write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
