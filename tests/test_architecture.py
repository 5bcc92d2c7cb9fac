"""Dependencies flow one way (schema -> projections -> registry), and the public surface is explicit."""

from __future__ import annotations

import ast
from pathlib import Path

import registry

PROJECT = Path(__file__).resolve().parents[1]
ALLOWED = {
    "registry": {"registry"},
    "projections": {"projections", "registry"},
    "schema": {"schema", "projections", "registry"},
}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


def test_no_package_imports_against_the_flow() -> None:
    wrong = [
        f"{path.relative_to(PROJECT)} imports {sorted(imported_packages(path) - allowed)}"
        for package, allowed in ALLOWED.items()
        for path in (PROJECT / package).rglob("*.py")
        if imported_packages(path) - allowed
    ]
    assert wrong == []


def test_the_store_module_is_the_only_one_to_touch_asyncpg_errors() -> None:
    offenders = [
        str(path.relative_to(PROJECT))
        for path in (PROJECT / "registry").rglob("*.py")
        if path.name not in ("store.py", "db.py", "migrations.py")
        and "asyncpg." in path.read_text()
        and "Error" in "".join(line for line in path.read_text().splitlines() if "asyncpg." in line)
    ]
    assert offenders == []


def test_the_package_exports_what_it_names() -> None:
    assert all(hasattr(registry, name) for name in registry.__all__)
    assert {"EventStore", "ConcurrencyError", "IdempotencyConflict", "Cursor"} <= set(registry.__all__)
