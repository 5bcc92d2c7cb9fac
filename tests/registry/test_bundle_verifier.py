"""The proofs of registry/integrity.py against RFC 6962's definitions, and the standalone verifier's hashing against
registry/hashing.py: the auditor's copy must compute exactly what the registry does."""

from __future__ import annotations

import ast
import hashlib
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry import bundle_verifier as bv
from registry.hashing import MAX_SAFE_INT, canonical_json, event_hash, format_time, leaf_hash, merkle_root, node_hash
from registry.integrity import inclusion_proofs

# Distinct leaves: a leaf claimed at another place is then always another leaf.
LEAVES = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70, unique=True)


def leaves_of(count: int) -> list[bytes]:
    return [hashlib.sha256(str(i).encode()).digest() for i in range(count)]


def rfc_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 section 2.1.1's PATH(m, D[n]), by its recursive definition."""
    if len(leaves) <= 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if index < k:
        return [*rfc_path(index, leaves[:k]), merkle_root(leaves[k:])]
    return [*rfc_path(index - k, leaves[k:]), merkle_root(leaves[:k])]


def rfc_proof(m: int, leaves: list[bytes], whole: bool = True) -> list[bytes]:
    """RFC 6962 section 2.1.2's SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if whole else [merkle_root(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*rfc_proof(m, leaves[:k], whole), merkle_root(leaves[k:])]
    return [*rfc_proof(m - k, leaves[k:], False), merkle_root(leaves[:k])]


@given(leaves=LEAVES, data=st.data())
def test_the_paths_and_consistency_proofs_are_rfc_6962s_and_verify(leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    indices = data.draw(st.sets(st.integers(0, n - 1), max_size=n))
    earlier = data.draw(st.sets(st.integers(1, n), max_size=5))
    proofs = inclusion_proofs(iter(leaves), n, indices, earlier)
    assert proofs.root == merkle_root(leaves)
    for i in indices:
        assert proofs.path(i) == rfc_path(i, leaves)
        assert bv.root_from_path(i, n, leaves[i], proofs.path(i)) == proofs.root
    for m in earlier:
        assert proofs.consistency(m) == rfc_proof(m, leaves)
        assert bv.consistent(m, n, merkle_root(leaves[:m]), proofs.root, proofs.consistency(m))


@given(leaves=LEAVES, data=st.data())
def test_a_proof_for_another_leaf_place_or_tree_fails(leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    i = data.draw(st.integers(0, n - 1))
    proofs = inclusion_proofs(leaves, n, [i], [m for m in range(1, n)])
    path = proofs.path(i)
    wrong_leaf = hashlib.sha256(leaves[i]).digest()
    assert bv.root_from_path(i, n, wrong_leaf, path) != proofs.root
    if n > 1:
        j = data.draw(st.integers(0, n - 1).filter(lambda j: j != i))
        assert bv.root_from_path(j, n, leaves[i], path) != proofs.root  # the leaf claimed at another place
        assert bv.root_from_path(i, n, leaves[i], path[:-1]) != proofs.root  # a node dropped
        flipped = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
        assert bv.root_from_path(i, n, leaves[i], flipped) != proofs.root
        m = data.draw(st.integers(1, n - 1))
        other = merkle_root([*leaves[: m - 1], wrong_leaf])
        assert not bv.consistent(m, n, other, proofs.root, proofs.consistency(m))
    assert bv.root_from_path(n, n, leaves[i], path) is None  # outside the tree


def test_many_proofs_in_a_large_tree_take_one_pass() -> None:
    """Every leaf read once, the node hashes about one per leaf: not a pass per proof."""
    n = 1 << 14 | 37
    leaves = leaves_of(n)
    read = 0

    def counted() -> object:
        nonlocal read
        for leaf in leaves:
            read += 1
            yield leaf

    indices = range(0, n, 97)
    proofs = inclusion_proofs(counted(), n, indices, [1000, n - 1])  # type: ignore[arg-type]
    assert read == n
    assert proofs.root == merkle_root(leaves)
    assert all(bv.root_from_path(i, n, leaves[i], proofs.path(i)) == proofs.root for i in indices)
    assert len(proofs.nodes) < len(indices) * n.bit_length()


def test_too_few_or_too_many_leaves_or_an_index_outside_are_refused() -> None:
    with pytest.raises(ValueError):
        inclusion_proofs(leaves_of(5), 6, [0])
    with pytest.raises(ValueError):
        inclusion_proofs(leaves_of(7), 6, [0])
    with pytest.raises(ValueError):
        inclusion_proofs(leaves_of(6), 6, [6])
    assert inclusion_proofs([], 0, []).root == merkle_root([])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INT, MAX_SAFE_INT)
    | st.text().filter(lambda t: "\x00" not in t),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6).filter(lambda t: "\x00" not in t), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
TEXT = st.text(min_size=1, max_size=20).filter(lambda t: "\x00" not in t)
MOMENTS = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))


@given(data=st.dictionaries(TEXT, JSON, max_size=5), metadata=st.dictionaries(TEXT, JSON, max_size=3),
       stream=TEXT, kind=TEXT, version=st.integers(1, 2**31 - 1), schema=st.integers(1, 99),
       prev=st.none() | st.binary(min_size=32, max_size=32), occurred=MOMENTS, recorded=MOMENTS,
       position=st.integers(1, 2**62), transaction=st.integers(1, 2**62))  # fmt: skip
def test_the_standalone_verifier_hashes_as_the_registry_does(  # type: ignore[no-untyped-def]
    data, metadata, stream, kind, version, schema, prev, occurred, recorded, position, transaction
) -> None:
    digest = event_hash(stream_id=stream, stream_type="child", version=version, event_type=kind,
                        schema_version=schema, data=canonical_json(data), metadata=canonical_json(metadata),
                        occurred_at=format_time(occurred), prev_hash=prev)  # fmt: skip
    event = {"stream_id": stream, "stream_type": "child", "version": version, "event_type": kind,
             "schema_version": schema, "data": data, "metadata": metadata, "occurred_at": format_time(occurred),
             "prev_hash": None if prev is None else prev.hex(), "hash": digest.hex(), "position": position,
             "transaction_id": str(transaction), "recorded_at": format_time(recorded)}  # fmt: skip
    event = orjson.loads(orjson.dumps(event))  # as the verifier reads it from the file
    assert bv.event_hash(event) == digest
    assert bv.leaf_hash(event) == leaf_hash(position=position, transaction_id=transaction,
                                            recorded_at=format_time(recorded), stream_id=stream, version=version,
                                            hash=digest)  # fmt: skip
    assert bv.canonical(data) == canonical_json(data)
    assert bv.node_hash(digest, digest) == node_hash(digest, digest)


def test_the_verifier_imports_nothing_but_the_standard_library() -> None:
    path = Path(bv.__file__)
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import ties it to the package"
            imported.add((node.module or "").split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_a_file_that_is_not_a_bundle_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("not json")
    assert bv.verify_file(path)[0] == 2
    path.write_text('{"format": "registry-audit-bundle", "format_version": 99}')
    status, lines = bv.verify_file(path)
    assert status == 2 and "format version 99" in lines[0]
    assert bv.verify_file(tmp_path / "missing.json")[0] == 2
    assert bv.verify_file(path, root="zz")[0] == 2
