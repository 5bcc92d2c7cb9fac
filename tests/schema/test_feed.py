"""The change feed over real HTTP (GET /feed) and GraphQL (`changes`): who follows what, personal data for the
national child database only, pages that resume, every record served logged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from registry.access import Role
from registry.access_log import entries
from registry.cases import CaseType, Channel, ReceiveReport, ReporterKind
from registry.children import RegisterChild, Sex
from registry.config import Settings
from registry.events import Metadata
from registry.law import VIETNAM
from registry.runtime import Registry as App
from registry.tokens import issue
from tests.conftest import Registry
from tests.schema.server import deployment, serving

OFFICER = Metadata(actor_id="officer:feed", actor_role="commune_officer")
TA_LENG, TUAN_GIAO = "03405", "03253"  # Lai Châu (12), Điện Biên (11)


@dataclass
class Served:
    url: str
    settings: Settings
    start: str  # the cursor before this module's records
    lai_chau: list[str]
    dien_bien: str
    case: str

    def token(self, role: Role, unit: str | None = None, subject: str = "feed:test") -> str:
        return issue(self.settings, subject, role, unit, timedelta(hours=1))

    def get(self, token: str | None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{self.url}/feed", params=params, headers=headers, timeout=30)

    def follow(self, token: str, **params: Any) -> list[dict[str, Any]]:
        after, found = self.start, []
        while True:
            page = self.get(token, after=after, purpose="Project 06 sync", **params)
            assert page.status_code == 200, page.text
            body = page.json()
            found.extend(body["events"])
            after = body["next"]
            if not body["hasMore"]:
                return found


@pytest.fixture(scope="module")
def served(run, registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:  # type: ignore[no-untyped-def]
    settings = deployment(registry, tmp_path_factory.mktemp("feed"))
    app = run(App.open(settings))
    start = run(app.store.horizon()).token()
    lai_chau, dien_bien, case = [str(uuid.uuid4()), str(uuid.uuid4())], str(uuid.uuid4()), str(uuid.uuid4())
    try:
        children = run(app.children())
        for child in lai_chau:
            run(children.execute(RegisterChild(child, "Sùng Thị Mỷ", date(2019, 4, 2), Sex.FEMALE, TA_LENG,
                                               date(2025, 9, 1), personal_id="012319004512"), OFFICER))  # fmt: skip
        run(children.execute(RegisterChild(dien_bien, "Lò Văn Nam", date(2016, 1, 1), Sex.MALE, TUAN_GIAO,
                                           date(2025, 8, 1)), OFFICER))  # fmt: skip
        cases = run(app.cases())
        run(cases.execute(ReceiveReport(case, datetime(2026, 10, 1, 9, tzinfo=VIETNAM), Channel.SCHOOL,
                                        ReporterKind.TEACHER, (CaseType.NEGLECT,), TA_LENG, "left alone",
                                        child_ids=(lai_chau[0],)), OFFICER))  # fmt: skip
    finally:
        run(app.close())
    with serving(settings) as url:
        yield Served(url, settings, start, lai_chau, dien_bien, case)


def ours(served: Served, events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    mine = {*served.lai_chau, served.dien_bien, served.case}
    return [(e["recordId"], e["eventType"]) for e in events if e["recordId"] in mine]


def test_the_national_child_database_follows_everything_with_personal_data(served: Served, run, registry) -> None:  # type: ignore[no-untyped-def]
    token = served.token(Role.INTEGRATION_CLIENT, subject="system:csdl-tre-em")
    events = served.follow(token, limit=2)  # small pages: the follower goes on from each `next`
    assert ours(served, events) == [(served.lai_chau[0], "ChildRegistered"), (served.lai_chau[1], "ChildRegistered"),
                                    (served.dien_bien, "ChildRegistered"), (served.case, "ReportReceived")]  # fmt: skip
    child = next(e for e in events if e["recordId"] == served.lai_chau[0])
    assert child["personal"]["full_name"] == "Sùng Thị Mỷ" and child["personal"]["personal_id"] == "012319004512"
    assert "personal" not in child["data"] and child["data"]["commune_code"] == TA_LENG
    assert child["places"] == [{"commune": TA_LENG, "district": "106", "province": "12", "communeNow": TA_LENG,
                                "provinceNow": "12"}]  # Tả Lèng of today lies in the former Tam Đường  # fmt: skip
    case = next(e for e in events if e["recordId"] == served.case)
    assert case["personal"] is None and "personal" not in case["data"]  # a reporter's identity is never served
    logged = run(entries(registry.db.pool, record_id=served.lai_chau[0], subject="system:csdl-tre-em"))
    assert {(e.operation, e.purpose) for e in logged} == {("feed", "Project 06 sync")}


def test_an_officer_follows_the_records_of_their_jurisdiction_without_personal_data(served: Served) -> None:
    commune = served.follow(served.token(Role.COMMUNE_OFFICER, TA_LENG))
    assert {r for r, _ in ours(served, commune)} == {*served.lai_chau, served.case}
    assert all(e["personal"] is None for e in commune)
    province = served.follow(served.token(Role.PROVINCE_OFFICER, "11"))
    assert ours(served, province) == [(served.dien_bien, "ChildRegistered")]
    national = served.follow(served.token(Role.NATIONAL_OFFICER), unit="12", kinds="child")
    assert ours(served, national) == [(r, "ChildRegistered") for r in served.lai_chau]


def test_refusals_name_the_reason_and_the_field(served: Served) -> None:
    officer = served.token(Role.PROVINCE_OFFICER, "11")
    cases = [
        (served.get(None, purpose="sync"), 401, "UNAUTHENTICATED", None),
        (served.get(officer), 400, "BAD_USER_INPUT", "purpose"),
        (served.get(officer, purpose="x"), 400, "BAD_USER_INPUT", "purpose"),
        (served.get(officer, purpose="sync", after="not-a-cursor"), 400, "BAD_USER_INPUT", "after"),
        (served.get(officer, purpose="sync", limit="0"), 400, "BAD_USER_INPUT", "limit"),
        (served.get(officer, purpose="sync", limit="many"), 400, "BAD_USER_INPUT", "limit"),
        (served.get(officer, purpose="sync", kinds="children"), 400, "BAD_USER_INPUT", "kinds.0"),
        (served.get(officer, purpose="sync", unit="12"), 403, "FORBIDDEN", "unit"),
        (served.get(served.token(Role.COMMUNE_OFFICER, TA_LENG), purpose="sync", unit="12a"), 400, "BAD_USER_INPUT",
         "unit"),
    ]  # fmt: skip
    for answer, status, code, field in cases:
        assert answer.status_code == status, answer.text
        error = answer.json()["errors"][0]
        assert error["extensions"]["code"] == code and error["extensions"].get("field") == field


def test_the_graphql_connection_serves_the_same_pages(served: Served) -> None:
    token = served.token(Role.INTEGRATION_CLIENT, subject="system:csdl-tre-em")
    query = (
        'query($after: String) { changes(purpose: "sync", after: $after, first: 3) { edges { cursor node {'
        " recordKind recordId eventType personal places { communeNow } } } pageInfo { hasNextPage endCursor } } }"
    )
    after, found = served.start, []
    while True:
        answer = httpx.post(f"{served.url}/graphql", json={"query": query, "variables": {"after": after}},
                            headers={"Authorization": f"Bearer {token}"}, timeout=30).json()  # fmt: skip
        changes = answer["data"]["changes"]
        found.extend(edge["node"] for edge in changes["edges"])
        after = changes["pageInfo"]["endCursor"]
        if not changes["pageInfo"]["hasNextPage"]:
            break
    mine = {*served.lai_chau, served.dien_bien, served.case}
    assert [(n["recordId"], n["eventType"]) for n in found if n["recordId"] in mine] == ours(
        served, served.follow(token)
    )
    province = {"Authorization": f"Bearer {served.token(Role.PROVINCE_OFFICER, '11')}"}
    outside = '{ changes(purpose: "sync", unit: "12") { edges { cursor } } }'
    refused = httpx.post(f"{served.url}/graphql", json={"query": outside}, headers=province, timeout=30)
    refused = refused.json()["errors"][0]
    assert refused["extensions"] == {"code": "FORBIDDEN", "field": "unit"}


def test_the_readme_s_feed_example_works_as_written(served: Served) -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text[text.index("### Following the change feed") :]
    line = next(line for line in section.splitlines() if line.strip().startswith("curl "))
    url = line.split('"')[-2].replace("http://127.0.0.1:8000", served.url)
    token = served.token(Role.INTEGRATION_CLIENT, subject="system:csdl-tre-em")
    answer = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["events"]) == 2 and body["hasMore"] and body["next"]
    assert set(body["events"][0]) >= {"cursor", "recordKind", "recordId", "eventType", "data", "personal", "places"}
