"""`registry project ...`: the projector's commands (the registry's command line delegates here by name,
as `registry serve` does to the app, since registry/ never imports projections/)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from tqdm import tqdm

from registry.config import Settings
from registry.runtime import Registry

from .register import PROJECTIONS
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


__all__ = ["rebuild", "run", "status"]
