"""Demonstration data for `registry serve --demo`: synthetic, idempotent, loaded on first start."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.metadata import version

from .catalog import RegistryInitialised
from .events import Metadata, NewEvent
from .integrity import create_checkpoint
from .migrations import discover
from .store import EventStore

SYSTEM = Metadata(actor_id="system:demo-loader", actor_role="system", source="registry serve --demo")


async def load_demo(store: EventStore) -> bool:
    """Load the demonstration data unless it is there; return whether anything was written."""
    if await store.read_stream("registry"):
        return False
    event = NewEvent(
        "RegistryInitialised",
        RegistryInitialised(
            software_version=version("child-protection-registry"),
            schema_version=discover()[-1].version,
            demo=True,
        ),
        datetime.now(UTC),
    )
    result = await store.append("registry", "registry", 0, [event], SYSTEM, idempotency_key="demo:registry-initialised")
    await create_checkpoint(store)
    return not result.replayed


__all__ = ["load_demo"]
