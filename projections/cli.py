"""`registry project ...`: the projector's commands (the registry's command line delegates here by name,
as `registry serve` does to the app, since registry/ never imports projections/)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Never

from tqdm import tqdm

from registry.access import operator
from registry.config import Settings
from registry.duplicate_review import DismissReason, DuplicateReviews, QueueStatus
from registry.events import Metadata
from registry.runtime import Registry

from .duplicate_queue import queue
from .duplicates import DuplicateFinder, parse_threshold
from .export import Export, ExportRequest, Sources
from .quality import QualityCheck, QualityWriter
from .register import PROJECTIONS
from .reports import build_report, to_csv, to_xlsx
from .runtime import Projection, Projector


def _projector(registry: Registry, projection: Projection, batch: int = 5000) -> Projector:
    return Projector(registry.store, lambda: registry.database.connect(owner=True), projection, batch=batch)


def _select(names: list[str] | None) -> list[Projection]:
    known = {cls.name: cls for cls in PROJECTIONS}
    unknown = sorted(set(names or []) - set(known))
    if unknown:
        raise SystemExit(f"registry: unknown projection {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return [known[name]() for name in (names or sorted(known))]


def status(settings: Settings, args: argparse.Namespace) -> int:
    async def work() -> int:
        registry = await Registry.open(settings)
        try:
            print(f"{'projection':<16} {'version':>7} {'generation':>10} {'events':>9} {'lag':>7}  checkpoint / head")
            for projection in _select(args.names):
                s = await _projector(registry, projection).status()
                print(f"{s.name:<16} {s.version:>7} {s.generation:>10} {s.events:>9} {s.lag_events:>7}  "
                      f"{s.cursor.token()} / {s.head.token()}")  # fmt: skip
            return 0
        finally:
            await registry.close()

    return asyncio.run(work())


def rebuild(settings: Settings, args: argparse.Namespace) -> int:
    async def work() -> int:
        registry = await Registry.open(settings)
        try:
            for projection in _select([args.name]):
                total, _ = await registry.store.stats()
                with tqdm(total=total, desc=f"rebuild {projection.name}", unit=" events", file=sys.stderr,
                          leave=False) as bar:  # fmt: skip
                    generation = await _projector(registry, projection, args.batch).rebuild(progress=bar.update)
                print(f"{projection.name}: generation {generation} built and serving", file=sys.stderr)
            return 0
        finally:
            await registry.close()

    return asyncio.run(work())


def run(settings: Settings, args: argparse.Namespace) -> int:
    async def work() -> int:
        registry = await Registry.open(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            projectors = [_projector(registry, p, args.batch) for p in _select(args.names)]
            if args.once:
                for projector in projectors:
                    generation = await projector.catch_up_once()
                    done = "another process leads it" if generation is None else f"caught up (generation {generation})"
                    print(f"{projector.projection.name}: {done}", file=sys.stderr)
                return 0
            await asyncio.gather(*(projector.run(stop) for projector in projectors))
            return 0
        finally:
            await registry.close()

    return asyncio.run(work())


def report(settings: Settings, args: argparse.Namespace) -> int:
    """`registry report`: a periodic report of a unit from the read models, as CSV or XLSX (projections/reports.py)."""

    async def work() -> int:
        registry = await Registry.open(settings)
        try:
            units = await registry.gazetteer()
            conn = await registry.database.connect()
            try:
                built = await build_report(
                    conn, registry.store, units, args.level, args.unit, args.kind, args.year, start=args.start,
                    end=args.end, known_at=args.known_at,
                )  # fmt: skip
            finally:
                await conn.close()
        finally:
            await registry.close()
        h = built.header
        out: Path | None = args.out
        if args.format == "xlsx":
            out = out or Path(f"bao-cao-{h.unit_code}-{h.kind}-{h.start.isoformat()}-{h.end.isoformat()}.xlsx")
            to_xlsx(built, out)
        elif out is None:
            to_csv(built, sys.stdout)
        else:
            with out.open("w", encoding="utf-8", newline="") as stream:
                to_csv(built, stream)
        where = "standard output" if out is None else str(out)
        due = f", due {h.due.isoformat()} to {h.recipient}" if h.due else ""
        print(f"report: {h.unit_name} ({h.unit_code}), {h.start.isoformat()} to {h.end.isoformat()}{due}: {where}",
              file=sys.stderr)  # fmt: skip
        return 0

    return asyncio.run(work())


async def _sources(registry: Registry) -> Sources:
    return Sources(registry.pool, await registry.children(), await registry.cases(), await registry.gazetteer())


def export(settings: Settings, args: argparse.Namespace) -> int:
    """`registry export`: the children or cases of a unit on a day, streamed to a file (projections/export.py), with
    progress on standard error and a summary line. Run `registry project run --once` first: the unit's records are
    found in the read models."""
    vietnamese = False if args.format == "jsonl" else not args.english  # JSON Lines: field names and codes
    request = ExportRequest(unit=args.unit, purpose=args.purpose, on=args.on, records=args.records,
                            file_format=args.format, known_at=args.known_at, vietnamese=vietnamese,
                            personal=args.personal)  # fmt: skip

    async def work() -> int:
        registry = await Registry.open(settings)
        try:
            with tqdm(desc="export", unit=" records", unit_scale=True, file=sys.stderr, leave=False) as bar:
                job = Export(await _sources(registry), operator(args.actor), request,
                             request_id=f"cli-export:{uuid.uuid4().hex}", page=args.page,
                             progress=bar.update)  # fmt: skip
                await job.check()
                out: Path | None = args.out or Path(job.filename)
                if str(out) == "-":
                    if request.file_format == "xlsx":
                        raise SystemExit("registry: an XLSX export needs a file (--out)")
                    out = None
                sink = sys.stdout.buffer if out is None else out.open("wb")
                try:
                    async for chunk in job.chunks():
                        sink.write(chunk)
                finally:
                    sink.flush()
                    if out is not None:
                        sink.close()
            where = "standard output" if out is None else str(out)
            print(job.summary.line(request, job.unit_name, job.on, where), file=sys.stderr)
            return 0
        finally:
            await registry.close()

    return asyncio.run(work())


def quality(settings: Settings, args: argparse.Namespace) -> int:
    """`registry quality`: the data-quality report of a unit (projections/quality.py): the records with issues as
    CSV or XLSX, and the counts per issue on standard error."""

    async def work() -> int:
        registry = await Registry.open(settings)
        try:
            with tqdm(desc="quality", unit=" records", unit_scale=True, file=sys.stderr, leave=False) as bar:
                check = QualityCheck(await _sources(registry), operator(args.actor), args.unit, args.purpose,
                                     f"cli-quality:{uuid.uuid4().hex}", personal=args.personal,
                                     progress=bar.update)  # fmt: skip
                await check.check()
                out: Path | None = args.out or Path(f"chat-luong-{args.unit}-{check.today.isoformat()}.{args.format}")
                if str(out) == "-":
                    if args.format == "xlsx":
                        raise SystemExit("registry: an XLSX report needs a file (--out)")
                    out = None
                writer = QualityWriter(sys.stdout if out is None else out, args.format, personal=args.personal,
                                       vietnamese=not args.english)  # fmt: skip
                async for found in check.records():
                    writer.add(found)
                writer.close(check)
            print(f"{check.summary()}: {'standard output' if out is None else out}", file=sys.stderr)
            return 0
        finally:
            await registry.close()

    return asyncio.run(work())


def duplicates(settings: Settings, args: argparse.Namespace) -> int:
    """`registry duplicates find|list|dismiss|merge`: duplicate detection and its review queue
    (projections/duplicates.py, registry/duplicate_review.py). Ids, codes and scores only are printed: never a name
    or a number."""

    async def work() -> int:
        registry = await Registry.open(settings)
        try:
            command = args.duplicates_command
            if command == "find":
                return await _find(registry, args)
            if command == "list":
                return await _list(registry, args)
            metadata = Metadata(actor_id=args.actor, actor_role="operator", source="cli:duplicates",
                                reason=f"duplicate review {args.pair_id}"[:1000])  # fmt: skip
            reviews = DuplicateReviews(registry.store)
            if command == "dismiss":
                await reviews.dismiss(args.pair_id, DismissReason(args.reason), metadata)
                print(f"duplicates: pair {args.pair_id} dismissed ({args.reason})")
                return 0
            await reviews.merge(args.pair_id, args.survivor, await registry.children(), metadata)
            print(f"duplicates: pair {args.pair_id} merged into {args.survivor}")
            return 0
        finally:
            await registry.close()

    return asyncio.run(work())


class PhaseBars:
    """A run's progress as tqdm bars on standard error, one per phase (projections.duplicates.Progress): each
    bar's description is `prefix` and the phase, its unit `unit(phase)`."""

    def __init__(self, prefix: str = "", unit: Callable[[str], str] = lambda phase: phase) -> None:
        self.prefix, self.unit = prefix, unit
        self.bar: tqdm[Never] | None = None

    def start(self, phase: str, total: int | None) -> None:
        self.close()
        self.bar = tqdm(total=total, desc=f"{self.prefix}{phase}", unit=f" {self.unit(phase)}", unit_scale=True,
                        file=sys.stderr, leave=False)  # fmt: skip

    def advance(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(count)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


async def _find(registry: Registry, args: argparse.Namespace) -> int:
    units = await registry.gazetteer()
    if len(units) == 0:
        print("duplicates: no administrative units loaded (run `registry units load`)", file=sys.stderr)
        return 1
    finder = await DuplicateFinder.of(registry, page=args.batch)
    metadata = Metadata(actor_id=args.actor, actor_role="operator", source="cli:duplicates",
                        correlation_id=f"duplicates:{uuid.uuid4()}")  # fmt: skip
    bars = PhaseBars("duplicates: ")  # records read, then candidate pairs compared
    try:
        summary = await finder.find(metadata, unit=args.unit, threshold=parse_threshold(str(args.threshold)),
                                    progress=bars)  # fmt: skip
    finally:
        bars.close()
    print(summary.line())
    if summary.suspected:
        where = f" --unit {args.unit}" if args.unit else ""
        print(f"review them with `registry duplicates list{where}` once the read models caught up "
              "(`registry project run --once`)")  # fmt: skip
    return 0


async def _list(registry: Registry, args: argparse.Namespace) -> int:
    status = None if args.status == "any" else QueueStatus(args.status)
    conn = await registry.database.connect()
    try:
        pairs = await queue(conn, args.unit, status=status, after=args.after, limit=args.limit)
    finally:
        await conn.close()
    for p in pairs:
        (a, b), (pa, pb) = p.child_ids, p.places
        print(f"{p.pair_id}  {p.score}  {p.status.value:<9}  {a} ({pa.commune_now}, {pa.province_now})  ~  "
              f"{b} ({pb.commune_now}, {pb.province_now})  {', '.join(p.reasons)}  found "
              f"{p.found_at.date().isoformat()} by {p.found_by}")  # fmt: skip
    if len(pairs) == args.limit:
        print(f"more: --after {pairs[-1].cursor}")
    if not pairs:
        print("duplicates: no pairs (the queue is a read model: `registry project run --once` brings it up to date)",
              file=sys.stderr)  # fmt: skip
    return 0


__all__ = [
    "PhaseBars",
    "duplicates",
    "export",
    "quality",
    "rebuild",
    "report",
    "run",
    "status",
]
