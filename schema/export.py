"""Write the SDL of the API to schema/schema.graphql: `python -m schema.export` (a test keeps it in sync)."""

from __future__ import annotations

from pathlib import Path

from .api import sdl

TARGET = Path(__file__).resolve().parent / "schema.graphql"

if __name__ == "__main__":
    TARGET.write_text(sdl())
    print(f"wrote {TARGET}")
