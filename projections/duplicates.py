"""Finding duplicate child records: a batch over the register (or a unit of it), and one record checked against it.

The batch (`DuplicateFinder.find`) works in two passes, so that neither time nor memory grows with the square of
the register:

1. The register is read a page at a time: `read.children` gives the ids of the records in reach that are neither
   merged nor erased (by id, keyset), and the children register opens each page of records in two queries
   (ChildRegister.load_many). Each record's blocking keys (registry/duplicates.py: its personal number; its birth
   year and name key with each of its communes and each of its caregivers) are written, hashed, to a temporary
   table of the run's own connection. The hash is keyed with a random key of the run that never leaves the
   process: the table holds nothing a reader could turn back into a name or a number, and it disappears with the
   connection (temporary tables are not written to the WAL either).
2. PostgreSQL groups the keys: the records sharing one are the candidate pairs, streamed in order by a read-only
   cursor (no transaction id: the followers of the log are not held back). For each page of pairs, those found
   before (any review stream, pending, dismissed or resolved) are skipped, the two records of the others are
   opened again and compared, and the pairs at or above the threshold are recorded as DuplicateSuspected, a page
   in one transaction.

A key shared by more than `block_limit` records (a very common name born the same year in one commune) is left
aside and counted: comparing all its pairs would be quadratic in it, and such a key says little.

A record is checked against the register (`candidates_of`, `candidates_for`: a registration, an import's row,
the API) without blocking tables: the records born the same year in the same province (or the whole country)
are opened a page at a time and those sharing a key with it compared. Nothing is written unless the caller
records the candidates (`record`).

The run's progress goes to a `Progress` (tqdm in the command line); no name, number or other personal value is
logged, printed or stored outside the sealed events.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

import asyncpg

from registry.child_service import ChildRegister
from registry.children import ChildState, RegisterChild
from registry.duplicate_review import DuplicateReviews, FoundBy, ReviewState, SuspectDuplicate, Suspected
from registry.duplicates import THRESHOLD, KeyKind, Match, Profile, blocking_keys, compare, pair_id, pair_of, profile
from registry.duplicates import profile_of as _profile_of
from registry.errors import InvalidInput
from registry.events import Metadata
from registry.gazetteer import FAR, Gazetteer
from registry.law import TWO_TIER_FROM
from registry.runtime import Registry
from registry.store import EventStore, driver_errors
from registry.units import Level, level_of

PAGE = 1000  # records opened per query (ChildRegister.load_many), and pairs compared per transaction
BLOCK_LIMIT = 100  # records sharing one key beyond which the key is left aside (and counted)
Connect = Callable[[], Awaitable[asyncpg.Connection]]
_UNIT_COLUMN = {Level.COMMUNE: "commune_now", Level.DISTRICT: "district_code", Level.PROVINCE: "province_now"}


class Progress(Protocol):
    """Where a run reports its progress (tqdm bars in the command line): a phase begins, work is done in it."""

    def start(self, phase: str, total: int | None) -> None: ...

    def advance(self, count: int) -> None: ...


class Silent:
    """Progress reported nowhere (the default when no bars are given)."""

    def start(self, phase: str, total: int | None) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


@dataclass
class FindSummary:
    """What a batch run came to (counts only)."""

    threshold: Decimal
    records: int = 0  # opened and filed under their keys
    skipped: int = 0  # merged or erased since the read model listed them
    keys: int = 0
    large_blocks: int = 0  # keys shared by more than the block limit, left aside
    candidates: int = 0  # pairs sharing at least one key
    found_before: int = 0  # candidate pairs with a review already (pending, dismissed or resolved): not compared
    compared: int = 0
    suspected: int = 0  # recorded now: at or above the threshold and new
    below: int = 0  # compared and below the threshold
    seconds: float = 0.0
    pair_ids: list[str] = field(default_factory=list)  # the pairs recorded now

    def line(self) -> str:
        large = f", {self.large_blocks} keys shared by too many records left aside" if self.large_blocks else ""
        skipped = f" ({self.skipped} merged or erased meanwhile, skipped)" if self.skipped else ""
        return (f"duplicates: {self.records:,} records read{skipped}, {self.keys:,} keys{large}; "
                f"{self.candidates:,} candidate pairs, {self.found_before:,} found before, {self.compared:,} compared: "
                f"{self.suspected:,} new suspected duplicates at {self.threshold} or above, {self.below:,} below; "
                f"{self.seconds:.1f} s")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Candidate:
    """A record that may be the same child as the one checked (no personal data: its id, the score, the codes)."""

    child_id: str
    pair_id: str
    match: Match
    keys: tuple[KeyKind, ...]
    review: ReviewState | None  # the pair's review if it was found before (pending or dismissed)


class DuplicateFinder:
    """Duplicate detection over the children register (its read model lists the records, the register opens them)."""

    def __init__(
        self, store: EventStore, children: ChildRegister, units: Gazetteer, connect: Connect, *,
        schema: str = "read", page: int = PAGE, block_limit: int = BLOCK_LIMIT,
    ) -> None:  # fmt: skip
        if not 1 <= page <= 5000:
            raise InvalidInput("batch", "out_of_range", "must be between 1 and 5000")
        self.store = store
        self.children = children
        self.units = units
        self.reviews = DuplicateReviews(store)
        self._connect = connect
        self._schema = schema
        self._page = page
        self._block_limit = block_limit
        self._communes: dict[tuple[str | None, bool, str], str] = {}

    @classmethod
    async def of(cls, registry: Registry, **options: object) -> DuplicateFinder:
        """The finder of an open registry (its store, children register, units, and app-role connections)."""
        return cls(registry.store, await registry.children(), await registry.gazetteer(), registry.database.connect,
                   **options)  # type: ignore[arg-type]  # fmt: skip

    # -- profiles --------------------------------------------------------------------------------------------

    def commune_now(self, code: str, day: date) -> str:
        """Today's commune of a commune code used from a day (a legacy code and its successor agree)."""
        key = (self.units.unit_id_at(code, day), day >= TWO_TIER_FROM, code)
        found = self._communes.get(key)
        if found is None:
            found = self._communes[key] = self.units.place(code, day).commune_now
        return found

    def profile_of(self, state: ChildState) -> Profile | None:
        return _profile_of(state, self.commune_now)

    def profile_of_registration(self, command: RegisterChild) -> Profile:
        """The profile of a child about to be registered (the API's check before `registerChild`)."""
        commune = self.commune_now(command.commune_code, command.residence_from)
        return profile(command.child_id, command.full_name, command.date_of_birth, command.date_of_birth_precision,
                       command.sex, command.personal_id, [commune], [g.name for g in command.caregivers])  # fmt: skip

    async def _profiles(self, ids: list[str]) -> tuple[dict[str, Profile], int]:
        """The profiles of records (opened in one query each for events and keys), and how many were not
        comparable (merged or erased, or gone from the store)."""
        states = await self.children.load_many(ids)
        found: dict[str, Profile] = {}
        for child_id in ids:
            state = states[child_id]
            p = None if state is None else self.profile_of(state)
            if p is not None:
                found[child_id] = p
        return found, len(ids) - len(found)

    # -- the batch -------------------------------------------------------------------------------------------

    async def find(
        self, metadata: Metadata, *, unit: str | None = None, threshold: Decimal = THRESHOLD,
        progress: Progress | None = None,
    ) -> FindSummary:  # fmt: skip
        """Find the duplicates of the register (or of the records lying in `unit` today: a commune or province
        of today's map, or a district of 2025-06-30) and record the new ones above `threshold`."""
        threshold = _threshold(threshold)
        progress = progress or Silent()
        started = time.perf_counter()
        summary = FindSummary(threshold)
        where, args = self._scope(unit)
        secret = secrets.token_bytes(32)  # the run's key: the stored hashes mean nothing once the run ends
        conn = await self._connect()
        try:
            with driver_errors():
                await conn.execute("CREATE TEMP TABLE duplicate_keys (key bytea NOT NULL, kind text NOT NULL,"
                                   " child_id text NOT NULL)")  # fmt: skip
                total = await conn.fetchval(f"SELECT count(*) FROM {self._schema}.children c WHERE {where}", *args)
                progress.start("records", int(total))
                await self._file(conn, where, args, secret, summary, progress)
                await conn.execute("ANALYZE duplicate_keys")
                summary.large_blocks = int(await conn.fetchval(
                    "SELECT count(*) FROM (SELECT FROM duplicate_keys GROUP BY key HAVING count(*) > $1) s",
                    self._block_limit))  # fmt: skip
                progress.start("pairs", None)
                await self._compare(conn, threshold, metadata, summary, progress)
        finally:
            await conn.close()  # drops the temporary table
        summary.seconds = time.perf_counter() - started
        return summary

    def _scope(self, unit: str | None) -> tuple[str, list[object]]:
        where = "c.merged_into IS NULL AND NOT c.erased"
        if unit is None:
            return where, []
        level = level_of(unit, "unit")
        on = TWO_TIER_FROM - timedelta(days=1) if level is Level.DISTRICT else FAR
        if self.units.find(unit, on) is None:
            raise InvalidInput("unit", "unknown_unit", "is not a commune or province of today's map, or a district "
                               "of 2025-06-30")  # fmt: skip
        return f"{where} AND c.{_UNIT_COLUMN[level]} = $1", [unit]

    async def _file(
        self, conn: asyncpg.Connection, where: str, args: list[object], secret: bytes, summary: FindSummary,
        progress: Progress,
    ) -> None:  # fmt: skip
        """Pass 1: open the records a page at a time and file their keys, hashed, in the temporary table."""
        after = ""
        n = len(args)
        while True:
            ids = [r[0] for r in await conn.fetch(
                f"SELECT c.child_id FROM {self._schema}.children c WHERE {where} AND c.child_id > ${n + 1}"
                f" ORDER BY c.child_id LIMIT ${n + 2}", *args, after, self._page)]  # fmt: skip
            if not ids:
                return
            profiles, skipped = await self._profiles(ids)
            rows = [(_hash(secret, kind, key), kind.value, p.child_id)
                    for p in profiles.values() for kind, key in blocking_keys(p)]  # fmt: skip
            if rows:
                await conn.copy_records_to_table("duplicate_keys", records=rows)
            summary.records += len(profiles)
            summary.skipped += skipped
            summary.keys += len(rows)
            progress.advance(len(ids))
            after = ids[-1]

    async def _compare(
        self, conn: asyncpg.Connection, threshold: Decimal, metadata: Metadata, summary: FindSummary,
        progress: Progress,
    ) -> None:  # fmt: skip
        """Pass 2: the candidate pairs, a page at a time: skip those found before, compare, record."""
        query = """SELECT x.child_id AS a, y.child_id AS b, array_agg(DISTINCT x.kind ORDER BY x.kind) AS kinds
            FROM duplicate_keys x JOIN duplicate_keys y ON x.key = y.key AND x.child_id < y.child_id
            WHERE x.key IN (SELECT key FROM duplicate_keys GROUP BY key HAVING count(*) <= $1)
            GROUP BY 1, 2 ORDER BY 1, 2"""
        # A read-only transaction takes no transaction id, so the followers' horizon does not wait for the run.
        async with conn.transaction(readonly=True):
            cursor = await conn.cursor(query, self._block_limit)
            while True:
                rows = await cursor.fetch(self._page)
                if not rows:
                    return
                pairs = [(r["a"], r["b"], tuple(KeyKind(k) for k in r["kinds"])) for r in rows]
                summary.candidates += len(pairs)
                await self._judge(pairs, threshold, metadata, summary)
                progress.advance(len(pairs))

    async def _judge(
        self, pairs: list[tuple[str, str, tuple[KeyKind, ...]]], threshold: Decimal, metadata: Metadata,
        summary: FindSummary,
    ) -> None:  # fmt: skip
        reviews = await self.reviews.load_many([pair_id(a, b) for a, b, _ in pairs])
        fresh = [(a, b, keys) for a, b, keys in pairs if reviews[pair_id(a, b)] is None]
        summary.found_before += len(pairs) - len(fresh)
        profiles, _ = await self._profiles(sorted({c for a, b, _ in fresh for c in (a, b)}))
        commands = []
        for a, b, keys in fresh:
            if a not in profiles or b not in profiles:
                continue  # merged or erased since the first pass
            summary.compared += 1
            match = compare(profiles[a], profiles[b])
            if match.suspected(threshold):
                commands.append(SuspectDuplicate(a, b, match, keys, FoundBy.BATCH))
            else:
                summary.below += 1
        if commands:
            done = await self.reviews.suspect(commands, metadata)
            summary.suspected += len(done.written)
            summary.found_before += len(done.known)  # found by a run beside this one, meanwhile
            summary.pair_ids.extend(done.written)

    # -- one record ------------------------------------------------------------------------------------------

    async def candidates_of(
        self, child_id: str, *, threshold: Decimal | None = THRESHOLD, country: bool = False
    ) -> list[Candidate]:
        """The records that may be the same child as `child_id` (see `candidates_for`)."""
        state = await self.children.load(child_id)
        probe = None if state is None else self.profile_of(state)
        if probe is None:
            reason = "unknown_child" if state is None else "not_comparable"
            raise InvalidInput("child_id", reason, "is not a record that can be compared (unknown, merged or erased)")
        return await self.candidates_for(probe, threshold=threshold, country=country)

    async def candidates_for(
        self, probe: Profile, *, threshold: Decimal | None = THRESHOLD, country: bool = False
    ) -> list[Candidate]:
        """The records of the register that share a blocking key with `probe` and score at or above `threshold`
        (None: every record sharing a key), highest score first, each with its pair's review if it was found
        before. Compared: the records born the same year in the provinces of the probe's communes (`country`: in
        the whole country), neither merged nor erased; their ids come from the read model of the register."""
        limit = None if threshold is None else _threshold(threshold)
        keys = blocking_keys(probe)
        if not keys:
            return []
        year = probe.born.year
        args: list[object] = [date(year, 1, 1), date(year + 1, 1, 1), probe.child_id]
        where = ("c.merged_into IS NULL AND NOT c.erased AND c.date_of_birth >= $1 AND c.date_of_birth < $2"
                 " AND c.child_id <> $3")  # fmt: skip
        if not country:
            provinces = sorted({self.units.place(c, FAR).province_now for c in probe.communes} - {"??"})
            args.append(provinces)
            where += f" AND c.province_now = ANY(${len(args)}::text[])"
        found: list[Candidate] = []
        after = ""
        conn = await self._connect()
        try:
            with driver_errors():
                while True:
                    ids = [r[0] for r in await conn.fetch(
                        f"SELECT c.child_id FROM {self._schema}.children c WHERE {where} AND c.child_id > "
                        f"${len(args) + 1} ORDER BY c.child_id LIMIT ${len(args) + 2}", *args, after,
                        self._page)]  # fmt: skip
                    if not ids:
                        break
                    profiles, _ = await self._profiles(ids)
                    for other in profiles.values():
                        shared = tuple(sorted({kind for kind, key in keys & blocking_keys(other)}))
                        if not shared:
                            continue
                        match = compare(probe, other)
                        if limit is None or match.suspected(limit):
                            found.append(Candidate(other.child_id, pair_id(probe.child_id, other.child_id), match,
                                                   shared, None))  # fmt: skip
                    after = ids[-1]
        finally:
            await conn.close()
        reviews = await self.reviews.load_many([c.pair_id for c in found])
        found = [Candidate(c.child_id, c.pair_id, c.match, c.keys, reviews[c.pair_id]) for c in found]
        return sorted(found, key=lambda c: (-c.match.score, c.child_id))

    async def record(
        self, child_id: str, candidates: Iterable[Candidate], metadata: Metadata, *,
        threshold: Decimal = THRESHOLD,
    ) -> Suspected:  # fmt: skip
        """Put a checked record's candidates at or above `threshold` in the review queue (found by a check)."""
        commands = [SuspectDuplicate(*pair_of(child_id, c.child_id), c.match, c.keys, FoundBy.CHECK)
                    for c in candidates if c.match.suspected(_threshold(threshold))]  # fmt: skip
        return await self.reviews.suspect(commands, metadata)


def _hash(secret: bytes, kind: KeyKind, key: str) -> bytes:
    return hashlib.blake2b(f"{kind.value}\x1f{key}".encode(), key=secret, digest_size=16).digest()


def _threshold(value: Decimal) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or not 0 <= value <= 1:
        raise InvalidInput("threshold", "out_of_range", "must be a decimal between 0 and 1")
    return value


def parse_threshold(text: str) -> Decimal:
    """A threshold as typed (the command line): a decimal between 0 and 1."""
    try:
        return _threshold(Decimal(text))
    except ArithmeticError:
        raise InvalidInput("threshold", "invalid", "must be a decimal between 0 and 1") from None


__all__ = [
    "BLOCK_LIMIT",
    "PAGE",
    "Candidate",
    "DuplicateFinder",
    "FindSummary",
    "Progress",
    "Silent",
    "parse_threshold",
]
