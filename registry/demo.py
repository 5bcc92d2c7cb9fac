"""Demonstration data for `registry serve --demo`: idempotent, loaded on first start.

The administrative units are the real ones (`registry units load`); anything
about children and cases added here is synthetic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.metadata import version

from .catalog import RegistryInitialised
from .events import Metadata, NewEvent
from .integrity import create_checkpoint
from .migrations import discover
from .store import EventStore
from .unit_loader import default_plan, load

SYSTEM = Metadata(actor_id="system:demo-loader", actor_role="system", source="registry serve --demo")


async def load_demo(store: EventStore) -> bool:
    """Load what of the demonstration data is not there yet; return whether anything was written."""
    report = await load(store, default_plan())
    wrote = report.written_events > 0
    if not await store.read_stream("registry"):
        wrote = await _initialise(store) or wrote
    if wrote:
        await create_checkpoint(store)
    return wrote


async def _initialise(store: EventStore) -> bool:
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
    return not result.replayed


__all__ = ["load_demo"]
