"""Hypothesis-generated files: valid and broken rows, rows in another encoding, repeated rows, columns shuffled and
headed in Vietnamese or English. Every valid row becomes its record field for field; every broken or repeated
row is reported on its own line and writes nothing; importing the file again writes nothing."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.child_columns import BY_NAME, column_of
from registry.children import ChildState, Identity
from registry.gazetteer import Gazetteer
from registry.imports import Importer, ImportOptions, Rejection, Table, child_id_of
from registry.law import TWO_TIER_FROM
from tests.conftest import Registry

COLLECTED = date(2026, 11, 1)
LEGACY = ["03274", "03400", "03253"]  # Quài Nưa, Tả Lèng (legacy), Thị trấn Tuần Giáo: until 2025-06-30
CURRENT = ["03253", "03405", "03127"]  # Xã Tuần Giáo, Xã Tả Lèng, Phường Điện Biên Phủ: from 2025-07-01
SURNAMES = ["Lò", "Quàng", "Giàng", "Sùng", "Nguyễn", "Trần", "Vàng", "Hầu"]
GIVEN = ["Thị Mai", "Văn Nam", "A Páo", "Thị Mỷ", "Văn Thắng", "Thị Hoà", "Đức Anh", "Thị Ơn"]
FIELDS = ["source_key", "full_name", "date_of_birth", "sex", "ethnicity", "personal_id", "birth_registration",
          "commune_code", "residence_from", "address", "mother_name", "mother_status", "groups"]  # fmt: skip
# What a cell can be broken by, and the field and reason the report must give.
BREAKS = {
    "impossible_date": ("date_of_birth", "31/02/2015", "impossible_date"),
    "short_id": ("personal_id", "12345678901", "invalid_format"),
    "unknown_commune": ("commune_code", "99999", "unknown_commune"),
    "no_name": ("full_name", "", "missing"),
    "mojibake": ("full_name", "Nguyá»…n Văn A", "wrong_encoding"),
    "bad_sex": ("sex", "X", "unknown_value"),
    "bad_group": ("groups", "z", "unknown_group"),
    "windows_1258": ("full_name", "Hà Văn Ba", "wrong_encoding"),  # the row written in Windows-1258
}


@dataclass
class Row:
    cells: dict[str, str]
    broken: str | None = None
    repeated: bool = False
    expected: dict[str, Any] = field(default_factory=dict)


@st.composite
def valid_rows(draw: st.DrawFn, number: int) -> Row:
    female = draw(st.booleans())
    # still a child when registered (the fixture's day, 2026-11-23) once a month or year of birth is its first day
    born = draw(st.dates(min_value=date(2011, 2, 1), max_value=date(2025, 6, 1)))
    precision = draw(st.sampled_from(["day", "day", "month", "year"]))
    if precision == "month":
        born, born_cell = born.replace(day=1), born.strftime("%m/%Y")
    elif precision == "year":
        born, born_cell = born.replace(month=1, day=1), str(born.year)
    else:
        born_cell = draw(st.sampled_from([born.strftime("%d/%m/%Y"), born.isoformat()]))
    if draw(st.booleans()):
        commune = draw(st.sampled_from(LEGACY))
        since = draw(st.dates(min_value=born, max_value=TWO_TIER_FROM - timedelta(days=1)))
    else:
        commune = draw(st.sampled_from(CURRENT))
        since = draw(st.dates(min_value=max(born, TWO_TIER_FROM), max_value=COLLECTED))
    name = f"{draw(st.sampled_from(SURNAMES))} {draw(st.sampled_from(GIVEN))}"
    province = "12" if commune in ("03400", "03405") else "11"
    century = (born.year - 1900) // 100
    pid = draw(st.one_of(st.just(""), st.integers(0, 999_999).map(
        lambda r: f"0{province}{2 * century + int(female)}{born.year % 100:02d}{r:06d}")))  # fmt: skip
    ethnicity = draw(st.sampled_from(["", "01", "Thái", "Hmông", "3"]))
    mother = draw(st.sampled_from(["", "Lò Thị Hoa", "Vừ Thị Dế"]))
    status = draw(st.sampled_from(["", "Còn sống", "Đã mất"])) if mother else ""
    groups = ""
    if draw(st.booleans()):
        start = draw(st.dates(min_value=since, max_value=COLLECTED))
        groups = draw(st.sampled_from([f"d:mild@{start.isoformat()}", f"a:with_relatives@{start.isoformat()}",
                                       f"đ@{start.isoformat()}", "không"]))  # fmt: skip
    cells = {"source_key": f"R{number}", "full_name": name, "date_of_birth": born_cell,
             "sex": "Nữ" if female else draw(st.sampled_from(["Nam", "male"])), "ethnicity": ethnicity,
             "personal_id": pid, "birth_registration": draw(st.sampled_from(["", "Có", "Không", "unknown"])),
             "commune_code": commune, "residence_from": since.strftime("%d/%m/%Y"),
             "address": draw(st.sampled_from(["", "Bản Mới", "Thôn 3"])), "mother_name": mother,
             "mother_status": status, "groups": groups}  # fmt: skip
    expected = {"full_name": name, "date_of_birth": born, "precision": precision, "female": female,
                "personal_id": pid or None, "commune": commune, "since": since, "groups": groups,
                "mother": (mother, status)}  # fmt: skip
    return Row(cells, expected=expected)


@st.composite
def files(draw: st.DrawFn) -> tuple[list[Row], list[str], bool]:
    count = draw(st.integers(1, 8))
    rows = [draw(valid_rows(n)) for n in range(count)]
    for row in list(rows):
        if draw(st.integers(0, 3)) == 0:  # a broken copy of a valid row, under a key of its own
            kind = draw(st.sampled_from(sorted(BREAKS)))
            name, value, _ = BREAKS[kind]
            rows.append(Row({**row.cells, "source_key": f"{row.cells['source_key']}-broken", name: value}, kind))
        if draw(st.integers(0, 5)) == 0:  # the same row twice: the second is refused
            rows.append(Row(dict(row.cells), repeated=True, expected=row.expected))
    order = draw(st.permutations(rows))
    # a repeated row must come after its original: keep the first of each key as the original
    seen: set[str] = set()
    for row in order:
        row.repeated = row.cells["source_key"] in seen and row.broken is None
        seen.add(row.cells["source_key"])
    columns = list(draw(st.permutations(FIELDS)))
    return list(order), columns, draw(st.booleans())


def write(path: Path, rows: list[Row], columns: list[str], vietnamese: bool) -> dict[int, Row]:
    """The file, with each row's line; a row broken by its encoding is written in Windows-1258."""
    headings = [BY_NAME[c].vietnamese if vietnamese else c for c in columns]
    if "mother_name" in columns and vietnamese:
        headings[columns.index("mother_name")] = "Họ tên mẹ"
    lines: dict[int, Row] = {}
    with path.open("wb") as handle:
        handle.write(b"\xef\xbb\xbf" + _csv_line(headings).encode())
        for number, row in enumerate(rows, start=2):
            text = _csv_line([row.cells[c] for c in columns])
            handle.write(text.encode("cp1258", "replace") if row.broken == "windows_1258" else text.encode())
            lines[number] = row
    return lines


def _csv_line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()


def check(state: ChildState | None, row: Row) -> None:
    e = row.expected
    assert state is not None and isinstance(state.personal, Identity)
    assert state.personal.full_name == e["full_name"]
    assert (state.details.date_of_birth, state.details.date_of_birth_precision.value) == (
        e["date_of_birth"],
        e["precision"],
    )
    assert state.details.sex.value == ("female" if e["female"] else "male")
    assert state.personal.personal_id == e["personal_id"]
    assert (state.residences[-1].commune_code, state.residences[-1].valid_from) == (e["commune"], e["since"])
    groups = [(g.code, g.subgroup, g.start) for g in state.groups]
    if e["groups"] in ("", "không"):
        assert groups == []
    else:
        [(code, subgroup, start)] = groups
        letter_code = {"d": "disabled", "a": "orphan_both_parents", "đ": "hiv_aids"}
        assert (code, subgroup, start.isoformat()) == (letter_code[e["groups"][0]], e["groups"].split("@")[0][2:] or
                                                       None, e["groups"].split("@")[1])  # fmt: skip
    mother, status = e["mother"]
    kept = [
        (c.relation.value, c.status.value, n)
        for c, n in zip(state.details.caregivers, state.personal.caregiver_names, strict=True)
    ]
    assert kept == ([("mother", "deceased" if status == "Đã mất" else "alive", mother)] if mother else [])


@pytest.fixture(scope="module")
def units(run, registry: Registry) -> Gazetteer:  # type: ignore[no-untyped-def]
    found = Gazetteer()
    run(found.refresh(registry.store))
    return found


@settings(max_examples=25, deadline=None)
@given(generated=files())
def test_generated_files_import_every_valid_row_and_report_every_other(
    run, registry: Registry, units: Gazetteer, tmp_path_factory, generated
) -> None:  # type: ignore[no-untyped-def]
    rows, columns, vietnamese = generated
    path = tmp_path_factory.mktemp("files") / "generated.csv"
    lines = write(path, rows, columns, vietnamese)
    source = f"gen-{uuid.uuid4().hex[:10]}"
    options = ImportOptions(source=source, collected_on=COLLECTED, actor_id="operator:test", actor_role="operator")
    before = run(registry.store.stats())[0]
    rejected: list[Rejection] = []
    summary = run(
        Importer(registry.children, units, registry.store, options).run(Table(path), on_rejected=rejected.append)
    )
    reported = {r.line: r for r in rejected}
    for line, row in lines.items():
        if row.broken is not None:
            field_name, _, reason = BREAKS[row.broken]
            assert (field_name, reason) in [(f, r) for f, r, _ in reported[line].problems], (row.broken, reported)
        elif row.repeated:
            assert [r for _, r, _ in reported[line].problems] == ["repeated_record"]
        else:
            assert line not in reported, reported.get(line)
    valid = [row for row in lines.values() if row.broken is None and not row.repeated]
    assert summary.created == len(valid) and summary.rejected == len(lines) - len(valid)
    for row in valid:
        from registry.child_columns import read_row

        parsed = read_row(0, {column_of(c) or c: v for c, v in row.cells.items()})
        assert not hasattr(parsed, "problems")
        check(run(registry.children.load(child_id_of(parsed, source))), row)  # type: ignore[arg-type]
    groups = sum(1 for row in valid if row.expected["groups"] not in ("", "không"))
    assert run(registry.store.stats())[0] - before == len(valid) + groups + 1  # and the run's ImportRecorded
    again = run(Importer(registry.children, units, registry.store, options).run(Table(path)))
    assert (again.created, again.changed, again.events) == (0, 0, 0)
