"""`registry`: the one command-line entry point.

    registry migrate                  apply pending migrations (as the owner)
    registry serve [--role R] [--demo] run the service: api, projector or all (default)
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
    registry import FILE --source S   import children from CSV, XLSX or JSON Lines (idempotent, resumable)
    registry export --unit CODE [...] a unit's children or cases on a day (CSV, XLSX, JSON Lines), streamed
    registry quality --unit CODE      the data-quality report of a unit (Project 06)
    registry duplicates find|list|dismiss|merge  duplicate child records and their review queue
    registry token --role R [--unit C] a signed bearer token for the API (local use, the demo)
    registry replay --until T|CURSOR  rebuild the read models up to a point apart, compare with the as-of views
    registry audit export --unit CODE  a self-contained audit bundle of a unit's records (verify it offline)
    registry audit verify BUNDLE      check a bundle as the standalone verifier does (registry/bundle_verifier.py)
    registry audit report --unit CODE  an audit report of a unit and period (XLSX)
    registry bench store|units|projections|api|import|export|audit [...]  measure against raw baselines

Exit codes: 0 success, 1 verification findings, 2 usage or configuration
errors, 3 the database could not be reached or refused the work.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib
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
from .duplicate_review import DismissReason, QueueStatus
from .duplicates import THRESHOLD
from .errors import ConfigError, InvalidInput, MigrationError, RegistryError, StoreUnavailable
from .gazetteer import Gazetteer, UnitView
from .imports import BATCH, FORMATS, Importer, ImportOptions, Rejection, RejectionReport, Table, today_in_vietnam
from .integrity import create_checkpoint, verify
from .logs import configure as configure_logging
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

    # The app is built by its factory from the settings, so `--demo` and `--role` travel as the REGISTRY_DEMO
    # and REGISTRY_ROLE keys (the app lives in schema/, which registry/ never imports).
    if args.demo:
        os.environ["REGISTRY_DEMO"] = "true"
    if args.role:
        os.environ["REGISTRY_ROLE"] = args.role
    settings = load_settings()  # fail here, before uvicorn starts, on a bad key
    uvicorn.run(
        "schema.app:create_app",
        factory=True,
        host=args.host or settings.registry_host,
        port=args.port or settings.registry_port,
        log_level=settings.registry_log_level,
        log_config=None,  # the registry's own format (registry/logs.py), set up by main()
        access_log=False,  # the app logs each request itself, without its query string (schema/metrics.py)
        timeout_graceful_shutdown=settings.registry_shutdown_timeout,  # then the lifespan stops the projectors
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


def _import(settings: Settings, args: argparse.Namespace) -> int:
    """Import children from a file through the register's commands (registry/imports.py)."""
    table = Table(args.file, args.format, args.sheet)
    options = ImportOptions(source=args.source, collected_on=args.collected_on or today_in_vietnam(),
                            actor_id=args.actor, actor_role="operator", batch=args.batch,
                            dry_run=args.dry_run)  # fmt: skip
    suffix = ".xlsx" if table.format == "xlsx" else ".csv"
    report = RejectionReport(args.report or Path(f"{args.file.stem}-rejected{suffix}"), table)
    shown: list[Rejection] = []

    def rejected(rejection: Rejection) -> None:
        report.add(rejection)
        if len(shown) < 10:
            shown.append(rejection)

    async def work(registry: Registry) -> int:
        units = await registry.gazetteer()
        if len(units) == 0:
            _say("import: no administrative units loaded (run `registry units load`)")
            return 1
        importer = Importer(await registry.children(), units, registry.store, options)
        estimate = table.estimate()
        with tqdm(total=None if estimate is None else max(estimate - 1, 0), desc="import", unit=" rows",
                  unit_scale=True, file=sys.stderr, leave=False) as bar:  # fmt: skip
            try:
                summary = await importer.run(table, on_rejected=rejected, progress=bar.update)
            finally:
                report.close()
        print(summary.line())
        if summary.unknown_columns:
            print(f"columns not imported: {', '.join(summary.unknown_columns)}")
        for rejection in shown:  # lines, fields and reasons only: a row's values stay in the report
            problems = (f"{report.heading(f)}: {m} ({r})" for f, r, m in rejection.problems)
            print(f"line {rejection.line}: " + "; ".join(problems))
        if report.count:
            more = f" (the first {len(shown)} above)" if report.count > len(shown) else ""
            print(f"{report.count} rejected rows{more} are in {report.path}: fix them there and import that file")
        return 1 if summary.rejected else 0

    return asyncio.run(_with_registry(settings, work))


def _delegate(target: str) -> Callable[[Settings, argparse.Namespace], int]:
    """A command implemented elsewhere, imported when run: in projections/ (named, not imported: registry/ never
    imports projections/), or in a module kept free of the registry's imports (registry/bundle_verifier.py)."""

    def run(settings: Settings, args: argparse.Namespace) -> int:
        module, function = target.split(":")
        implementation: Callable[[Settings, argparse.Namespace], int] = getattr(importlib.import_module(module),
                                                                                function)  # fmt: skip
        return implementation(settings, args)

    return run


_BENCHMARKS = {"import": "imports"}  # a suite whose script has another name (`import` is a Python keyword)


def _bench(_: Settings, args: argparse.Namespace) -> int:
    script = PROJECT_DIR / "benchmarks" / f"{_BENCHMARKS.get(args.suite, args.suite)}.py"
    sys.argv = [str(script), *args.options]
    runpy.run_path(str(script), run_name="__main__")
    return 0


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise argparse.ArgumentTypeError("must be a time with its zone, e.g. 2025-06-01T00:00+07:00")
    return moment


def report_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `registry report` (carried out by projections/cli.py `report`)."""
    parser.add_argument("--unit", required=True, help="2 (province), 3 (district) or 5 (commune) digits")
    parser.add_argument("--level", choices=[level.value for level in Level], help="default: the code's level")
    parser.add_argument("--kind", choices=["six_month", "annual", "period"], default="six_month",
                        help="six_month, annual, or period (--start/--end)")  # fmt: skip
    parser.add_argument("--year", type=int, help="the year of a six-month or annual report")
    parser.add_argument("--start", type=_day, help="an explicit period (--kind period), YYYY-MM-DD")
    parser.add_argument("--end", type=_day, help="last day of an explicit period, YYYY-MM-DD")
    parser.add_argument("--known-at", type=_moment, help="as the registry knew it at this time (ISO 8601 with zone)")
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    parser.add_argument("--out", type=Path, help="default: standard output (CSV), bao-cao-....xlsx (XLSX)")


def _reader_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a command that reads records as an operator: each record read is logged with them."""
    parser.add_argument("--purpose", required=True,
                        help="why the records are read: kept in the access log with every record")  # fmt: skip
    parser.add_argument("--actor", default=f"operator:{getpass.getuser()}",
                        help="who reads (the access log's subject, in the role operator)")  # fmt: skip
    parser.add_argument(
        "--no-personal",
        dest="personal",
        action="store_false",
        help="leave out names, personal identification numbers, caregivers' names and addresses",
    )


def export_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `registry export` (carried out by projections/cli.py `export`)."""
    parser.add_argument("--unit", required=True,
                        help="2 (province), 3 (district; a former district from 2025-07-01) or 5 (commune) digits, "
                        "in the structure in force on --on")  # fmt: skip
    parser.add_argument("--records", choices=["children", "cases"], default="children",
                        help="children (default) or cases")  # fmt: skip
    parser.add_argument("--on", type=_day, help="the business day, YYYY-MM-DD (default today)")
    parser.add_argument("--known-at", type=_moment, help="as the registry knew it at this time (ISO 8601 with zone)")
    parser.add_argument("--format", choices=FORMATS, default="csv")
    parser.add_argument("--english", action="store_true",
                        help="English headings and codes (default: Vietnamese; JSON Lines always has English field "
                        "names and codes)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="the file (default tre-em-UNIT-DAY.FORMAT; '-': standard output)")
    parser.add_argument("--page", type=int, default=500, help="records read and logged at a time (default 500)")
    _reader_arguments(parser)


def quality_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `registry quality` (carried out by projections/cli.py `quality`)."""
    parser.add_argument(
        "--unit", required=True, help="2 (province), 3 (a former district) or 5 (commune) digits, in today's structure"
    )
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    parser.add_argument("--english", action="store_true", help="English headings and issue codes")
    parser.add_argument("--out", type=Path, help="the file (default chat-luong-UNIT-DAY.FORMAT; '-': standard output)")
    _reader_arguments(parser)


def replay_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `registry replay` (carried out by projections/replay.py `run`)."""
    parser.add_argument("--until", required=True,
                        help="a time with its zone (ISO 8601) or a cursor of the global order (an event's "
                        "globalCursor): the events the registry knew then are replayed")  # fmt: skip
    parser.add_argument("--unit", help="compare only this unit's views (2, 3 or 5 digits; default: every unit)")
    parser.add_argument("--keep", action="store_true", help="keep the replayed tables (schema replay_...) to query")


def audit_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommands of `registry audit`: export (projections/audit_bundle.py), verify
    (registry/bundle_verifier.py, standard library only), report (projections/audit_report.py)."""
    actions = parser.add_subparsers(dest="audit_command", required=True, metavar="AUDIT_COMMAND")
    export = actions.add_parser("export", help="a self-contained bundle of a unit's records for an offline check")
    export.add_argument("--unit", required=True, help="2 (province), 3 (district) or 5 (commune) digits")
    export.add_argument("--from", dest="start", type=_day, required=True, help="first day of the period, YYYY-MM-DD")
    export.add_argument("--to", dest="end", type=_day, required=True, help="last day of the period, YYYY-MM-DD")
    export.add_argument("--out", type=Path, help="the bundle file (default kiem-toan-UNIT-FROM-TO.json)")
    export.add_argument("--actor", default=f"operator:{getpass.getuser()}",
                        help="who exports (the access log's subject, in the role operator)")  # fmt: skip
    export.set_defaults(run=_delegate("projections.audit_bundle:export_command"))
    check = actions.add_parser("verify", help="check a bundle offline, as registry/bundle_verifier.py does")
    check.add_argument("bundle", type=Path)
    check.add_argument("--root", help="a root published outside the system (64 hexadecimal digits)")
    check.add_argument("--sha256", help="the file's sha256 as the export printed it, sent apart (64 hex digits)")
    check.set_defaults(run=_delegate("registry.bundle_verifier:verify_command"))
    report = actions.add_parser("report", help="an audit report of a unit and period (XLSX)")
    report.add_argument("--unit", required=True, help="2 (province), 3 (district) or 5 (commune) digits")
    report.add_argument("--from", dest="start", type=_day, required=True, help="first day of the period, YYYY-MM-DD")
    report.add_argument("--to", dest="end", type=_day, required=True, help="last day of the period, YYYY-MM-DD")
    report.add_argument("--out", type=Path, help="the workbook (default bao-cao-kiem-toan-UNIT-FROM-TO.xlsx)")
    report.set_defaults(run=_delegate("projections.audit_report:report_command"))


def duplicates_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommands of `registry duplicates` (carried out by projections/cli.py `duplicates`)."""
    actions = parser.add_subparsers(dest="duplicates_command", required=True, metavar="DUPLICATES_COMMAND")
    actor = f"operator:{getpass.getuser()}"
    find = actions.add_parser("find", help="find duplicate records over the register (or a unit) and queue them")
    find.add_argument("--unit", help="only the records lying in this commune, former district or province today")
    find.add_argument("--threshold", default=str(THRESHOLD),
                      help=f"the score at or above which a pair is queued, 0-1 (default {THRESHOLD})")  # fmt: skip
    find.add_argument("--batch", type=int, default=1000, help="records opened per query (default 1000)")
    find.add_argument("--actor", default=actor, help="who runs it (kept in the events)")
    show = actions.add_parser("list", help="the review queue of a unit (from the read model)")
    show.add_argument("--unit", help="a commune, former district or province code (default: the whole country)")
    show.add_argument("--status", choices=[*(s.value for s in QueueStatus), "any"], default=QueueStatus.PENDING.value)
    show.add_argument("--limit", type=int, default=50, help="pairs shown (1-1000, default 50)")
    show.add_argument("--after", help="the cursor printed after the last pair of the page before")
    dismiss = actions.add_parser("dismiss", help="dismiss a pair: the two records are two children")
    dismiss.add_argument("pair_id")
    dismiss.add_argument("--reason", choices=[r.value for r in DismissReason],
                         default=DismissReason.NOT_SAME_CHILD.value)  # fmt: skip
    dismiss.add_argument("--actor", default=actor, help="who dismisses it (kept in the event)")
    merge = actions.add_parser("merge", help="merge a pair: the other record into --survivor (both histories stay)")
    merge.add_argument("pair_id")
    merge.add_argument("--survivor", required=True, help="the child id of the record that remains")
    merge.add_argument("--actor", default=actor, help="who merges them (kept in the events)")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="registry", description="Child-protection case registry")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("migrate", help="apply pending migrations").set_defaults(run=_migrate)

    serve = commands.add_parser("serve", help="run the service (the API, the projectors, or both)")
    serve.add_argument("--role", choices=["api", "projector", "all"],
                       help="api: HTTP without projectors; projector: the projectors and background work, with "
                       "/healthz, /readyz and /metrics only; all (default REGISTRY_ROLE, else all): both")  # fmt: skip
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
    token.add_argument("--role", required=True, choices=[r.value for r in Role if r is not Role.OPERATOR])
    token.add_argument("--unit", help="the jurisdiction: a commune (5 digits), district (3) or province (2) code")
    token.add_argument("--subject", default="officer:local", help="who the token is for (default officer:local)")
    token.add_argument("--hours", type=float, default=8.0, help="lifetime in hours (default 8, at most 30 days)")
    token.set_defaults(run=_token)

    report = commands.add_parser("report", help="a periodic child-protection report of a unit (CSV or XLSX)")
    report_arguments(report)
    report.set_defaults(run=_delegate("projections.cli:report"))

    imports = commands.add_parser("import", help="import children from CSV, XLSX or JSON Lines (idempotent)")
    imports.add_argument("file", type=Path, help="the file: .csv, .xlsx or .jsonl (see README, 'Importing children')")
    imports.add_argument("--source", required=True,
                         help="where the rows come from (e.g. csdl-tre-em-quoc-gia): with each row's key, it names "
                         "the row's record, so keep it the same for every file of that source")  # fmt: skip
    imports.add_argument("--format", choices=FORMATS, help="default: from the file's extension")
    imports.add_argument("--sheet", help="the sheet of a workbook (default: the first)")
    imports.add_argument("--collected-on", type=_day,
                         help="the day the file describes: the residence and group date of rows that give none "
                         "(default today), YYYY-MM-DD")  # fmt: skip
    imports.add_argument("--report", type=Path, help="where the rejected rows go (default FILE-rejected.csv/.xlsx)")
    imports.add_argument("--dry-run", action="store_true", help="check and decide every row, write nothing")
    imports.add_argument("--batch", type=int, default=BATCH, help=f"rows per transaction (default {BATCH})")
    imports.add_argument("--actor", default=f"operator:{getpass.getuser()}", help="who imports (kept in the events)")
    imports.set_defaults(run=_import)

    exported = commands.add_parser("export", help="a unit's children or cases on a day as CSV, XLSX or JSON Lines")
    export_arguments(exported)
    exported.set_defaults(run=_delegate("projections.cli:export"))
    checked = commands.add_parser("quality", help="the data-quality report of a unit (the Project 06 cleansing view)")
    quality_arguments(checked)
    checked.set_defaults(run=_delegate("projections.cli:quality"))

    found = commands.add_parser("duplicates", help="duplicate child records: find, list, dismiss, merge")
    duplicates_arguments(found)
    found.set_defaults(run=_delegate("projections.cli:duplicates"))

    replay = commands.add_parser("replay", help="rebuild the read models up to a point apart and compare them")
    replay_arguments(replay)
    replay.set_defaults(run=_delegate("projections.replay:run"))

    audit = commands.add_parser("audit", help="auditors: export and verify bundles, the audit report")
    audit_arguments(audit)

    bench = commands.add_parser("bench", help="run a benchmark suite (see benchmarks/)")
    bench.add_argument("suite", choices=["store", "units", "projections", "api", "import", "export", "audit"])
    bench.add_argument("options", nargs=argparse.REMAINDER, help="options of the suite (--help for them)")
    bench.set_defaults(run=_bench)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings)
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
