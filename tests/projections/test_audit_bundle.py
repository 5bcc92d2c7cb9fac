"""Audit bundles: `registry audit export` writes a unit's streams with their proofs and access log, and the standalone
verifier, copied out of the repository and run by a bare interpreter, passes it, names the position of every change,
deletion, insertion and reordering made to the file, fails a bundle of a database tampered with after a root was
published, and shows a child whose data was erased as erased while its events still verify.

The test has a database of its own (it tampers with it), with the real units: children and cases of Đồng Văn
(Hà Giang), the period 2025 across the reform: legacy Lũng Cú (00715) and Má Lé until 2025-06-30, both in the new
Lũng Cú (00715) from 2025-07-01; Phố Bảng outside it throughout.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from projections.audit_bundle import OPERATION, export_command
from projections.register import PROJECTIONS
from projections.runtime import Projector
from registry import bundle_verifier
from registry.case_service import CaseRegister
from registry.cases import AssessRisk, CaseType, Channel, ReceiveReport, ReporterKind, RiskLevel
from registry.catalog import default_catalog
from registry.child_service import ChildRegister
from registry.children import ClassifyChild, EraseChildData, MoveChild, RegisterChild, Sex
from registry.cli import audit_arguments
from registry.config import load_settings
from registry.events import Metadata
from registry.gazetteer import Gazetteer
from registry.hashing import canonical_json, event_hash, format_time
from registry.integrity import create_checkpoint
from registry.law import VIETNAM
from registry.sealing import Keyring
from registry.store import EventStore
from registry.unit_loader import default_plan, load
from tests.conftest import NOW, Db, create_test_database, drop_test_database
from tests.registry.test_integrity import superuser

VERIFIER = Path(bundle_verifier.__file__)
OFFICER = Metadata(actor_id="officer:7a", actor_role="commune_officer")
LUNG_CU, MA_LE, PHO_BANG = "00715", "00718", "00712"
START, END = date(2025, 1, 1), date(2025, 12, 31)
NAMES = {"a": "Giàng Thị Dua", "b": "Vàng Mí Chơ", "c": "Sùng Văn Pó", "d": "Lầu Thị Xúa"}
LEGAL_BASIS = "Decree 13/2023 Art. 16: the guardian's request"


@dataclass
class Audited:
    db: Db
    store: EventStore
    master: bytes
    ids: dict[str, str]
    cases: dict[str, str]
    published: bytes  # a root published before the last events and the export

    def settings(self, where: Path) -> Any:
        return load_settings(database_url=self.db.owner_url, registry_data_dir=where,
                             registry_master_key=base64.urlsafe_b64encode(self.master).decode())  # fmt: skip


def vn(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=VIETNAM)  # type: ignore[misc]


@pytest.fixture(scope="module")
def audited(run, admin_url: str) -> Iterator[Audited]:  # type: ignore[no-untyped-def]
    db = run(create_test_database(admin_url))
    store = EventStore(db.pool, default_catalog(), connect=db.database.connect)
    run(load(store, default_plan()))
    units = Gazetteer()
    run(units.refresh(store))
    master = os.urandom(32)
    children = ChildRegister(store, Keyring(db.pool, master), units, clock=lambda: NOW)
    cases = CaseRegister(store, Keyring(db.pool, master, subject="case"), units, children, clock=lambda: NOW)
    ids = {name: str(uuid.uuid4()) for name in NAMES}
    k = {name: str(uuid.uuid4()) for name in ("k1", "k2")}

    def do(command: object) -> None:
        service: Any = cases if type(command).__module__.endswith("cases") else children
        run(service.execute(command, OFFICER))

    do(RegisterChild(ids["a"], NAMES["a"], date(2015, 3, 1), Sex.FEMALE, LUNG_CU, date(2022, 1, 1),
                     personal_id="002315000111", address="Thôn Séo Lủng"))  # fmt: skip
    do(ClassifyChild(ids["a"], "disabled", date(2024, 1, 15), "certificate", "mild"))
    do(ClassifyChild(ids["a"], "hiv_aids", date(2024, 3, 1), "hospital letter"))
    do(RegisterChild(ids["b"], NAMES["b"], date(2017, 6, 2), Sex.MALE, MA_LE, date(2023, 3, 1)))
    do(RegisterChild(ids["c"], NAMES["c"], date(2016, 8, 8), Sex.MALE, PHO_BANG, date(2024, 1, 1)))
    do(RegisterChild(ids["d"], NAMES["d"], date(2014, 2, 2), Sex.FEMALE, LUNG_CU, date(2021, 5, 1),
                     address="Thôn Lô Lô Chải"))  # fmt: skip
    do(ReceiveReport(k["k1"], vn(2025, 3, 1, 9), Channel.HOTLINE_111, ReporterKind.NEIGHBOUR, (CaseType.NEGLECT,),
                     LUNG_CU, "an account", child_ids=(ids["a"],), reporter_name="Giàng A Lử"))  # fmt: skip
    do(ReceiveReport(k["k2"], vn(2025, 4, 1, 9), Channel.SCHOOL, ReporterKind.TEACHER, (CaseType.NEGLECT,),
                     PHO_BANG, "an account", child_ids=(ids["c"],)))  # fmt: skip
    published = run(create_checkpoint(store))
    assert published is not None
    do(MoveChild(ids["b"], LUNG_CU, date(2025, 9, 1), "Thôn Lũng Cú"))
    do(AssessRisk(k["k1"], vn(2025, 3, 1, 11), RiskLevel.MEDIUM, emergency=False))
    run(children.execute(EraseChildData(ids["d"], LEGAL_BASIS), OFFICER))
    for cls in PROJECTIONS:
        projection = cls()
        runner = Projector(store, db.owner, projection)
        run(projection.prepare(store))
        run(runner.catch_up(run(runner.ensure())))
    yield Audited(db, store, master, ids, k, published.root)
    run(store.close())
    run(drop_test_database(admin_url, db))


def export(audited: Audited, where: Path, *options: str) -> Path:
    parser = argparse.ArgumentParser()
    audit_arguments(parser)
    out = where / f"kiem-toan-{uuid.uuid4().hex[:6]}.json"
    args = parser.parse_args(["export", "--unit", LUNG_CU, "--from", START.isoformat(), "--to", END.isoformat(),
                              "--out", str(out), "--actor", "operator:auditor", *options])  # fmt: skip
    assert export_command(audited.settings(where), args) == 0
    return out


def standalone(bundle: Path, where: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """The verifier copied out of the repository, run by an interpreter with no site packages and no environment."""
    copy = where / "alone" / "bundle_verifier.py"
    copy.parent.mkdir(exist_ok=True)
    shutil.copy(VERIFIER, copy)
    return subprocess.run([sys.executable, "-I", "-S", str(copy), str(bundle), *options], cwd=copy.parent,
                          capture_output=True, text=True, timeout=120, env={})  # fmt: skip


@pytest.fixture(scope="module")
def bundle(audited: Audited, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(audited, tmp_path_factory.mktemp("bundle"))


def test_the_bundle_holds_the_units_streams_and_verifies_in_a_bare_interpreter(  # type: ignore[no-untyped-def]
    run, audited: Audited, bundle: Path, tmp_path: Path
) -> None:
    assert bundle.stat().st_mode & 0o077 == 0  # sensitive personal data: its owner's only
    content = json.loads(bundle.read_text(encoding="utf-8"))
    i, k = audited.ids, audited.cases
    expected = {f"child:{i['a']}", f"child:{i['b']}", f"child:{i['d']}", f"case:{k['k1']}"}
    assert {s["stream_id"] for s in content["streams"]} == expected  # Phố Bảng's child and case are not
    assert [(e["stream_id"], e["version"]) for e in content["events"]] == sorted(
        (s["stream_id"], v) for s in content["streams"] for v in range(1, s["versions"] + 1))  # fmt: skip
    assert content["format_version"] == bundle_verifier.FORMAT_VERSION
    raw = bundle.read_bytes()
    for name in NAMES.values():  # sealed: never the personal data itself
        assert name.encode() not in raw
    assert b"002315000111" not in raw and "Séo Lủng".encode() not in raw

    done = standalone(bundle, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.splitlines()[-1] == "verify: OK"
    events = len(content["events"])
    assert f"events: {events}, hashes recomputed: {events}" in out
    assert f"inclusion proofs: {events} of {events} lead to checkpoint {content['checkpoint']['id']}'s root" in out
    assert "streams: 4 (1 case, 3 child)" in out
    assert f"earlier checkpoints: {len(content['earlier_checkpoints'])}" in out
    assert "this export's read of each of the 4 records present" in out

    # the command of the registry runs the same check
    parser = argparse.ArgumentParser()
    audit_arguments(parser)
    assert bundle_verifier.verify_command(None, parser.parse_args(["verify", str(bundle)])) == 0

    # every record read is logged as the operator's, before the file was written, with no personal data
    rows = run(audited.db.pool.fetch("SELECT * FROM access_log WHERE subject = 'operator:auditor'"))
    mine = [r for r in rows if r["request_id"] == content["request_id"]]
    assert {(r["record_kind"], r["record_id"]) for r in mine} == {
        *((s.split(":")[0], s.split(":")[1]) for s in expected), ("access_log", None)}  # fmt: skip
    assert {(r["role"], r["operation"], r["outcome"]) for r in mine} == {("operator", OPERATION, "allowed")}
    assert all(name not in (r["purpose"] or "") for r in mine for name in NAMES.values())


def test_a_root_published_before_the_last_events_is_proved_consistent(audited: Audited, bundle: Path,
                                                                       tmp_path: Path) -> None:  # fmt: skip
    content = json.loads(bundle.read_text(encoding="utf-8"))
    assert audited.published.hex() in {c["root"] for c in content["earlier_checkpoints"]}
    done = standalone(bundle, tmp_path, "--root", audited.published.hex())
    assert done.returncode == 0, done.stdout
    assert f"published root {audited.published.hex()}: earlier checkpoint" in done.stdout
    # The earlier root proves its own leaves only: the events after it are said to rest on the bundle alone.
    size = next(c["size"] for c in content["earlier_checkpoints"] if c["root"] == audited.published.hex())
    beyond = sum(1 for e in content["events"] if e["leaf_index"] >= size)
    assert beyond > 0 and f"NOT ATTESTED: {beyond} of {len(content['events'])} events" in done.stdout
    done = standalone(bundle, tmp_path, "--root", content["checkpoint"]["root"])
    assert done.returncode == 0, done.stdout
    assert f"attested: every one of the {len(content['events'])} events" in done.stdout
    assert "no published root given" in standalone(bundle, tmp_path).stdout
    done = standalone(bundle, tmp_path, "--root", "ab" * 32)
    assert done.returncode == 1 and "is not the root of the bundle's checkpoint" in done.stdout


def test_an_erased_child_verifies_and_shows_as_erased(audited: Audited, bundle: Path, tmp_path: Path) -> None:
    done = standalone(bundle, tmp_path)
    assert done.returncode == 0, done.stdout
    erased = [line for line in done.stdout.splitlines() if line.startswith(("erased: ", "  version "))]
    content = json.loads(bundle.read_text(encoding="utf-8"))
    stream = [e for e in content["events"] if e["stream_id"] == f"child:{audited.ids['d']}"]
    assert len(erased) == 2, done.stdout
    assert erased[0].startswith(f"erased: child:{audited.ids['d']}: personal data erased on 2026-11-23 ")
    assert f"legal basis: {LEGAL_BASIS}" in erased[0]
    assert erased[1] == (f"  version 1 ChildRegistered (position {stream[0]['position']}): full_name, personal_id, "
                         "personal_id_mismatch_reason, caregiver_names, address: [erased]")  # fmt: skip
    assert [e["event_type"] for e in stream] == ["ChildRegistered", "ChildDataErased"]
    assert set(stream[0]["data"]["personal"]) == {"sealed"}  # the ciphertext stays; its key is gone
    assert "full_name" in content["personal_parts"]["child"]["fields"]


def _write(path: Path, content: dict[str, Any]) -> Path:
    path.write_bytes(orjson.dumps(content))
    return path


def _found(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.startswith("FINDING ")]


def _rehash(event: dict[str, Any]) -> None:
    event["hash"] = bundle_verifier.event_hash(event).hex()


@pytest.mark.parametrize("tampering", ["change", "change-rehashed", "delete", "delete-last", "insert", "reorder",
                                       "reorder-streams"])  # fmt: skip
def test_each_tampering_of_the_file_is_found_and_named_by_its_position(bundle: Path, tmp_path: Path,
                                                                         tampering: str) -> None:  # fmt: skip
    content = json.loads(bundle.read_text(encoding="utf-8"))
    events = content["events"]
    longest = max(content["streams"], key=lambda s: s["versions"])["stream_id"]
    first = next(n for n, e in enumerate(events) if e["stream_id"] == longest)
    one, two, three = events[first], events[first + 1], events[first + 2]
    assert (one["version"], two["version"], three["version"]) == (1, 2, 3)
    if tampering == "change":  # a value changed, the hash left
        two["data"] = {**two["data"], "on": "2024-01-16"} if "on" in two["data"] else {**two["data"], "x": 1}
        named = [two["position"]]
    elif tampering == "change-rehashed":  # the chain made whole again from the change on: only the proofs see it
        two["occurred_at"] = two["occurred_at"][:-2] + ("1Z" if two["occurred_at"][-2] != "1" else "2Z")
        chain = [e for e in events if e["stream_id"] == longest]
        for before, event in zip(chain, chain[1:], strict=False):
            event["prev_hash"] = before["hash"]
            _rehash(event)
        next(s for s in content["streams"] if s["stream_id"] == longest)["head"] = chain[-1]["hash"]
        named = [e["position"] for e in chain[1:]]
    elif tampering == "delete":  # from the middle of a stream: the next version does not link
        del events[first + 1]
        named = [three["position"]]
    elif tampering == "delete-last":  # the last version of a stream: the list of streams names it
        last = max((n for n, e in enumerate(events) if e["stream_id"] == longest))
        named = [events[last]["position"]]
        del events[last]
    elif tampering == "insert":  # a well-chained event added at the end of a stream, its proof borrowed
        last = max((n for n, e in enumerate(events) if e["stream_id"] == longest))
        forged = {**events[last], "version": events[last]["version"] + 1, "prev_hash": events[last]["hash"],
                  "position": events[-1]["position"] + 1000, "data": {"note": "thêm vào sau"}}  # fmt: skip
        _rehash(forged)
        events.insert(last + 1, forged)
        stream = next(s for s in content["streams"] if s["stream_id"] == longest)
        stream["versions"], stream["head"] = forged["version"], forged["hash"]
        named = [forged["position"]]
    elif tampering == "reorder":  # two versions of a stream swapped
        events[first + 1], events[first + 2] = three, two
        named = [two["position"]]
    else:  # an event moved into another stream's run
        moved = events.pop(first)
        events.append(moved)
        named = [moved["position"]]
    done = standalone(_write(tmp_path / "tampered.json", content), tmp_path)
    assert done.returncode == 1, done.stdout
    found = _found(done)
    assert found, done.stdout
    if tampering == "change-rehashed":
        assert all(" proof: " in line for line in found), done.stdout
    for position in named:
        assert any(re.search(rf"position {position}[,:]", line) for line in found), (position, done.stdout)
    assert done.stdout.splitlines()[-1] == f"verify: {len(found)} FINDINGS"


def test_an_access_log_entry_removed_or_malformed_is_a_finding(bundle: Path, tmp_path: Path) -> None:
    content = json.loads(bundle.read_text(encoding="utf-8"))
    gone = next(e for e in content["access_log"] if e["request_id"] == content["request_id"])
    content["access_log"] = [e for e in content["access_log"] if e is not gone]
    content["access_log"][0]["outcome"] = "maybe"
    done = standalone(_write(tmp_path / "tampered.json", content), tmp_path)
    assert done.returncode == 1
    found = "\n".join(_found(done))
    assert f"stream {gone['record_kind']}:{gone['record_id']}: the access log lacks this export's read" in found
    assert "access log entry 1: its record kind or outcome is none the access log knows" in found


def test_what_no_root_covers_is_held_to_the_sha256_sent_apart(bundle: Path, tmp_path: Path) -> None:
    """An access-log entry rewritten (another purpose) breaks no hash or proof: the file's digest, printed by the
    export and sent apart, is what shows it."""
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert standalone(bundle, tmp_path, "--sha256", digest).returncode == 0
    content = json.loads(bundle.read_text(encoding="utf-8"))
    content["access_log"][0]["purpose"] = "another purpose"
    done = standalone(_write(tmp_path / "edited.json", content), tmp_path, "--sha256", digest)
    assert done.returncode == 1 and _found(done) == [f"FINDING altered: the file's sha256 is not {digest}, the one "
                                                     "sent apart: the list of streams, the access log or the header "
                                                     "may differ"]  # fmt: skip
    assert standalone(bundle, tmp_path, "--sha256", "xyz").returncode == 2


@pytest.mark.parametrize("part", ["transaction_id", "unit", "consistency"])
def test_a_bundle_of_the_wrong_shape_is_unreadable_not_a_crash(bundle: Path, tmp_path: Path, part: str) -> None:
    content = json.loads(bundle.read_text(encoding="utf-8"))
    if part == "transaction_id":
        content["events"][0]["transaction_id"] = "²"  # str.isdigit says yes, int() says no
    elif part == "unit":
        content["unit"] = 5
    else:
        content["earlier_checkpoints"] = [{"root": "ab" * 32, "size": 1, "consistency": 7}]
    done = standalone(_write(tmp_path / "odd.json", content), tmp_path)
    assert done.returncode in (1, 2) and "Traceback" not in done.stderr, done.stderr
    if part == "transaction_id":
        assert any("transaction id is not a number" in line for line in _found(done))


def test_a_personal_part_in_the_clear_is_a_finding(bundle: Path, tmp_path: Path) -> None:
    content = json.loads(bundle.read_text(encoding="utf-8"))
    event = next(e for e in content["events"] if "personal" in e["data"])
    event["data"]["personal"] = {"full_name": "Tên Giả"}
    done = standalone(_write(tmp_path / "tampered.json", content), tmp_path)
    assert done.returncode == 1
    assert any(f"position {event['position']}," in line and "personal part is not sealed" in line
               for line in _found(done))  # fmt: skip


def test_a_database_tampered_after_a_published_root_fails_the_bundle(run, audited: Audited, tmp_path: Path) -> None:
    """An administrator rewrites an event so that its chain holds: the proofs, from the leaves the checkpoint
    committed, do not lead to the root; rewriting the checkpoints too leaves a bundle consistent in itself, which
    a root published earlier no longer matches. Last in the module: the database's checkpoints are rewritten."""
    stream = f"child:{audited.ids['a']}"
    row = run(audited.db.pool.fetchrow("SELECT * FROM events WHERE stream_id = $1 ORDER BY version DESC LIMIT 1",
                                       stream))  # fmt: skip
    data = {**row["data"], "evidence": "đã sửa"}
    digest = event_hash(stream_id=stream, stream_type=row["stream_type"], version=row["version"],
                        event_type=row["event_type"], schema_version=row["schema_version"],
                        data=canonical_json(data), metadata=canonical_json(row["metadata"]),
                        occurred_at=format_time(row["occurred_at"]), prev_hash=row["prev_hash"])  # fmt: skip
    run(superuser(audited.db, "UPDATE events SET data = convert_from($2::bytea, 'UTF8')::jsonb, hash = $3 "
                  "WHERE position = $1", row["position"], canonical_json(data), digest))  # fmt: skip

    done = standalone(export(audited, tmp_path), tmp_path, "--root", audited.published.hex())
    assert done.returncode == 1, done.stdout
    found = _found(done)
    assert [line for line in found if f"position {row['position']}," in line], done.stdout
    assert all(f"position {row['position']}," in line for line in found), done.stdout  # nothing else

    run(superuser(audited.db, "DELETE FROM checkpoint_leaves"))
    run(superuser(audited.db, "DELETE FROM checkpoints"))
    bundle = export(audited, tmp_path)
    assert standalone(bundle, tmp_path).returncode == 0  # consistent in itself again
    done = standalone(bundle, tmp_path, "--root", audited.published.hex())
    assert done.returncode == 1
    assert _found(done) == [f"FINDING checkpoint: the published root {audited.published.hex()} is not the root of "
                            "the bundle's checkpoint nor of an earlier one it proves"]  # fmt: skip
