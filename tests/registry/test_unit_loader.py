"""Loading the administrative units into a real store: idempotent, resumable, never overwriting."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from registry.catalog import default_catalog
from registry.errors import InvalidInput
from registry.events import Metadata
from registry.gazetteer import Gazetteer
from registry.store import EventStore
from registry.unit_loader import Plan, default_plan, load, plan, read_dataset
from registry.unit_service import as_new_event, execute
from registry.units import STREAM_TYPE, DissolveUnit, Kind, MergeUnit, RenameUnit, UnitEstablished
from tests.conftest import Db

OFFICER = Metadata(actor_id="officer:test", actor_role="system")

# A country of two provinces that become one, as the shipped data file spells it.
TINY = {
    "source": {"name": "tiny", "version": "0"},
    "legacy": {
        "in_force_on": "2025-06-30",
        "provinces": [["01", "city", "Hà Nội", None], ["02", "province", "Hà Giang", None]],
        "districts": [["001", "urban_district", "Ba Đình", "01"], ["024", "city", "Hà Giang", "02"]],
        "communes": [
            ["00001", "ward", "Phúc Xá", "001"],
            ["00004", "ward", "Trúc Bạch", "001"],
            ["00688", "ward", "Quang Trung", "024"],
        ],
    },
    "reform": {
        "effective": "2025-07-01",
        "provinces": [["01", "city", "Hà Nội", None]],
        "communes": [["00004", "ward", "Ba Đình", "01"], ["00688", "ward", "Hà Giang 1", "01"]],
    },
    "provinces": [["01", "01"], ["02", "01"]],
    "communes": [["00001", "00004", True], ["00004", "00004", True], ["00688", "00688", True]],
}


@pytest.fixture
def units_store(run, fresh_db: Db) -> Iterator[EventStore]:
    store = EventStore(fresh_db.pool, default_catalog())
    yield store
    run(store.close())


def tiny_plan(tmp_path: Path, document: dict[str, object] = TINY) -> Plan:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return plan(read_dataset(path))


def states(units: Gazetteer) -> dict[str, object]:
    return {s.unit_id: s for s in units.states()}


def test_the_full_data_loads_once_and_a_second_load_writes_nothing(run, units_store: EventStore) -> None:
    the_plan = default_plan()
    first = run(load(units_store, the_plan))
    assert (first.written_events, first.diverged) == (the_plan.event_count, [])
    count, _ = run(units_store.stats())
    assert count == the_plan.event_count == 24_801
    again = run(load(units_store, the_plan))
    assert (again.written_events, again.written_appends, again.diverged) == (0, 0, [])
    assert run(units_store.stats())[0] == count
    stored = Gazetteer()
    assert run(stored.refresh(units_store)) == count
    assert states(stored) == states(the_plan.gazetteer)  # the store holds exactly what was decided


def test_an_interrupted_load_finishes_where_it_stopped(run, units_store: EventStore, tmp_path: Path) -> None:
    the_plan = tiny_plan(tmp_path)
    # what a load killed during the reform left behind: the legacy units and two of the reform's appends
    done = [change for _, changes in the_plan.phases[:3] for change in changes] + the_plan.phases[3][1][:2]
    for change in done:
        events = [as_new_event(e, date(2025, 6, 30)) for e in change.events]
        run(units_store.append(change.stream_id, STREAM_TYPE, change.expected_version, events, OFFICER))
    written = sum(len(change.events) for change in done)
    assert written == 7 + 2
    rest = run(load(units_store, the_plan))
    assert rest.unchanged_appends == 7 + 2 and rest.written_events == the_plan.event_count - written
    assert run(units_store.stats())[0] == the_plan.event_count
    units = Gazetteer()
    run(units.refresh(units_store))
    assert [u.full_name for u in units.path("00004", date(2026, 1, 1))] == ["Phường Ba Đình", "Thành phố Hà Nội"]
    assert [u.code for u in units.predecessors("00004", date(2026, 1, 1))] == ["00001", "00004"]
    assert [u.full_name for u in units.path("00688", date(2026, 1, 1))] == ["Phường Hà Giang 1", "Thành phố Hà Nội"]
    assert units.lookup("00688", date(2026, 1, 1)).unit_id == "unit:00688:initial"  # carried on, moved, renamed
    assert run(load(units_store, the_plan)).written_events == 0


def test_a_stream_that_differs_from_the_data_is_reported_and_left_alone(
    run, units_store: EventStore, tmp_path: Path
) -> None:
    other = UnitEstablished(code="02", level="province", kind=Kind.PROVINCE, name="Hà Tuyên", parent_id=None,
                            effective_date=None, basis="another list")  # fmt: skip
    run(units_store.append("unit:02:initial", STREAM_TYPE, 0, [as_new_event(other, date(2025, 6, 30))], OFFICER))
    report = run(load(units_store, tiny_plan(tmp_path)))
    assert "unit:02:initial" in report.diverged
    assert run(units_store.read_stream("unit:02:initial"))[0].data["name"] == "Hà Tuyên"  # not overwritten
    assert run(units_store.read_stream("reorganisation:2025-07-01")) == []  # the act is not recorded as done


def test_a_broken_data_file_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"legacy": {}}', encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        read_dataset(path)
    assert caught.value.field == "file"
    wrong = json.loads(json.dumps(TINY))
    wrong["communes"].append(["00001", "99999", False])  # a crosswalk row to a commune that does not exist
    with pytest.raises(InvalidInput) as invalid:
        tiny_plan(tmp_path, wrong)
    assert invalid.value.reason == "unknown_unit"


def test_commands_through_the_store_write_nothing_when_they_break_a_rule(
    run, units_store: EventStore, tmp_path: Path
) -> None:
    run(load(units_store, tiny_plan(tmp_path)))
    units = Gazetteer()
    count = run(units_store.stats())[0]
    day = date(2026, 1, 1)
    with pytest.raises(InvalidInput) as caught:  # the province still has communes under it
        run(execute(units_store, units, DissolveUnit("unit:01:2025-07-01", day, "test"), OFFICER))
    assert caught.value.reason == "has_children"
    with pytest.raises(InvalidInput):
        run(execute(units_store, units, MergeUnit("unit:00004:2025-07-01", "unit:001:initial", day, "t"), OFFICER))
    assert run(units_store.stats())[0] == count
    results = run(execute(units_store, units, RenameUnit("unit:00688:initial", "Hà Giang", Kind.WARD, day, "t"),
                          OFFICER))  # fmt: skip
    assert [r.last_version for r in results] == [4]  # established, moved, renamed in 2025, renamed now
    assert units.lookup("00688", day).name == "Hà Giang"  # the gazetteer followed the store
    assert units.lookup("00688", date(2025, 12, 31)).name == "Hà Giang 1"
