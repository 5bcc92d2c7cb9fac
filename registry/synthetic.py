"""Synthetic rows of children for imports: the tests, the import benchmark and the sample file (never real people).

Names come from Faker's vi_VN provider; communes are real (the gazetteer's), each used on a day it was in force: a
legacy commune with a residence date before 2025-07-01, a commune of the two-tier map after. Personal
identification numbers agree with the child's sex and year of birth (registry/children.py check_personal_id).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta

from faker import Faker

from .children import add_years
from .circumstances import GROUPS
from .gazetteer import Gazetteer
from .law import CHILD_AGE_LIMIT, TWO_TIER_FROM
from .units import Level

LAST_LEGACY_DAY = TWO_TIER_FROM - timedelta(days=1)
_LOCAL_ETHNICITIES = ("01", "03", "08", "09", "02", "06", "17", "29")  # Kinh, Thái, Hmông, Dao, Tày, Mường, ...


def communes(units: Gazetteer, provinces: tuple[str, ...], on: date) -> list[str]:
    """The codes of the communes of `provinces` in force on `on`."""
    found: list[str] = []
    for province in provinces:
        found.extend(u.code for u in units.communes_of(province, on) if u.level is Level.COMMUNE)
    return sorted(found)


def personal_id(rng: random.Random, province: str, born: date, female: bool) -> str:
    """A number of the structure of Circular 59/2021/TT-BCA: 0 + the province code, century and sex, the year."""
    century = (born.year - 1900) // 100
    return f"0{province}{2 * century + int(female)}{born.year % 100:02d}{rng.randrange(10**6):06d}"


def rows(
    count: int, units: Gazetteer, *, seed: int = 0, provinces: tuple[str, ...] = ("11", "12"),
    collected_on: date = date(2026, 11, 1), key_prefix: str = "S",
) -> Iterator[dict[str, str]]:  # fmt: skip
    """`count` valid rows, by English field name, the same for the same seed."""
    rng = random.Random(seed)
    fake = Faker("vi_VN")
    fake.seed_instance(seed)
    legacy = communes(units, provinces, LAST_LEGACY_DAY)
    current = communes(units, provinces, collected_on)
    provinces_of = {code: units.path(code, LAST_LEGACY_DAY)[-1].code for code in legacy}
    provinces_of.update({code: units.path(code, collected_on)[-1].code for code in current})
    for number in range(count):
        female = rng.random() < 0.5
        earliest = add_years(collected_on, -CHILD_AGE_LIMIT) + timedelta(days=60)  # still a child when imported
        born = earliest + timedelta(days=rng.randrange((collected_on - earliest).days - 30))
        if rng.random() < 0.6 and born < LAST_LEGACY_DAY - timedelta(days=30):
            commune = rng.choice(legacy)
            since = born + timedelta(days=rng.randrange((LAST_LEGACY_DAY - born).days))
        else:
            commune = rng.choice(current)
            start = max(born, TWO_TIER_FROM)
            since = start + timedelta(days=rng.randrange(max((collected_on - start).days, 1)))
        precision = rng.random()
        born_cell = (born.strftime("%d/%m/%Y") if precision < 0.9 else born.strftime("%m/%Y") if precision < 0.95
                     else str(born.year))  # fmt: skip
        if precision >= 0.9:  # what the cell says is what the registry keeps
            born = born.replace(day=1) if precision < 0.95 else born.replace(month=1, day=1)
        row = {
            "source_key": f"{key_prefix}{number:07d}",
            "full_name": _name(fake, rng, female),
            "date_of_birth": born_cell,
            "sex": "Nữ" if female else "Nam",
            "ethnicity": rng.choice(_LOCAL_ETHNICITIES),
            "personal_id": personal_id(rng, provinces_of[commune], born, female) if rng.random() < 0.6 else "",
            "birth_registration": rng.choice(("Có", "Có", "Có", "Không", "")),
            "commune_code": commune,
            "residence_from": since.strftime("%d/%m/%Y"),
            "address": f"Bản {fake.last_name()}",
            "mother_name": f"{fake.last_name()} Thị {fake.first_name_female()}" if rng.random() < 0.8 else "",
            "mother_status": rng.choice(("Còn sống", "Còn sống", "Đã mất", "")),
            "groups": "",
        }
        if rng.random() < 0.3:
            group = GROUPS[rng.choice(sorted(GROUPS))]
            sub = f":{rng.choice(sorted(group.subgroups))}" if group.subgroups else ""
            start = since + timedelta(days=rng.randrange(max((collected_on - since).days, 1)))
            if start < add_years(born, CHILD_AGE_LIMIT):
                row["groups"] = f"{group.letter}{sub}@{start.isoformat()}"
        yield row


def _name(fake: Faker, rng: random.Random, female: bool) -> str:
    middle = "Thị" if female and rng.random() < 0.6 else fake.middle_name()
    return f"{fake.last_name()} {middle} {fake.first_name_female() if female else fake.first_name_male()}"


__all__ = ["communes", "personal_id", "rows"]
