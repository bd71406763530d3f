"""config.Settings.from_env: defaults, CHATD_* variables, flags, and errors naming the source."""

from __future__ import annotations

import pytest

from chatd.config import SETTINGS, Settings


def test_no_variables_give_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_defaults_are_the_documented_ones() -> None:
    settings = Settings()
    assert settings.port == 9000
    assert settings.max_text_length == 10_000
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.sqlite_synchronous == "FULL"


def test_every_variable_is_read() -> None:
    env = {
        "CHATD_HOST": "127.0.0.1",
        "CHATD_PORT": "8080",
        "CHATD_DATABASE_URL": "postgresql://chatd@db:5432/chatd",
        "CHATD_DB_POOL_SIZE": "3",
        "CHATD_SQLITE_SYNCHRONOUS": "NORMAL",
        "CHATD_MAX_TEXT_LENGTH": "500",
        "CHATD_MAX_BODY_BYTES": "2048",
        "CHATD_LOG_LEVEL": "debug",
    }
    assert Settings.from_env(env) == Settings(
        host="127.0.0.1",
        port=8080,
        database_url="postgresql://chatd@db:5432/chatd",
        db_pool_size=3,
        sqlite_synchronous="NORMAL",
        max_text_length=500,
        max_body_bytes=2048,
        log_level="debug",
    )


def test_every_setting_has_a_chatd_variable() -> None:
    assert sorted(s.env_var for s in SETTINGS) == sorted(
        "CHATD_" + name.upper() for name in Settings.__dataclass_fields__
    )


def test_process_environment_is_read_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATD_MAX_TEXT_LENGTH", "42")
    assert Settings.from_env().max_text_length == 42


def test_unrelated_variables_are_ignored() -> None:
    env = {"PORT": "1", "CHATD_UNKNOWN": "x", "chatd_port": "2"}
    assert Settings.from_env(env) == Settings()


@pytest.mark.parametrize(("raw", "value"), [("normal", "NORMAL"), ("Extra", "EXTRA")])
def test_sqlite_synchronous_is_read_in_any_case(raw: str, value: str) -> None:
    assert Settings.from_env({"CHATD_SQLITE_SYNCHRONOUS": raw}).sqlite_synchronous == value


def test_log_level_is_read_in_any_case() -> None:
    assert Settings.from_env({"CHATD_LOG_LEVEL": "WARNING"}).log_level == "warning"


@pytest.mark.parametrize("port", ["0", "65535"])
def test_port_bounds_are_accepted(port: str) -> None:
    assert Settings.from_env({"CHATD_PORT": port}).port == int(port)


def test_flags_override_variables() -> None:
    settings = Settings.from_env({"CHATD_PORT": "8080", "CHATD_HOST": "::"}, port="9090")
    assert (settings.port, settings.host) == (9090, "::")


def test_flags_left_unset_change_nothing() -> None:
    assert Settings.from_env({"CHATD_PORT": "8080"}, port=None).port == 8080


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("CHATD_PORT", "http"),
        ("CHATD_PORT", "-1"),
        ("CHATD_PORT", "65536"),
        ("CHATD_PORT", "80.5"),
        ("CHATD_DB_POOL_SIZE", "0"),
        ("CHATD_DB_POOL_SIZE", "many"),
        ("CHATD_SQLITE_SYNCHRONOUS", "OFF"),
        ("CHATD_SQLITE_SYNCHRONOUS", ""),
        ("CHATD_MAX_TEXT_LENGTH", "0"),
        ("CHATD_MAX_TEXT_LENGTH", "-10"),
        ("CHATD_MAX_TEXT_LENGTH", "10k"),
        ("CHATD_MAX_BODY_BYTES", "1MiB"),
        ("CHATD_MAX_BODY_BYTES", ""),
        ("CHATD_LOG_LEVEL", "loud"),
        ("CHATD_WRITE_LANES", "0"),
        ("CHATD_WRITE_LANES", "two"),
        ("CHATD_DATABASE_URL", "mysql://db/chatd"),
    ],
)
def test_bad_value_raises_value_error_naming_the_variable(variable: str, raw: str) -> None:
    with pytest.raises(ValueError, match=variable):
        Settings.from_env({variable: raw})


def test_bad_flag_raises_value_error_naming_the_flag() -> None:
    with pytest.raises(ValueError, match="--max-body-bytes"):
        Settings.from_env({}, max_body_bytes="huge")


def test_write_lanes_auto_are_the_databases_own_with_one_process_and_one_with_several() -> None:
    assert Settings().lanes is None  # storage/dialects.py: 2 on PostgreSQL, 1 on SQLite
    assert Settings(workers=2).lanes == 1
    assert Settings.from_env({"CHATD_WRITE_LANES": "AUTO", "CHATD_WORKERS": "3"}).lanes == 1
    assert Settings.from_env({"CHATD_WRITE_LANES": "3", "CHATD_WORKERS": "2"}).lanes == 3
