"""Canonical JSON, event hashes and Merkle trees: what `registry verify` recomputes.

Canonical JSON is defined by the standard library, so that an auditor can
recompute every hash with nothing but Python:

    json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

`canonical_json` produces the same bytes faster with orjson (a property test
holds the two together). Only JSON that survives a round trip through
PostgreSQL's jsonb unchanged is allowed: objects with string keys, strings
without NUL, booleans, null, and integers within +-(2**53 - 1). Floats are
refused: jsonb keeps numerics in a form that a float does not round-trip through
(1e20 comes back as 100000000000000000000), and the registry has no use for
them: money is whole dong, measures are integers or decimal strings.

The event hash (per-stream chain):

    hash = sha256(canonical_json({"data", "event_type", "metadata", "occurred_at",
                                  "prev_hash", "schema_version", "stream_id",
                                  "stream_type", "version"}))

with prev_hash the previous event's hash in hex (null for version 1) and
occurred_at as "YYYY-MM-DDTHH:MM:SS.ffffffZ" in UTC.

The Merkle tree over the global order is RFC 6962's (section 2.1): leaf hash
sha256(0x00 || leaf), node hash sha256(0x01 || left || right), the tree split at
the largest power of two below its size. A leaf is the canonical JSON of
{"hash", "position", "recorded_at", "stream_id", "transaction_id", "version"},
so a checkpoint also covers what the chain cannot: system time, position and
transaction id, and events removed from the end of a stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import orjson

from .errors import InvalidEventData
from .types import JSONObject

MAX_SAFE_INT = 2**53 - 1
_SORT = orjson.OPT_SORT_KEYS
EMPTY_ROOT = hashlib.sha256(b"").digest()


def _canonical(value: object) -> bool:
    """Whether value is canonical JSON: the fast path, exact types only, no paths built."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str or "\x00" in key:
                return False
            kind = type(item)
            if kind is str:
                if "\x00" in item:
                    return False
            elif kind is int:
                if not -MAX_SAFE_INT <= item <= MAX_SAFE_INT:
                    return False
            elif item is not None and kind is not bool and not _canonical(item):
                return False
        return True
    if kind is list:
        return all(_canonical(item) for item in value)  # type: ignore[attr-defined]
    if kind is str:
        return "\x00" not in value  # type: ignore[operator]
    if kind is int:
        return -MAX_SAFE_INT <= value <= MAX_SAFE_INT  # type: ignore[operator]
    return value is None or kind is bool


def check_json(value: object, field: str) -> None:
    """Raise InvalidEventData naming the path of the first value that is not canonical JSON."""
    if not _canonical(value):
        _explain(value, field)


def _explain(value: object, field: str) -> None:
    """The slow walk: find what `_canonical` refused and name its path (subclasses of str and int pass)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidEventData(field, "nul_character", "text may not contain the NUL character")
        return
    if value is None or value is True or value is False:
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise InvalidEventData(field, "int_out_of_range", "integers must lie within +-(2**53 - 1)")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidEventData(field, "non_string_key", "object keys must be strings")
            if "\x00" in key:
                raise InvalidEventData(field, "nul_character", "keys may not contain the NUL character")
            _explain(item, f"{field}.{key}")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _explain(item, f"{field}.{index}")
        return
    if isinstance(value, float):
        raise InvalidEventData(field, "float", "floats are not stored; use an integer or a decimal string")
    raise InvalidEventData(field, "not_json", f"a {type(value).__name__} is not JSON")


def canonical_json(value: object) -> bytes:
    """Return the canonical JSON bytes of a value already accepted by `check_json`."""
    return orjson.dumps(value, option=_SORT)


def format_time(moment: datetime) -> str:
    """Return the canonical form of a timestamp: UTC, microseconds, 'Z'."""
    # isoformat, unlike strftime's %Y on Linux, always writes four year digits
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def event_hash(
    *,
    stream_id: str,
    stream_type: str,
    version: int,
    event_type: str,
    schema_version: int,
    data: bytes,
    metadata: bytes,
    occurred_at: str,
    prev_hash: bytes | None,
) -> bytes:
    """Return the chain hash of one event; `data` and `metadata` are canonical JSON bytes.

    The envelope is assembled from its already-canonical parts, keys in sorted
    order, which is byte for byte canonical_json of the envelope object.
    """
    envelope = b"".join(
        (
            b'{"data":',
            data,
            b',"event_type":',
            orjson.dumps(event_type),
            b',"metadata":',
            metadata,
            b',"occurred_at":"',
            occurred_at.encode(),
            b'","prev_hash":',
            b'"' + prev_hash.hex().encode() + b'"' if prev_hash is not None else b"null",
            b',"schema_version":',
            str(schema_version).encode(),
            b',"stream_id":',
            orjson.dumps(stream_id),
            b',"stream_type":',
            orjson.dumps(stream_type),
            b',"version":',
            str(version).encode(),
            b"}",
        )
    )
    return hashlib.sha256(envelope).digest()


def leaf_hash(
    *, position: int, transaction_id: int, recorded_at: str, stream_id: str, version: int, hash: bytes
) -> bytes:
    """Return the RFC 6962 leaf hash of one event in the global order."""
    leaf: JSONObject = {
        "hash": hash.hex(),
        "position": position,
        "recorded_at": recorded_at,
        "stream_id": stream_id,
        "transaction_id": str(transaction_id),
        "version": version,
    }
    return hashlib.sha256(b"\x00" + canonical_json(leaf)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleFrontier:
    """An RFC 6962 Merkle tree kept as the roots of its perfect subtrees.

    Appending a leaf costs O(log n) and memory stays O(log n), so a checkpoint
    extends the previous one instead of re-reading the whole log.
    """

    __slots__ = ("_nodes", "size")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if len(nodes) != size.bit_count():
            raise ValueError("a frontier holds one subtree root per set bit of its size")
        self.size = size
        # (subtree size, subtree root), largest first
        self._nodes: list[tuple[int, bytes]] = []
        sizes = [1 << bit for bit in range(size.bit_length() - 1, -1, -1) if size >> bit & 1]
        self._nodes = list(zip(sizes, nodes, strict=True))

    def append(self, leaf: bytes) -> None:
        nodes = self._nodes
        nodes.append((1, leaf))
        while len(nodes) > 1 and nodes[-1][0] == nodes[-2][0]:
            right_size, right = nodes.pop()
            left_size, left = nodes.pop()
            nodes.append((left_size + right_size, node_hash(left, right)))
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    @property
    def nodes(self) -> list[bytes]:
        return [node for _, node in self._nodes]

    def root(self) -> bytes:
        if not self._nodes:
            return EMPTY_ROOT
        root = self._nodes[-1][1]
        for _, node in reversed(self._nodes[:-1]):
            root = node_hash(node, root)
        return root


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Return RFC 6962's Merkle tree hash by its recursive definition (the reference for tests)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(merkle_root(leaves[:split]), merkle_root(leaves[split:]))


__all__ = [
    "EMPTY_ROOT",
    "MAX_SAFE_INT",
    "MerkleFrontier",
    "canonical_json",
    "check_json",
    "event_hash",
    "format_time",
    "leaf_hash",
    "merkle_root",
    "node_hash",
]
