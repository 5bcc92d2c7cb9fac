"""Importing children from files: rows through the register's commands, idempotent, resumable, reported.

On a real store with the real administrative units (the `registry` fixture): each test imports rows of its own
(a source name of its own makes their records its own).
"""

from __future__ import annotations

import csv
import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from registry.child_columns import COLUMNS
from registry.gazetteer import Gazetteer
from registry.imports import Importer, ImportFileError, ImportOptions, Rejection, RejectionReport, Table, child_id_of
from registry.integrity import verify
from tests.conftest import Registry

HEADINGS_VI = ["Mã hồ sơ nguồn", "Họ và tên", "Ngày sinh", "Giới tính", "Dân tộc", "Số định danh cá nhân", "Mã xã",
               "Cư trú từ ngày", "Địa chỉ", "Họ tên mẹ", "Tình trạng mẹ", "Nhóm hoàn cảnh đặc biệt"]  # fmt: skip


def good_rows() -> list[list[str]]:
    return [
        ["A1", "Lò Thị Mai", "02/05/2014", "Nữ", "Thái", "", "03253", "01/01/2020", "Bản Xôm", "Lò Thị Hoa", "Còn sống",
         "d:mild@2024-03-01"],
        ["A2", "Quàng Văn Nam", "2016", "Nam", "03", "", "03274", "15/06/2021", "", "", "", ""],
        ["A3", "Cà Thị Hương", "11/2019", "nu", "Kinh", "", "03253", "", "Bản Ten", "", "", "không"],
    ]  # fmt: skip


def write_csv(path: Path, headings: list[str], rows: list[list[Any]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(headings)
        writer.writerows(rows)
    return path


def options(source: str, **changes: Any) -> ImportOptions:
    values: dict[str, Any] = {"source": source, "collected_on": date(2026, 11, 1), "actor_id": "operator:test",
                              "actor_role": "operator"}  # fmt: skip
    return ImportOptions(**{**values, **changes})


async def importing(
    registry: Registry, path: Path | Table, opts: ImportOptions, report: RejectionReport | None = None
) -> tuple[Any, list[Rejection]]:
    units = Gazetteer()
    await units.refresh(registry.store)
    rejected: list[Rejection] = []

    def keep(rejection: Rejection) -> None:
        rejected.append(rejection)
        if report is not None:
            report.add(rejection)

    table = path if isinstance(path, Table) else Table(path)
    summary = await Importer(registry.children, units, registry.store, opts).run(table, on_rejected=keep)
    if report is not None:
        report.close()
    return summary, rejected


def test_rows_become_registered_and_classified_children_and_a_second_import_writes_nothing(
    run, registry: Registry, tmp_path: Path
) -> None:
    source = f"test-{uuid.uuid4().hex[:8]}"
    path = write_csv(tmp_path / "tre-em.csv", HEADINGS_VI, good_rows())
    summary, rejected = run(importing(registry, path, options(source)))
    assert rejected == []
    assert (summary.rows, summary.created, summary.changed, summary.unchanged, summary.rejected) == (3, 3, 0, 0, 0)
    assert summary.events == 4  # three registrations and one classification

    first = run(registry.children.load(str(uuid.uuid5(uuid.UUID("6f1c2a43-7d0b-4e8a-9b3e-2f5d8c7a1e90"),
                                                          f"{source}\x1fkey:A1"))))  # fmt: skip
    assert first is not None and first.personal.full_name == "Lò Thị Mai"  # type: ignore[union-attr]
    assert first.details.ethnicity == "03" and first.commune == "03253"
    assert [(g.code, g.subgroup, g.start) for g in first.groups] == [("disabled", "mild", date(2024, 3, 1))]
    assert [(c.relation.value, c.status.value) for c in first.details.caregivers] == [("mother", "alive")]
    second_events = run(registry.store.read_stream(f"child:{first.child_id}"))
    assert second_events[0].metadata["source"] == f"import:{source}"
    assert second_events[0].metadata["reason"] == f"import from {source}, line 2"

    again, rejected = run(importing(registry, path, options(source)))
    assert (again.created, again.changed, again.unchanged, again.events, rejected) == (0, 0, 3, 0, [])
    assert run(verify(registry.store)).ok


def test_a_changed_row_becomes_a_correction_a_move_and_new_groups(run, registry: Registry, tmp_path: Path) -> None:
    source = f"test-{uuid.uuid4().hex[:8]}"
    run(importing(registry, write_csv(tmp_path / "v1.csv", HEADINGS_VI, good_rows()), options(source)))
    rows = good_rows()
    rows[0][1] = "Lò Thị Mại"  # a corrected name
    rows[0][11] = "d:severe"  # a changed sub-group
    rows[1][6], rows[1][7] = "03127", "01/09/2025"  # moved to Phường Điện Biên Phủ
    rows[2][11] = "a:with_relatives"  # a new group
    summary, rejected = run(importing(registry, write_csv(tmp_path / "v2.csv", HEADINGS_VI, rows), options(source)))
    assert rejected == []
    assert (summary.created, summary.changed, summary.unchanged) == (0, 3, 0)

    states = [run(registry.children.load(child_id_of(row, source))) for row in _rows(rows)]
    assert states[0].personal.full_name == "Lò Thị Mại"  # type: ignore[union-attr]
    assert [(g.code, g.subgroup, g.end) for g in states[0].groups] == [
        ("disabled", "mild", date(2026, 11, 1)), ("disabled", "severe", None)]  # fmt: skip
    assert states[1].commune == "03127" and states[1].residences[-1].valid_from == date(2025, 9, 1)
    assert [g.code for g in states[2].groups] == ["orphan_both_parents"]
    types = [e.event_type for e in run(registry.store.read_stream(f"child:{states[0].child_id}"))]
    assert types == ["ChildRegistered", "ChildClassified", "ChildDetailsCorrected", "ChildDeclassified",
                     "ChildClassified"]  # fmt: skip


def test_a_legacy_commune_code_is_accepted_before_the_reform_and_refused_after_with_its_successor_named(
    run, registry: Registry, tmp_path: Path
) -> None:
    source = f"test-{uuid.uuid4().hex[:8]}"
    rows = [["L1", "Quàng Văn Tú", "2016", "Nam", "", "", "03274", "15/06/2021", "", "", "", ""],
            ["L2", "Quàng Văn Tơ", "2016", "Nam", "", "", "03274", "", "", "", "", ""]]  # fmt: skip
    summary, rejected = run(importing(registry, write_csv(tmp_path / "l.csv", HEADINGS_VI, rows), options(source)))
    assert (summary.created, summary.rejected) == (1, 1)
    [problem] = rejected[0].problems
    assert rejected[0].line == 3
    assert problem[:2] == ("commune_code", "unknown_commune")
    assert "until 2025-06-30" in problem[2] and "03253" in problem[2]


def _rows(rows: list[list[str]]) -> list[Any]:
    from registry.child_columns import column_of, read_row

    fields = [column_of(h) for h in HEADINGS_VI]
    return [read_row(n, {f: v for f, v in zip(fields, row, strict=True) if f}) for n, row in enumerate(rows, 2)]


@pytest.mark.parametrize(
    ("cell", "value", "field", "reason"),
    [
        (2, "31/02/2015", "date_of_birth", "impossible_date"),
        (2, "", "date_of_birth", "missing"),
        (2, "2015-13-01", "date_of_birth", "impossible_date"),
        (2, "hôm qua", "date_of_birth", "unreadable_date"),
        (3, "X", "sex", "unknown_value"),
        (5, "01234567890", "personal_id", "invalid_format"),
        (5, "011234567890", "personal_id", "year_mismatch"),
        (6, "99999", "commune_code", "unknown_commune"),
        (6, "3253a", "commune_code", "invalid_code"),
        (1, "Nguyá»…n VÄƒn A", "full_name", "wrong_encoding"),
        (1, "NguyÔn V¨n A", "full_name", "wrong_encoding"),
        (1, "", "full_name", "missing"),
        (4, "Martian", "ethnicity", "unknown_ethnicity"),
        (11, "z", "groups", "unknown_group"),
        (11, "d", "groups", "missing"),  # the disabled group has sub-groups: one must be named
        (2, "01/01/2008", "date_of_birth", "not_a_child"),
        (7, "01/01/2030", "residence_from", "in_the_future"),
    ],
)
def test_a_broken_row_is_reported_with_its_line_field_and_reason_and_the_good_rows_are_imported(
    run, registry: Registry, tmp_path: Path, cell: int, value: str, field: str, reason: str
) -> None:
    source = f"test-{uuid.uuid4().hex[:8]}"
    rows = good_rows()
    rows[1][cell] = value
    before = run(registry.store.stats())[0]
    summary, rejected = run(importing(registry, write_csv(tmp_path / "b.csv", HEADINGS_VI, rows), options(source)))
    assert (summary.created, summary.rejected) == (2, 1)
    assert rejected[0].line == 3
    assert (field, reason) in [(f, r) for f, r, _ in rejected[0].problems]
    assert run(registry.store.stats())[0] - before == 4  # the good rows' events, nothing of the broken one


def test_bytes_that_are_not_utf8_reject_their_row_only(run, registry: Registry, tmp_path: Path) -> None:
    source = f"test-{uuid.uuid4().hex[:8]}"
    path = write_csv(tmp_path / "mixed.csv", HEADINGS_VI, good_rows())
    with path.open("ab") as handle:
        handle.write("A4,Hà Văn Ba,2015,Nam,,,03253,,,,,\r\n".encode("cp1258"))  # Windows-1258: not UTF-8
    summary, rejected = run(importing(registry, path, options(source)))
    assert (summary.created, summary.rejected) == (3, 1)
    assert rejected[0].line == 5 and rejected[0].problems[0][:2] == ("full_name", "wrong_encoding")


def test_a_file_without_a_required_column_is_refused_whole(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", ["Họ và tên", "Giới tính"], [["Lò Thị Mai", "Nữ"]])
    with pytest.raises(ImportFileError) as caught:
        list(Table(path).rows())
    assert caught.value.reason == "missing_columns" and "Ngày sinh" in caught.value.message


def test_the_report_holds_the_rejected_rows_and_imports_again_once_fixed(
    run, registry: Registry, tmp_path: Path
) -> None:
    source = f"test-{uuid.uuid4().hex[:8]}"
    rows = good_rows()
    rows[1][2] = "31/02/2016"
    table = Table(write_csv(tmp_path / "r.csv", HEADINGS_VI, rows))
    run(importing(registry, table, options(source), RejectionReport(tmp_path / "r-loi.csv", table)))
    with (tmp_path / "r-loi.csv").open(encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0][:4] == ["Dòng", "Trường lỗi", "Lý do", "Mã hồ sơ nguồn"]
    assert lines[1][:2] == ["3", "Ngày sinh"] and "impossible_date" in lines[1][2]
    assert lines[1][3:] == rows[1]
    lines[1][5] = "28/02/2016"  # the officer fixes the date
    fixed = write_csv(tmp_path / "r-sua.csv", lines[0], lines[1:])
    summary, rejected = run(importing(registry, fixed, options(source)))
    assert (summary.created, summary.rejected, rejected) == (1, 0, [])


def test_json_lines_and_english_headings_with_columns_in_any_order(run, registry: Registry, tmp_path: Path) -> None:
    source = f"test-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "children.jsonl"
    path.write_text("\n".join([
        json.dumps({"commune_code": "03253", "sex": "female", "full_name": "Lò Thị Mai", "date_of_birth": "2014-05-02",
                    "source_key": "J1", "groups": "a:with_relatives@2023-01-01", "note": "x"}, ensure_ascii=False),
        "not json",
        json.dumps({"source_key": "J2", "full_name": "Lò Văn Nam", "date_of_birth": "2015", "sex": "male",
                    "commune_code": 3253, "residence_from": "2026-01-01"}),
    ]), encoding="utf-8")  # fmt: skip
    summary, rejected = run(importing(registry, path, options(source)))
    assert (summary.created, summary.rejected) == (2, 1)
    assert rejected[0].line == 2 and rejected[0].problems[0][1] == "not_json"
    assert summary.unknown_columns == ["note"]


def test_a_row_naming_a_record_twice_is_refused(run, registry: Registry, tmp_path: Path) -> None:
    source = f"test-{uuid.uuid4().hex[:8]}"
    rows = good_rows()
    rows.append([*rows[0][:1], "Lò Thị Mây", *rows[0][2:]])
    summary, rejected = run(importing(registry, write_csv(tmp_path / "d.csv", HEADINGS_VI, rows), options(source)))
    assert (summary.created, summary.rejected) == (3, 1)
    assert rejected[0].line == 5 and rejected[0].problems[0][1] == "repeated_record"
    again, _ = run(importing(registry, write_csv(tmp_path / "d.csv", HEADINGS_VI, rows), options(source)))
    assert (again.unchanged, again.rejected, again.events) == (3, 1, 0)


def test_a_dry_run_decides_every_row_and_writes_nothing(run, registry: Registry, tmp_path: Path) -> None:
    source = f"test-{uuid.uuid4().hex[:8]}"
    before = run(registry.store.stats())[0]
    summary, _ = run(importing(registry, write_csv(tmp_path / "n.csv", HEADINGS_VI, good_rows()),
                               options(source, dry_run=True)))  # fmt: skip
    assert (summary.created, summary.events) == (3, 4)
    assert run(registry.store.stats())[0] == before


def test_every_column_has_a_vietnamese_heading_and_a_description() -> None:
    assert all(c.vietnamese and c.description for c in COLUMNS)


def synthetic_csv(run, registry: Registry, path: Path, count: int, prefix: str) -> tuple[Path, int]:
    """A file of `count` valid synthetic rows; also how many of them name a group."""
    from registry import synthetic

    units = Gazetteer()
    run(units.refresh(registry.store))
    rows = list(synthetic.rows(count, units, seed=7, key_prefix=prefix))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path, sum(1 for r in rows if r["groups"])


def test_an_import_killed_at_any_point_finishes_on_the_next_run_with_nothing_twice(
    run, registry: Registry, tmp_path: Path
) -> None:
    import base64
    import os
    import subprocess
    import sys
    import time

    from tests.registry.test_cli import PROJECT, environment

    source = f"kill-{uuid.uuid4().hex[:8]}"
    path, grouped = synthetic_csv(run, registry, tmp_path / "many.csv", 3000, source)
    env = environment(DATABASE_URL=registry.db.owner_url,
                      REGISTRY_MASTER_KEY=base64.urlsafe_b64encode(registry.master).decode())  # fmt: skip
    command = [sys.executable, "-m", "registry.cli", "import", str(path), "--source", source, "--batch", "100",
               "--collected-on", "2026-11-01", "--report", str(tmp_path / "rejected.csv")]  # fmt: skip
    written = "SELECT count(*) FROM events WHERE metadata->>'source' = $1 AND stream_type = 'child'"
    importer = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while run(registry.db.pool.fetchval(written, f"import:{source}")) < 300 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        importer.kill()  # SIGKILL: no clean-up of any kind
        importer.communicate(timeout=30)
    partly = run(registry.db.pool.fetchval(written, f"import:{source}"))
    assert 0 < partly < 3000 + grouped, "kill the import while it writes (a smaller batch, or more rows)"

    again = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert run(registry.db.pool.fetchval(written, f"import:{source}")) == 3000 + grouped
    registrations = ("SELECT count(*), count(DISTINCT stream_id) FROM events WHERE metadata->>'source' = $1"
                     " AND event_type = 'ChildRegistered'")  # fmt: skip
    assert tuple(run(registry.db.pool.fetchrow(registrations, f"import:{source}"))) == (3000, 3000)
    once_more = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert "import: 3000 rows: 0 created, 0 changed, 3000 unchanged, 0 rejected; 0 events written" in once_more.stdout
    runs = "SELECT count(*) FROM events WHERE stream_type = 'import' AND metadata->>'source' = $1"
    assert run(registry.db.pool.fetchval(runs, f"import:{source}")) == 2  # the two runs that finished
    assert os.path.exists(path)


SAMPLES = Path(__file__).resolve().parents[2] / "registry" / "data" / "samples"


def test_the_shipped_sample_imports_its_good_rows_and_its_fixed_report_the_rest(run, registry: Registry) -> None:
    """The README's walk-through: the sample's broken rows are rejected for the reasons it shows, the report with
    its cells fixed (tre-em-mau-da-sua.csv) imports, and the sample imported again writes nothing."""
    source = f"sample-{uuid.uuid4().hex[:8]}"
    summary, rejected = run(importing(registry, SAMPLES / "tre-em-mau.csv", options(source,
                                      collected_on=date(2026, 11, 15))))  # fmt: skip
    assert (summary.rows, summary.created, summary.rejected) == (14, 9, 5)
    found = sorted((r.line, f, reason) for r in rejected for f, reason, _ in r.problems)
    assert found == [(11, "date_of_birth", "impossible_date"), (12, "commune_code", "unknown_commune"),
                     (13, "personal_id", "invalid_format"), (14, "full_name", "missing"),
                     (15, "birth_registration", "wrong_encoding"), (15, "full_name", "wrong_encoding")]  # fmt: skip
    fixed, rejected = run(importing(registry, SAMPLES / "tre-em-mau-da-sua.csv", options(source,
                                    collected_on=date(2026, 11, 15))))  # fmt: skip
    assert (fixed.rows, fixed.created, fixed.rejected, rejected) == (5, 5, 0, [])
    again, _ = run(importing(registry, SAMPLES / "tre-em-mau.csv", options(source, collected_on=date(2026, 11, 15))))
    assert (again.unchanged, again.rejected, again.events) == (9, 5, 0)


def test_the_readme_documents_every_column_and_the_sample_s_walk_through_as_it_runs(run, registry: Registry) -> None:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text[text.index("### Importing a file") : text.index("### Following the change feed")]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| `")]
    assert [(r[0].strip("| `"), r[1]) for r in rows] == [(c.name, c.vietnamese) for c in COLUMNS]
    source = f"readme-{uuid.uuid4().hex[:8]}"
    summary, rejected = run(importing(registry, SAMPLES / "tre-em-mau.csv", options(source,
                                      collected_on=date(2026, 11, 15))))  # fmt: skip
    shown = summary.line().split(" in ")[0]
    assert f"    {shown} in " in section, shown
    for rejection in rejected:
        assert f"    line {rejection.line}: " in section
