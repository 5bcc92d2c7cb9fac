"""Bearer tokens of the API: issued by `registry token` for local use and the demonstration, verified per request.

A token is a JWT signed with Ed25519 (EdDSA, the one algorithm accepted)
carrying the principal: `sub`, `role`, `unit` (its jurisdiction; absent for
the roles of the whole country), `iss`, `aud`, `iat`, `exp` and `jti`.
Verification pins the algorithm, requires every claim, and checks issuer,
audience and expiry. The key comes from configuration, never from code:

- REGISTRY_JWKS_URL: an identity provider's key set (fetched off the event
  loop, cached by key id, refetched for an unknown one);
- REGISTRY_JWT_PUBLIC_KEY_FILE: a PEM public key;
- otherwise the public half of the local signing key, made once in
  REGISTRY_DATA_DIR/token-signing.pem (mode 0600) by `registry token`.

Errors say what is wrong (`expired`, `bad_signature`, `wrong_audience`, ...)
and never echo the token or its claims.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .access import Principal, Role
from .config import Settings
from .errors import ConfigError, InvalidInput, Unauthenticated

ALGORITHM = "EdDSA"
MAX_LIFETIME = timedelta(days=30)
LEEWAY = timedelta(seconds=30)  # clocks of issuers and servers differ a little
_REQUIRED = ["sub", "role", "iss", "aud", "iat", "exp", "jti"]
_REMEMBERED = 4096  # verified tokens kept, so that a client's requests do not check the same signature again


def signing_key_path(settings: Settings) -> Path:
    return settings.registry_data_dir / "token-signing.pem"


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The local signing key (made once, readable by its owner only)."""
    path = signing_key_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError("REGISTRY_DATA_DIR", f"holds a {path.name} that is not an Ed25519 key") from None
        return key
    key = Ed25519PrivateKey.generate()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))  # fmt: skip
    return key


def issue(
    settings: Settings, subject: str, role: Role, unit: str | None, lifetime: timedelta, *, now: datetime | None = None
) -> str:
    """A signed token for a principal (checked as the API will check it)."""
    if not subject or len(subject) > 200:
        raise InvalidInput("subject", "invalid", "must be 1-200 characters")
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise InvalidInput("lifetime", "out_of_range", f"must be positive and at most {MAX_LIFETIME.days} days")
    if role is Role.OPERATOR:
        raise InvalidInput("role", "not_a_token_role", "an operator works at the command line; tokens are for the API")
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    Principal(subject, role, unit, issued + lifetime)  # the role and unit must go together
    claims: dict[str, object] = {
        "sub": subject, "role": role.value, "iss": settings.registry_jwt_issuer,
        "aud": settings.registry_jwt_audience, "iat": issued, "exp": issued + lifetime, "jti": uuid.uuid4().hex,
    }  # fmt: skip
    if unit is not None:
        claims["unit"] = unit
    return jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM)


@dataclass
class Verifier:
    """Checks bearer tokens against the configured key; `await verify(token)` gives the principal."""

    settings: Settings
    _key: Ed25519PublicKey | None = None
    _jwks: jwt.PyJWKClient | None = None
    _verified: dict[str, Principal] = field(default_factory=dict, repr=False)  # token -> principal, oldest first

    def __post_init__(self) -> None:
        s = self.settings
        if s.registry_jwks_url:
            self._jwks = jwt.PyJWKClient(s.registry_jwks_url, cache_keys=True, lifespan=3600, timeout=10)
        elif s.registry_jwt_public_key_file is not None:
            try:
                key = serialization.load_pem_public_key(s.registry_jwt_public_key_file.read_bytes())
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    "REGISTRY_JWT_PUBLIC_KEY_FILE", f"cannot be read as a PEM public key: {exc}"
                ) from None
            if not isinstance(key, Ed25519PublicKey):
                raise ConfigError("REGISTRY_JWT_PUBLIC_KEY_FILE", "is not an Ed25519 public key")
            self._key = key
        else:
            self._key = signing_key(s).public_key()

    async def verify(self, token: str, *, now: datetime | None = None) -> Principal:
        if not token or len(token) > 8192:
            raise Unauthenticated("malformed", "the bearer token is missing or too long")
        at = now or datetime.now(UTC)
        known = self._verified.get(token)
        if known is not None and known.expires_at > at:  # a signature once checked stays good until it expires
            return known
        principal = await self._verify(token, at)
        if len(self._verified) >= _REMEMBERED:
            self._verified.pop(next(iter(self._verified)))  # the oldest
        self._verified[token] = principal
        return principal

    async def _verify(self, token: str, now: datetime) -> Principal:
        key: Any = self._key
        if self._jwks is not None:
            client = self._jwks
            try:  # PyJWKClient fetches over HTTP with urllib: never on the event loop
                key = (await asyncio.to_thread(client.get_signing_key_from_jwt, token)).key
            except jwt.PyJWKClientError:
                raise Unauthenticated("unknown_key", "the token's signing key is not in the key set") from None
            except jwt.DecodeError:
                raise Unauthenticated("malformed", "the bearer token is not a JWT") from None
        return self._decode(token, key, now)

    def _decode(self, token: str, key: Any, now: datetime) -> Principal:
        s = self.settings
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=s.registry_jwt_audience,
                issuer=s.registry_jwt_issuer,
                options={"require": _REQUIRED, "verify_exp": False, "verify_iat": False},
            )  # fmt: skip (expiry is checked below, against the caller's clock)
        except jwt.InvalidAudienceError:
            raise Unauthenticated("wrong_audience", "the bearer token is for another service") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("wrong_issuer", "the bearer token comes from an unknown issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated("missing_claim", f"the bearer token lacks the claim {exc.claim}") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("bad_signature", "the bearer token's signature does not verify") from None
        except jwt.InvalidAlgorithmError:
            raise Unauthenticated("wrong_algorithm", f"the bearer token is not signed with {ALGORITHM}") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("malformed", "the bearer token is not a valid JWT") from None
        try:
            expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
        except (TypeError, ValueError, OverflowError):
            raise Unauthenticated("malformed", "the bearer token's expiry is not a time") from None
        if expires <= now - LEEWAY:
            raise Unauthenticated("expired", "the bearer token has expired")
        try:
            role = Role(claims["role"])
            if role is Role.OPERATOR:  # the command line's role: never one an API request may act in
                raise ValueError("not a token role")
            unit = claims.get("unit")
            return Principal(str(claims["sub"]), role, None if unit is None else str(unit), expires)
        except (ValueError, InvalidInput):
            raise Unauthenticated("bad_claims", "the bearer token's role or unit is not valid") from None


__all__ = ["ALGORITHM", "MAX_LIFETIME", "Verifier", "issue", "signing_key", "signing_key_path"]
