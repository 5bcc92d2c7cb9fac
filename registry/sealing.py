"""Crypto-shredding of personal data: a key per child (or per case), wrapped by a master key.

The personal part of a child's events (registry/children.py: name, personal
identification number, caregivers' names, address below the commune) is
stored as `Sealed`: AES-256-GCM under a data key of that child alone, with
the event's stream id as associated data, so a sealed value cannot be moved to
another child's events unnoticed. Data keys live in `child_keys`
(migrations/0004) wrapped by the deployment's master key (AES-256-GCM, the
child id as associated data); the master key comes from REGISTRY_MASTER_KEY or
a key file (`master_key`).

Erasing a child's personal data destroys the child's data key. The events,
their hashes and the checkpoints stay as they were, and every later read of
the personal part yields `Erased`. Nothing in the registry keeps a decrypted
copy outside a request (projections that do must drop theirs on
ChildDataErased).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel

from .config import Settings
from .errors import ConfigError, RegistryError
from .personal import ERASED, Erased, Parts, Sealed, event_type
from .store import driver_errors

_NONCE = 12


class SealingError(RegistryError):
    """Raised when sealed data does not open with its key: the data or the key was altered."""

    code = "INTEGRITY_ERROR"


def master_key(settings: Settings) -> bytes:
    """The deployment's master key: REGISTRY_MASTER_KEY, or the key file in REGISTRY_DATA_DIR (made once)."""
    if settings.registry_master_key is not None:
        return base64.urlsafe_b64decode(settings.registry_master_key.get_secret_value().strip() + "==")
    path: Path = settings.registry_data_dir / "master.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raw = path.read_bytes()
        if len(raw) != 32:
            raise ConfigError("REGISTRY_MASTER_KEY", f"is unset and the key file {path.name} is not 32 bytes") from None
        return raw
    with os.fdopen(fd, "wb") as handle:
        handle.write(AESGCM.generate_key(bit_length=256))
    return path.read_bytes()


_TABLES = {"child": ("child_keys", "child_id"), "case": ("case_keys", "case_id")}


class Keyring:
    """The data keys of one kind of subject (children, or cases), in its table, wrapped by the master key.

    With `reader` (a streaming replica's pool, registry/replica.py) keys are read there and still made and
    destroyed on the primary's `pool`.
    """

    def __init__(
        self, pool: asyncpg.Pool, master: bytes, subject: str = "child", *, reader: asyncpg.Pool | None = None
    ) -> None:
        if len(master) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._pool = pool
        self._reader = reader or pool
        self._master = AESGCM(master)
        self._subject = subject
        table, column = _TABLES[subject]
        self._insert = f"INSERT INTO {table} ({column}, wrapped_key) VALUES ($1, $2) ON CONFLICT ({column}) DO NOTHING"
        self._insert_many = (f"INSERT INTO {table} ({column}, wrapped_key) SELECT * FROM unnest($1::text[],"
                             f" $2::bytea[]) ON CONFLICT ({column}) DO NOTHING RETURNING {column}")  # fmt: skip
        self._select = f"SELECT wrapped_key FROM {table} WHERE {column} = $1"
        self._select_many = f"SELECT {column}, wrapped_key FROM {table} WHERE {column} = ANY($1::text[])"
        self._erase = (
            f"UPDATE {table} SET wrapped_key = NULL, erased_at = now() WHERE {column} = $1 AND wrapped_key IS NOT NULL"
        )

    async def create(self, child_id: str) -> bytes:
        """The child's data key, made now unless it exists (a repeated registration finds the same key)."""
        key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE)
        wrapped = nonce + self._master.encrypt(nonce, key, child_id.encode())
        with driver_errors():
            made = await self._pool.fetchval(self._insert + " RETURNING wrapped_key", child_id, wrapped)
        found = key if made is not None else await self._get(self._pool, child_id)  # another registration made it
        if found is None:
            raise SealingError(f"the key of {self._subject} {child_id} was erased")
        return found

    async def create_many(self, child_ids: list[str]) -> dict[str, bytes]:
        """The data keys of several new subjects in one statement (as `create`, each made unless it exists)."""
        made = {child_id: AESGCM.generate_key(bit_length=256) for child_id in child_ids}
        wrapped = []
        for child_id, key in made.items():
            nonce = os.urandom(_NONCE)
            wrapped.append(nonce + self._master.encrypt(nonce, key, child_id.encode()))
        with driver_errors():
            inserted = {row[0] for row in await self._pool.fetch(self._insert_many, list(made), wrapped)}
        others = [child_id for child_id in made if child_id not in inserted]
        found = await self.get_many(others) if others else {}
        for child_id, existing in found.items():
            if existing is None:
                raise SealingError(f"the key of {self._subject} {child_id} was erased")
            made[child_id] = existing
        return made

    async def get(self, child_id: str) -> bytes | None:
        """The child's data key, or None if it was erased (or never made)."""
        return await self._get(self._reader, child_id)

    async def _get(self, pool: asyncpg.Pool, child_id: str) -> bytes | None:
        with driver_errors():
            wrapped = await pool.fetchval(self._select, child_id)
        return self._unwrap(child_id, wrapped)

    async def get_many(self, child_ids: list[str]) -> dict[str, bytes | None]:
        """The data keys of several subjects in one query (None for an erased or unknown one)."""
        with driver_errors():
            rows = await self._reader.fetch(self._select_many, child_ids)
        found = {row[0]: row[1] for row in rows}
        return {child_id: self._unwrap(child_id, found.get(child_id)) for child_id in child_ids}

    def _unwrap(self, child_id: str, wrapped: bytes | None) -> bytes | None:
        if wrapped is None:
            return None
        try:
            return self._master.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], child_id.encode())
        except InvalidTag:
            raise SealingError(f"the key of {self._subject} {child_id} does not open with this master key") from None

    async def destroy(self, child_id: str) -> None:
        """Erase the child's data key for good (a no-op if it is erased already)."""
        with driver_errors():
            await self._pool.execute(self._erase, child_id)


_FORMS: dict[tuple[Any, type], type[BaseModel]] = {}


def _form(generic: Any, part: type) -> type[BaseModel]:
    """`generic[part]`, made once: pydantic's own cache of parametrized models holds them weakly, so a full garbage
    collection dropped them and the next event rebuilt its class (about 10 ms each; the API benchmark saw it)."""
    found = _FORMS.get((generic, part))
    if found is None:
        found = _FORMS[(generic, part)] = generic[part]
    return found


def seal(event: BaseModel, key: bytes, stream: str, parts: Parts) -> BaseModel:
    """The stored form of a decided event: its personal part encrypted under its subject's key."""
    name = event_type(event)
    if name not in parts.personal:
        return event
    personal = event.__dict__["personal"]  # a pydantic model keeps its fields there: no copy of the event
    if not isinstance(personal, parts.readable):
        raise TypeError(f"{name} to seal has no readable personal part")
    nonce = os.urandom(_NONCE)
    box = nonce + AESGCM(key).encrypt(nonce, personal.model_dump_json().encode(), stream.encode())
    sealed = Sealed(sealed=base64.urlsafe_b64encode(box).decode().rstrip("="))
    stored = _form(parts.personal[name], Sealed)
    # The other fields are given as the validated values they are (nested models are taken as they are, not
    # dumped and validated again: half the cost of sealing an import's row).
    return stored.model_validate({**event.__dict__, "personal": sealed})


def unseal(name: str, data: dict[str, Any], key: bytes | None, stream: str, parts: Parts) -> BaseModel:
    """The domain form of a stored event; the personal part is `Erased` without the key."""
    if name not in parts.personal:
        return parts.plain[name].model_validate(data)
    if key is None:
        erased = _form(parts.personal[name], Erased)
        return erased.model_validate({**data, "personal": ERASED})
    box = base64.urlsafe_b64decode(data["personal"]["sealed"] + "==")
    try:
        plain = AESGCM(key).decrypt(box[:_NONCE], box[_NONCE:], stream.encode())
    except InvalidTag:
        raise SealingError(f"a sealed value of stream {stream} does not open with its key") from None
    readable = _form(parts.personal[name], parts.readable)
    return readable.model_validate({**data, "personal": parts.readable.model_validate_json(plain)})


__all__ = ["Keyring", "SealingError", "master_key", "seal", "unseal"]
