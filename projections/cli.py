"""`registry project ...`: the projector's commands (the registry's command line delegates here by name,
as `registry serve` does to the app, since registry/ never imports projections/)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import date, datetime
from pathlib import Path

from tqdm import tqdm

from registry.config import Settings
from registry.runtime import Registry

from .register import PROJECTIONS
from .reports import KINDS, build_report, to_csv, to_xlsx
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


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a date, YYYY-MM-DD") from None


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise argparse.ArgumentTypeError("must be a time with its zone, e.g. 2025-06-01T00:00+07:00")
    return moment


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `registry report` (registry/cli.py declares the same ones: it may not import this module)."""
    parser.add_argument(
        "--unit", required=True, help="the unit's code: 2 (province), 3 (district) or 5 (commune) digits"
    )
    parser.add_argument("--level", choices=["commune", "district", "province"], help="default: the code's level")
    parser.add_argument(
        "--kind", choices=KINDS, default="six_month", help="six_month, annual, or period (--start/--end)"
    )
    parser.add_argument("--year", type=int, help="the year of a six-month or annual report")
    parser.add_argument("--start", type=_day, help="first day of an explicit period, YYYY-MM-DD")
    parser.add_argument("--end", type=_day, help="last day of an explicit period, YYYY-MM-DD")
    parser.add_argument("--known-at", type=_moment, help="as the registry knew it at this time (ISO 8601 with zone)")
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    parser.add_argument("--out", type=Path, help="the file to write (default: standard output for CSV)")


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


__all__ = ["add_report_arguments", "rebuild", "report", "run", "status"]
