"""Sending mail: the :class:`Mailer` protocol and the built-in SMTP mailer.

The middleware mails one kind of message, the code that verifies an address
(``SESSIONSYNC_REQUIRE_VERIFIED_EMAIL=self``). Give it any object with an async
``send(message)`` (``SessionSyncMiddleware(app, mailer=...)``), or let it build
:class:`SMTPMailer` from ``SESSIONSYNC_SMTP_URL``.

The SMTP client is aiosmtplib (``pip install 'asgi-sessionsync[mail]'``), an asyncio
library: under asyncio it runs on the loop; under any other event loop (trio) each
message is sent from a worker thread with its own asyncio loop. Nothing blocks the
loop, and no error or log line ever shows the password of the SMTP URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import anyio
import sniffio

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.exceptions import MailError as MailError  # its home is exceptions.py; importable here as before
from asgi_sessionsync.logs import package_log
from asgi_sessionsync.smtp_url import EXAMPLE, INSTALL_HINT, SMTPURL, check_smtp_url

if TYPE_CHECKING:
    from asgi_sessionsync.settings import Settings

logger = package_log("asgi_sessionsync.mail")


@runtime_checkable
class Mailer(Protocol):
    """Sends one message.

    Contract:

    - ``send`` returns once the message is accepted for delivery (by the SMTP server,
      the API, the queue); it raises (preferably :class:`MailError`) when it is not.
      The middleware treats any exception as "not sent": it logs the exception's type
      and text (so that text must not hold credentials) and shows the user a page that
      says the code could not be sent and offers to try again.
    - It must not block the event loop (do blocking I/O in a thread) and should bound
      its own time; the middleware also stops waiting after ``SESSIONSYNC_SMTP_TIMEOUT``
      (plus a second) and counts the message as not sent.
    - ``message`` is a complete :class:`email.message.EmailMessage` with ``From``,
      ``To``, ``Subject`` and a plain-text body. It holds a one-time code: do not log
      the body.
    """

    async def send(self, message: EmailMessage) -> None: ...


class SMTPMailer:
    """Sends through an SMTP server with aiosmtplib.

    ``smtps://`` is TLS from the first byte (port 465 by default); ``smtp://`` (port 587
    by default) upgrades with STARTTLS: ``starttls="auto"`` requires it unless the
    server is on this machine (where it is used if offered), ``"true"`` always requires
    it, ``"false"`` never uses it. ``timeout`` bounds connecting and each command."""

    def __init__(self, url: str, *, starttls: str = "auto", timeout: float = 10.0) -> None:
        self.url = SMTPURL(url)
        if starttls not in ("auto", "true", "false"):
            raise ConfigError("SESSIONSYNC_SMTP_STARTTLS", f"{starttls!r} is not one of auto, true, false")
        self.timeout = timeout
        if self.url.tls or starttls == "false":
            self.start_tls: bool | None = False
        elif starttls == "true" or not self.url.local:
            self.start_tls = True
        else:
            self.start_tls = None  # aiosmtplib: if the server offers it

    def __repr__(self) -> str:
        return f"SMTPMailer({self.url.where})"

    async def send(self, message: EmailMessage) -> None:
        try:
            import aiosmtplib
        except ImportError:
            raise MailError(INSTALL_HINT) from None
        url = self.url

        def sending() -> Awaitable[object]:
            return aiosmtplib.send(
                message,
                hostname=url.host,
                port=url.port,
                username=url.username,
                password=url.password,
                use_tls=url.tls,
                start_tls=self.start_tls,
                timeout=self.timeout,
            )

        try:
            await _on_asyncio(sending)
        except aiosmtplib.SMTPResponseException as error:
            raise MailError(f"{url.where} refused the message: {error.code} {_short(error.message)}") from None
        except aiosmtplib.SMTPException as error:
            raise MailError(f"{url.where}: {type(error).__name__}: {_short(str(error))}") from None
        except OSError as error:
            raise MailError(f"{url.where} could not be reached: {type(error).__name__}") from None


async def _on_asyncio(job: Callable[[], Awaitable[object]]) -> None:
    """Await ``job()`` on asyncio: here when the loop is asyncio, else in a worker thread
    running its own asyncio loop (trio)."""
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        library = ""
    if library == "asyncio":
        await job()
        return

    async def run() -> None:
        await job()

    await anyio.to_thread.run_sync(lambda: asyncio.run(run()), abandon_on_cancel=True)


def _short(text: str) -> str:
    """A server's answer, bounded and on one line (it never holds our credentials:
    AUTH sends them base64-encoded and servers do not echo them)."""
    return " ".join(text.split())[:200]


def code_message(*, sender: str, to: str, site: str, code: str, minutes: int) -> EmailMessage:
    """The message that carries a verification code."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"Your sign-in code for {site}"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        f"Someone (we hope you) is signing in to {site} with this address.\n\n"
        f"Your code: {code}\n\n"
        f"It works once, for {minutes} minutes. If you did not ask for it, ignore this message: "
        "nobody is signed in without the code.\n"
    )
    return message


def mailer_from_settings(settings: Settings) -> Mailer | None:
    """The SMTP mailer ``SESSIONSYNC_SMTP_URL`` names; None when it is not set. A site
    that must mail codes (``SESSIONSYNC_REQUIRE_VERIFIED_EMAIL=self``) and has no way to
    is a :class:`ConfigError` (a mailer given in code counts: the caller checks first)."""
    if settings.mail.smtp_url is None:
        if settings.require_verified_email == "self":
            raise ConfigError(
                "SESSIONSYNC_SMTP_URL",
                "SESSIONSYNC_REQUIRE_VERIFIED_EMAIL=self mails a code to verify each address, but no mailer is "
                "set: give an SMTP server, or pass SessionSyncMiddleware(mailer=...)",
                EXAMPLE,
            )
        if settings.mail.new_sign_in_notice:
            raise ConfigError(
                "SESSIONSYNC_SMTP_URL",
                "SESSIONSYNC_NEW_SIGN_IN_NOTICE mails the user at a sign-in from a new kind of device or country, "
                "but no mailer is set: give an SMTP server, or pass SessionSyncMiddleware(mailer=...)",
                EXAMPLE,
            )
        return None
    url = settings.mail.smtp_url.reveal().decode("utf-8")
    check_smtp_url(url)
    return SMTPMailer(url, starttls=settings.mail.smtp_starttls, timeout=settings.mail.smtp_timeout)
