"""Leaf types shared by the whole registry; imports nothing from the project."""

from __future__ import annotations

from typing import NewType, TypeAlias

StreamId = NewType("StreamId", str)
StreamType = NewType("StreamType", str)
Version = NewType("Version", int)
Position = NewType("Position", int)
TransactionId = NewType("TransactionId", int)

JSONValue: TypeAlias = "str | int | bool | None | list[JSONValue] | dict[str, JSONValue]"
JSONObject: TypeAlias = "dict[str, JSONValue]"

__all__ = ["JSONObject", "JSONValue", "Position", "StreamId", "StreamType", "TransactionId", "Version"]
