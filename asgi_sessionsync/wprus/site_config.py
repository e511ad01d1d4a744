"""A WP Remote Users Sync site declared in the network file (docs/wordpress.md).

::

    [wprus."https://blog.example.com"]       # the WordPress site's home URL
    encryption_secret_file = "/run/secrets/wprus-encryption"   # the plugin's "Encryption key"
    signature_secret_file = "/run/secrets/wprus-signature"     # its "Authentication key"
    token_expiry = 1800                      # its "Token validity" (seconds)
    backchannel_url = "http://10.0.0.5"      # optional: where this site's servers reach it
    login = "both"                           # and every key of a [peers."…"] table
    create = "accept"
    roles_accepted = ["subscriber"]
    sources = ["203.0.113.7"]                # where its server-to-server POSTs come from

The two secrets may be written inline (``encryption_secret = "…"``) instead of in a file;
a file is read once, at load, its surrounding whitespace stripped. This module holds the
connection facts; the per-action rules are a :class:`~asgi_sessionsync.network_rules.PeerRules`
like any peer's, decided by :mod:`asgi_sessionsync.trust`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.settings.values import Secret

CONNECTION_KEYS = frozenset(
    {
        "encryption_secret",
        "encryption_secret_file",
        "signature_secret",
        "signature_secret_file",
        "token_expiry",
        "backchannel_url",
    }
)
DEFAULT_TOKEN_EXPIRY = 1800  # the plugin's own default (seconds)
EXAMPLE = 'encryption_secret_file = "/run/secrets/wprus-encryption"'


@dataclass(frozen=True, slots=True)
class WprusSite:
    """One WordPress site running WP Remote Users Sync: its home URL (``url``, no
    trailing slash), ``origin``, the two shared secrets, the token validity, and where
    this site's server-to-server requests go (``backchannel``: the URL unless declared)."""

    url: str
    origin: str
    encryption_secret: Secret
    signature_secret: Secret
    token_expiry: int = DEFAULT_TOKEN_EXPIRY
    backchannel: str = ""

    def server_url(self, action: str) -> str:
        """Where this site sends the plugin's ``action`` server to server (``…/wprus/<action>/``)."""
        return f"{self.backchannel or self.url}/wprus/{action}/"

    def secrets(self) -> tuple[str, str]:
        """The secrets as the plugin uses them: text."""
        return (
            self.encryption_secret.reveal().decode("utf-8"),
            self.signature_secret.reveal().decode("utf-8"),
        )

    def matches(self, base_url: str) -> bool:
        """Whether ``base_url`` (what the plugin sends as its own home) is this site: same
        scheme, host and port, and a path under this site's path."""
        parts = urlsplit(base_url.strip())
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        path = parts.path.rstrip("/")
        own = urlsplit(self.url).path.rstrip("/")
        return origin == self.origin and (path == own or path.startswith(own + "/"))


def listed_as(origin: str, path_prefix: str) -> str:
    """This site as a WordPress site lists it among its remote sites: its origin and the
    middleware's path prefix without the trailing slash (docs/wordpress.md)."""
    return origin + path_prefix.rstrip("/")


def wprus_site(key: str, table: Mapping[str, Any], source: str, variable: str) -> WprusSite:
    """The site of ``[wprus."<key>"]``; :class:`ConfigError` naming what is wrong."""
    where = f'{source}: [wprus."{key}"]'
    parts = urlsplit(key.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            variable, f"{where} must name the WordPress site by its home URL", '[wprus."https://blog.example.com"]'
        )
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    expiry = table.get("token_expiry", DEFAULT_TOKEN_EXPIRY)
    if not isinstance(expiry, int) or isinstance(expiry, bool) or not 30 <= expiry <= 86_400:
        raise ConfigError(variable, f"{where} token_expiry must be seconds, 30 to 86400", "token_expiry = 1800")
    back = table.get("backchannel_url", "")
    back_parts = urlsplit(back) if isinstance(back, str) else None
    if back_parts is None or (back and (back_parts.scheme not in ("http", "https") or not back_parts.hostname)):
        raise ConfigError(
            variable, f"{where} backchannel_url must be an http(s) URL", 'backchannel_url = "http://10.0.0.5"'
        )
    return WprusSite(
        backchannel=str(back).rstrip("/"),
        url=origin + parts.path.rstrip("/"),
        origin=origin,
        encryption_secret=_secret(table, "encryption_secret", where, variable),
        signature_secret=_secret(table, "signature_secret", where, variable),
        token_expiry=expiry,
    )


def _secret(table: Mapping[str, Any], name: str, where: str, variable: str) -> Secret:
    inline, path = table.get(name), table.get(name + "_file")
    if (inline is None) == (path is None):
        raise ConfigError(variable, f"{where} needs exactly one of {name} and {name}_file", EXAMPLE)
    if path is not None:
        if not isinstance(path, str) or not path.strip():
            raise ConfigError(variable, f"{where} {name}_file must be a path", EXAMPLE)
        try:
            inline = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(variable, f"{where} {name}_file {path!r} cannot be read: {error}", EXAMPLE) from None
    if not isinstance(inline, str) or len(inline.strip()) < 16:
        # The plugin takes any text; a short one is guessable, and refused here.
        raise ConfigError(variable, f"{where} {name} must be text of at least 16 characters", EXAMPLE)
    return Secret(inline.encode("utf-8"))
