"""Configuration: environment, then .env, then defaults; every bad value names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.config import load_settings, redact_url
from registry.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in (
        "DATABASE_URL",
        "DATABASE_OWNER_URL",
        "DATABASE_READ_URL",
        "REGISTRY_PORT",
        "REGISTRY_LOG_LEVEL",
        "REGISTRY_DEMO",
        "REGISTRY_ROLE",
        "REGISTRY_LOG_FORMAT",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_need_no_configuration() -> None:
    settings = load_settings()
    assert settings.database_url is None and settings.registry_port == 8000 and not settings.registry_demo


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("REGISTRY_PORT", "eighty"),
        ("REGISTRY_PORT", "70000"),
        ("REGISTRY_LOG_LEVEL", "loud"),
        ("REGISTRY_DEMO", "perhaps"),
        ("DATABASE_URL", "mysql://root:s3cret@db/registry"),
        ("REGISTRY_POOL_SIZE", "0"),
        ("REGISTRY_ROLE", "both"),
        ("REGISTRY_LOG_FORMAT", "xml"),
        ("REGISTRY_READY_MAX_LAG", "-1"),
        ("REGISTRY_REPLICA_WAIT", "-2"),
        ("REGISTRY_SHUTDOWN_TIMEOUT", "forever"),
        ("REGISTRY_METRICS_TOKEN", "short"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_key_without_echoing_it(monkeypatch, key: str, value: str) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.key == key
    assert str(caught.value).startswith(f"Config '{key}'")
    assert value not in str(caught.value)


def test_the_environment_wins_over_dot_env_which_wins_over_defaults(monkeypatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("REGISTRY_PORT=8100\nREGISTRY_LOG_LEVEL=debug\n")
    assert (load_settings().registry_port, load_settings().registry_log_level) == (8100, "debug")
    monkeypatch.setenv("REGISTRY_PORT", "8200")
    assert load_settings().registry_port == 8200


def test_a_read_replica_needs_a_server_and_a_postgresql_url(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_READ_URL", "postgresql://app:s3cret@replica/registry")
    with pytest.raises(ConfigError) as caught:  # the embedded server has no replica
        load_settings()
    assert caught.value.key == "DATABASE_READ_URL" and "DATABASE_URL" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    settings = load_settings(database_url="postgresql://app@primary/registry")
    assert settings.database_read_url is not None and "s3cret" not in repr(settings)
    monkeypatch.setenv("DATABASE_READ_URL", "mysql://replica/registry")
    with pytest.raises(ConfigError) as wrong:
        load_settings(database_url="postgresql://app@primary/registry")
    assert wrong.value.key == "DATABASE_READ_URL"


def test_operations_keys_have_defaults_and_are_read_case_insensitively(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings()
    assert (settings.registry_role, settings.registry_log_format, settings.registry_ready_max_lag) == (
        "all",
        "text",
        300,
    )
    assert settings.registry_metrics_token is None and settings.registry_replica_wait == 5
    monkeypatch.setenv("REGISTRY_ROLE", "Projector")
    monkeypatch.setenv("REGISTRY_LOG_FORMAT", "JSON")
    monkeypatch.setenv("REGISTRY_METRICS_TOKEN", "")
    settings = load_settings()
    assert (settings.registry_role, settings.registry_log_format, settings.registry_metrics_token) == (
        "projector",
        "json",
        None,
    )


def test_secrets_are_masked() -> None:
    assert redact_url("postgresql://app:s3cret@db:5432/registry") == "postgresql://app:***@db:5432/registry"
    assert "s3cret" not in repr(load_settings(database_url="postgresql://app:s3cret@db/registry"))
