"""Python's cycle collector, paused while a batch of many short-lived objects is worked on."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_pauses = 0  # batches being applied now, in this process, with the cycle collector paused
_resume = False  # whether the collector was on when the first of them paused it


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a batch is folded (a projection's) or decided (an import's).

    A batch allocates hundreds of thousands of short-lived objects (events, rows, records) that hold no reference
    cycles: reference counting frees them all, but the allocations alone trigger full collections that walk the
    whole heap (the units, the cached plan), which measured as more than half of a rebuild's time (README,
    benchmarks).
    Nested and concurrent batches share the pause; the collector is back on when the last one ends.
    """
    global _pauses, _resume
    if _pauses == 0:
        _resume = gc.isenabled()
        gc.disable()
    _pauses += 1
    try:
        yield
    finally:
        _pauses -= 1
        if _pauses == 0 and _resume:
            gc.enable()


__all__ = ["cycle_collection_paused"]
