from __future__ import annotations

from pathlib import Path

import pytest

from settings import ConfigurationError, Settings, load_settings, render_env_example, render_markdown_table

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_the_embedded_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.database_url == "sqlite:///var/zixly.db"
    assert s.blob_url == "var/blobs"
    assert s.env == "development"
    assert s.xero_api_url == "http://127.0.0.1:3900/xero"


def test_a_fernet_key_is_generated_once(tmp_path: Path) -> None:
    s = Settings(var_dir=tmp_path / "var", _env_file=None)  # type: ignore[call-arg]
    first = s.fernet_key()
    assert first == s.fernet_key()
    assert (tmp_path / "var" / "secret.key").stat().st_mode & 0o077 == 0


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZIXLY_RUNNER_CONCURRENCY", "9")
    assert Settings(_env_file=None).runner_concurrency == 9  # type: ignore[call-arg]


def test_production_names_every_missing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZIXLY_ENV", "production")
    monkeypatch.setenv("ZIXLY_XERO_CLIENT_ID", "abc")
    with pytest.raises(ConfigurationError) as err:
        load_settings(_env_file=None)
    message = str(err.value)
    for name in ["ZIXLY_SECRET_KEY", "ZIXLY_DATABASE_URL", "ZIXLY_PUBLIC_URL", "ZIXLY_XERO_CLIENT_SECRET"]:
        assert name in message
    assert "HUBSPOT" not in message  # an unconfigured vendor is simply off


def test_production_defaults_to_real_vendor_urls() -> None:
    s = Settings(env="production", _env_file=None)  # type: ignore[call-arg]
    assert s.xero_api_url == "https://api.xero.com"
    assert s.hubspot_api_url == "https://api.hubapi.com"


def test_env_example_lists_every_setting() -> None:
    assert (ROOT / ".env.example").read_text() == render_env_example()


def test_readme_configuration_table_matches_the_settings() -> None:
    assert render_markdown_table() in (ROOT / "README.md").read_text()
