"""Every configuration error at once (#22): ``config check`` and start-up report all of
them, not only the first, each naming its variable."""

from __future__ import annotations

import pytest

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Settings, exit_on_config_error
from tests.cli import run_cli

KEY = generate_secret()
BAD = {
    "SESSIONSYNC_IP_BINDING": "loose",
    "SESSIONSYNC_CLOCK_SKEW": "soon",
    "SESSIONSYNC_SYNC_MODE": "magic",
    "SESSIONSYNC_PEERS": "b.example.com",
}


def test_every_bad_value_is_in_the_one_error() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"SESSIONSYNC_SECRET_KEYS": KEY, **BAD}, env_file=None)
    errors = getattr(caught.value, "errors", None)
    assert errors is not None
    named = [error.variable for error in errors]
    assert sorted(named) == sorted([*BAD, "SESSIONSYNC_SITE_URL"])
    for variable in named:
        assert variable in str(caught.value)
    assert KEY not in str(caught.value)


def test_one_bad_value_is_still_a_plain_config_error_naming_it() -> None:
    env = {"SESSIONSYNC_SITE_URL": "https://a.example.com", "SESSIONSYNC_SECRET_KEYS": KEY}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**env, "SESSIONSYNC_CLOCK_SKEW": "soon"}, env_file=None)
    assert caught.value.variable == "SESSIONSYNC_CLOCK_SKEW"
    assert str(caught.value).startswith("SESSIONSYNC_CLOCK_SKEW: 'soon' is not a duration")


def test_start_up_ends_on_one_line_per_error() -> None:
    with pytest.raises(SystemExit) as caught, exit_on_config_error():
        Settings.from_env({"SESSIONSYNC_SECRET_KEYS": KEY, **BAD}, env_file=None)
    lines = str(caught.value.code).splitlines()
    assert len(lines) == 5
    assert all(line.startswith("asgi-sessionsync: configuration error: SESSIONSYNC_") for line in lines)


def test_config_check_reports_every_error_and_the_unknown_variables() -> None:
    result = run_cli("config", "check", env={"SESSIONSYNC_SECRET_KEYS": KEY, "SESSIONSYNC_PEER": "x", **BAD})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("configuration error: ")]
    assert len(lines) == 6, result.stderr
    for variable in [*BAD, "SESSIONSYNC_SITE_URL", "SESSIONSYNC_PEER is not a setting"]:
        assert any(variable in line for line in lines), variable
    assert "Traceback" not in result.stderr and KEY not in result.stderr


def starlette_env(**extra: str) -> dict[str, str]:
    return {
        "SESSIONSYNC_SITE_URL": "https://c.example.com",
        "SESSIONSYNC_SECRET_KEYS": KEY,
        "SESSIONSYNC_STORE": "memory://",
        "SESSIONSYNC_IDENTITY": "starlette-session",
        **extra,
    }


def test_config_check_with_the_app_finds_a_secret_that_is_not_the_apps() -> None:
    from tests.fixtures.session_app import SECRET

    typo = run_cli(
        "config",
        "check",
        "--app",
        "tests.fixtures.session_app:app",
        env=starlette_env(SESSIONSYNC_APP_SESSION_SECRET=SECRET + "x"),
    )
    assert typo.returncode == 2, typo.stdout + typo.stderr
    assert "SESSIONSYNC_APP_SESSION_SECRET" in typo.stderr and "differs" in typo.stderr
    assert SECRET not in typo.stdout + typo.stderr

    same = run_cli(
        "config",
        "check",
        "--app",
        "tests.fixtures.session_app:app",
        env=starlette_env(SESSIONSYNC_APP_SESSION_SECRET=SECRET),
    )
    assert same.returncode == 0, same.stderr
    unset = run_cli("config", "check", "--app", "tests.fixtures.session_app:app", env=starlette_env())
    assert unset.returncode == 0, unset.stderr
    assert "read from the app's SessionMiddleware" in unset.stdout + unset.stderr
    assert "fixture_session" in unset.stdout + unset.stderr
    assert SECRET not in unset.stdout + unset.stderr


def test_config_check_says_where_an_unset_app_secret_comes_from() -> None:
    without_app = run_cli("config", "check", env=starlette_env())
    assert without_app.returncode == 0, without_app.stderr
    assert "SESSIONSYNC_APP_SESSION_SECRET is not set" in without_app.stderr and "--app" in without_app.stderr
    bare = run_cli("config", "check", "--app", "tests.fixtures.session_app:bare", env=starlette_env())
    assert bare.returncode == 2 and "SESSIONSYNC_APP_SESSION_SECRET" in bare.stderr
