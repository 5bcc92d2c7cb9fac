"""The review of suspected duplicates on a real store: one stream per pair, written once, dismissed or merged."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date

import pytest

from registry.children import MergeChild, NewCaregiver, RegisterChild, Relation, Sex
from registry.duplicate_review import (
    DismissDuplicate,
    DismissReason,
    DuplicateReviews,
    FoundBy,
    InvalidReview,
    Records,
    SuspectDuplicate,
    decide,
    evolve,
    stream_id,
)
from registry.duplicates import KeyKind, Reason, pair_id, score
from registry.errors import ConcurrencyError
from registry.events import Metadata
from tests.conftest import Registry

OFFICER = Metadata(actor_id="officer:dup", actor_role="commune_officer")
MATCH = score([Reason.SAME_NAME, Reason.SAME_BIRTH_DATE, Reason.SAME_COMMUNE])
NAME = "Vàng Thị Súa"


async def two_children(registry: Registry) -> tuple[str, str]:
    ids = (str(uuid.uuid4()), str(uuid.uuid4()))
    mother = (NewCaregiver(Relation.MOTHER, name="Vàng Thị Dua"),)
    for child, name in zip(ids, (NAME, "VANG THI SUA"), strict=True):
        command = RegisterChild(child, name, date(2017, 2, 3), Sex.FEMALE, "03253", date(2025, 8, 1), caregivers=mother)
        await registry.children.execute(command, OFFICER)
    return ids


def test_a_pair_is_written_once_however_often_and_in_whatever_order_it_is_found(run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    reviews = DuplicateReviews(registry.store)
    a, b = run(two_children(registry))
    first = run(reviews.suspect([SuspectDuplicate(a, b, MATCH, (KeyKind.NAME_COMMUNE,))], OFFICER))
    assert first.written == [pair_id(a, b)] and first.known == []
    again = run(reviews.suspect([SuspectDuplicate(b, a, MATCH, (KeyKind.NAME_COMMUNE,)),
                                 SuspectDuplicate(a, b, MATCH, (KeyKind.PERSONAL_ID,))], OFFICER))  # fmt: skip
    assert again.written == [] and again.known == [pair_id(a, b)]
    events = run(registry.store.read_stream(stream_id(pair_id(a, b))))
    assert [e.event_type for e in events] == ["DuplicateSuspected"]
    assert events[0].data == {"child_ids": sorted([a, b]), "score": "0.94", "reasons": ["same_name", "same_birth_date",
                              "same_commune"], "keys": ["name_commune"], "found_by": "batch", "scorer": 1}  # fmt: skip
    assert "Vàng" not in json.dumps(events[0].data, ensure_ascii=False)  # ids, codes and the score: no name


def test_two_runs_finding_the_same_new_pair_at_once_write_it_once(run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    a, b = run(two_children(registry))
    command = SuspectDuplicate(a, b, MATCH, (KeyKind.NAME_CAREGIVER,))

    async def race() -> list[object]:
        return await asyncio.gather(*(DuplicateReviews(registry.store).suspect([command], OFFICER) for _ in range(4)))

    results = run(race())
    assert sum(len(r.written) for r in results) == 1  # type: ignore[attr-defined]
    assert len(run(registry.store.read_stream(stream_id(pair_id(a, b))))) == 1


def test_a_pair_is_dismissed_once_and_a_merged_or_unknown_one_is_refused(run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    reviews = DuplicateReviews(registry.store)
    a, b = run(two_children(registry))
    pair = pair_id(a, b)
    with pytest.raises(InvalidReview) as unknown:
        run(reviews.dismiss(pair, DismissReason.TWINS, OFFICER))
    assert (unknown.value.field, unknown.value.reason) == ("pair_id", "unknown_pair")
    run(reviews.suspect([SuspectDuplicate(a, b, MATCH, (KeyKind.NAME_COMMUNE,))], OFFICER))
    with pytest.raises(ConcurrencyError):
        run(reviews.dismiss(pair, DismissReason.TWINS, OFFICER, expected_version=2))
    done = run(reviews.dismiss(pair, DismissReason.TWINS, OFFICER, idempotency_key=f"dismiss-{pair}",
                               expected_version=1))  # fmt: skip
    replayed = run(reviews.dismiss(pair, DismissReason.TWINS, OFFICER, idempotency_key=f"dismiss-{pair}"))
    assert replayed.replayed and replayed.positions == done.positions  # the first answer, nothing written again
    with pytest.raises(InvalidReview) as twice:
        run(reviews.dismiss(pair, DismissReason.NOT_SAME_CHILD, OFFICER))
    assert twice.value.reason == "already_dismissed"
    state = run(reviews.load(pair))
    assert state is not None and state.dismissed is DismissReason.TWINS and state.version == 2

    c, d = run(two_children(registry))
    run(reviews.suspect([SuspectDuplicate(c, d, MATCH, (KeyKind.NAME_COMMUNE,))], OFFICER))
    run(registry.children.execute(MergeChild(d, c, "the same child"), OFFICER))  # merged outside the review
    with pytest.raises(InvalidReview) as merged:
        run(reviews.dismiss(pair_id(c, d), DismissReason.NOT_SAME_CHILD, OFFICER))
    assert merged.value.reason == "already_merged"


def test_merging_a_pair_is_the_registers_merge_and_both_histories_stay(run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    reviews = DuplicateReviews(registry.store)
    a, b = run(two_children(registry))
    pair = pair_id(a, b)
    run(reviews.suspect([SuspectDuplicate(a, b, MATCH, (KeyKind.NAME_COMMUNE,))], OFFICER))
    with pytest.raises(InvalidReview) as stranger:
        run(reviews.merge(pair, str(uuid.uuid4()), registry.children, OFFICER))
    assert (stranger.value.field, stranger.value.reason) == ("survivor_id", "not_in_pair")
    run(reviews.merge(pair, a, registry.children, OFFICER, idempotency_key=f"merge-{pair}"))
    survivor, duplicate = run(registry.children.load(a)), run(registry.children.load(b))
    assert duplicate is not None and duplicate.merged_into == a
    assert survivor is not None and survivor.absorbed == (b,)
    merged = run(registry.store.read_stream(f"child:{b}"))
    assert [e.event_type for e in merged] == ["ChildRegistered", "ChildMergedInto"]
    assert merged[-1].data["reason"] == f"duplicate review {pair}"
    assert run(reviews.records((a, b))) == Records(merged=True, erased=False)


def test_the_rules_of_a_review() -> None:
    with pytest.raises(InvalidReview) as same:
        decide(None, SuspectDuplicate("x", "x", MATCH, (KeyKind.PERSONAL_ID,)), Records())
    assert same.value.reason == "same_record"
    with pytest.raises(InvalidReview):
        decide(None, SuspectDuplicate("x", "y", MATCH, ()), Records())
    [event] = decide(None, SuspectDuplicate("y", "x", MATCH, (KeyKind.PERSONAL_ID,), FoundBy.CHECK), Records())
    assert event.model_dump(mode="json")["child_ids"] == ["x", "y"]
    state = evolve(None, event, pair_id("x", "y"))
    with pytest.raises(InvalidReview) as erased:
        decide(state, DismissDuplicate(state.pair_id, DismissReason.SIBLINGS), Records(erased=True))
    assert erased.value.reason == "record_erased"
