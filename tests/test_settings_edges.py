"""Settings edges (#16): a clock hook, misspelled variables, typed keyword options."""

from __future__ import annotations

import dataclasses
import time
import typing

import pytest

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Settings, SettingsOptions, exit_on_config_error, unknown_variables

KEY = generate_secret()
BASE = {"SESSIONSYNC_SITE_URL": "https://a.example.com", "SESSIONSYNC_SECRET_KEYS": KEY}


def test_the_clock_is_time_time_unless_given_in_code() -> None:
    assert Settings.from_env(BASE, env_file=None).clock is time.time
    settings = Settings.from_env(BASE, env_file=None, clock=lambda: 42.0)
    assert settings.clock() == 42.0
    assert "clock" not in {name for name, _ in settings.describe()}


def test_a_misspelled_variable_gets_a_did_you_mean() -> None:
    env = {**BASE, "SESSIONSYNC_PEER": "https://b.example.com", "SESSIONSYNC_CLOCK_SKEWS": "5", "HOME": "/root"}
    found = dict(unknown_variables(env))
    assert found == {"SESSIONSYNC_PEER": "SESSIONSYNC_PEERS", "SESSIONSYNC_CLOCK_SKEWS": "SESSIONSYNC_CLOCK_SKEW"}


def test_network_variables_of_named_networks_are_known() -> None:
    env = {
        **BASE,
        "SESSIONSYNC_NETWORKS": "partners",
        "SESSIONSYNC_NETWORK_PARTNERS_SECRET_KEYS": generate_secret(),
        "SESSIONSYNC_NETWORK_PARTNERS_PEERS": "https://p.example.com",
        "SESSIONSYNC_NETWORK_OTHERS_PEERS": "https://q.example.com",  # a network not listed
    }
    assert [name for name, _ in unknown_variables(env)] == ["SESSIONSYNC_NETWORK_OTHERS_PEERS"]


def test_keyword_options_name_every_setting() -> None:
    # Flat keywords, a feature section's fields among them (smtp_url=..., policy=...).
    fields = set()
    for f in dataclasses.fields(Settings):
        kind = f.metadata.get("section")
        fields |= {s.name for s in dataclasses.fields(kind)} if kind is not None else {f.name}
    options = set(typing.get_type_hints(SettingsOptions))
    assert options == fields | {"secret_keys", "peers"}


def test_exit_on_config_error_turns_a_config_error_into_one_line() -> None:
    with pytest.raises(SystemExit) as exited, exit_on_config_error():
        Settings.from_env({}, env_file=None)
    assert isinstance(exited.value.code, str)
    assert exited.value.code.startswith("asgi-sessionsync: configuration error: SESSIONSYNC_SITE_URL")
    assert "\n" not in exited.value.code


def test_other_errors_pass_through_exit_on_config_error() -> None:
    with pytest.raises(ValueError, match="not a config error"), exit_on_config_error():
        raise ValueError("not a config error")
    assert issubclass(ConfigError, Exception)


def test_a_server_started_with_a_misspelled_variable_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name, value in {**BASE, "SESSIONSYNC_LOGOUT_WAITS": "2"}.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level("WARNING", logger="asgi_sessionsync"):
        Settings.from_env(env_file=None)
    assert "SESSIONSYNC_LOGOUT_WAITS is not a setting and is ignored: did you mean SESSIONSYNC_LOGOUT_WAIT?" in (
        caplog.text
    )
