"""Write the SDL of the API: `python -m schema.export` to schema/schema.graphql (a test keeps it in sync), and with
`--publish` also to schema/published.graphql, the contract clients were promised: a test fails on any breaking
change against it (a field, type or argument removed, a required argument or input field added, a type changed),
so publishing again is the deliberate, reviewed act of breaking it."""

from __future__ import annotations

import sys
from pathlib import Path

from .api import sdl

TARGET = Path(__file__).resolve().parent / "schema.graphql"
PUBLISHED = Path(__file__).resolve().parent / "published.graphql"

if __name__ == "__main__":
    for path in (TARGET, PUBLISHED) if "--publish" in sys.argv[1:] else (TARGET,):
        path.write_text(sdl())
        print(f"wrote {path}")
