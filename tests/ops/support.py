"""What the operations tests share: settings of a deployment on a test database, GraphQL over HTTP, metrics read
back from their text format."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from registry.access import Role
from registry.config import Settings, load_settings
from registry.tokens import issue

REGISTER = "mutation($i: RegisterChildInput!) { registerChild(input: $i) { child { childId fullName } globalCursor" \
           " userErrors { code field } } }"  # fmt: skip
CHILD = 'query($id: ID!) { child(childId: $id, purpose: "home visit") { childId fullName } }'


def settings_for(url: str, data_dir: Path, master: bytes | None = None, **values: Any) -> Settings:
    """Settings of a process of a deployment on the database at `url` (its own master key unless given)."""
    key = base64.urlsafe_b64encode(master or os.urandom(32)).decode()
    return load_settings(database_url=url, registry_master_key=key, registry_data_dir=data_dir, **values)


def token(settings: Settings, role: Role, unit: str | None, subject: str = "officer:ops") -> str:
    return issue(settings, subject, role, unit, timedelta(hours=1))


def graphql(base: str, query: str, bearer: str | None, variables: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
    sent = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return httpx.post(f"{base}/graphql", json={"query": query, "variables": variables or {}},
                      headers={**sent, **(headers or {})}, timeout=60)  # fmt: skip


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page: (name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}  # fmt: skip


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def eventually(check: Callable[[], Any], seconds: float = 60, every: float = 0.2) -> Any:
    """The first truthy result of `check` within `seconds` (else the assertion fails with the last result)."""
    deadline, result = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"not within {seconds} s: {result!r}")
