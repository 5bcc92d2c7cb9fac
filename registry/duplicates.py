"""Duplicate child records (hồ sơ trùng lặp): who may be the same child, how sure, and why; pure, no I/O.

Registers kept by hamlet collaborators, schools and the national child
database hold the same child more than once, spelt differently: "Trần Thị
Thuý" and "TRAN THI THUY", a legacy commune code and its successor, a birth
date typed day-first in one file and month-first in another. Project 06 asks
that they be found and merged (domain.md, section 4 and scenario 8.5).

A record is reduced to a `Profile` (its folded name, date of birth and how
much of it is known, sex, personal identification number, the communes it
lived in as today's communes, its caregivers' folded names), and two profiles
are compared by `compare`: a score in [0, 1], as a decimal string, and the
reasons, as codes. The score is the probability that the two records are one
child under a simple model of independent evidence: each reason adds or takes
away bits of evidence (log2 of a likelihood ratio, `REASONS`) to a prior
that two records of the same birth year are one child. The weights are set by
hand from what each signal means, not fitted to data:

- a personal identification number is issued once (Circular 59/2021/TT-BCA):
  the same number is near proof, two different numbers near disproof;
- a name matters only with the date of birth: namesakes born the same day
  exist across a province, so name and date together stay below the
  threshold until a commune or a caregiver in common joins them;
- a commune or a caregiver in common is evidence only when the names match
  (or the number does): twins and siblings share both, and differ in name;
- the spelling variants that are one name (diacritics, case, i/y at the end
  of a syllable, minority names with or without tones) count as the same
  name; those that may be one name (d/gi/r, s/x, tr/ch at the start of a
  syllable, a middle name missing) only as a similar one.

Candidates are found by blocking (`blocking_keys`), so a run over the whole
register compares only records that share a key: the personal number, or
the birth year with the name's key (surname and given name, folded with the
weaker variants) and a commune or a caregiver. Every pair the score can put
at or above the threshold shares a key (a property the tests check), so
blocking loses no pair the score would accept.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from .children import ChildState, DatePrecision, Identity, Sex
from .gazetteer import fold

SCORER_VERSION = 1  # the rules below; recorded with every suspicion, so a later change of weights is traceable
THRESHOLD = Decimal("0.80")  # the default: at or above it, a pair goes to the officers' review queue
PRIOR_BITS = Decimal(
    -8
)  # log2 odds that two records of the same birth year sharing a key are one child, before evidence


class Reason(StrEnum):
    """Why two records may (or may not) be one child."""

    SAME_PERSONAL_ID = "same_personal_id"
    SAME_NAME = "same_name"  # equal once diacritics, case and i/y at the end of a syllable are folded
    SIMILAR_NAME = "similar_name"  # surname and given name equal with d/gi/r, s/x, tr/ch folded; middle names aside
    SAME_BIRTH_DATE = "same_birth_date"
    COMPATIBLE_BIRTH_DATE = "compatible_birth_date"  # one known to the month or year only, or day and month swapped
    SAME_COMMUNE = "same_commune"  # a commune in common, as today's commune (a legacy code and its successor agree)
    SAME_CAREGIVER = "same_caregiver"  # a caregiver's name in common (the mother, the father, a guardian)
    DIFFERENT_PERSONAL_ID = "different_personal_id"
    DIFFERENT_SEX = "different_sex"
    BIRTH_DATES_APART = "birth_dates_apart"


@dataclass(frozen=True, slots=True)
class Weight:
    bits: Decimal  # evidence for (positive) or against (negative), log2 of a likelihood ratio
    description: str


REASONS: dict[Reason, Weight] = {
    Reason.SAME_PERSONAL_ID: Weight(Decimal(16), "the same personal identification number"),
    Reason.SAME_NAME: Weight(Decimal(5), "the same name, diacritics, case and i/y aside"),
    Reason.SIMILAR_NAME: Weight(Decimal(3), "a similar name (d/gi/r, s/x, tr/ch; a middle name missing)"),
    Reason.SAME_BIRTH_DATE: Weight(Decimal(4), "the same date of birth"),
    Reason.COMPATIBLE_BIRTH_DATE: Weight(Decimal("2.5"), "dates of birth that agree as far as both are known"),
    Reason.SAME_COMMUNE: Weight(Decimal(3), "a commune in common (today's communes)"),
    Reason.SAME_CAREGIVER: Weight(Decimal(3), "a caregiver's name in common"),
    Reason.DIFFERENT_PERSONAL_ID: Weight(Decimal(-8), "two different personal identification numbers"),
    Reason.DIFFERENT_SEX: Weight(Decimal(-4), "a different sex"),
    Reason.BIRTH_DATES_APART: Weight(Decimal(-5), "dates of birth that cannot be the same day"),
}
_CONTEXT = (Reason.SAME_COMMUNE, Reason.SAME_CAREGIVER)  # evidence only with a name (or a number) in common


# -- names -----------------------------------------------------------------------------------------------------

# A syllable whose only vowel is i or y ("Vy", "Ly", "Kỳ", "Quý", and "Y" of Ê Đê names): i and y are one
# letter there in Vietnamese spelling (lý/lí, Mỹ/Mĩ). Not after another vowel: "Thuy" and "Thui", "Hay" and "Hai"
# are other rhymes.
_I_OR_Y = re.compile(r"^(qu|[bcdfghklmnprstvx]*)[iy]$")
_VOWELS = "aeiouy"


def canonical_name(name: str) -> str:
    """A name as compared for `same_name`: folded (diacritics, đ and case removed), i/y ending a syllable as i."""
    return " ".join(_i_for_y(token) for token in fold(name).split())


def _i_for_y(token: str) -> str:
    return token[:-1] + "i" if _I_OR_Y.match(token) else token


def phonetic_name(name: str) -> str:
    """A name with the weaker variants folded too: d, gi and r as one initial, s and x, tr and ch."""
    return " ".join(_initial(token) for token in canonical_name(name).split())


def _initial(token: str) -> str:
    """Initials that sound alike in many dialects and are confused in writing: d, gi and r; s and x; tr and ch."""
    if token.startswith("gi"):  # gia, giang: gi + vowel; gi, gìn: the i is the vowel itself
        return "z" + (token[2:] if token[2:3] and token[2] in _VOWELS else token[1:])
    if token.startswith("tr"):
        return "ch" + token[2:]
    if token[:1] in ("d", "r"):
        return "z" + token[1:]
    if token[:1] == "x":
        return "s" + token[1:]
    return token


def name_key(name: str) -> str:
    """Surname and given name (first and last word), phonetic: the name part of a blocking key."""
    tokens = phonetic_name(name).split()
    return f"{tokens[0]}|{tokens[-1]}" if tokens else ""


def caregiver_names(names: Iterable[str | None]) -> frozenset[str]:
    """The caregivers' names as compared: canonical, and only full names (two words or more): a lone given name
    ('Mai') is too common to say anything."""
    found = (canonical_name(n) for n in names if n)
    return frozenset(n for n in found if len(n.split()) >= 2)


# -- profiles ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """What comparison needs of a record. It holds personal data: kept in memory for a comparison, never stored."""

    child_id: str
    name: str  # canonical_name
    key: str  # name_key
    born: date
    precision: DatePrecision
    sex: Sex
    personal_id: str | None
    communes: frozenset[str]  # the communes lived in, as today's communes
    caregivers: frozenset[str]  # caregiver_names


def profile(
    child_id: str, full_name: str, born: date, precision: DatePrecision, sex: Sex, personal_id: str | None,
    communes: Iterable[str], caregivers: Iterable[str | None],
) -> Profile:  # fmt: skip
    return Profile(child_id, canonical_name(full_name), name_key(full_name), born, precision, sex, personal_id or None,
                   frozenset(communes), caregiver_names(caregivers))  # fmt: skip


def profile_of(state: ChildState, commune_now: Callable[[str, date], str]) -> Profile | None:
    """The profile of a record (None for one merged into another or whose personal data was erased: neither is
    compared). `commune_now(code, day)` gives today's commune of a commune code used from a day
    (Gazetteer.place(...).commune_now)."""
    if state.merged_into is not None or state.erased or not isinstance(state.personal, Identity):
        return None
    person = state.personal
    details = state.details
    communes = {commune_now(r.commune_code, r.valid_from) for r in state.residences}
    return profile(state.child_id, person.full_name, details.date_of_birth, details.date_of_birth_precision,
                   details.sex, person.personal_id, communes, person.caregiver_names)  # fmt: skip


# -- blocking ---------------------------------------------------------------------------------------------------


class KeyKind(StrEnum):
    """The kind of blocking key that brought two records together (how a pair was found)."""

    PERSONAL_ID = "personal_id"
    NAME_COMMUNE = "name_commune"  # birth year, name key and a commune
    NAME_CAREGIVER = "name_caregiver"  # birth year, name key and a caregiver's name


def blocking_keys(p: Profile) -> set[tuple[KeyKind, str]]:
    """The keys a record is filed under; only records sharing one are compared. They hold personal data: a batch
    stores them hashed under a key of its own run (projections/duplicates.py)."""
    keys: set[tuple[KeyKind, str]] = set()
    if p.personal_id:
        keys.add((KeyKind.PERSONAL_ID, p.personal_id))
    if p.key:
        year = p.born.year
        keys.update((KeyKind.NAME_COMMUNE, f"{year}\x1f{p.key}\x1f{c}") for c in p.communes)
        keys.update((KeyKind.NAME_CAREGIVER, f"{year}\x1f{p.key}\x1f{g}") for g in p.caregivers)
    return keys


# -- comparison --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    """How likely two records are one child: `score` in [0, 1] (two decimals) and its reasons, for and against."""

    score: Decimal
    reasons: tuple[Reason, ...]
    bits: Decimal  # the log2 odds the score comes from

    @property
    def text(self) -> str:
        """The score as stored: a decimal string (the store refuses floats)."""
        return str(self.score)

    def suspected(self, threshold: Decimal = THRESHOLD) -> bool:
        return self.score >= threshold


def compare(a: Profile, b: Profile) -> Match:
    """Compare two records (symmetric: compare(a, b) and compare(b, a) agree)."""
    found: list[Reason] = []
    if a.personal_id and b.personal_id:
        found.append(Reason.SAME_PERSONAL_ID if a.personal_id == b.personal_id else Reason.DIFFERENT_PERSONAL_ID)
    if a.name and a.name == b.name:
        found.append(Reason.SAME_NAME)
    elif a.key and a.key == b.key:
        found.append(Reason.SIMILAR_NAME)
    dates = compare_birth_dates(a.born, a.precision, b.born, b.precision)
    if dates is not None:
        found.append(dates)
    if a.communes & b.communes:
        found.append(Reason.SAME_COMMUNE)
    if a.caregivers & b.caregivers:
        found.append(Reason.SAME_CAREGIVER)
    if Sex.UNKNOWN not in (a.sex, b.sex) and a.sex != b.sex:
        found.append(Reason.DIFFERENT_SEX)
    return score(found)


def score(reasons: Iterable[Reason]) -> Match:
    """The score of a set of reasons: the prior plus their bits (a commune or caregiver in common counts only
    with a name or the number in common), as a probability rounded to two decimals."""
    given = tuple(sorted(set(reasons), key=list(Reason).index))
    anchored = any(r in given for r in (Reason.SAME_NAME, Reason.SIMILAR_NAME, Reason.SAME_PERSONAL_ID))
    bits = PRIOR_BITS + sum((REASONS[r].bits for r in given if anchored or r not in _CONTEXT), Decimal(0))
    probability = Decimal(1) / (1 + Decimal(2) ** -bits)
    return Match(probability.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN), given, bits)


def compare_birth_dates(a: date, pa: DatePrecision, b: date, pb: DatePrecision) -> Reason | None:
    """Same, compatible (agreeing as far as both are known, or day and month swapped), apart, or neither (the same
    year, with one digit of the day or month different: a typing slip that says nothing either way)."""
    if DatePrecision.YEAR in (pa, pb):
        return Reason.COMPATIBLE_BIRTH_DATE if a.year == b.year else Reason.BIRTH_DATES_APART
    if DatePrecision.MONTH in (pa, pb):
        return Reason.COMPATIBLE_BIRTH_DATE if (a.year, a.month) == (b.year, b.month) else Reason.BIRTH_DATES_APART
    if a == b:
        return Reason.SAME_BIRTH_DATE
    if a.year == b.year and (a.day, a.month) == (b.month, b.day):
        return Reason.COMPATIBLE_BIRTH_DATE  # 03/05 for 05/03: day-first and month-first files
    typed_a, typed_b = f"{a.day:02d}{a.month:02d}", f"{b.day:02d}{b.month:02d}"
    if a.year == b.year and sum(x != y for x, y in zip(typed_a, typed_b, strict=True)) == 1:
        return None
    return Reason.BIRTH_DATES_APART


# -- pairs -------------------------------------------------------------------------------------------------------

_PAIRS = uuid.UUID("2b7e0c8d-4f1a-4c3e-9a55-7d1e6b0f3c21")


def pair_of(a: str, b: str) -> tuple[str, str]:
    """A pair of records in its one order (by child id)."""
    if a == b:
        raise ValueError("a record is not a duplicate of itself")
    return (a, b) if a < b else (b, a)


def pair_id(a: str, b: str) -> str:
    """The id of a pair, the same whichever record is named first: finding the pair again names the same review."""
    first, second = pair_of(a, b)
    return str(uuid.uuid5(_PAIRS, f"{first}\x1f{second}"))


__all__ = [
    "PRIOR_BITS",
    "REASONS",
    "SCORER_VERSION",
    "THRESHOLD",
    "KeyKind",
    "Match",
    "Profile",
    "Reason",
    "Weight",
    "blocking_keys",
    "canonical_name",
    "caregiver_names",
    "compare",
    "compare_birth_dates",
    "name_key",
    "pair_id",
    "pair_of",
    "phonetic_name",
    "profile",
    "profile_of",
    "score",
]
