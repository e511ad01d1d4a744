"""The values settings hold: sync modes, secrets, peers and networks."""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.keys import key_id

PREFIX = "SESSIONSYNC_"


class SyncMode(enum.StrEnum):
    BOUNCE = "bounce"  # top-level redirect chain: works in every browser
    FRAME = "frame"  # hidden iframes: needs third-party cookies
    AUTO = "auto"  # frames first, then bounce through the peers whose frame failed


class RequireVerified(enum.StrEnum):
    """Whether a peer's sign-in needs a verified address (SESSIONSYNC_REQUIRE_VERIFIED_EMAIL)."""

    OFF = "off"  # a peer's word is enough
    ISSUER = "issuer"  # the peer must say it verified the address; otherwise refused
    SELF = "self"  # an address the peer did not verify is verified here, by a mailed code


class Secret:
    """Secret bytes that never show themselves in a repr, a str or a log."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    @property
    def key_id(self) -> str:
        return key_id(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class Peer:
    """Another site of a network: where browsers reach it, and where servers do."""

    url: str
    backchannel_url: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", _normalize_url(self.url, "SESSIONSYNC_PEERS"))
        back = self.backchannel_url or self.url
        object.__setattr__(self, "backchannel_url", _normalize_url(back, "SESSIONSYNC_PEERS"))

    @property
    def origin(self) -> str:
        return origin_of(self.url)

    @property
    def site_id(self) -> str:
        """What names this peer (sealed messages, the network file, trust, logs): see :func:`site_id_of`."""
        return site_id_of(self.url)

    @classmethod
    def parse(cls, text: str, variable: str = "SESSIONSYNC_PEERS") -> Peer:
        url, _, back = text.strip().partition("|")
        try:
            return cls(url.strip(), back.strip())
        except ConfigError as error:
            raise ConfigError(variable, error.problem, _PEERS_EXAMPLE) from None


@dataclass(frozen=True, slots=True)
class Network:
    """A group of sites sharing login: its own secret keys (first seals) and peers."""

    name: str
    secret_keys: tuple[Secret, ...]
    peers: tuple[Peer, ...] = ()


@functools.lru_cache(maxsize=1024)
def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower case (remembered: asked per request)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@functools.lru_cache(maxsize=1024)
def site_id_of(url: str) -> str:
    """What names the site at ``url``: its origin, and its path when it has one
    (``https://example.com/shop``: a sub-folder site, one of several an origin may hold).
    The issuer and audience of every sealed message, the key of the network file and of
    the trust rules, the peer of the activity log. (Remembered: asked per request.)"""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() + parts.path.rstrip("/")


def site_path_of(url: str) -> str:
    """The path of a site's URL without its trailing slash: ``""`` for a site at the root."""
    return urlsplit(url).path.rstrip("/")


_PEERS_EXAMPLE = "SESSIONSYNC_PEERS=https://b.example.com,https://c.example.com|http://10.0.0.3:8000"


def _normalize_url(text: str, variable: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(variable, f"{text!r} is not an http(s) URL", "https://a.example.com")
    if parts.query or parts.fragment:
        raise ConfigError(variable, f"{text!r} must not have a query or fragment", "https://a.example.com")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(variable, f"{text!r} has an invalid port", "https://a.example.com:8443") from None
    path = parts.path.rstrip("/")
    if path and (not _PLAIN_PATH.fullmatch(path) or any(s in (".", "..") for s in path.split("/"))):
        raise ConfigError(
            variable,
            f"{text!r} has a path that is not plain (segments of letters, digits and . _ ~ - %)",
            "https://example.com/shop",
        )
    return f"{parts.scheme}://{parts.netloc.lower()}{path}"


# A site's path: it becomes a cookie's Path and the start of its endpoints' URLs.
_PLAIN_PATH = re.compile(r"(/[A-Za-z0-9._~%-]+)+")


#: The names ``SESSIONSYNC_IDENTITY`` takes: one adapter each in
#: :mod:`asgi_sessionsync.identity.registry` (a test keeps the two equal).
IDENTITY_NAMES = ("session", "starlette-session", "django")
