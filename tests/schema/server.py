"""A real API server for the tests: the app under uvicorn on loopback, in a thread, as a second process of the
same deployment as the other tests' records would be (their database and master key)."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from registry.config import Settings, load_settings
from schema.app import create_app
from tests.conftest import Registry


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def deployment(registry: Registry, data_dir: Path) -> Settings:
    """Settings of another process of the tests' deployment: the same database, the same master key. A module's
    tests share one principal, so the rate limit is set out of their way (tests/schema/test_limits.py tests it)."""
    master = base64.urlsafe_b64encode(registry.master).decode()
    return load_settings(database_url=registry.db.owner_url, registry_master_key=master, registry_data_dir=data_dir,
                         registry_rate_limit=1_000_000)  # fmt: skip


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """Serve the app on a free loopback port until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):
        if server.started:
            break
        time.sleep(0.1)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
