"""Mailing verification codes and new-sign-in notices: its section of the settings (``SESSIONSYNC_SMTP_*``,
``SESSIONSYNC_MAIL_FROM``, ``SESSIONSYNC_NEW_SIGN_IN_NOTICE``), declared beside the mailer and composed into
:class:`~asgi_sessionsync.settings.Settings`. A leaf module (the settings' parsers, the SMTP
URL checks)."""

from __future__ import annotations

from dataclasses import dataclass

from asgi_sessionsync.settings.parsers import _bool, _field, _one_of, _positive_duration
from asgi_sessionsync.settings.values import Secret
from asgi_sessionsync.smtp_url import check_sender, check_smtp_url


def _smtp_url(variable: str, text: str) -> Secret | None:
    if not text.strip():
        return None
    check_smtp_url(text, variable)
    return Secret(text.strip().encode("utf-8"))


def _sender(variable: str, text: str) -> str | None:
    return check_sender(variable, text)


@dataclass(frozen=True)
class MailSettings:
    """Where the codes of ``SESSIONSYNC_REQUIRE_VERIFIED_EMAIL=self`` and the new-sign-in
    notices are mailed from."""

    smtp_url: Secret | None = _field(
        "SMTP_URL",
        _smtp_url,
        None,
        "SMTP server for the codes: smtp://user:password@host:587 (STARTTLS) or smtps://…:465 (TLS); "
        "needs asgi-sessionsync[mail].",
        secret=True,
    )
    smtp_starttls: str = _field(
        "SMTP_STARTTLS",
        _one_of("auto", "true", "false"),
        "auto",
        "STARTTLS on smtp:// URLs: auto = required unless the server is on this machine; true; false.",
    )
    smtp_timeout: float = _field(
        "SMTP_TIMEOUT", _positive_duration, 10.0, "Longest wait for the SMTP server (connecting, each command)."
    )
    mail_from: str | None = _field(
        "MAIL_FROM", _sender, None, "From address of the codes (default: no-reply@ this site's host)."
    )
    new_sign_in_notice: bool = _field(
        "NEW_SIGN_IN_NOTICE",
        _bool,
        False,
        "Mail the user when a sign-in here comes from a kind of device or a country not seen for them before "
        "(not their first sign-in ever); needs a mailer.",
    )
