"""The children register on a real store: sealed at rest, erasable, concurrent, idempotent."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import date
from typing import Any

import asyncpg
import pytest

from registry.children import (
    PARTS,
    ClassifyChild,
    EraseChildData,
    Identity,
    InvalidChildChange,
    MergeChild,
    MoveChild,
    NewCaregiver,
    RecordSupport,
    RegisterChild,
    Relation,
    Sex,
    stream_id,
)
from registry.circumstances import SupportKind, SupportLevel
from registry.errors import ConcurrencyError, IdempotencyConflict
from registry.events import Metadata
from registry.integrity import create_checkpoint, verify
from registry.sealing import SealingError
from tests.conftest import NOW, Db, Registry

OFFICER = Metadata(actor_id="officer:7", actor_role="commune_officer", jurisdiction="commune:03253")
NAME, PID, MOTHER, HAMLET = "Lò Thị Mai", "011313000123", "Lò Thị Hoa", "Bản Phiêng"


def register(child_id: str, **changes: object) -> RegisterChild:
    values: dict[str, object] = dict(
        child_id=child_id, full_name=NAME, date_of_birth=date(2013, 5, 2), sex=Sex.FEMALE, commune_code="03253",
        residence_from=date(2025, 8, 1), ethnicity="03", personal_id=PID,
        caregivers=(NewCaregiver(Relation.MOTHER, name=MOTHER),), address=HAMLET,
    )  # fmt: skip
    values.update(changes)
    return RegisterChild(**values)  # type: ignore[arg-type]


def new_child() -> str:
    return str(uuid.uuid4())


async def stored_text(db: Db, child_id: str) -> str:
    """Everything the database holds about the child, as text: its events and its key row."""
    events = await db.pool.fetch("SELECT data::text, metadata::text FROM events WHERE stream_id = $1",
                                 stream_id(child_id))  # fmt: skip
    keys = await db.pool.fetch("SELECT child_keys::text FROM child_keys WHERE child_id = $1", child_id)
    return "\n".join(str(tuple(r)) for r in [*events, *keys])


def test_personal_data_is_sealed_at_rest_and_opens_with_the_child_s_key(run, registry: Registry) -> None:
    child = new_child()
    result = run(registry.children.execute(register(child), OFFICER))
    assert (result.first_version, result.last_version) == (1, 1)
    at_rest = run(stored_text(registry.db, child))
    for secret in (NAME, PID, MOTHER, HAMLET, "Mai", "0113130"):
        assert secret not in at_rest
    state = run(registry.children.load(child))
    assert state is not None and state.personal == Identity(
        full_name=NAME, personal_id=PID, caregiver_names=[MOTHER], address=HAMLET)  # fmt: skip
    event = run(registry.store.read_stream(stream_id(child)))[0]
    assert event.occurred_at == NOW and event.data["details"]["sex"] == "female"  # statistics stay readable


def test_erasure_leaves_the_history_and_its_proofs_but_no_personal_field_readable(run, registry: Registry) -> None:
    child = new_child()
    children = registry.children
    run(children.execute(register(child), OFFICER))
    run(children.execute(MoveChild(child, "03127", date(2025, 9, 1), "Bản Mới"), OFFICER))
    run(children.execute(ClassifyChild(child, "sexually_abused", date(2025, 9, 2), "Mẫu 02", "molestation"), OFFICER))
    run(create_checkpoint(registry.store))
    run(children.execute(EraseChildData(child, "Law 91/2025/QH15: request of the guardian"), OFFICER))

    state = run(children.load(child))
    assert state is not None and state.erased and not isinstance(state.personal, Identity)
    assert state.commune == "03127" and [g.code for g in state.groups] == ["sexually_abused"]  # history stays
    assert run(registry.keyring.get(child)) is None
    at_rest = run(stored_text(registry.db, child))
    for secret in (NAME, PID, MOTHER, HAMLET, "Bản Mới"):
        assert secret not in at_rest
    with pytest.raises(InvalidChildChange) as caught:
        run(children.execute(MoveChild(child, "03253", date(2026, 1, 1)), OFFICER))
    assert caught.value.reason == "erased"
    report = run(verify(registry.store))
    assert report.ok, report.findings  # every hash chain and checkpoint still verifies


def test_a_destroyed_key_cannot_be_restored_nor_its_row_deleted(run, registry: Registry) -> None:
    child = new_child()
    run(registry.children.execute(register(child), OFFICER))
    run(registry.children.execute(EraseChildData(child, "court order"), OFFICER))
    for statement in (
        "UPDATE child_keys SET wrapped_key = '\\x00'::bytea || gen_random_uuid()::text::bytea, erased_at = NULL"
        " WHERE child_id = $1",
        "DELETE FROM child_keys WHERE child_id = $1",
    ):
        with pytest.raises(asyncpg.PostgresError):
            run(registry.db.pool.execute(statement, child))
        owner = run(registry.db.owner())
        try:
            with pytest.raises(asyncpg.PostgresError):
                run(owner.execute(statement, child))
        finally:
            run(owner.close())


def test_a_sealed_value_moved_to_another_child_does_not_open(run, registry: Registry) -> None:
    first, second = new_child(), new_child()
    run(registry.children.execute(register(first), OFFICER))
    run(registry.children.execute(register(second, full_name="Quàng Văn Sáng"), OFFICER))
    data = run(registry.store.read_stream(stream_id(first)))[0].data
    from registry.sealing import unseal

    key = run(registry.keyring.get(second))
    with pytest.raises(SealingError):
        unseal("ChildRegistered", data, key, stream_id(second), PARTS)


def test_concurrent_commands_on_one_child_are_decided_again_not_lost(run, registry: Registry) -> None:
    child = new_child()
    run(registry.children.execute(register(child), OFFICER))

    async def supports() -> None:
        await asyncio.gather(*(
            registry.children.execute(
                RecordSupport(child, SupportKind.CASH_GIFT, SupportLevel.SUPPORT, "UBND xã", date(2026, 1, n), 100_000),
                OFFICER,
            )
            for n in range(1, 7)
        ))  # fmt: skip

    run(supports())
    state = run(registry.children.load(child))
    assert state is not None and len(state.supports) == 6 and state.version == 7


def test_a_repeated_command_with_its_key_returns_the_first_result(run, registry: Registry) -> None:
    child = new_child()
    run(registry.children.execute(register(child), OFFICER, idempotency_key=f"reg-{child}"))
    command = ClassifyChild(child, "disabled", date(2026, 1, 1), "certificate 12", "mild")
    first = run(registry.children.execute(command, OFFICER, idempotency_key=f"cls-{child}"))
    again = run(registry.children.execute(command, OFFICER, idempotency_key=f"cls-{child}"))
    assert again.replayed and (again.first_version, again.positions) == (first.first_version, first.positions)
    assert run(registry.children.execute(register(child), OFFICER, idempotency_key=f"reg-{child}")).replayed
    other = ClassifyChild(child, "orphan", date(2026, 1, 1), "certificate 13")  # the same key, another command
    with pytest.raises(IdempotencyConflict):
        run(registry.children.execute(other, OFFICER, idempotency_key=f"cls-{child}"))
    assert run(registry.children.load(child)).version == 2  # type: ignore[union-attr]  # nothing written


def test_one_command_sent_twice_at_once_is_carried_out_once(run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    # Its personal part is sealed with a fresh nonce each time it is decided: the key stands for the command, so the
    # second append is recognised as the same request, not refused as another.
    child = new_child()

    async def twice() -> list[Any]:
        key = f"reg-{child}"
        return list(await asyncio.gather(*(registry.children.execute(register(child), OFFICER, idempotency_key=key)
                                           for _ in range(2))))  # fmt: skip

    first, second = run(twice())
    assert first.positions == second.positions and first.replayed != second.replayed


def test_a_merge_points_the_duplicate_to_the_survivor_and_both_keep_their_history(run, registry: Registry) -> None:
    duplicate, survivor = new_child(), new_child()
    run(registry.children.execute(register(duplicate, personal_id=None), OFFICER))
    run(registry.children.execute(register(survivor), OFFICER))
    run(registry.children.execute(MergeChild(duplicate, survivor, "same child: school sync"), OFFICER))
    merged, kept = run(registry.children.load(duplicate)), run(registry.children.load(survivor))
    assert merged is not None and kept is not None
    assert merged.merged_into == survivor and kept.absorbed == (duplicate,)
    assert merged.version == 2 and kept.version == 2


def test_a_broken_rule_writes_nothing(run, registry: Registry) -> None:
    child = new_child()
    before = run(registry.store.stats())[0]
    with pytest.raises(InvalidChildChange) as caught:
        run(registry.children.execute(register(child, commune_code="03274"), OFFICER))  # merged on 2025-07-01
    assert (caught.value.field, caught.value.reason) == ("commune_code", "unknown_commune")
    assert run(registry.store.stats())[0] == before
    assert run(registry.keyring.get(child)) is None  # no key made for a refused registration


def test_the_master_key_comes_from_the_setting_or_a_private_key_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import base64
    import stat

    from registry.config import load_settings
    from registry.errors import ConfigError
    from registry.sealing import master_key

    settings = load_settings(registry_data_dir=tmp_path, registry_master_key=None)
    made = master_key(settings)
    assert len(made) == 32 and master_key(settings) == made  # made once, then read
    assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600
    given = base64.urlsafe_b64encode(os.urandom(32)).decode()
    assert master_key(load_settings(registry_data_dir=tmp_path, registry_master_key=given)) != made
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(ConfigError) as caught:
            load_settings(registry_master_key=bad)
        assert caught.value.key == "REGISTRY_MASTER_KEY" and bad not in str(caught.value)


def test_a_command_at_an_expected_version_that_moved_on_is_refused_with_the_current(run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    child = str(uuid.uuid4())
    register = RegisterChild(child, "Mùa A Dơ", date(2017, 6, 1), Sex.MALE, "03253", date(2025, 8, 1))
    run(registry.children.execute(register, OFFICER, expected_version=0))
    classify = ClassifyChild(child, "disabled", date(2025, 9, 1), "assessment", "mild")
    with pytest.raises(ConcurrencyError) as caught:
        run(registry.children.execute(classify, OFFICER, expected_version=0))
    assert (caught.value.expected, caught.value.actual) == (0, 1)
    assert len(run(registry.store.read_stream(f"child:{child}"))) == 1  # nothing appended
    run(registry.children.execute(classify, OFFICER, expected_version=1))
    assert run(registry.children.load(child)).version == 2  # type: ignore[union-attr]
