"""The settings of verified emails and mail: parsing, validation, never showing the password."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.mail import SMTPMailer
from asgi_sessionsync.settings import RequireVerified, Settings
from tests.cli import run_cli

KEY = generate_secret()


def settings(**env: str) -> Settings:
    base = {"SESSIONSYNC_SITE_URL": "https://b.example", "SESSIONSYNC_SECRET_KEYS": KEY}
    return Settings.from_env({**base, **{f"SESSIONSYNC_{k}": v for k, v in env.items()}}, env_file=None)


def test_defaults_require_nothing_and_mail_nothing() -> None:
    plain = settings()
    assert plain.require_verified_email is RequireVerified.OFF
    assert plain.mail.smtp_url is None and plain.mail.mail_from is None


def test_the_smtp_url_is_parsed_and_never_shown() -> None:
    configured = settings(
        REQUIRE_VERIFIED_EMAIL="self",
        SMTP_URL="smtp://mailer:p%40ss-w0rd@smtp.example.com:2525",
        MAIL_FROM="Shop <no-reply@shop.example>",
    )
    shown = dict(configured.describe())
    assert shown["SESSIONSYNC_SMTP_URL"] == "********"
    assert "p%40ss" not in repr(configured) and "p%40ss" not in str(shown)
    assert configured.mail.smtp_url is not None
    mailer = SMTPMailer(configured.mail.smtp_url.reveal().decode(), starttls=configured.mail.smtp_starttls)
    assert (mailer.url.host, mailer.url.port, mailer.url.username, mailer.url.password) == (
        "smtp.example.com",
        2525,
        "mailer",
        "p@ss-w0rd",
    )
    assert mailer.start_tls is True  # not on this machine: STARTTLS required
    assert "p@ss" not in repr(mailer)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"REQUIRE_VERIFIED_EMAIL": "always"}, "SESSIONSYNC_REQUIRE_VERIFIED_EMAIL"),
        ({"SMTP_URL": "http://smtp.example.com", "MAIL_FROM": "a@b.example"}, "SESSIONSYNC_SMTP_URL"),
        ({"SMTP_URL": "smtp://:secret@smtp.example.com", "MAIL_FROM": "a@b.example"}, "SESSIONSYNC_SMTP_URL"),
        ({"SMTP_URL": "smtp://smtp.example.com"}, "SESSIONSYNC_MAIL_FROM"),
        ({"MAIL_FROM": "not an address"}, "SESSIONSYNC_MAIL_FROM"),
        ({"SMTP_STARTTLS": "maybe"}, "SESSIONSYNC_SMTP_STARTTLS"),
    ],
)
def test_bad_values_name_their_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as error:
        settings(**env)
    assert error.value.variable == variable
    assert "secret" not in str(error.value)


def test_an_smtp_url_without_aiosmtplib_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "aiosmtplib" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ConfigError, match=r"asgi-sessionsync\[mail\]"):
        settings(SMTP_URL="smtp://smtp.example.com", MAIL_FROM="a@b.example")


def test_starttls_on_a_local_server_is_used_if_offered() -> None:
    assert SMTPMailer("smtp://127.0.0.1:2525").start_tls is None
    assert SMTPMailer("smtp://localhost:2525", starttls="true").start_tls is True
    assert SMTPMailer("smtps://smtp.example.com").start_tls is False
    assert SMTPMailer("smtps://smtp.example.com").url.port == 465


def test_config_check_masks_the_smtp_url_and_notes_a_missing_mailer() -> None:
    env = {
        "SESSIONSYNC_SITE_URL": "https://b.example",
        "SESSIONSYNC_SECRET_KEYS": KEY,
        "SESSIONSYNC_STORE": "memory://",
    }
    result = run_cli(
        "config",
        "check",
        env={
            **env,
            "SESSIONSYNC_REQUIRE_VERIFIED_EMAIL": "self",
            "SESSIONSYNC_SMTP_URL": "smtps://mailer:hunter2-pass@smtp.example.com",
            "SESSIONSYNC_MAIL_FROM": "no-reply@b.example",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "hunter2-pass" not in result.stdout + result.stderr
    assert "SESSIONSYNC_SMTP_URL" in result.stdout and "note:" not in result.stderr
    result = run_cli("config", "check", env={**env, "SESSIONSYNC_REQUIRE_VERIFIED_EMAIL": "self"})
    assert result.returncode == 0 and "note: SESSIONSYNC_REQUIRE_VERIFIED_EMAIL=self" in result.stderr
