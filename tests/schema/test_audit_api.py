"""The auditors' API over real HTTP against a real database (issue 10): what changed between two versions of a child
or a case, field by field with the events that changed each, and who read a record, from the access log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from registry.access import Role
from registry.access_log import Outcome, entries
from registry.children import (
    ChildClassified,
    ChildDataErased,
    ChildDetailsCorrected,
    ChildMoved,
    ChildRegistered,
    Details,
    Identity,
    Sex,
)
from registry.config import Settings
from registry.events import RecordedEvent
from registry.law import VIETNAM
from registry.personal import ERASED, Erased, event_type
from registry.tokens import issue
from schema.api import Versions
from schema.cost import BOUNDED
from tests.conftest import Registry
from tests.schema.server import deployment, serving

TA_LENG = "03405"  # Lai Châu, from 2025-07-01
SIN_SUOI_HO = "03394"  # a neighbouring commune of Lai Châu
EVENT = "version eventType actorId actorRole reason occurredAt recordedAt"
DIFF = (
    'query($id: ID!, $from: Int, $to: Int, $asOf: String) { child(childId: $id, purpose: "quarterly audit",'
    " asOf: $asOf) { version historyDiff(fromVersion: $from, toVersion: $to) { fromVersion toVersion differences {"
    f" field before after concealed events {{ {EVENT} }} }} }} }} }}"
)
LOG = (
    'query($id: ID!, $a: String, $p: String) { child(childId: $id, purpose: "quarterly audit") { accessLog(first:'
    " 100, after: $a, purpose: $p) { edges { cursor node { subject role outcome reason operation recordKind"
    " recordId purpose } } pageInfo { hasNextPage endCursor } } } }"
)


@dataclass
class Audit:
    url: str
    settings: Settings
    child: str  # registered, corrected, moved (to Sìn Suối Hồ), classified there
    erased: str  # registered, corrected, erased
    case: str  # received in Tả Lèng, assessed, assigned, transferred to Sìn Suối Hồ
    cursors: list[str]  # the child's events' globalCursors, by version

    def token(self, role: Role, unit: str | None, subject: str) -> str:
        return issue(self.settings, subject, role, unit, timedelta(hours=1))

    def post(self, query: str, token: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = httpx.post(self.url, json={"query": query, "variables": variables or {}},
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)  # fmt: skip
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def command(self, token: str, name: str, given: dict[str, Any], record: str) -> dict[str, Any]:
        """Send a command as a mutation; its record (`child` or `case`) as it stands after it."""
        kind = name[0].upper() + name[1:]
        query = (f"mutation($i: {kind}Input!) {{ {name}(input: $i) {{ {record} {{ {record}Id version }}"
                 " userErrors { code field message } } }")  # fmt: skip
        answer = self.post(query, token, {"i": {"idempotencyKey": str(uuid.uuid4()), **given}})
        done = answer["data"][name]
        assert done["userErrors"] == [], (name, done)
        result: dict[str, Any] = done[record]
        return result


HOME = (Role.COMMUNE_OFFICER, TA_LENG, "officer:ta-leng")
THERE = (Role.COMMUNE_OFFICER, SIN_SUOI_HO, "officer:sin-suoi-ho")
AUDITOR = (Role.AUDITOR, None, "auditor:q4")


@pytest.fixture(scope="module")
def audit(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audit]:
    settings = deployment(registry, tmp_path_factory.mktemp("audit"))
    with serving(settings) as url:
        api = Audit(f"{url}/graphql", settings, "", "", "", [])
        home, there = api.token(*HOME), api.token(*THERE)
        made = api.command(home, "registerChild", {
            "fullName": "Lò Thị Kiểm", "dateOfBirth": "2018-03-04", "sex": "female", "communeCode": TA_LENG,
            "residenceFrom": "2025-08-01", "address": "Bản Nà Khum", "reason": "home visit"}, "child")  # fmt: skip
        api.child = made["childId"]
        api.command(home, "correctChild", {"childId": api.child, "expectedVersion": 1, "changes": {
            "sex": "male", "full_name": "Lò Văn Kiểm"}, "reason": "the birth certificate"}, "child")  # fmt: skip
        api.command(home, "moveChild", {"childId": api.child, "expectedVersion": 2, "toCommune": SIN_SUOI_HO,
                                        "on": "2025-10-01", "address": "Bản Mới", "reason": "the family moved"},
                    "child")  # fmt: skip
        api.command(there, "classifyChild", {"childId": api.child, "expectedVersion": 3, "group": "disabled",
                                             "subgroup": "mild", "on": "2025-10-15", "evidence": "assessment 12/2025",
                                             "reason": "the commune's assessment"}, "child")  # fmt: skip
        gone = api.command(home, "registerChild", {
            "fullName": "Giàng Thị Xóa", "dateOfBirth": "2017-01-02", "sex": "female", "communeCode": TA_LENG,
            "residenceFrom": "2025-08-01"}, "child")  # fmt: skip
        api.erased = gone["childId"]
        api.command(home, "correctChild", {"childId": api.erased, "expectedVersion": 1, "changes": {
            "full_name": "Giàng Thị Xóa Hai"}, "reason": "a typing error"}, "child")  # fmt: skip
        erase = {"childId": api.erased, "expectedVersion": 2, "legalBasis": "Decree 13/2023 Art. 16",
                 "reason": "the family asked"}  # fmt: skip
        api.command(home, "eraseChildData", erase, "child")
        received = datetime(2026, 11, 2, 9, tzinfo=VIETNAM)
        case = api.command(home, "receiveReport", {
            "at": received.isoformat(), "channel": "school", "reporterKind": "teacher", "caseTypes": ["neglect"],
            "communeCode": TA_LENG, "account": "left alone at home", "reporterName": "Cô giáo Mai",
            "childIds": [api.erased], "reason": "a teacher's call"}, "case")  # fmt: skip
        api.case = case["caseId"]
        assessed, assigned = (received + timedelta(hours=20)).isoformat(), (received + timedelta(days=1)).isoformat()
        api.command(home, "assessRisk", {"caseId": api.case, "expectedVersion": 1, "at": assessed, "riskLevel": "high",
                                         "emergency": False, "reason": "the visit"}, "case")  # fmt: skip
        api.command(home, "assignOfficer", {"caseId": api.case, "expectedVersion": 2, "at": assigned,
                                            "officerId": "officer:mai", "reason": "her area"}, "case")  # fmt: skip
        api.command(home, "transferCase", {"caseId": api.case, "expectedVersion": 3, "toCommune": SIN_SUOI_HO,
                                           "at": (received + timedelta(days=2)).isoformat(),
                                           "reason": "the family moved away"}, "case")  # fmt: skip
        events = "query($id: ID!) { child(childId: $id, purpose: \"audit\") { history { edges { node {" \
                 " globalCursor } } } } }"  # fmt: skip
        history = api.post(events, api.token(*AUDITOR), {"id": api.child})["data"]["child"]["history"]
        api.cursors = [e["node"]["globalCursor"] for e in history["edges"]]
        yield api


def diff(audit: Audit, who: tuple[Role, str | None, str], child: str, **versions: Any) -> dict[str, Any]:
    answer = audit.post(DIFF, audit.token(*who), {"id": child, **versions})
    assert "errors" not in answer, answer
    found: dict[str, Any] = answer["data"]["child"]["historyDiff"]
    return found


def by_field(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["field"]: d for d in found["differences"]}


def test_the_diff_between_two_versions_names_each_field_its_values_and_the_events_that_changed_it(
    audit: Audit,
) -> None:
    for who in (AUDITOR, THERE):  # the auditor, and the officer of the commune the child lives in now
        found = diff(audit, who, audit.child, **{"from": 1, "to": 4})
        assert (found["fromVersion"], found["toVersion"]) == (1, 4)
        changes = by_field(found)
        assert list(changes) == ["details.sex", "personal.fullName", "personal.address", "residence.communeCode",
                                 "residence.validFrom", "groups"], who  # in the record's order  # fmt: skip
        sex = changes["details.sex"]
        assert (sex["before"], sex["after"], sex["concealed"]) == ("female", "male", None)
        [corrected] = sex["events"]
        assert corrected["version"] == 2 and corrected["eventType"] == "ChildDetailsCorrected"
        assert (corrected["actorId"], corrected["actorRole"]) == ("officer:ta-leng", "commune_officer")
        assert corrected["reason"] == "the birth certificate"
        name = changes["personal.fullName"]  # shown as the record shows it
        assert (name["before"], name["after"], name["concealed"]) == ("Lò Thị Kiểm", "Lò Văn Kiểm", None)
        assert [e["version"] for e in name["events"]] == [2]
        address = changes["personal.address"]  # the API never shows an address: the change is named, not its values
        assert (address["before"], address["after"], address["concealed"]) == (None, None, "withheld")
        assert [e["version"] for e in address["events"]] == [3]
        commune = changes["residence.communeCode"]
        assert (commune["before"], commune["after"]) == (TA_LENG, SIN_SUOI_HO)
        [moved] = commune["events"]
        assert (moved["eventType"], moved["reason"], moved["actorId"]) == ("ChildMoved", "the family moved",
                                                                           "officer:ta-leng")  # fmt: skip
        # Business time is the day of the move; system time is when the registry recorded it, a year later.
        assert datetime.fromisoformat(moved["occurredAt"]) == datetime(2025, 10, 1, tzinfo=VIETNAM)
        assert datetime.fromisoformat(moved["recordedAt"]) > datetime(2026, 1, 1, tzinfo=VIETNAM)
        assert datetime.fromisoformat(corrected["recordedAt"]) <= datetime.fromisoformat(moved["recordedAt"])
        assert changes["residence.validFrom"]["after"] == "2025-10-01"
        groups = changes["groups"]
        assert groups["before"] == [] and groups["after"] == [{"code": "disabled", "subgroup": "mild", "start":
                                                               "2025-10-15", "end": None, "evidence":
                                                               "assessment 12/2025"}]  # fmt: skip
        [classified] = groups["events"]
        assert (classified["version"], classified["actorId"], classified["reason"]) == (
            4, "officer:sin-suoi-ho", "the commune's assessment")  # fmt: skip
        assert datetime.fromisoformat(classified["occurredAt"]) == datetime(2025, 10, 15, tzinfo=VIETNAM)
    # By default, what the last event changed.
    last = diff(audit, THERE, audit.child)
    assert (last["fromVersion"], last["toVersion"], list(by_field(last))) == (3, 4, ["groups"])
    # From before the record: every field the registration set, and no more fields than the cost rule charges.
    made = diff(audit, AUDITOR, audit.child, **{"from": 0, "to": 1})
    fields = by_field(made)
    assert fields["details.sex"]["after"] == "female" and fields["personal.fullName"]["after"] == "Lò Thị Kiểm"
    assert fields["residence.communeCode"]["after"] == TA_LENG and "groups" not in fields and "diedOn" not in fields
    assert {e["eventType"] for d in made["differences"] for e in d["events"]} == {"ChildRegistered"}
    assert len(made["differences"]) <= BOUNDED["differences"]
    assert diff(audit, AUDITOR, audit.child, **{"from": 2, "to": 2})["differences"] == []


def test_the_diff_reaches_no_further_than_the_read_and_an_out_of_reach_record_gives_none(audit: Audit) -> None:
    # As the registry knew it after the correction: versions 3 and 4 did not exist yet.
    then = diff(audit, AUDITOR, audit.child, asOf=audit.cursors[1], **{"from": 1})
    assert then["toVersion"] == 2 and list(by_field(then)) == ["details.sex", "personal.fullName"]
    beyond = audit.post(DIFF, audit.token(*AUDITOR), {"id": audit.child, "asOf": audit.cursors[1], "to": 3})
    assert beyond["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "toVersion"}
    # The commune the child left no longer reads the record, nor therefore its diff.
    gone = audit.post(DIFF, audit.token(*HOME), {"id": audit.child, "from": 1, "to": 4})
    assert gone["data"] == {"child": None} and "Kiểm" not in str(gone)


def test_a_command_s_payload_gives_no_diff_its_record_was_not_read_with_a_purpose(audit: Audit) -> None:
    """A payload returns the record the command wrote without a logged read: its earlier versions stay closed."""
    query = ("mutation($i: RegisterChildInput!) { registerChild(input: $i) { child { version"
             " historyDiff(fromVersion: 0) { toVersion } } userErrors { code } } }")  # fmt: skip
    given = {"fullName": "Vàng Thị Tải", "dateOfBirth": "2019-05-06", "sex": "female", "communeCode": SIN_SUOI_HO,
             "residenceFrom": "2025-08-01", "idempotencyKey": str(uuid.uuid4())}  # fmt: skip
    answer = audit.post(query, audit.token(*THERE), {"i": given})
    assert answer["data"]["registerChild"]["child"] == {"version": 1, "historyDiff": None}, answer
    assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN" and "Tải" not in str(answer)


@pytest.mark.parametrize(("versions", "field"), [
    ({"from": 0, "to": 5}, "toVersion"), ({"from": -1, "to": 2}, "fromVersion"), ({"from": 3, "to": 2}, "fromVersion"),
    ({"from": 9}, "fromVersion"), ({"to": -4}, "toVersion"),
])  # fmt: skip
def test_bad_versions_are_bad_user_input_naming_the_argument(
    audit: Audit, versions: dict[str, int], field: str
) -> None:
    answer = audit.post(DIFF, audit.token(*AUDITOR), {"id": audit.child, **versions})
    [error] = answer["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert error["message"].startswith(field) and error["path"] == ["child", "historyDiff"]
    assert answer["data"]["child"]["version"] == 4  # the record itself is still served


def test_after_erasure_personal_fields_are_named_as_erased_never_shown(audit: Audit) -> None:
    found = diff(audit, AUDITOR, audit.erased, **{"from": 1, "to": 3})
    changes = by_field(found)
    assert list(changes) == ["personal.fullName", "erased"]
    name = changes["personal.fullName"]
    assert (name["before"], name["after"], name["concealed"]) == (None, None, "erased")
    assert [(e["version"], e["reason"]) for e in name["events"]] == [(2, "a typing error")]
    erasure = changes["erased"]
    assert (erasure["before"], erasure["after"], [e["eventType"] for e in erasure["events"]]) == (
        False, True, ["ChildDataErased"])  # fmt: skip
    registered = by_field(diff(audit, AUDITOR, audit.erased, **{"from": 0, "to": 1}))
    assert {f for f, d in registered.items() if d["concealed"] == "erased"} == {
        "personal.fullName", "personal.personalId", "personal.personalIdMismatchReason", "personal.caregiverNames",
        "personal.address"}  # recorded at registration, unreadable since  # fmt: skip
    assert "Giàng" not in str(found) and "Giàng" not in str(registered)


def test_a_case_diff_shows_the_process_and_never_its_confidential_part(audit: Audit) -> None:
    query = "query($id: ID!, $from: Int, $to: Int) { case(caseId: $id, purpose: \"quarterly audit\") { historyDiff(" \
            "fromVersion: $from, toVersion: $to) { fromVersion toVersion differences { field before after events {" \
            f" {EVENT} }} }} }} }} }}"  # fmt: skip
    for who in (AUDITOR, HOME):  # the commune it left, too, for its own period
        answer = audit.post(query, audit.token(*who), {"id": audit.case, "from": 1, "to": 3})
        found = answer["data"]["case"]["historyDiff"]
        assert (found["fromVersion"], found["toVersion"]) == (1, 3)
        changes = by_field(found)
        assert list(changes) == ["stage", "riskLevel", "officerId"]
        assert (changes["stage"]["before"], changes["stage"]["after"]) == ("received", "assessed")
        assert (changes["riskLevel"]["before"], changes["riskLevel"]["after"]) == (None, "high")
        [assessed] = changes["riskLevel"]["events"]
        assert (assessed["eventType"], assessed["reason"], assessed["actorId"]) == (
            "InitialAssessmentCompleted", "the visit", "officer:ta-leng")  # fmt: skip
        assert datetime.fromisoformat(assessed["occurredAt"]) == datetime(2026, 11, 3, 5, tzinfo=VIETNAM)
        officer = changes["officerId"]
        [assigned] = officer["events"]
        assert (officer["after"], assigned["version"], assigned["reason"]) == ("officer:mai", 3, "her area")
    moved = audit.post(query, audit.token(*AUDITOR), {"id": audit.case})["data"]["case"]["historyDiff"]
    assert (moved["fromVersion"], moved["toVersion"]) == (3, 4)
    commune = by_field(moved)["jurisdiction.communeCode"]
    assert (commune["before"], commune["after"], commune["events"][0]["reason"]) == (
        TA_LENG, SIN_SUOI_HO, "the family moved away")  # fmt: skip
    # The commune it left sees it until the transfer: no further.
    left = audit.post(query, audit.token(*HOME), {"id": audit.case})["data"]["case"]["historyDiff"]
    assert (left["fromVersion"], left["toVersion"], list(by_field(left))) == (2, 3, ["officerId"])
    beyond = audit.post(query, audit.token(*HOME), {"id": audit.case, "to": 4})
    assert beyond["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "toVersion"}
    whole = audit.post(query, audit.token(*AUDITOR), {"id": audit.case, "from": 0})
    assert "left alone" not in str(whole) and "Cô giáo" not in str(whole)
    assert by_field(whole["data"]["case"]["historyDiff"])["childIds"]["after"] == [audit.erased]


def test_only_auditors_read_who_accessed_a_record_and_that_is_logged(audit: Audit, run, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    read = "query($id: ID!, $p: String!) { child(childId: $id, purpose: $p) { version } }"
    assert audit.post(read, audit.token(*THERE), {"id": audit.child, "p": "home visit"})["data"]["child"]
    nosy = (Role.COMMUNE_OFFICER, TA_LENG, "officer:nosy")  # the commune the child left: refused
    assert audit.post(read, audit.token(*nosy), {"id": audit.child, "p": "curiosity"})["data"] == {"child": None}
    refused = audit.post(LOG, audit.token(*THERE), {"id": audit.child})
    assert refused["data"]["child"] == {"accessLog": None}
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    denied = run(entries(registry.db.pool, record_kind="access_log", subject="officer:sin-suoi-ho"))
    assert [(e.operation, e.record_id, e.outcome, e.reason) for e in denied] == [
        ("child.accessLog", audit.child, Outcome.DENIED, "role")]  # fmt: skip
    answer = audit.post(LOG, audit.token(*AUDITOR), {"id": audit.child})
    assert "errors" not in answer, answer
    log = [e["node"] for e in answer["data"]["child"]["accessLog"]["edges"]]
    assert {e["recordKind"] for e in log} == {"child"} and {e["recordId"] for e in log} == {audit.child}
    seen = [(e["subject"], e["outcome"], e["reason"], e["purpose"]) for e in log]
    assert ("officer:sin-suoi-ho", "allowed", None, "home visit") in seen
    assert ("officer:nosy", "denied", "jurisdiction", "curiosity") in seen
    assert seen[-1] == ("auditor:q4", "allowed", None, "quarterly audit")  # this very request's read of the record
    assert seen.index(("officer:sin-suoi-ho", "allowed", None, "home visit")) < seen.index(
        ("officer:nosy", "denied", "jurisdiction", "curiosity"))  # oldest first  # fmt: skip
    mine = run(entries(registry.db.pool, record_kind="access_log", subject="auditor:q4"))
    assert [(e.operation, e.record_id, e.purpose, e.outcome) for e in mine][-1] == (
        "child.accessLog", audit.child, "quarterly audit", Outcome.ALLOWED)  # with the record's purpose  # fmt: skip
    # Page by page; a purpose of its own; a bad one or a bad cursor is named.
    paged = LOG.replace("first: 100", "first: 1")
    first = audit.post(paged, audit.token(*AUDITOR), {"id": audit.child, "p": "sample check"})
    page = first["data"]["child"]["accessLog"]
    assert len(page["edges"]) == 1 and page["pageInfo"]["hasNextPage"]
    second = audit.post(paged, audit.token(*AUDITOR), {"id": audit.child, "a": page["pageInfo"]["endCursor"]})
    assert second["data"]["child"]["accessLog"]["edges"][0]["node"] == log[1]
    assert run(entries(registry.db.pool, record_kind="access_log", subject="auditor:q4"))[-2].purpose == "sample check"
    for variables, field in (({"p": " "}, "purpose"), ({"a": "bm9wZQ=="}, "after")):
        bad = audit.post(LOG, audit.token(*AUDITOR), {"id": audit.child, **variables})
        assert bad["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


def test_who_accessed_a_case_for_the_auditor(audit: Audit) -> None:
    query = "query($id: ID!) { case(caseId: $id, purpose: \"quarterly audit\") { accessLog { edges { node { subject" \
            " outcome operation } } } } }"  # fmt: skip
    audit.post(query, audit.token(*HOME), {"id": audit.case})  # refused the log, but its read of the case is logged
    log = [e["node"] for e in audit.post(query, audit.token(*AUDITOR), {"id": audit.case})["data"]["case"]
           ["accessLog"]["edges"]]  # fmt: skip
    assert {"subject": "officer:ta-leng", "outcome": "allowed", "operation": "case"} in log
    assert log[-1] == {"subject": "auditor:q4", "outcome": "allowed", "operation": "case"}


def test_a_page_of_children_with_their_diffs_is_charged_by_the_fields_compared(audit: Audit) -> None:
    many = "{ children(unit: \"12\", purpose: \"review\", first: 100) { edges { node { historyDiff { differences {" \
           " field before after events { version } } } } } } }"  # fmt: skip
    answer = audit.post(many, audit.token(*AUDITOR))
    assert answer["errors"][0]["extensions"]["code"] == "COST_LIMIT"
    one = audit.post(DIFF, audit.token(*AUDITOR), {"id": audit.child})
    assert one["extensions"]["cost"]["requested"] < 500


# -- the diff itself, on random histories (no server) -----------------------------------------------------------------

STEP = st.one_of(
    st.tuples(st.just("correct"), st.sampled_from(list(Sex)), st.sampled_from(["Lò Thị A", "Lò Văn B"])),
    st.tuples(st.just("move"), st.sampled_from([TA_LENG, SIN_SUOI_HO]), st.sampled_from(["Bản X", None])),
    st.tuples(st.just("classify"), st.sampled_from(["disabled", "orphaned"]), st.none()),
    st.tuples(st.just("erase"), st.none(), st.none()),
)


def history_of(steps: list[tuple[str, Any, Any]], erased: bool) -> Versions:
    """A child's events made from `steps`, opened with its key or (`erased`) without, as a record's Versions."""

    def opened(generic: Any, **values: Any) -> BaseModel:
        made: BaseModel = generic[Erased if erased else Identity](**values)
        return made

    def identity(**values: Any) -> Identity | Erased:
        return ERASED if erased else Identity(**values)

    details = Details(date_of_birth=date(2018, 1, 1), sex=Sex.FEMALE)
    models = [opened(ChildRegistered, child_id="c", details=details, commune_code=TA_LENG,
                     residence_from=date(2025, 1, 1), personal=identity(full_name="Lò Thị A"))]  # fmt: skip
    for n, (step, first, second) in enumerate(steps):
        on = date(2025, 2, 1) + timedelta(days=n)
        if step == "correct":
            details = details.model_copy(update={"sex": first})
            models.append(opened(ChildDetailsCorrected, fields=["full_name", "sex"], reason="r", details=details,
                                 personal=identity(full_name=second)))  # fmt: skip
        elif step == "move":
            models.append(opened(ChildMoved, from_commune=TA_LENG, to_commune=first, on=on,
                                 personal=identity(full_name="x", address=second)))  # fmt: skip
        elif step == "classify":
            models.append(ChildClassified(group=first, subgroup=None, on=on, evidence="e"))
        else:
            models.append(ChildDataErased(legal_basis="b"))
    now = datetime(2026, 1, 1, tzinfo=VIETNAM)
    events = [RecordedEvent(n, n, "child:c", "child", n, event_type(m), 1, {}, {"actor_id": "a", "reason": "r"}, now,
                            now, None, b"", 1) for n, m in enumerate(models, start=1)]  # fmt: skip
    return Versions.of_child(events, models)


@given(steps=st.lists(STEP, max_size=8), erased=st.booleans(), data=st.data())
def test_a_diff_is_made_of_the_changes_between_and_shows_no_personal_value_it_may_not(
    steps: list[tuple[str, Any, Any]], erased: bool, data: st.DataObject
) -> None:
    versions = history_of(steps, erased)
    last = len(steps) + 1
    low, mid, high = sorted(data.draw(st.lists(st.integers(0, last), min_size=3, max_size=3)))
    whole = versions.diff(low, high)
    assert (whole.from_version, whole.to_version) == (low, high)
    assert versions.diff(mid, mid).differences == []
    for change in whole.differences:
        assert change.events and all(low < e.version <= high for e in change.events), change.field
        assert [e.version for e in change.events] == sorted({e.version for e in change.events})
        if change.field.startswith("personal.") and (erased or change.field != "personal.fullName"):
            assert (change.before, change.after) == (None, None) and change.concealed in ("withheld", "erased")
    # What changed from low to high changed from low to mid or from mid to high.
    parts = {c.field for n, m in ((low, mid), (mid, high)) for c in versions.diff(n, m).differences}
    assert {c.field for c in whole.differences} <= parts
    if erased:
        assert "Lò" not in str([(c.before, c.after) for c in whole.differences])
