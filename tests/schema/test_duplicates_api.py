"""The review queue of suspected duplicates over real HTTP: an officer of the unit sees its pairs (ids, codes,
scores), dismisses one at the version it saw; an officer elsewhere sees nothing; every pair served is logged."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from registry.access import Role
from registry.access_log import entries
from registry.children import RegisterChild, Sex
from registry.config import Settings
from registry.duplicate_review import DuplicateReviews, SuspectDuplicate, pair_id
from registry.duplicates import KeyKind, Match, Reason
from registry.events import Metadata
from registry.runtime import Registry as App
from registry.tokens import issue
from tests.conftest import Registry
from tests.schema.server import deployment, serving

OFFICER = Metadata(actor_id="officer:dup", actor_role="commune_officer")
TA_LENG = "03405"
QUEUE = """query($s: String!) { duplicates(unit: "03405", purpose: "duplicate review", status: $s, first: 100) {
  edges { node { pairId childIds score reasons status version communesNow } } } }"""
DISMISS = """mutation($p: ID!, $v: Int!, $k: ID!) { dismissDuplicate(input: {pairId: $p, reason: "twins",
  expectedVersion: $v, idempotencyKey: $k}) { pair { status dismissedReason version } userErrors { code field } } }"""


@pytest.fixture(scope="module")
def served(run, registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings, str]]:  # type: ignore[no-untyped-def]
    settings = deployment(registry, tmp_path_factory.mktemp("duplicates"))
    app = run(App.open(settings))
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        children = run(app.children())
        for child, name in ((a, "Vàng Thị Chía"), (b, "Vang Thi Chia")):
            run(children.execute(RegisterChild(child, name, date(2015, 2, 28), Sex.FEMALE, TA_LENG,
                                               date(2025, 8, 1)), OFFICER))  # fmt: skip
        match = Match(Decimal("0.97"), (Reason.SAME_NAME, Reason.SAME_BIRTH_DATE, Reason.SAME_COMMUNE), Decimal(4))
        run(DuplicateReviews(app.store).suspect([SuspectDuplicate(a, b, match, (KeyKind.NAME_COMMUNE,))], OFFICER))
    finally:
        run(app.close())
    with serving(settings) as url:
        yield url, settings, pair_id(a, b)


def ask(served: tuple[str, Settings, str], role: Role, unit: str | None, query: str, subject: str = "officer:dup",
        **variables: Any) -> dict[str, Any]:  # fmt: skip
    url, settings, _ = served
    token = issue(settings, subject, role, unit, timedelta(hours=1))
    answer: dict[str, Any] = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables},
                                        headers={"Authorization": f"Bearer {token}"}, timeout=30).json()  # fmt: skip
    return answer


def queued(served: tuple[str, Settings, str], status: str = "pending") -> list[dict[str, Any]]:
    for _ in range(150):  # the server's projector makes the queue's read model
        answer = ask(served, Role.COMMUNE_OFFICER, TA_LENG, QUEUE, s=status)
        if "errors" not in answer:
            pairs = [e["node"] for e in answer["data"]["duplicates"]["edges"] if e["node"]["pairId"] == served[2]]
            if pairs:
                return pairs
        time.sleep(0.2)
    raise AssertionError(f"the pair never showed: {answer}")


def test_an_officer_sees_the_pairs_of_their_commune_and_dismisses_one_at_the_version_seen(
    served, run, registry
) -> None:  # type: ignore[no-untyped-def]
    [pair] = queued(served)
    assert (pair["score"], pair["status"], pair["communesNow"]) == ("0.97", "pending", [TA_LENG, TA_LENG])
    assert pair["reasons"] == ["same_name", "same_birth_date", "same_commune"]
    logged = run(entries(registry.db.pool, record_id=pair["childIds"][0], subject="officer:dup"))
    assert logged and {(e.operation, e.record_kind, e.purpose) for e in logged} == {
        ("duplicates", "child", "duplicate review")}  # fmt: skip

    stale = ask(served, Role.COMMUNE_OFFICER, TA_LENG, DISMISS, p=served[2], v=pair["version"] + 5, k="d-1")
    assert [e["code"] for e in stale["data"]["dismissDuplicate"]["userErrors"]] == ["CONCURRENCY_CONFLICT"]
    done = ask(served, Role.COMMUNE_OFFICER, TA_LENG, DISMISS, p=served[2], v=pair["version"], k="d-2")
    assert done["data"]["dismissDuplicate"] == {"pair": {"status": "dismissed", "dismissedReason": "twins",
                                                         "version": pair["version"] + 1}, "userErrors": []}  # fmt: skip
    assert queued(served, "dismissed")[0]["status"] == "dismissed"


def test_an_officer_elsewhere_sees_and_dismisses_nothing(served) -> None:  # type: ignore[no-untyped-def]
    queued(served, "any")
    outside = ask(served, Role.COMMUNE_OFFICER, "03394", QUEUE, s="pending")
    assert outside["errors"][0]["extensions"]["code"] == "FORBIDDEN" and outside["data"] is None
    other = ask(served, Role.COMMUNE_OFFICER, "03394", DISMISS, p=served[2], v=1, k="x-1")
    assert other["data"]["dismissDuplicate"]["userErrors"] == [{"code": "NOT_FOUND", "field": "input.pairId"}]
    auditor = ask(served, Role.AUDITOR, None, DISMISS, p=served[2], v=1, k="x-2")
    assert auditor["data"]["dismissDuplicate"]["userErrors"] == [{"code": "FORBIDDEN", "field": None}]
    bad = ask(served, Role.COMMUNE_OFFICER, TA_LENG, QUEUE.replace('"03405"', '"0340x"'), s="pending")
    assert bad["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "unit"}
