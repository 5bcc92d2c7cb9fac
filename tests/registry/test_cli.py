"""The `registry` command, run as a user runs it: a separate process, real exit codes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import Db
from tests.registry.test_integrity import populate, superuser

PROJECT = Path(__file__).resolve().parents[2]


def registry(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry.cli", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REGISTRY_"))}
    env.update(values)
    return env


def test_verify_passes_on_an_untouched_store_and_fails_naming_the_tampered_event(run, fresh_db: Db) -> None:
    populate(run, fresh_db.store)
    env = environment(DATABASE_URL=fresh_db.owner_url)
    checkpoint = registry("checkpoint", env=env)
    assert checkpoint.returncode == 0, checkpoint.stderr
    root = checkpoint.stderr.split("root ")[1].split()[0]

    ok = registry("verify", "--root", root, env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().splitlines()[-1].startswith("verify: OK: 12 events in 3 streams checked, 1 checkpoints")

    row = run(fresh_db.pool.fetchrow("SELECT position, stream_id FROM events WHERE version = 3 LIMIT 1"))
    run(superuser(fresh_db, "UPDATE events SET data = data || '{\"n\": 99}' WHERE position = $1", row["position"]))
    bad = registry("verify", env=env)
    assert bad.returncode == 1
    assert f"altered: stream {row['stream_id']} position {row['position']}" in bad.stdout
    assert "1 FINDINGS" in bad.stdout.splitlines()[-1]


def test_usage_and_configuration_errors_exit_2_with_the_key_named() -> None:
    bad_root = registry("verify", "--root", "abc", env=environment(DATABASE_URL="postgresql://nobody@127.0.0.1:1/x"))
    assert bad_root.returncode == 2 and "--root" in bad_root.stderr
    bad_port = registry("migrate", env=environment(REGISTRY_PORT="many"))
    assert bad_port.returncode == 2 and "Config 'REGISTRY_PORT'" in bad_port.stderr


def test_an_unreachable_database_exits_3_without_leaking_the_password() -> None:
    result = registry("migrate", env=environment(DATABASE_URL="postgresql://app:s3cret@127.0.0.1:1/registry"))
    assert result.returncode == 3
    assert "s3cret" not in result.stderr and "***" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_demo_starts_the_embedded_server_answers_healthz_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = environment(REGISTRY_DATA_DIR=str(tmp_path / "data"))
    started = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-m", "registry.cli", "serve", "--demo", "--port", str(port)],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status = None
        while time.monotonic() - started < 180 and status != 200:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
            except httpx.TransportError:
                time.sleep(0.1)
        assert status == 200
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()  # the embedded server stopped with it

    # the demonstration data is there, verified and checkpointed: the real units, 300 children, 32 cases, the 3 seed
    # plans and 297 synthetic child populations (the communes and provinces of the four seed provinces)
    check = registry("verify", env=env)
    assert check.returncode == 0, check.stderr
    summary = check.stdout.strip().splitlines()[-1]
    events, streams = (int(summary.split()[n]) for n in (2, 5))
    assert events > 24_802 + 300 and streams == 14_008 + 300 + 32 + 3 + 297 and "1 checkpoints" in summary, summary

    # a commune looked up by code and by name, as of 2024-01-01 and as of today
    before = registry("units", "show", "03253", "--on", "2024-01-01", env=env)
    assert before.returncode == 0, before.stderr
    assert before.stdout.splitlines()[1:4] == [
        "03253  Thị trấn Tuần Giáo  (commune, in force from before records until 2025-07-01)",
        "  099  Huyện Tuần Giáo  (district, in force from before records until 2025-07-01)",
        "    11  Tỉnh Điện Biên  (province, in force from before records)",
    ]
    now = registry("units", "show", "03253", env=env)
    assert now.stdout.splitlines()[1:3] == [
        "03253  Xã Tuần Giáo  (commune, in force from 2025-07-01)",
        "  11  Tỉnh Điện Biên  (province, in force from before records)",
    ]
    found = registry("units", "search", "tuan giao", "--on", "2024-01-01", env=env)
    assert [line.split()[0] for line in found.stdout.splitlines()] == ["099", "03253"]
    found = registry("units", "search", "Tuần Giáo", env=env)
    assert [line.split()[0] for line in found.stdout.splitlines()] == ["099", "03253", "03253"]
    missing = registry("units", "show", "03253", "--on", "yesterday", env=env)
    assert missing.returncode == 2 and "--on: must be a date" in missing.stderr
    unknown = registry("units", "show", "099", env=env)
    assert unknown.returncode == 2 and "code: no administrative unit has this code on" in unknown.stderr


def test_units_load_killed_midway_finishes_on_the_next_run_with_nothing_twice(run, fresh_db: Db) -> None:
    env = environment(DATABASE_URL=fresh_db.owner_url)
    loader = subprocess.Popen(
        [sys.executable, "-m", "registry.cli", "units", "load"],
        cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while run(fresh_db.pool.fetchval("SELECT count(*) FROM events")) < 3_000 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        loader.kill()  # SIGKILL: no clean-up of any kind
        loader.communicate(timeout=30)
    written = run(fresh_db.pool.fetchval("SELECT count(*) FROM events"))
    assert 0 < written < 24_801

    again = registry("units", "load", env=env)
    assert again.returncode == 0, again.stderr
    assert run(fresh_db.pool.fetchval("SELECT count(*) FROM events")) == 24_801
    duplicates = "SELECT count(*) FROM (SELECT DISTINCT stream_id, event_type, data FROM events) AS d"
    assert run(fresh_db.pool.fetchval(duplicates)) == 24_801  # no event written twice
    once_more = registry("units", "load", env=env)
    assert "units: 0 events written in 0 appends" in once_more.stderr
    assert registry("verify", env=env).returncode == 0


def test_every_command_the_readme_shows_is_one_the_cli_accepts() -> None:
    """Each `python3 dev.py ...` / `registry ...` command line in the README parses as written (placeholders such
    as <the root> and optional [...] parts filled or dropped): a renamed option cannot leave the README behind."""
    import re
    import shlex

    from registry.cli import parser

    commands = []
    for line in (PROJECT / "README.md").read_text().splitlines():
        found = re.match(r"\s{4}(?:.*\s)?(?:python3 dev\.py|registry) ([a-z].*)$", line)
        if found is None or "`" in line or line.strip().startswith("#"):
            continue
        words = re.sub(r"\[[^]]*\]", "", found.group(1)).split("  #")[0].split(" | ")[0]
        words = re.sub(r"<[^>]*>", "x", words.replace("...", "x"))
        commands.append(shlex.split(words))
    assert len(commands) >= 10 and ["replay", "--until", "2026-06-30T17:00+07:00"] in commands
    wrong = []
    for argv in commands:
        if argv[0] in ("serve", "test"):
            continue  # dev.py's own (test) or run elsewhere (serve's options: test_serve_demo_...)
        try:
            parser().parse_args(argv)
        except SystemExit:
            wrong.append(" ".join(argv))
    assert wrong == []
