"""Configuration: one typed settings object, read once.

Values come from the environment first, then from a `.env` file in the working
directory, then from the defaults below. Every bad value is a ConfigError that
names the key and never echoes the value (a URL may carry a password).

Keys:
    DATABASE_URL             PostgreSQL URL the application uses. Unset: the
                             embedded PostgreSQL is started under REGISTRY_DATA_DIR.
    DATABASE_OWNER_URL       URL of the schema owner, used by `registry migrate`
                             (defaults to DATABASE_URL).
    DATABASE_READ_URL        URL of a streaming replica of DATABASE_URL's server: queries,
                             subscriptions and feeds read there, commands go to the primary
                             (unset: everything on DATABASE_URL).
    REGISTRY_REPLICA_WAIT    Seconds a read sent with X-Registry-After waits for the replica
                             to have replayed that write before it answers 503 REPLICA_LAG
                             (default 5).
    REGISTRY_ROLE            What `registry serve` runs: api (HTTP, no projectors), projector
                             (the projectors and other background work, with /healthz,
                             /readyz and /metrics only) or all (default; set by --role).
    REGISTRY_READY_MAX_LAG   Seconds: /readyz answers 503 while a projection's oldest event
                             not yet projected was recorded longer ago than this (default 300;
                             0: lag is not checked).
    REGISTRY_SHUTDOWN_TIMEOUT Seconds `registry serve` gives requests in flight on SIGTERM
                             (default 30).
    REGISTRY_LOG_FORMAT      text (default: one readable line per record) or json (one JSON
                             object per line: time, level, logger, message, request_id).
    REGISTRY_METRICS_TOKEN   If set, /metrics requires `Authorization: Bearer <it>` (default
                             unset: firewall /metrics instead).
    REGISTRY_DATA_DIR        Where the embedded server keeps its data (default: .registry
                             in the project folder).
    REGISTRY_HOST            Address `registry serve` listens on (default 127.0.0.1).
    REGISTRY_PORT            Port `registry serve` listens on (default 8000).
    REGISTRY_POOL_SIZE       Connections in the application's pool (default 10).
    REGISTRY_COMMAND_TIMEOUT Seconds before a database statement is abandoned (default 30).
    REGISTRY_LOG_LEVEL       debug, info, warning or error (default info).
    REGISTRY_DEMO            true: load the demonstration data on first start (set by
                             `registry serve --demo`; default false).
    REGISTRY_ALLOWED_ORIGINS Other origins whose pages may open the API's WebSocket
                             (comma-separated; default none: same origin only).
    REGISTRY_RATE_LIMIT      API requests per minute per principal (default 600).
    REGISTRY_REQUEST_TIMEOUT Seconds an API request may take (default 30).
    REGISTRY_MASTER_KEY      base64 of 32 random bytes: wraps every child's data key
                             (crypto-shredding). Unset: a key file, master.key in
                             REGISTRY_DATA_DIR, is created on first use. Every process of
                             a deployment must use the same key.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: SecretStr | None = None
    database_owner_url: SecretStr | None = None
    database_read_url: SecretStr | None = None  # a streaming replica: reads go there, commands to database_url
    registry_data_dir: Path = PROJECT_DIR / ".registry"
    registry_host: str = Field("127.0.0.1", min_length=1)
    registry_port: int = Field(8000, ge=1, le=65535)
    registry_pool_size: int = Field(10, ge=1, le=200)
    registry_command_timeout: float = Field(30.0, gt=0, le=3600)
    registry_log_level: Literal["debug", "info", "warning", "error"] = "info"
    registry_demo: bool = False
    registry_master_key: SecretStr | None = None  # 32 bytes, base64: wraps every child's data key
    # Bearer tokens of the API (registry/tokens.py): verified with a JWKS URL, or a public key file (PEM), or else
    # the public half of the local signing key that `registry token` uses (made once in REGISTRY_DATA_DIR).
    registry_jwks_url: str | None = None
    registry_jwt_public_key_file: Path | None = None
    registry_jwt_issuer: str = Field("child-protection-registry", min_length=1)
    registry_jwt_audience: str = Field("child-protection-registry", min_length=1)
    # Pages on other origins that may open the API's WebSocket (comma-separated, e.g. https://portal.example.vn);
    # same-origin pages and non-browser clients always may.
    registry_allowed_origins: str = ""
    registry_rate_limit: int = Field(600, ge=1, le=1_000_000)  # API requests per minute per principal
    registry_request_timeout: float = Field(30.0, gt=0, le=3600)  # seconds an API request may take
    # Operations (README "Operations"): the process's role, the replica's read-your-writes wait, readiness, logs.
    registry_role: Literal["api", "projector", "all"] = "all"
    registry_replica_wait: float = Field(5.0, gt=0, le=300)
    registry_ready_max_lag: float = Field(300.0, ge=0, le=86_400)
    registry_shutdown_timeout: int = Field(30, ge=1, le=3600)
    registry_log_format: Literal["text", "json"] = "text"
    registry_metrics_token: SecretStr | None = None
    # Periodic checkpoints (registry/integrity.py): after this many new events, or this many minutes after the
    # last checkpoint when any event came since; 0 turns a trigger off.
    registry_checkpoint_events: int = Field(10_000, ge=0, le=100_000_000)
    registry_checkpoint_minutes: float = Field(60.0, ge=0, le=525_600)

    @field_validator("registry_master_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        try:
            raw = base64.urlsafe_b64decode(value.get_secret_value().strip() + "==")
        except ValueError:
            raise ValueError("is not base64") from None
        if len(raw) != 32:
            raise ValueError("must be 32 bytes (base64 of 32 random bytes)")
        return value

    @field_validator("database_url", "database_owner_url", "database_read_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in ("postgres", "postgresql"):
            raise ValueError("is not a postgresql:// URL")
        return value

    @field_validator("database_read_url")
    @classmethod
    def _replica_of_a_server(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and info.data.get("database_url") is None:
            # the embedded server has no replica: it listens on a socket in this machine's data folder only
            raise ValueError("needs DATABASE_URL (a replica is of a server, not of the embedded one)")
        return value

    @field_validator("registry_metrics_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("registry_log_level", "registry_log_format", "registry_role", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning the first invalid value into a ConfigError naming its key."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        key = str(first["loc"][0]).upper() if first["loc"] else "?"
        raise ConfigError(key, f"is invalid: {first['msg']}") from None


def redact_url(url: str) -> str:
    """Return a database URL with its password replaced, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


__all__ = ["PROJECT_DIR", "Settings", "load_settings", "redact_url"]
