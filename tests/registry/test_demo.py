"""The demonstration data: real units, a few hundred synthetic children made through commands, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

from registry.cases import Stage
from registry.catalog import default_catalog
from registry.circumstances import GROUPS
from registry.config import load_settings
from registry.deadlines import Status
from registry.demo import CHILDREN, load_demo
from registry.integrity import verify
from registry.runtime import Registry
from registry.store import EventStore
from tests.conftest import Db


def test_the_demo_makes_children_through_commands_with_every_group_and_a_second_run_writes_nothing(
    run, fresh_db: Db, tmp_path
) -> None:
    settings = load_settings(registry_data_dir=tmp_path, registry_master_key=None)  # a key file in tmp_path
    store = EventStore(fresh_db.pool, default_catalog())
    registry = Registry(settings, fresh_db.database, fresh_db.pool, store)
    try:
        assert run(load_demo(registry)) is True
        pool = fresh_db.pool
        children = run(pool.fetchval("SELECT count(DISTINCT stream_id) FROM events WHERE stream_type = 'child'"))
        assert children == CHILDREN
        groups = run(pool.fetch("SELECT DISTINCT data->>'group' AS g FROM events WHERE event_type = 'ChildClassified'"))
        assert {r["g"] for r in groups} == set(GROUPS)  # every group of Art. 10(1)
        kinds = {r[0] for r in run(pool.fetch("SELECT DISTINCT event_type FROM events WHERE stream_type = 'child'"))}
        assert {"ChildMoved", "ChildMergedInto", "ChildMergeAbsorbed", "ChildDataErased", "SupportRecorded"} <= kinds
        # through the register's commands: every child event is sealed where personal and carries the loader
        actors = run(pool.fetch("SELECT DISTINCT metadata->>'actor_id' FROM events WHERE stream_type = 'child'"))
        assert [r[0] for r in actors] == ["system:demo-loader"]
        # cases in every stage, some overdue, in several communes, each about a demonstration child
        cases = run(registry.cases())
        states = [run(cases.load(r[0].split(":", 1)[1])) for r in run(pool.fetch(
            "SELECT DISTINCT stream_id FROM events WHERE stream_type = 'case'"))]  # fmt: skip
        assert {s.stage for s in states} == set(Stage)
        now = datetime.now(UTC)
        assert sum(any(d.status is Status.OVERDUE for d in s.deadlines(now)) for s in states) >= 4
        assert len({s.commune for s in states}) >= 10
        count = run(store.stats())[0]
        assert run(load_demo(registry)) is False
        assert run(store.stats())[0] == count
        assert run(verify(store)).ok
    finally:
        run(store.close())
