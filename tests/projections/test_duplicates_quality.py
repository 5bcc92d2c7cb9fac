"""Precision and recall of duplicate detection on a generated register with known duplicates.

Synthetic children (registry/synthetic.py: Faker's vi_VN names, real communes of Điện Biên and Lai Châu) are
imported through `registry import`'s Importer, then, as further rows of another source file, duplicates of some
of them with the perturbations officers' registers show, and hard negatives: twins (the same day, commune and
mother, another given name), namesakes in another province (the same name and day), and namesakes in the same
commune born the same year. The batch runs over the whole register at its default threshold; every pair it
records is checked against the truth.

The floors, and why: the score accepts a pair when a name (or the number) agrees together with the date of birth
and a commune or a caregiver, and the generator's perturbations keep those in all but the hard cases it makes on
purpose (a letter of the given name mistyped, 4% of the duplicates: found only when both records kept the
personal number, the name key differs; a spelling variant of the initial, d/gi/r, s/x or tr/ch, 10%: below the
threshold when the date is also known only approximately, a similar name being weaker evidence). Those are under
a tenth of the duplicates, so recall must stay at or above 0.9, and every duplicate missed must be one of them.
The hard negatives share no key (twins, the other province) or are refused by their dates (namesakes of the same
commune), so the false positives can only come from the generator's own accidental namesakes: precision must stay
at or above 0.95. The figures are printed (`pytest -s`) for the README.
"""

from __future__ import annotations

import csv
import os
import random
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from faker import Faker

from projections.duplicates import DuplicateFinder
from projections.register import ChildRegister as ChildModel
from projections.runtime import Projector
from registry.catalog import default_catalog
from registry.child_service import ChildRegister
from registry.children import add_years
from registry.duplicates import name_key
from registry.events import Metadata
from registry.gazetteer import Gazetteer
from registry.imports import IDS, Importer, ImportOptions, Table
from registry.law import CHILD_AGE_LIMIT, TWO_TIER_FROM
from registry.sealing import Keyring
from registry.store import EventStore
from registry.synthetic import LAST_LEGACY_DAY, communes, personal_id, rows
from registry.unit_loader import default_plan, load
from tests.conftest import NOW, create_test_database, drop_test_database

ORIGINALS, DUPLICATES, TWINS, ELSEWHERE, SAME_COMMUNE = 2000, 300, 60, 60, 40
COLLECTED = date(2026, 11, 1)
SOURCE = "quality"
PROVINCES = ("11", "12")
OTHER_PROVINCES = ("01", "79")  # Hà Nội, Hồ Chí Minh City: where the namesakes live
OPERATOR = Metadata(actor_id="operator:quality", actor_role="operator")
_TONES = ("\u0300", "\u0301", "\u0303", "\u0309", "\u0323")  # huyền, sắc, ngã, hỏi, nặng


def child_id(key: str) -> str:
    """The record an imported row with this source key names (registry/imports.py child_id_of)."""
    return str(uuid.uuid5(IDS, f"{SOURCE}\x1fkey:{key}"))


def parse_day(cell: str) -> date:
    parts = [int(p) for p in cell.split("/")]
    if len(parts) == 3:
        return date(parts[2], parts[1], parts[0])
    return date(parts[1], parts[0], 1) if len(parts) == 2 else date(parts[0], 1, 1)


def strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def change_tone(name: str, rng: random.Random) -> str | None:
    """Another tone mark on the first marked vowel (Hòa for Hóa): folded away, so the same name."""
    decomposed = list(unicodedata.normalize("NFD", name))
    marked = [i for i, c in enumerate(decomposed) if c in _TONES]
    if not marked:
        return None
    at = marked[0]
    tone = rng.choice([t for t in _TONES if t != decomposed[at]])
    del decomposed[at]
    end = at  # the tone goes after the vowel's other marks (ê, ơ, ă), as NFC composes them
    while end < len(decomposed) and unicodedata.combining(decomposed[end]):
        end += 1
    decomposed.insert(end, tone)
    return unicodedata.normalize("NFC", "".join(decomposed))


def swap_i_y(name: str) -> str | None:
    """i for y (or y for i) ending a syllable whose only vowel it is (Vy/Vi, Mỹ/Mĩ)."""
    words = name.split()
    for index, word in enumerate(words):
        base = strip_marks(word).lower()
        if len(base) >= 2 and base[-1] in "iy" and not any(v in base[:-1] for v in "aeiouy"):
            decomposed = unicodedata.normalize("NFD", word)
            at = max(i for i, c in enumerate(decomposed) if c.lower() in "iy")
            swapped = {"i": "y", "y": "i", "I": "Y", "Y": "I"}[decomposed[at]]
            words[index] = unicodedata.normalize("NFC", decomposed[:at] + swapped + decomposed[at + 1 :])
            return " ".join(words)
    return None


def spelling_variant(name: str) -> str | None:
    """A confusable initial written the other way (Dũng/Giũng, Sơn/Xơn, Trang/Chang): a similar name."""
    words = name.split()
    for index in range(len(words) - 1, -1, -1):
        word = words[index]
        for written, other in (("Gi", "D"), ("D", "Gi"), ("R", "D"), ("X", "S"), ("S", "X"), ("Tr", "Ch"),
                               ("Ch", "Tr")):  # fmt: skip
            if word.startswith(written) and not word.startswith("Đ"):
                words[index] = other + word[len(written) :]
                return " ".join(words)
    return None


def mistype(name: str, rng: random.Random) -> str:
    """A letter of the given name replaced by a neighbour on the keyboard: the name key differs."""
    words = name.split()
    given = words[-1]
    at = rng.randrange(len(given))
    letter = "aeiou"[rng.randrange(5)] if given[at].lower() not in "aeiou" else "nmh"[rng.randrange(3)]
    words[-1] = given[:at] + letter + given[at + 1 :]
    return " ".join(words)


@dataclass
class Generated:
    rows: list[dict[str, str]]
    truth: set[frozenset[str]]  # the pairs of child ids that are one child
    kinds: dict[frozenset[str], str]  # what each made pair is: a duplicate's perturbations, or a hard negative
    perturbations: dict[frozenset[str], tuple[str, ...]]


class Generator:
    def __init__(self, units: Gazetteer, seed: int) -> None:
        self.units = units
        self.rng = random.Random(seed)
        self.fake = Faker("vi_VN")
        self.fake.seed_instance(seed)
        self.legacy = {p: communes(units, (p,), LAST_LEGACY_DAY) for p in PROVINCES + OTHER_PROVINCES}
        self.current = {p: communes(units, (p,), COLLECTED) for p in PROVINCES + OTHER_PROVINCES}
        self.keys = iter(f"D{n:07d}" for n in range(10**7))

    def province_of(self, row: dict[str, str]) -> str:
        return self.units.place(row["commune_code"], parse_day(row["residence_from"])).province_now

    def now(self, commune: str, day: date) -> str:
        return self.units.place(commune, day).commune_now

    def generate(self) -> Generated:
        originals = list(rows(ORIGINALS, self.units, seed=7, provinces=PROVINCES, collected_on=COLLECTED,
                              key_prefix="O"))  # fmt: skip
        made: list[dict[str, str]] = []
        truth: set[frozenset[str]] = set()
        kinds: dict[frozenset[str], str] = {}
        perturbations: dict[frozenset[str], tuple[str, ...]] = {}
        chosen = self.rng.sample(originals, DUPLICATES + TWINS + ELSEWHERE + SAME_COMMUNE)
        for index, original in enumerate(chosen):
            if index < DUPLICATES:
                row, applied = self.duplicate(original)
                kind = "duplicate"
            elif index < DUPLICATES + TWINS:
                row, applied, kind = self.twin(original), (), "twin"
            elif index < DUPLICATES + TWINS + ELSEWHERE:
                row, applied, kind = self.namesake_elsewhere(original), (), "namesake_elsewhere"
            else:
                made_row = self.namesake_same_commune(original)
                if made_row is None:
                    continue
                row, applied, kind = made_row, (), "namesake_same_commune"
            row["source_key"] = next(self.keys)
            made.append(row)
            pair = frozenset((child_id(original["source_key"]), child_id(row["source_key"])))
            kinds[pair] = kind
            if kind == "duplicate":
                truth.add(pair)
                perturbations[pair] = applied
        return Generated(originals + made, truth, kinds, perturbations)

    def duplicate(self, original: dict[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
        rng, row = self.rng, dict(original)
        row["groups"] = ""
        applied: list[str] = []
        hard = rng.random()
        if hard < 0.04:
            row["full_name"] = mistype(row["full_name"], rng)
            applied.append("given_name_mistyped")
        elif hard < 0.14 and (variant := spelling_variant(row["full_name"])) is not None:
            row["full_name"] = variant
            applied.append("spelling_variant")
        options = ["diacritics_dropped", "diacritics_changed", "i_y_swapped", "case", "day_month_swapped", "year_only",
                   "legacy_or_successor_code", "personal_id_missing", "other_commune_same_mother"]  # fmt: skip
        for choice in rng.sample(options, rng.randint(1, 3)):
            if self.perturb(row, choice):
                applied.append(choice)
        return row, tuple(applied)

    def perturb(self, row: dict[str, str], choice: str) -> bool:
        rng = self.rng
        born = parse_day(row["date_of_birth"])
        since = parse_day(row["residence_from"])
        if choice == "diacritics_dropped":
            row["full_name"] = strip_marks(row["full_name"])
            row["mother_name"] = strip_marks(row["mother_name"])
            return True
        if choice == "diacritics_changed":
            changed = change_tone(row["full_name"], rng)
            if changed is not None:
                row["full_name"] = changed
            return changed is not None
        if choice == "i_y_swapped":
            swapped = swap_i_y(row["full_name"])
            if swapped is not None:
                row["full_name"] = swapped
            return swapped is not None
        if choice == "case":
            row["full_name"] = row["full_name"].upper() if rng.random() < 0.7 else row["full_name"].lower()
            return True
        if choice == "day_month_swapped":
            if row["date_of_birth"].count("/") != 2 or born.day > 12 or born.day == born.month:
                return False
            swapped = date(born.year, born.day, born.month)
            if swapped > since or add_years(swapped, CHILD_AGE_LIMIT) <= NOW.date():
                return False
            row["date_of_birth"] = swapped.strftime("%d/%m/%Y")
            return True
        if choice == "year_only":
            row["date_of_birth"] = str(born.year)
            return True
        if choice == "personal_id_missing":
            had = bool(row["personal_id"])
            row["personal_id"] = ""
            return had
        if choice == "legacy_or_successor_code":
            return self.recode(row, born, since)
        if choice == "other_commune_same_mother":
            if not row["mother_name"]:
                return False
            here = self.now(row["commune_code"], since)
            province = self.province_of(row)
            pool = self.current[province] if since >= TWO_TIER_FROM else self.legacy[province]
            others = [c for c in pool if self.now(c, since) != here]
            row["commune_code"] = rng.choice(others)
            return True
        raise AssertionError(choice)

    def recode(self, row: dict[str, str], born: date, since: date) -> bool:
        """The same commune under the code of the other side of the 2025 reform (the residence date moved to
        that side): a legacy code and its successor, which today's commune makes one."""
        commune = row["commune_code"]
        if since < TWO_TIER_FROM:  # a legacy code: use its successor, from a date after the reform
            successor = self.now(commune, since)
            row["commune_code"] = successor
            row["residence_from"] = (TWO_TIER_FROM + timedelta(days=self.rng.randrange(300))).strftime("%d/%m/%Y")
            return True
        if born >= LAST_LEGACY_DAY:  # born after the reform: no legacy code can be right
            return False
        legacy = [
            p.code for p in self.units.predecessors(commune, since) if self.now(p.code, LAST_LEGACY_DAY) == commune
        ]
        if not legacy:
            return False
        row["commune_code"] = self.rng.choice(legacy)
        start = max(born, date(2020, 1, 1))
        moved_in = start + timedelta(days=self.rng.randrange((LAST_LEGACY_DAY - start).days + 1))
        row["residence_from"] = moved_in.strftime("%d/%m/%Y")
        return True

    def twin(self, original: dict[str, str]) -> dict[str, str]:
        row = dict(original, groups="")
        female = row["sex"] == "Nữ"
        while True:
            given = self.fake.first_name_female() if female else self.fake.first_name_male()
            name = " ".join(row["full_name"].split()[:-1] + [given])
            if name_key(name) != name_key(original["full_name"]):
                break
        row["full_name"] = name
        if row["personal_id"]:
            row["personal_id"] = row["personal_id"][:6] + f"{(int(row['personal_id'][6:]) + 1) % 10**6:06d}"
        return row

    def namesake_elsewhere(self, original: dict[str, str]) -> dict[str, str]:
        row = dict(original, groups="")
        since = parse_day(row["residence_from"])
        province = self.rng.choice(OTHER_PROVINCES)
        pool = self.current[province] if since >= TWO_TIER_FROM else self.legacy[province]
        row["commune_code"] = self.rng.choice(pool)
        row["mother_name"] = f"{self.fake.last_name()} Thị {self.fake.first_name_female()}"
        if row["personal_id"]:
            born = parse_day(row["date_of_birth"])
            row["personal_id"] = personal_id(self.rng, province, born, row["sex"] == "Nữ")
        return row

    def namesake_same_commune(self, original: dict[str, str]) -> dict[str, str] | None:
        """The same name in the same commune, born the same year on another day (a common name in a big commune)."""
        if original["date_of_birth"].count("/") != 2:
            return None
        row = dict(original, groups="")
        born, since = parse_day(row["date_of_birth"]), parse_day(row["residence_from"])
        for _ in range(50):
            other = date(born.year, self.rng.randint(1, 12), self.rng.randint(1, 28))
            slip = sum(x != y for x, y in zip(f"{born:%d%m}", f"{other:%d%m}", strict=True)) <= 1
            swapped = (other.day, other.month) == (born.month, born.day)
            if not slip and not swapped and other <= since and add_years(other, CHILD_AGE_LIMIT) > NOW.date():
                break
        else:
            return None
        row["date_of_birth"] = other.strftime("%d/%m/%Y")
        row["mother_name"] = f"{self.fake.last_name()} Thị {self.fake.first_name_female()}"
        row["personal_id"] = ""
        return row


@pytest.fixture(scope="module")
def register(admin_url: str, runner: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    db = runner.run(create_test_database(admin_url))
    store = EventStore(db.pool, default_catalog(), connect=db.database.connect)
    runner.run(load(store, default_plan()))
    units = Gazetteer()
    runner.run(units.refresh(store))
    children = ChildRegister(store, Keyring(db.pool, os.urandom(32)), units, clock=lambda: NOW)
    yield db, store, units, children, tmp_path_factory.mktemp("quality")
    runner.run(store.close())
    runner.run(drop_test_database(admin_url, db))


def test_precision_and_recall_of_the_batch_at_its_default_threshold(run, register: Any) -> None:  # type: ignore[no-untyped-def]
    db, store, units, children, folder = register
    generated = Generator(units, seed=2026).generate()
    path: Path = folder / "register.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(generated.rows[0]))
        writer.writeheader()
        writer.writerows(generated.rows)
    options = ImportOptions(source=SOURCE, collected_on=COLLECTED, actor_id="operator:quality", actor_role="operator")
    rejected: list[Any] = []
    summary = run(Importer(children, units, store, options).run(Table(path), on_rejected=rejected.append))
    assert [(r.line, r.problems) for r in rejected] == [] and summary.created == len(generated.rows)
    projection = ChildModel()
    runner = Projector(store, db.owner, projection)
    run(projection.prepare(store))
    run(runner.catch_up(run(runner.ensure())))

    finder = DuplicateFinder(store, children, units, db.database.connect)
    result = run(finder.find(OPERATOR))
    reviews = run(finder.reviews.load_many(result.pair_ids))
    found = {frozenset(state.child_ids) for state in reviews.values() if state is not None}
    assert len(found) == result.suspected

    true_positives = found & generated.truth
    precision = len(true_positives) / len(found)
    recall = len(true_positives) / len(generated.truth)
    false_kinds = Counter(generated.kinds.get(pair, "accidental namesakes") for pair in found - generated.truth)
    missed = Counter(p for pair in generated.truth - found for p in generated.perturbations[pair])
    by_perturbation = Counter(p for pair in generated.truth for p in generated.perturbations[pair])
    print(f"\nduplicates: {len(generated.rows)} records ({ORIGINALS} children, {len(generated.truth)} duplicates, "
          f"{sum(1 for k in generated.kinds.values() if k != 'duplicate')} hard negatives); "
          f"{result.candidates} candidate pairs, {result.compared} compared, {len(found)} suspected at "
          f"{result.threshold}: precision {precision:.3f}, recall {recall:.3f} "
          f"({len(true_positives)} true, {len(found) - len(true_positives)} false, "
          f"{len(generated.truth) - len(true_positives)} missed) in {result.seconds:.1f} s")  # fmt: skip
    print(f"false positives by kind: {dict(false_kinds)}")
    print("recall by perturbation: " + ", ".join(
        f"{p} {1 - missed[p] / n:.2f} ({n})" for p, n in sorted(by_perturbation.items())))  # fmt: skip
    assert not {k for k in false_kinds if k in ("twin", "namesake_elsewhere")}  # they share no key
    assert recall >= 0.9 and precision >= 0.95
    hard = {"given_name_mistyped", "spelling_variant"}  # the only misses by design (the module's docstring)
    assert all(hard & set(generated.perturbations[pair]) for pair in generated.truth - found)
