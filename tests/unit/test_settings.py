from __future__ import annotations

import pytest

from smscast.settings import Settings, SettingsError


def test_defaults_match_the_spec() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///smscast.db"
    assert settings.carrier_url == "sandbox://"
    assert settings.quiet_hours == "23:00-08:00,14:00-17:00"
    assert settings.callback_timeout_s == 2
    assert settings.callback_retry_s[0] == 30 and settings.callback_retry_s[-1] == 86400
    assert settings.token_ttl_s == 3600


def test_postgres_url_gets_psycopg_driver() -> None:
    settings = Settings.from_env({"SMSCAST_DATABASE_URL": "postgresql://u@h/db"})
    assert settings.database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMSCAST_DATABASE_URL", "mysql://x"),
        ("SMSCAST_CARRIER_URL", "http://x"),
        ("SMSCAST_QUIET_HOURS", "23-08"),
        ("SMSCAST_QUIET_HOURS", "25:00-08:00"),
        ("SMSCAST_CALLBACK_TIMEOUT_S", "0"),
        ("SMSCAST_CALLBACK_TIMEOUT_S", "soon"),
        ("SMSCAST_CALLBACK_RETRY_S", "30,x"),
        ("SMSCAST_CALLBACK_RETRY_S", "30,-1"),
        ("SMSCAST_TOKEN_TTL_S", "-3"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
