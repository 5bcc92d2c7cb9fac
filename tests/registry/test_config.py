"""Configuration: environment, then .env, then defaults; every bad value names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.config import load_settings, redact_url
from registry.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in ("DATABASE_URL", "DATABASE_OWNER_URL", "REGISTRY_PORT", "REGISTRY_LOG_LEVEL", "REGISTRY_DEMO"):
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


def test_secrets_are_masked() -> None:
    assert redact_url("postgresql://app:s3cret@db:5432/registry") == "postgresql://app:***@db:5432/registry"
    assert "s3cret" not in repr(load_settings(database_url="postgresql://app:s3cret@db/registry"))
