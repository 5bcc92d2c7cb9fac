"""The GraphQL API over real HTTP (uvicorn on loopback) against a real database: authentication, jurisdiction,
the access log, limits and the committed SDL."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema
from strawberry.relay import from_base64, to_base64

from registry.access import Role
from registry.access_log import Outcome, entries
from registry.cases import AssessRisk, CaseType, Channel, ReceiveReport, ReporterKind, RiskLevel, TransferCase
from registry.children import ClassifyChild, RegisterChild, Sex
from registry.config import Settings
from registry.events import Metadata
from registry.law import VIETNAM
from registry.runtime import Registry as App
from registry.tokens import issue
from schema.api import PURPOSE_HEADER, name_matcher, sdl
from tests.conftest import Registry
from tests.schema.server import deployment, serving

PROJECT = Path(__file__).resolve().parents[2]
OFFICER = Metadata(actor_id="officer:api", actor_role="commune_officer")
TA_LENG = "03405"  # Lai Châu, from 2025-07-01 (formed from Tả Lèng, Giang Ma and Hồ Thầu of Tam Đường)
RECEIVED = datetime(2026, 10, 1, 9, tzinfo=VIETNAM)
TRANSFERRED = datetime(2026, 10, 5, 14, tzinfo=VIETNAM)
CASE_QUERY = "query($id: ID!) { case(caseId: $id, purpose: \"case conference\") { stage riskLevel until" \
             " commune { code } childIds deadlines { code status } } }"  # fmt: skip
CHILD_QUERY = "query($id: ID!, $p: String!) { child(childId: $id, purpose: $p) { fullName dateOfBirth sex groups" \
              " { code } commune { code name } } }"  # fmt: skip


@dataclass
class Api:
    url: str
    settings: Settings
    child: str
    case: str
    others: list[str]  # two more children of Tả Lèng, and one of Sìn Suối Hồ (03394)

    def token(self, role: Role, unit: str | None, subject: str = "officer:t") -> str:
        return issue(self.settings, subject, role, unit, timedelta(hours=1))

    def post(self, query: str, token: str | None, variables: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
        sent = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(self.url, json={"query": query, "variables": variables or {}},
                          headers={**sent, **(headers or {})}, timeout=30)  # fmt: skip


@pytest.fixture(scope="module")
def api(run, registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    settings = deployment(registry, tmp_path_factory.mktemp("api"))
    app = run(App.open(settings))  # a second process of the same deployment
    child, case, others = str(uuid.uuid4()), str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(3)]
    try:
        children = run(app.children())
        run(children.execute(RegisterChild(child, "Lò Thị Hoa", date(2016, 5, 5), Sex.FEMALE, "03400",
                                           date(2024, 2, 1)), OFFICER))  # fmt: skip
        run(children.execute(ClassifyChild(child, "disabled", date(2024, 3, 1), "assessment", "mild"), OFFICER))
        for other, commune in zip(others, (TA_LENG, TA_LENG, "03394"), strict=True):
            run(children.execute(RegisterChild(other, "Lò Văn Pao", date(2018, 1, 1), Sex.MALE, commune,
                                               date(2025, 8, 1)), OFFICER))  # fmt: skip
        cases = run(app.cases())
        run(cases.execute(ReceiveReport(case, RECEIVED, Channel.SCHOOL, ReporterKind.TEACHER, (CaseType.NEGLECT,),
                                        TA_LENG, "left alone", child_ids=(child,)), OFFICER))  # fmt: skip
        run(cases.execute(TransferCase(case, TRANSFERRED, "03394", "the family moved"), OFFICER))
        run(cases.execute(AssessRisk(case, TRANSFERRED + timedelta(hours=5), RiskLevel.HIGH, emergency=False),
                          OFFICER))  # fmt: skip
    finally:
        run(app.close())
    with serving(settings) as url:
        yield Api(f"{url}/graphql", settings, child, case, others)


def test_the_committed_sdl_is_the_schema() -> None:
    assert (PROJECT / "schema" / "schema.graphql").read_text() == sdl(), "run: python -m schema.export"


def breaking(old: str, new: str) -> list[str]:
    return [c.description for c in graphql.find_breaking_changes(graphql.build_schema(old), graphql.build_schema(new))]


def test_no_breaking_change_against_the_published_sdl() -> None:
    published = (PROJECT / "schema" / "published.graphql").read_text()
    assert breaking(published, sdl()) == [], "a deliberate break: python -m schema.export --publish (README)"
    # The check itself sees a break: a field gone, a required argument added.
    assert breaking(published, published.replace("  fullName: String\n", "", 1)) != []
    assert breaking(
        published,
        published.replace(
            "    childId: ID!\n    purpose: String!\n  ): Child",
            "    childId: ID!\n    region: String!\n    purpose: String!\n  ): Child",
        ),
    )


def test_no_or_a_bad_token_is_401_before_any_graphql(api: Api) -> None:
    for token in (None, "not-a-jwt"):
        answer = api.post("{ me { subject } }", token)
        assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer")
        assert answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "not-a-jwt" not in answer.text


def test_me_and_units_as_of_a_day(api: Api) -> None:
    token = api.token(Role.COMMUNE_OFFICER, TA_LENG, "officer:hoa")
    me = api.post("{ me { subject role unit } }", token).json()["data"]["me"]
    assert me == {"subject": "officer:hoa", "role": "commune_officer", "unit": TA_LENG}
    query = 'query($d: Date) { unit(code: "03405", on: $d) { name level parent { code level } } }'
    now = api.post(query, token).json()["data"]["unit"]
    assert now == {"name": "Tả Lèng", "level": "commune", "parent": {"code": "12", "level": "province"}}
    then = api.post(query, token, {"d": "2024-01-01"}).json()["data"]["unit"]
    assert then == {"name": "Giang Ma", "level": "commune", "parent": {"code": "106", "level": "district"}}
    bad = api.post('{ unit(code: "12a") { name } }', token).json()["errors"][0]
    assert bad["extensions"] == {"code": "BAD_USER_INPUT", "field": "code"}


def test_a_child_is_read_within_jurisdiction_and_every_read_is_logged(api: Api, run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    variables = {"id": api.child, "p": "case review"}
    personas = {
        "officer:home": (Role.COMMUNE_OFFICER, TA_LENG, True),  # the commune the legacy Tả Lèng became
        "officer:district": (Role.DISTRICT_OFFICER, "106", True),  # Tam Đường, the former district
        "officer:province": (Role.PROVINCE_OFFICER, "12", True),
        "officer:other": (Role.COMMUNE_OFFICER, "03394", False),  # a neighbouring commune
        "officer:otherprovince": (Role.PROVINCE_OFFICER, "11", False),
        "auditor:1": (Role.AUDITOR, None, True),
        "client:ndb": (Role.INTEGRATION_CLIENT, None, False),  # import and feed only
    }
    for subject, (role, unit, allowed) in personas.items():
        answer = api.post(CHILD_QUERY, api.token(role, unit, subject), variables)
        assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
        child = answer.json()["data"]["child"]
        if allowed:
            assert child["fullName"] == "Lò Thị Hoa" and child["groups"] == [{"code": "disabled"}], subject
            assert child["commune"] == {"code": "03405", "name": "Tả Lèng"}  # where the record lies today
        else:
            assert child is None, subject
        logged = run(entries(registry.db.pool, subject=subject, record_kind="child", record_id=api.child))
        assert [(e.outcome, e.purpose) for e in logged] == [
            (Outcome.ALLOWED if allowed else Outcome.DENIED, "case review")], subject  # fmt: skip
    nobody = api.post(CHILD_QUERY, api.token(Role.AUDITOR, None, "auditor:2"), {"id": "no-such", "p": "review"})
    assert nobody.json()["data"]["child"] is None  # the same null as out of reach
    assert run(entries(registry.db.pool, subject="auditor:2"))[-1].outcome is Outcome.NOT_FOUND
    silent = api.post(CHILD_QUERY, api.token(Role.AUDITOR, None, "auditor:3"), {"id": api.child, "p": " "}).json()
    assert silent["data"] == {"child": None}
    assert silent["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "purpose"}
    refused = run(entries(registry.db.pool, subject="auditor:3"))
    assert [(e.outcome, e.reason) for e in refused] == [(Outcome.DENIED, "no_purpose")]


def test_node_reads_a_child_with_the_request_s_purpose(api: Api) -> None:
    token = api.token(Role.COMMUNE_OFFICER, TA_LENG)
    query = "query($id: ID!) { node(id: $id) { ... on Child { fullName } } }"
    node_id = to_base64("Child", api.child)
    with_purpose = api.post(query, token, {"id": node_id}, {PURPOSE_HEADER: "home visit"}).json()
    assert with_purpose["data"]["node"] == {"fullName": "Lò Thị Hoa"}
    assert api.post(query, token, {"id": node_id}).json()["data"]["node"] is None  # no purpose: not served
    elsewhere = api.token(Role.COMMUNE_OFFICER, "03394")
    assert api.post(query, elsewhere, {"id": node_id}, {PURPOSE_HEADER: "x y z"}).json()["data"]["node"] is None
    broken = api.post(query, token, {"id": "not an id"}).json()["errors"][0]["extensions"]
    assert broken == {"code": "BAD_USER_INPUT", "field": "id"}  # found by the fuzz test below: it was masked
    assert api.post(query, token, {"id": to_base64("Nothing", "x")}).json()["data"]["node"] is None


def test_limits_and_bad_queries_never_give_a_5xx(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = api.token(Role.AUDITOR, None)
    named = api.post('{ child(childId: "x", purpose: "tìm Nguyễn Thị Secret") { sexx } }', token)
    assert named.status_code < 500 and named.json()["errors"]
    assert "Secret" not in caplog.text  # query text, where names can hide, never reaches the logs
    deep = '{ unit(code: "03405") { ' + "parent { " * 12 + "code" + " }" * 12 + " } }"
    aliases = "{ " + " ".join(f"a{n}: me {{ subject }}" for n in range(12)) + " }"
    for query in (deep, aliases, "{ me { subjet } }", "{ me {", "query { child(childId: 1) { sex } }"):
        answer = api.post(query, token)
        assert answer.status_code < 500 and answer.json()["errors"], query
        assert "Did you mean" not in answer.text  # no field suggestions
    page = httpx.get(api.url, headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    get = httpx.get(api.url, params={"query": "{ me { subject } }"}, headers={"Authorization": f"Bearer {token}"})
    assert get.status_code >= 400 and get.status_code < 500  # queries over GET are not accepted


def test_a_transferred_case_is_seen_by_each_side_for_its_own_period(api: Api, run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    now = api.post(CASE_QUERY, api.token(Role.COMMUNE_OFFICER, "03394", "officer:new"), {"id": api.case}).json()
    assert now["data"]["case"]["stage"] == "assessed" and now["data"]["case"]["riskLevel"] == "high"
    assert now["data"]["case"]["until"] is None and now["data"]["case"]["commune"] == {"code": "03394"}
    before = api.post(CASE_QUERY, api.token(Role.COMMUNE_OFFICER, TA_LENG, "officer:old"), {"id": api.case}).json()
    case = before["data"]["case"]
    assert (case["stage"], case["riskLevel"], case["commune"]) == ("received", None, {"code": TA_LENG})
    assert datetime.fromisoformat(case["until"]) == TRANSFERRED and case["childIds"] == [api.child]
    far = api.post(CASE_QUERY, api.token(Role.COMMUNE_OFFICER, "03253", "officer:far"), {"id": api.case}).json()
    assert far["data"]["case"] is None
    outcomes = {s: run(entries(registry.db.pool, subject=s, record_kind="case"))[-1] for s in
                ("officer:new", "officer:old", "officer:far")}  # fmt: skip
    assert {s: (e.outcome, e.reason) for s, e in outcomes.items()} == {
        "officer:new": (Outcome.ALLOWED, None), "officer:old": (Outcome.ALLOWED, "former_jurisdiction"),
        "officer:far": (Outcome.DENIED, "jurisdiction")}  # fmt: skip


def test_only_auditors_read_the_access_log_and_their_reading_is_logged(api: Api, run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    api.post(CASE_QUERY, api.token(Role.PROVINCE_OFFICER, "12", "officer:paged"), {"id": api.case})
    api.post(CASE_QUERY, api.token(Role.PROVINCE_OFFICER, "12", "officer:paged"), {"id": api.case})
    query = "query($a: String) { accessLog(purpose: \"quarterly review\", subject: \"officer:paged\", first: 1," \
            " after: $a) { edges { cursor node { subject outcome recordKind purpose } } pageInfo { hasNextPage" \
            " endCursor } } }"  # fmt: skip
    auditor = api.token(Role.AUDITOR, None, "auditor:log")
    first = api.post(query, auditor).json()["data"]["accessLog"]
    assert [e["node"] for e in first["edges"]] == [
        {"subject": "officer:paged", "outcome": "allowed", "recordKind": "case", "purpose": "case conference"}
    ]
    assert first["pageInfo"]["hasNextPage"]
    second = api.post(query, auditor, {"a": first["pageInfo"]["endCursor"]}).json()["data"]["accessLog"]
    assert len(second["edges"]) == 1 and not second["pageInfo"]["hasNextPage"]
    assert second["edges"][0]["cursor"] != first["edges"][0]["cursor"]
    refused = api.post(query, api.token(Role.PROVINCE_OFFICER, "12", "officer:curious")).json()
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    reads = run(entries(registry.db.pool, record_kind="access_log"))
    assert {(e.subject, e.outcome) for e in reads} >= {("auditor:log", Outcome.ALLOWED),
                                                      ("officer:curious", Outcome.DENIED)}  # fmt: skip
    bad = api.post(query, auditor, {"a": "bm90LWEtY3Vyc29y"}).json()
    assert bad["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


LIST = (
    "query($u: String!, $a: String, $g: String, $on: Date, $asOf: String) { children(unit: $u, purpose:"
    ' "annual review", first: 2, after: $a, group: $g, on: $on, asOf: $asOf) { edges { cursor node { id fullName } }'
    " pageInfo { hasNextPage endCursor } } }"
)


def listed(api: Api, token: str, unit: str, group: str | None = None, **point: str) -> list[str]:
    """Every child of a unit, page by page (waiting for the read model to catch up with the fixture's events)."""
    for _ in range(100):
        ids, after = [], None
        while True:
            answer = api.post(LIST, token, {"u": unit, "a": after, "g": group, **point}).json()
            if "errors" in answer and answer["errors"][0]["extensions"]["code"] == "NOT_READY":
                break  # the server's projector has not made the read model yet
            assert "errors" not in answer, answer
            page = answer["data"]["children"]
            ids += [relay_id(e["node"]["id"]) for e in page["edges"]]
            assert len(page["edges"]) <= 2
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        if ids:
            return ids
        time.sleep(0.2)
    return []


def relay_id(global_id: str) -> str:
    return from_base64(global_id)[1]


def test_children_of_a_unit_page_by_page_within_jurisdiction(api: Api, run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    # Other tests' children live in Tả Lèng too: these are among them, in order, each once.
    ta_leng = sorted([api.child, *api.others[:2]])
    found = listed(api, api.token(Role.COMMUNE_OFFICER, TA_LENG, "officer:lister"), TA_LENG)
    assert set(ta_leng) <= set(found) and found == sorted(set(found)) and api.others[2] not in found
    disabled = listed(api, api.token(Role.COMMUNE_OFFICER, TA_LENG), TA_LENG, "disabled")
    assert api.child in disabled and not set(api.others) & set(disabled)
    assert set(ta_leng) <= set(listed(api, api.token(Role.DISTRICT_OFFICER, "106"), "106"))
    assert set(ta_leng) | {api.others[2]} <= set(listed(api, api.token(Role.PROVINCE_OFFICER, "12"), "12"))
    logged = run(entries(registry.db.pool, subject="officer:lister", record_kind="child", limit=10_000))
    assert sorted(e.record_id or "" for e in logged) == found and {e.purpose for e in logged} == {"annual review"}
    for role, unit, subject in ((Role.COMMUNE_OFFICER, "03394", "officer:nosy"),
                                (Role.INTEGRATION_CLIENT, None, "client:list")):  # fmt: skip
        refused = api.post(LIST, api.token(role, unit, subject), {"u": TA_LENG}).json()
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN" and refused["data"] is None
        assert run(entries(registry.db.pool, subject=subject))[-1].outcome is Outcome.DENIED
    token = api.token(Role.AUDITOR, None)
    for variables, field in (({"u": "1x"}, "unit"), ({"u": TA_LENG, "a": "bm9wZQ=="}, "after")):
        bad = api.post(LIST, token, variables).json()["errors"][0]["extensions"]
        assert bad == {"code": "BAD_USER_INPUT", "field": field}


def test_histories_show_the_events_without_personal_data_and_each_side_its_period(api: Api) -> None:
    token = api.token(Role.COMMUNE_OFFICER, TA_LENG)
    query = "query($id: ID!, $a: String) { child(childId: $id, purpose: \"audit\") { history(first: 1, after: $a) {" \
            " edges { node { eventType version actorRole occurredAt data } }" \
            " pageInfo { hasNextPage endCursor } } } }"  # fmt: skip
    first = api.post(query, token, {"id": api.child}).json()["data"]["child"]["history"]
    event = first["edges"][0]["node"]
    assert (event["eventType"], event["version"], event["actorRole"]) == ("ChildRegistered", 1, "commune_officer")
    assert "personal" not in event["data"] and "Hoa" not in str(event["data"])
    assert event["data"]["commune_code"] == "03400" and first["pageInfo"]["hasNextPage"]
    second = api.post(query, token, {"id": api.child, "a": first["pageInfo"]["endCursor"]}).json()
    assert [e["node"]["eventType"] for e in second["data"]["child"]["history"]["edges"]] == ["ChildClassified"]
    cases = 'query($id: ID!) { case(caseId: $id, purpose: "audit") { history { edges { node { eventType } } } } }'
    for unit, expected in ((TA_LENG, ["ReportReceived"]),
                           ("03394", ["ReportReceived", "CaseTransferred", "InitialAssessmentCompleted"])):  # fmt: skip
        answer = api.post(cases, api.token(Role.COMMUNE_OFFICER, unit), {"id": api.case}).json()
        assert [e["node"]["eventType"] for e in answer["data"]["case"]["history"]["edges"]] == expected, unit


def test_every_root_read_as_of_a_point_in_the_global_order_or_a_time(api: Api) -> None:
    officer, district = api.token(Role.COMMUNE_OFFICER, TA_LENG), api.token(Role.DISTRICT_OFFICER, "106")
    events = "query($id: ID!) { child(childId: $id, purpose: \"audit\") { history { edges { node { eventType" \
             " globalCursor recordedAt } } } } }"  # fmt: skip
    registered, classified = [e["node"] for e in api.post(events, officer, {"id": api.child}).json()["data"]["child"]
                              ["history"]["edges"]]  # fmt: skip
    query = "query($id: ID!, $c: String, $t: DateTime) { child(childId: $id, purpose: \"audit\", asOf: $c," \
            " asOfTime: $t) { version groups { code } history { edges { node { eventType } } } } }"  # fmt: skip
    then = api.post(query, officer, {"id": api.child, "c": registered["globalCursor"]}).json()
    assert then["data"]["child"] == {"version": 1, "groups": [], "history": {"edges": [
        {"node": {"eventType": "ChildRegistered"}}]}}  # fmt: skip
    assert then["extensions"]["asOf"] == {"child.asOf": registered["globalCursor"]}
    later = api.post(query, officer, {"id": api.child, "c": classified["globalCursor"]}).json()["data"]["child"]
    assert (later["version"], later["groups"]) == (2, [{"code": "disabled"}])
    before = datetime.fromisoformat(registered["recordedAt"]) - timedelta(seconds=1)
    assert api.post(query, officer, {"id": api.child, "t": before.isoformat()}).json()["data"]["child"] is None
    # The case as the registry knew it when the report came in: Tả Lèng's alone, not yet transferred.
    report = 'query($id: ID!) { case(caseId: $id, purpose: "audit") { history { edges { node { globalCursor } } } } }'
    received = api.post(report, api.token(Role.AUDITOR, None), {"id": api.case}).json()["data"]["case"]["history"]
    cursor = received["edges"][0]["node"]["globalCursor"]
    at = 'query($id: ID!, $c: String) { case(caseId: $id, purpose: "audit", asOf: $c) { stage until commune { code }' \
         " } }"  # fmt: skip
    assert api.post(at, officer, {"id": api.case, "c": cursor}).json()["data"]["case"] == {
        "stage": "received", "until": None, "commune": {"code": TA_LENG}}  # fmt: skip
    assert api.post(at, api.token(Role.COMMUNE_OFFICER, "03394"), {"id": api.case, "c": cursor}).json()["data"] == {
        "case": None}  # fmt: skip
    # The register of a unit: as known just after the first child was recorded, and on a day of the old map.
    assert api.child in listed(api, officer, TA_LENG, asOf=registered["globalCursor"])
    assert not set(api.others) & set(listed(api, officer, TA_LENG, asOf=registered["globalCursor"]))
    assert api.child in listed(api, district, "106", on="2024-06-01")
    assert not set(api.others) & set(listed(api, district, "106", on="2024-06-01"))  # they came in 2025
    for variables, name in (({"id": api.child, "c": "bm9wZQ"}, "asOf"), ({"id": api.child, "c": "OTk5OTk5OTk6MQ"},
                            "asOf"), ({"id": api.child, "t": "2999-01-01T00:00:00+07:00"}, "asOfTime")):  # fmt: skip
        bad = api.post(query, officer, variables).json()
        assert bad["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": name}, variables


REGISTER = "mutation($i: RegisterChildInput!) { registerChild(input: $i) { child { id version fullName } position" \
           " userErrors { code field currentVersion } } }"  # fmt: skip
CLASSIFY = "mutation($i: ClassifyChildInput!) { classifyChild(input: $i) { child { version groups { code } }" \
           " userErrors { code field currentVersion } } }"  # fmt: skip


def test_mutations_register_and_classify_with_versions_keys_and_jurisdiction(api: Api, run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    officer = api.token(Role.COMMUNE_OFFICER, TA_LENG, "officer:writer")
    key = str(uuid.uuid4())
    new = {"fullName": "Sùng Thị Mỷ", "dateOfBirth": "2019-04-02", "sex": "female", "communeCode": TA_LENG,
           "residenceFrom": "2025-09-01", "idempotencyKey": key, "reason": "home visit"}  # fmt: skip
    made = api.post(REGISTER, officer, {"i": new}).json()["data"]["registerChild"]
    assert made["userErrors"] == [] and made["child"]["version"] == 1 and made["child"]["fullName"] == "Sùng Thị Mỷ"
    again = api.post(REGISTER, officer, {"i": new}).json()["data"]["registerChild"]  # the answer was lost: resent
    assert again["child"]["id"] == made["child"]["id"] and again["position"] == made["position"]
    child = from_base64(made["child"]["id"])[1]
    events = run(registry.store.read_stream(f"child:{child}"))
    assert len(events) == 1 and events[0].metadata["actor_id"] == "officer:writer"
    assert events[0].metadata["reason"] == "home visit" and events[0].metadata["source"] == "graphql"
    classify = {"childId": child, "expectedVersion": 0, "group": "disabled", "subgroup": "mild", "on": "2025-10-01",
                "evidence": "assessment", "idempotencyKey": str(uuid.uuid4())}  # fmt: skip
    stale = api.post(CLASSIFY, officer, {"i": classify}).json()["data"]["classifyChild"]
    assert stale == {"child": None, "userErrors": [
        {"code": "CONCURRENCY_CONFLICT", "field": "input.expectedVersion", "currentVersion": 1}]}  # fmt: skip
    done = api.post(CLASSIFY, officer, {"i": {**classify, "expectedVersion": 1}}).json()["data"]["classifyChild"]
    assert done["userErrors"] == [] and done["child"] == {"version": 2, "groups": [{"code": "disabled"}]}
    bad = {**new, "idempotencyKey": str(uuid.uuid4()), "residenceFrom": "2010-01-01"}
    before_birth = api.post(REGISTER, officer, {"i": bad}).json()["data"]["registerChild"]
    assert before_birth["child"] is None and before_birth["userErrors"][0]["field"] == "input.residenceFrom"
    reused = api.post(REGISTER, officer, {"i": {**new, "fullName": "Another"}}).json()["data"]["registerChild"]
    assert reused["child"] is None and [(e["code"], e["field"]) for e in reused["userErrors"]] == [
        ("IDEMPOTENCY_KEY_REUSED", "input.idempotencyKey")]  # the key stands for the first command  # fmt: skip
    for role, unit, code in ((Role.COMMUNE_OFFICER, "03394", "FORBIDDEN"), (Role.AUDITOR, None, "FORBIDDEN")):
        other = {**new, "idempotencyKey": str(uuid.uuid4())}
        refused = api.post(REGISTER, api.token(role, unit), {"i": other}).json()["data"]["registerChild"]
        assert refused["child"] is None and refused["userErrors"][0]["code"] == code
    elsewhere = api.post(CLASSIFY, api.token(Role.COMMUNE_OFFICER, "03394"), {"i": {**classify, "expectedVersion": 2,
                         "group": "abandoned", "subgroup": None}}).json()["data"]["classifyChild"]  # fmt: skip
    assert elsewhere["userErrors"][0]["code"] == "NOT_FOUND"
    assert len(run(registry.store.read_stream(f"child:{child}"))) == 2  # nothing written by any refusal


def test_text_the_database_cannot_hold_is_refused_naming_the_argument_and_nothing_is_written(  # type: ignore[no-untyped-def]
    api: Api, run, registry: Registry
) -> None:
    officer = api.token(Role.COMMUNE_OFFICER, TA_LENG, "officer:nul")
    literal = api.post('{ child(childId: "a\\u0000b", purpose: "case review") { sex } }', officer).json()
    assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in literal["errors"]] == [
        ("BAD_USER_INPUT", "childId")]  # fmt: skip
    for value in ("often alone\x00", "often alone \ud800"):
        report = {"at": "2026-11-02T08:30:00+07:00", "channel": "school", "reporterKind": "teacher",
                  "caseTypes": ["neglect"], "communeCode": TA_LENG, "account": value, "childIds": [api.child],
                  "idempotencyKey": str(uuid.uuid4())}  # fmt: skip
        body = json.dumps({"query": RECEIVE, "variables": {"i": report}})  # ASCII, as a lone surrogate must go
        sent = {"Authorization": f"Bearer {officer}", "Content-Type": "application/json"}
        answer = httpx.post(api.url, content=body, headers=sent, timeout=30)
        assert answer.status_code < 500
        assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in answer.json()["errors"]] == [
            ("BAD_USER_INPUT", "input.account")]  # fmt: skip
    assert (
        run(registry.db.pool.fetchval("SELECT count(*) FROM events WHERE metadata->>'actor_id' = 'officer:nul'")) == 0
    )
    refused = api.post('{ child(childId: "x", purpose: "a\\tb c") { sex } }', officer).json()["errors"][0]
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "purpose"}


def test_the_readme_s_api_examples_work_as_written(api: Api) -> None:
    text = (PROJECT / "README.md").read_text()
    section = "".join(text[start : text.index("\n## ", start)]
                      for start in (text.index("## Trying the API"), text.index("## For auditors")))  # fmt: skip
    examples = [line.strip() for line in section.splitlines() if line.startswith("    {") or
                line.startswith("    mutation")]  # fmt: skip
    assert len(examples) >= 12 and any("historyDiff" in example for example in examples)
    officer, auditor = api.token(Role.COMMUNE_OFFICER, TA_LENG), api.token(Role.AUDITOR, None)
    made: dict[str, str] = {}
    for example in examples:
        query = example.replace('"..."', f'"{api.child}"').replace("<the childId>", made.get("childId", ""))
        query = query.replace("visit-2026-11-23-1", f"readme-{api.child}").replace("classify-1", f"c-{api.child}")
        query = query.replace("<a globalCursor from the history>", made.get("cursor", ""))
        for _ in range(100):  # the indicators and reports wait for the read models to exist
            answer = api.post(query, auditor if "accessLog" in query else officer).json()
            if "NOT_READY" not in str(answer.get("errors")):
                break
            time.sleep(0.2)
        assert "errors" not in answer, (example, answer)
        data = next(iter(answer["data"].values()))
        assert data is not None, example
        if isinstance(data, dict) and "history" in data:
            made["cursor"] = data["history"]["edges"][0]["node"]["globalCursor"]
        if isinstance(data, dict) and "userErrors" in data:
            assert data["userErrors"] == [], (example, data)
            made.setdefault("childId", data["child"].get("childId", ""))


def test_graphql_over_http_status_and_media_type_for_clients_that_ask(api: Api) -> None:
    token = api.token(Role.AUDITOR, None)
    accept = {"Accept": "application/graphql-response+json, application/json;q=0.9"}
    broken = api.post("{ me {", token, headers=accept)
    assert broken.status_code == 400 and broken.headers["content-type"].startswith("application/graphql-response+json")
    assert "data" not in broken.json() and broken.json()["errors"]
    invalid = api.post("{ me { nope } }", token, headers=accept)
    assert invalid.status_code == 400 and "data" not in invalid.json()
    fine = api.post("{ me { role } }", token, headers=accept)
    assert fine.status_code == 200 and fine.json()["data"] == {"me": {"role": "auditor"}}
    field_error = api.post('{ child(childId: "x", purpose: "") { sex } }', token, headers=accept)
    assert field_error.status_code == 200 and field_error.json()["data"] == {"child": None}  # an execution error
    legacy = api.post("{ me {", token)
    assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("application/json")


def test_an_operation_over_the_cost_budget_is_refused_and_every_answer_states_its_cost(api: Api) -> None:
    token = api.token(Role.AUDITOR, None)
    cheap = api.post("{ me { role } }", token).json()
    assert cheap["extensions"]["cost"] == {"requested": 2, "limit": 5000}
    nested = "{ children(unit: \"12\", purpose: \"review\", first: 100) { edges { node { history(first: 100) {" \
             " edges { node { eventType data } } } } } } }"  # fmt: skip
    refused = api.post(nested, token).json()
    assert (
        refused["errors"][0]["extensions"]["code"] == "COST_LIMIT" and refused["errors"][0]["extensions"]["cost"] > 5000
    )
    assert "data" not in refused or refused["data"] is None
    fragments = "query { ...a } fragment a on Query { children(unit: \"12\", purpose: \"x y\", first: $n) { edges {" \
                " node { history { edges { node { eventType } } } } } } }"  # fmt: skip
    assert api.post(fragments.replace("query {", "query($n: Int) {"), token).json()["errors"][0]["extensions"][
        "code"] == "COST_LIMIT"  # a variable page is charged at its largest, through fragments too  # fmt: skip


SDL = (PROJECT / "schema" / "schema.graphql").read_text()
SCALARS = {
    "Date": st.dates(date(1990, 1, 1), date(2030, 12, 31)).map(lambda d: graphql.StringValueNode(value=d.isoformat())),
    "DateTime": st.datetimes(timezones=st.just(UTC)).map(lambda d: graphql.StringValueNode(value=d.isoformat())),
    "JSON": st.just(graphql.StringValueNode(value="{}")),
}


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(operation=from_schema(SDL, custom_scalars=SCALARS) | from_schema(SDL, custom_scalars=SCALARS,
                                                                         mode=Mode.NEGATIVE))  # fmt: skip
def test_random_operations_never_give_a_5xx_an_unexpected_error_or_a_record_out_of_reach(
    api: Api, operation: str
) -> None:
    # The neighbouring commune's officer: nothing of Tả Lèng's records may reach it, whatever it asks.
    answer = api.post(operation, api.token(Role.COMMUNE_OFFICER, "03394", "officer:fuzz"))
    assert answer.status_code < 500, (operation, answer.text)
    assert "Unexpected error" not in answer.text, (operation, answer.text)
    assert "Lò Thị Hoa" not in answer.text and api.child not in answer.text, operation


RECEIVE = "mutation($i: ReceiveReportInput!) { receiveReport(input: $i) { case { caseId stage version riskLevel }" \
          " position userErrors { code field currentVersion } } }"  # fmt: skip
ASSESS = "mutation($i: AssessRiskInput!) { assessRisk(input: $i) { case { stage version riskLevel } userErrors" \
         " { code field currentVersion } } }"  # fmt: skip
APPROVE = "mutation($i: ApprovePlanInput!) { approvePlan(input: $i) { case { stage } userErrors { code field } } }"


def test_case_commands_receive_assess_and_approve(api: Api, run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    officer = api.token(Role.COMMUNE_OFFICER, TA_LENG, "officer:cases")
    report = {"at": "2026-11-02T08:30:00+07:00", "channel": "school", "reporterKind": "teacher",
              "caseTypes": ["neglect"], "communeCode": TA_LENG, "account": "often alone at night",
              "childIds": [api.child], "idempotencyKey": str(uuid.uuid4())}  # fmt: skip
    made = api.post(RECEIVE, officer, {"i": report}).json()["data"]["receiveReport"]
    assert made["userErrors"] == [] and made["case"]["stage"] == "received" and made["case"]["version"] == 1
    assert api.post(RECEIVE, officer, {"i": report}).json()["data"]["receiveReport"]["position"] == made["position"]
    case = made["case"]["caseId"]
    raw = run(registry.db.pool.fetchval("SELECT data::text FROM events WHERE stream_id = $1", f"case:{case}"))
    assert "alone at night" not in raw  # the account is sealed at rest
    assess = {"caseId": case, "expectedVersion": 0, "at": "2026-11-02T12:00:00+07:00", "riskLevel": "medium",
              "emergency": False, "idempotencyKey": str(uuid.uuid4())}  # fmt: skip
    stale = api.post(ASSESS, officer, {"i": assess}).json()["data"]["assessRisk"]
    assert stale["userErrors"] == [{"code": "CONCURRENCY_CONFLICT", "field": "input.expectedVersion",
                                    "currentVersion": 1}]  # fmt: skip
    done = api.post(ASSESS, officer, {"i": {**assess, "expectedVersion": 1}}).json()["data"]["assessRisk"]
    assert done["case"] == {"stage": "assessed", "version": 2, "riskLevel": "medium"} and done["userErrors"] == []
    nosy = api.post(ASSESS, api.token(Role.COMMUNE_OFFICER, "03394"), {"i": {**assess, "expectedVersion": 2}}).json()
    assert nosy["data"]["assessRisk"]["userErrors"][0]["code"] == "NOT_FOUND"
    approve = {"caseId": case, "expectedVersion": 2, "at": "2026-11-03T09:00:00+07:00",
               "idempotencyKey": str(uuid.uuid4())}  # fmt: skip
    early = api.post(APPROVE, api.token(Role.COMMUNE_CHAIR, TA_LENG), {"i": approve}).json()["data"]["approvePlan"]
    assert early["case"] is None and early["userErrors"]  # no plan was submitted yet
    auditor = api.post(APPROVE, api.token(Role.AUDITOR, None), {"i": approve}).json()["data"]["approvePlan"]
    assert auditor["userErrors"][0]["code"] == "FORBIDDEN"
    wrong = api.post(RECEIVE, officer, {"i": {**report, "channel": "pigeon", "idempotencyKey": "k"}}).json()
    assert wrong["data"]["receiveReport"]["userErrors"] == [
        {"code": "INVALID_CHOICE", "field": "input.channel", "currentVersion": None}]  # fmt: skip
    assert len(run(registry.store.read_stream(f"case:{case}"))) == 2  # nothing written by any refusal


INDICATORS = 'query($u: String!) { indicators(unit: $u, from: "2026-01-01", to: "2026-06-30", codes: [' \
             '"cisc_rate", "cisc_supported_pct"]) { code numerator denominator value readModelCursor } }'  # fmt: skip
REPORT = "query($u: String!, $k: String!, $y: Int) { report(unit: $u, kind: $k, year: $y) { header { code value }" \
         " sections { code valueColumns { code } rows { keys values } } } }"  # fmt: skip


def test_indicators_and_reports_of_a_unit_for_those_whose_reach_covers_it(api: Api) -> None:
    personas = {
        (Role.COMMUNE_OFFICER, TA_LENG): True, (Role.DISTRICT_OFFICER, "106"): True,
        (Role.PROVINCE_OFFICER, "12"): True, (Role.AUDITOR, None): True,
        (Role.COMMUNE_OFFICER, "03394"): False, (Role.INTEGRATION_CLIENT, None): False,
    }  # fmt: skip
    for (role, unit), allowed in personas.items():
        token = api.token(role, unit)
        for _ in range(100):  # the read models follow the fixture's events
            answer = api.post(INDICATORS, token, {"u": TA_LENG}).json()
            if not allowed or (answer["data"] and answer["data"]["indicators"][1]["denominator"]):
                break
            time.sleep(0.2)
        if not allowed:
            assert answer["data"] is None and answer["errors"][0]["extensions"]["code"] == "FORBIDDEN", role
            continue
        rate, supported = answer["data"]["indicators"]
        assert rate["code"] == "cisc_rate" and rate["denominator"] is None  # no child population entered
        assert supported["denominator"] >= 1 and supported["readModelCursor"].startswith("case_register=")
        report = api.post(REPORT, token, {"u": TA_LENG, "k": "six_month", "y": 2026}).json()
        assert "errors" not in report, report
        header = {f["code"]: f["value"] for f in report["data"]["report"]["header"]}
        assert (header["unit_code"], header["kind"], header["year"]) == (TA_LENG, "six_month", "2026")
        groups = {s["code"]: s for s in report["data"]["report"]["sections"]}["children_by_group"]
        assert any(r["keys"][0] == "disabled" and r["values"][0] >= 1 for r in groups["rows"]), groups
    auditor = api.token(Role.AUDITOR, None)
    for query, variables, name in ((INDICATORS, {"u": "1x"}, "unit"), (REPORT, {"u": TA_LENG, "k": "weekly"}, "kind"),
                                   (REPORT, {"u": TA_LENG, "k": "annual", "y": 1800}, "year")):  # fmt: skip
        bad = api.post(query, auditor, variables).json()["errors"][0]["extensions"]
        assert bad == {"code": "BAD_USER_INPUT", "field": name}, variables


def test_every_command_is_a_mutation_and_each_answers_to_role_jurisdiction_and_version(api: Api) -> None:
    mutations = set(graphql.build_schema(sdl()).mutation_type.fields)  # type: ignore[union-attr]
    assert {"correctChild", "moveChild", "recordSupport", "mergeChild", "eraseChildData", "submitPlan", "closeCase",
            "transferCase", "reopenCase", "assignOfficer"} <= mutations  # fmt: skip
    # one mutation a command of the registers, and the national child database's import and the duplicates' review
    assert len(mutations - {"importChildren", "dismissDuplicate"}) == 30
    home = api.token(Role.COMMUNE_OFFICER, TA_LENG, "officer:commands")
    new = {"fullName": "Lường Văn Tú", "dateOfBirth": "2017-07-07", "sex": "male", "communeCode": TA_LENG,
           "residenceFrom": "2025-09-01", "idempotencyKey": str(uuid.uuid4())}  # fmt: skip
    child = api.post(REGISTER, home, {"i": new}).json()["data"]["registerChild"]["child"]
    child_id = relay_id(child["id"])
    flag = "mutation($i: FlagAtRiskInput!) { flagAtRisk(input: $i) { child { version atRisk { code } } userErrors" \
           " { code field currentVersion } } }"  # fmt: skip
    given = {"childId": child_id, "category": "at_risk_abuse", "on": "2026-10-01", "expectedVersion": 1,
             "idempotencyKey": str(uuid.uuid4())}  # fmt: skip
    for token, code in ((api.token(Role.COMMUNE_OFFICER, "03394"), "NOT_FOUND"), (api.token(Role.AUDITOR, None),
                        "FORBIDDEN"), (api.token(Role.INTEGRATION_CLIENT, None), "FORBIDDEN")):  # fmt: skip
        refused = api.post(flag, token, {"i": given}).json()["data"]["flagAtRisk"]
        assert refused["child"] is None and refused["userErrors"][0]["code"] == code, refused
    wrong = api.post(flag, home, {"i": {**given, "category": "bored"}}).json()["data"]["flagAtRisk"]["userErrors"]
    assert wrong == [{"code": "INVALID_CHOICE", "field": "input.category", "currentVersion": None}]
    done = api.post(flag, home, {"i": given}).json()["data"]["flagAtRisk"]
    assert done["userErrors"] == [] and done["child"]["version"] == 2, done
    again = api.post(flag, home, {"i": given}).json()["data"]["flagAtRisk"]
    assert again == done  # the answer was lost: the same command again, the same answer, nothing written
    reused = api.post(flag, home, {"i": {**given, "category": "at_risk_cisc", "expectedVersion": 2}}).json()
    assert reused["data"]["flagAtRisk"]["userErrors"] == [
        {"code": "IDEMPOTENCY_KEY_REUSED", "field": "input.idempotencyKey", "currentVersion": None}]  # fmt: skip
    stale = api.post(flag, home, {"i": {**given, "idempotencyKey": str(uuid.uuid4())}}).json()["data"]["flagAtRisk"]
    assert stale["userErrors"][0]["code"] == "CONCURRENCY_CONFLICT" and stale["userErrors"][0]["currentVersion"] == 2
    support = "mutation($i: RecordSupportInput!) { recordSupport(input: $i) { child { version } userErrors { code" \
              " field } } }"  # fmt: skip
    given = {"childId": child_id, "kind": "cash_gift", "level": "support", "provider": "UBND xã", "on": "2026-10-02",
             "amountVnd": 500000, "expectedVersion": 2, "idempotencyKey": str(uuid.uuid4())}  # fmt: skip
    answer = api.post(support, home, {"i": given}).json()
    assert "errors" not in answer, answer


CASES = "query($u: String!, $s: String, $t: String, $r: String, $o: Boolean, $f: Date, $to: Date) { cases(unit: $u," \
        ' purpose: "case conference", stage: $s, caseType: $t, riskLevel: $r, overdue: $o, receivedFrom: $f,' \
        " receivedTo: $to) { edges { node { caseId stage } } pageInfo { hasNextPage } } }"  # fmt: skip


def test_cases_of_a_unit_narrowed_by_stage_type_risk_overdue_and_day_received(api: Api) -> None:
    officer = api.token(Role.COMMUNE_OFFICER, "03394", "officer:caselist")

    def listed(**narrowed: object) -> list[str]:
        for _ in range(100):  # the case register follows the fixture's events
            answer = api.post(CASES, officer, {"u": "03394", **narrowed}).json()
            if "NOT_READY" not in str(answer.get("errors")) and (narrowed or answer["data"]["cases"]["edges"]):
                break
            time.sleep(0.2)
        assert "errors" not in answer, answer
        return [e["node"]["caseId"] for e in answer["data"]["cases"]["edges"]]

    assert api.case in listed()
    for narrowed, found in (({"s": "assessed"}, True), ({"s": "closed"}, False), ({"r": "high"}, True),
                            ({"r": "low"}, False), ({"t": "neglect"}, True), ({"t": "trafficking"}, False),
                            ({"f": "2026-10-01", "to": "2026-10-01"}, True), ({"f": "2026-10-02"}, False),
                            ({"o": True}, True), ({"o": False}, False)):  # fmt: skip
        assert (api.case in listed(**narrowed)) is found, narrowed
    refused = api.post(CASES, api.token(Role.COMMUNE_OFFICER, TA_LENG), {"u": "03394"}).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    bad = api.post(CASES, officer, {"u": "03394", "s": "lost"}).json()["errors"][0]["extensions"]
    assert bad == {"code": "BAD_USER_INPUT", "field": "stage"}


def test_children_found_by_name_with_or_without_diacritics_and_several_nodes_at_once(api: Api) -> None:
    officer = api.token(Role.COMMUNE_OFFICER, TA_LENG)
    query = 'query($n: String) { children(unit: "03405", purpose: "find a child", name: $n) { edges { node {' \
            " childId fullName } } } }"  # fmt: skip
    for _ in range(100):
        answer = api.post(query, officer, {"n": "hoa"}).json()
        if "errors" not in answer:
            break
        time.sleep(0.2)
    for name, found in (
        ("hoa", True),
        ("LO THI", True),
        ("Lò Thị Hoa", True),
        ("Hòa", False),
        ("Lộ", False),
        ("Pao", False),
    ):  # fmt: skip  (Pao lives there too, but is not this child)
        names = [e["node"]["fullName"] for e in api.post(query, officer, {"n": name}).json()["data"]["children"]
                 ["edges"]]  # fmt: skip
        assert ("Lò Thị Hoa" in names) is found, (name, names)
        # Other tests' children live in Tả Lèng too: every name found holds the words asked for, as they were asked.
        assert all(name_matcher(name)(n) for n in names), (name, names)
    nodes = "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Child { fullName } ... on Case { stage } } }"
    ids = [to_base64("Child", api.child), to_base64("Case", api.case), to_base64("Child", "nobody")]
    answer = api.post(nodes, api.token(Role.AUDITOR, None), {"ids": ids}, {PURPOSE_HEADER: "audit sample"}).json()
    assert [n and sorted(n) for n in answer["data"]["nodes"]] == [["fullName", "id"], ["id", "stage"], None]
