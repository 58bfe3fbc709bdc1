"""Settings from the environment: embedded defaults, production refusals, plain sentences."""

from __future__ import annotations

import stat

import pytest

import config
from config import ConfigError, load

KEY_A = "q3V0Y2pGcm9udGllcktleUZvclRlc3RzMDAwMDAwMDA="
KEY_B = "c2Vjb25kS2V5Rm9yUm90YXRpb25UZXN0czAwMDAwMDA="


def production(**extra):
    env = {
        "VESTNIK_ENV": "production",
        "SECRET_KEY": "x" * 40,
        "DATABASE_URL": "postgresql://vestnik@db/vestnik",
        "REDIS_URL": "redis://cache:6379/0",
        "VESTNIK_SECRETS_KEY": KEY_A,
    }
    env.update(extra)
    return {name: value for name, value in env.items() if value is not None}


def test_embedded_defaults_use_sqlite_and_an_embedded_redis_in_the_instance_folder(tmp_path):
    settings = load({"VESTNIK_INSTANCE_PATH": str(tmp_path)})
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'vestnik.db'}"
    assert settings["EMBEDDED_REDIS"] is True
    assert settings["REDIS_URL"] == f"unix://{tmp_path / 'redis.sock'}"
    assert settings["SESSION_COOKIE_HTTPONLY"] and settings["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert settings["SESSION_COOKIE_SECURE"] is False


def test_embedded_secret_is_generated_once_kept_private_and_reused(tmp_path):
    first = load({"VESTNIK_INSTANCE_PATH": str(tmp_path)})["SECRET_KEY"]
    second = load({"VESTNIK_INSTANCE_PATH": str(tmp_path)})["SECRET_KEY"]
    assert first == second and len(first) >= 48
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600


def test_secret_from_environment_wins_and_is_not_written(tmp_path):
    settings = load({"VESTNIK_INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "from-env"})
    assert settings["SECRET_KEY"] == "from-env"
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "VESTNIK_SECRETS_KEY"])
def test_production_refuses_to_start_without_each_required_setting(missing):
    with pytest.raises(ConfigError) as error:
        load(production(**{missing: None}))
    message = error.value.message
    assert missing in message and "not set" in message and message.endswith(".")
    assert "Traceback" not in message


def test_production_names_every_missing_setting_in_one_sentence():
    with pytest.raises(ConfigError) as error:
        load({"VESTNIK_ENV": "production"})
    assert "SECRET_KEY, DATABASE_URL, REDIS_URL, VESTNIK_SECRETS_KEY are not set" in error.value.message


def test_production_refuses_a_short_secret():
    with pytest.raises(ConfigError, match="too short"):
        load(production(SECRET_KEY="short"))


def test_production_with_everything_set_uses_postgres_through_psycopg():
    settings = load(production(PUBLIC_URL="https://vestnik.example.com"))
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://vestnik@db/vestnik"
    assert settings["EMBEDDED_REDIS"] is False
    assert settings["SESSION_COOKIE_SECURE"] is True and settings["REMEMBER_COOKIE_SECURE"] is True


def test_heroku_style_postgres_scheme_is_accepted(tmp_path):
    settings = load({"VESTNIK_INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "postgres://u@h/d"})
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/d"


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("DATABASE_URL", "mysql://u@h/d", "DATABASE_URL must point at PostgreSQL"),
        ("REDIS_URL", "http://cache", "REDIS_URL must start with"),
        ("MAX_UPLOAD_MB", "lots", "MAX_UPLOAD_MB must be a whole number"),
        ("DEFAULT_LANGUAGE", "de", "DEFAULT_LANGUAGE must be one of en, ru"),
        ("DEFAULT_REGION", "Russia", "DEFAULT_REGION must be a two-letter country code"),
    ],
)
def test_malformed_settings_are_refused_with_a_sentence(tmp_path, name, value, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load({"VESTNIK_INSTANCE_PATH": str(tmp_path), name: value})


def test_a_too_long_instance_path_moves_the_redis_socket_to_a_stable_temp_path(tmp_path):
    deep = tmp_path / ("d" * 120)
    first = config.embedded_redis_socket(deep)
    assert len(str(first)) <= config.MAX_UNIX_SOCKET_PATH
    # The web app, the worker and the server compute it separately: it must be the same each time.
    assert first == config.embedded_redis_socket(deep)
    assert first != config.embedded_redis_socket(tmp_path / ("e" * 120))


def test_public_url_follows_the_bind_address_unless_set(tmp_path):
    base = {"VESTNIK_INSTANCE_PATH": str(tmp_path), "VESTNIK_BIND": "127.0.0.1:5077"}
    assert load(base)["PUBLIC_URL"] == "http://127.0.0.1:5077"
    assert load({**base, "PUBLIC_URL": "https://vestnik.example.com/"})["PUBLIC_URL"] == "https://vestnik.example.com"


def test_upload_limit_becomes_the_request_size_limit(tmp_path):
    settings = load({"VESTNIK_INSTANCE_PATH": str(tmp_path), "MAX_UPLOAD_MB": "3"})
    assert settings["MAX_CONTENT_LENGTH"] == 3 * 1024 * 1024


def test_create_app_in_production_without_a_secret_stops_with_the_sentence(monkeypatch):
    from app import create_app

    for name, value in production(SECRET_KEY=None).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app()


def test_flask_cli_prints_the_sentence_not_a_traceback(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    env = {"PATH": "/usr/bin:/bin", "VESTNIK_ENV": "production", "VESTNIK_INSTANCE_PATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "users", "list"],
        cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY, DATABASE_URL, REDIS_URL, VESTNIK_SECRETS_KEY are not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_secrets_key_is_generated_once_in_the_instance_folder_and_kept(tmp_path):
    first = load({"VESTNIK_INSTANCE_PATH": str(tmp_path)})["SECRETS_KEYS"]
    second = load({"VESTNIK_INSTANCE_PATH": str(tmp_path)})["SECRETS_KEYS"]
    assert first == second and len(first) == 1 and len(first[0]) == 44
    assert (tmp_path / "secrets_key").read_text() == first[0]
    assert stat.S_IMODE((tmp_path / "secrets_key").stat().st_mode) == 0o600


def test_secrets_keys_from_the_environment_newest_first_for_rotation(tmp_path):
    settings = load({"VESTNIK_INSTANCE_PATH": str(tmp_path), "VESTNIK_SECRETS_KEY": f"{KEY_B}, {KEY_A}"})
    assert settings["SECRETS_KEYS"] == (KEY_B, KEY_A)
    assert not (tmp_path / "secrets_key").exists()


@pytest.mark.parametrize("raw", ["not-a-key", f"{KEY_A},short", " , "])
def test_a_malformed_secrets_key_stops_start_up_with_a_sentence(tmp_path, raw):
    with pytest.raises(ConfigError, match="VESTNIK_SECRETS_KEY"):
        load({"VESTNIK_INSTANCE_PATH": str(tmp_path), "VESTNIK_SECRETS_KEY": raw})


def test_sandbox_url_defaults_to_the_local_sandbox_and_must_be_http(tmp_path):
    assert load({"VESTNIK_INSTANCE_PATH": str(tmp_path)})["SANDBOX_URL"] == "http://127.0.0.1:8025"
    assert load({"VESTNIK_INSTANCE_PATH": str(tmp_path), "SANDBOX_URL": "http://sandbox:9000/"})[
        "SANDBOX_URL"] == "http://sandbox:9000"
    with pytest.raises(ConfigError, match="SANDBOX_URL"):
        load({"VESTNIK_INSTANCE_PATH": str(tmp_path), "SANDBOX_URL": "ftp://x"})
