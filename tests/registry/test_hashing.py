"""Canonical JSON, event hashes and Merkle trees agree with their standard-library definitions."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.errors import InvalidEventData
from registry.hashing import (
    MAX_SAFE_INT,
    MerkleFrontier,
    canonical_json,
    check_json,
    event_hash,
    merkle_root,
)

text = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INT, MAX_SAFE_INT) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)


def reference(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@given(json_values)
def test_canonical_json_is_the_standard_library_definition(value) -> None:
    check_json(value, "data")
    assert canonical_json(value) == reference(value)


@given(
    data=st.dictionaries(text, json_values, max_size=5),
    metadata=st.dictionaries(text, text, max_size=3),
    stream_id=text,
    event_type=text,
    version=st.integers(1, 2**31 - 1),
    prev=st.none() | st.binary(min_size=32, max_size=32),
)
def test_the_event_hash_is_sha256_of_the_canonical_envelope(data, metadata, stream_id, event_type, version, prev):
    occurred = "2025-07-01T00:00:00.000000Z"
    envelope = {
        "data": data,
        "event_type": event_type,
        "metadata": metadata,
        "occurred_at": occurred,
        "prev_hash": prev.hex() if prev else None,
        "schema_version": 3,
        "stream_id": stream_id,
        "stream_type": "child",
        "version": version,
    }
    computed = event_hash(
        stream_id=stream_id,
        stream_type="child",
        version=version,
        event_type=event_type,
        schema_version=3,
        data=canonical_json(data),
        metadata=canonical_json(metadata),
        occurred_at=occurred,
        prev_hash=prev,
    )
    assert computed == hashlib.sha256(reference(envelope)).digest()


@pytest.mark.parametrize(
    ("value", "path", "reason"),
    [
        ({"a": [1, 2.5]}, "data.a.1", "float"),
        ({"a": {"b": "x\x00"}}, "data.a.b", "nul_character"),
        ({"a": MAX_SAFE_INT + 1}, "data.a", "int_out_of_range"),
        ({"a": -MAX_SAFE_INT - 1}, "data.a", "int_out_of_range"),
        ({1: "a"}, "data", "non_string_key"),
        ({"a": b"bytes"}, "data.a", "not_json"),
        ({"a": (1, 2)}, "data.a", "not_json"),
    ],
)
def test_check_json_names_the_path_of_what_jsonb_would_not_return_unchanged(value, path, reason) -> None:
    with pytest.raises(InvalidEventData) as caught:
        check_json(value, "data")
    assert (caught.value.field, caught.value.reason) == (path, reason)


leaves = st.lists(st.binary(min_size=32, max_size=32), max_size=70)


@given(leaves)
def test_the_frontier_gives_rfc6962_merkle_roots(items) -> None:
    tree = MerkleFrontier()
    tree.extend(items)
    assert tree.size == len(items)
    assert tree.root() == merkle_root(items)
    assert len(tree.nodes) == len(items).bit_count()


@given(leaves, leaves)
def test_a_frontier_resumed_from_its_stored_form_continues_the_same_tree(first, second) -> None:
    tree = MerkleFrontier()
    tree.extend(first)
    resumed = MerkleFrontier(tree.size, tree.nodes)
    resumed.extend(second)
    assert resumed.root() == merkle_root(first + second)


def test_a_frontier_refuses_a_wrong_shape() -> None:
    with pytest.raises(ValueError):
        MerkleFrontier(3, [b"x" * 32])


def test_rfc6962_known_shape() -> None:
    a, b, c = (hashlib.sha256(bytes([i])).digest() for i in range(3))

    def node(x: bytes, y: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + x + y).digest()

    assert merkle_root([a, b, c]) == node(node(a, b), c)
    assert merkle_root([]) == hashlib.sha256(b"").digest()


@given(st.datetimes(timezones=st.timezones()))
def test_format_time_is_utc_with_microseconds_and_z(moment) -> None:
    from datetime import UTC

    from registry.hashing import format_time

    u = moment.astimezone(UTC)
    expected = f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"
    assert format_time(moment) == expected


loose_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=12,
)


@given(loose_values)
def test_the_fast_check_and_the_explaining_walk_agree(value) -> None:
    from registry.hashing import _canonical, _explain

    try:
        _explain(value, "data")
        explained_ok = True
    except InvalidEventData:
        explained_ok = False
    assert _canonical(value) == explained_ok
