"""Reading the SMTP settings: an ``smtp://``/``smtps://`` URL (:class:`SMTPURL`) and a sender.

The settings check them at start-up and :mod:`~asgi_sessionsync.mail` sends with them;
this module imports only the exceptions, so both can depend on it.
"""

from __future__ import annotations

import importlib.util
import ipaddress
from email.utils import parseaddr
from urllib.parse import unquote, urlsplit

from asgi_sessionsync.exceptions import ConfigError

VARIABLE = "SESSIONSYNC_SMTP_URL"
EXAMPLE = f"{VARIABLE}=smtp://user:password@smtp.example.com:587 (or smtps://…:465)"
INSTALL_HINT = "the SMTP mailer needs aiosmtplib, which is not installed: pip install 'asgi-sessionsync[mail]'"


class SMTPURL:
    """A parsed ``smtp://`` or ``smtps://`` URL: host, port, credentials, implicit TLS."""

    __slots__ = ("host", "password", "port", "tls", "username")

    def __init__(self, text: str, variable: str = VARIABLE) -> None:
        try:
            parts = urlsplit(text.strip())
            port = parts.port
        except ValueError:
            raise ConfigError(variable, "is not a valid URL", EXAMPLE) from None
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError(variable, "must be smtp://HOST[:PORT] or smtps://HOST[:PORT]", EXAMPLE)
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(variable, "takes no path, query or fragment", EXAMPLE)
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = port or (465 if self.tls else 587)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password is not None else None
        if self.password is not None and self.username is None:
            raise ConfigError(variable, "has a password but no user name", EXAMPLE)

    @property
    def where(self) -> str:
        """The server, for messages and logs: scheme, host and port, never credentials."""
        return f"{'smtps' if self.tls else 'smtp'}://{self.host}:{self.port}"

    @property
    def local(self) -> bool:
        """Whether the server is on this machine (loopback)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def check_smtp_url(text: str, variable: str = VARIABLE) -> None:
    """Raise :class:`ConfigError` unless ``text`` is a usable SMTP URL and the SMTP
    client is installed. Connects to nothing."""
    SMTPURL(text, variable)
    if importlib.util.find_spec("aiosmtplib") is None:
        raise ConfigError(variable, INSTALL_HINT, EXAMPLE)


def check_sender(variable: str, text: str) -> str | None:
    """A ``From`` value: an address, optionally with a display name (``Site <no-reply@x>``)."""
    value = text.strip()
    if not value:
        return None
    _, address = parseaddr(value)
    local, at, domain = address.partition("@")
    if not at or not local or "." not in domain or any(c in value for c in "\r\n"):
        raise ConfigError(variable, f"{value!r} is not an email address", f"{variable}=Example <no-reply@example.com>")
    return value
