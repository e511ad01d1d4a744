"""Reading one cookie fast and writing Set-Cookie values; no general-purpose jar. The
names of the middleware's own cookies (:class:`CookieNames`), decided once per site."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

HOST_PREFIX = "__Host-"
SECURE_PREFIX = "__Secure-"
PREFIXES = (HOST_PREFIX, SECURE_PREFIX)
DEFAULT_COOKIE_NAME = "sessionsync"


def subfolder_cookie_name(site_path: str) -> str:
    """The default cookie name of a sub-folder site that shares its origin with a peer:
    ``sessionsync_shop`` for ``/shop``, ``sessionsync_eu.shop`` for ``/eu/shop``. Its own, so
    that a site at an enclosing path (whose cookies reach this one's pages too) never sends
    one of the same name; ``_`` keeps it apart from every name a ``sessionsync`` site writes."""
    segments = [re.sub(r"[^A-Za-z0-9.-]", "_", part) for part in site_path.strip("/").split("/")]
    return f"{DEFAULT_COOKIE_NAME}_{'.'.join(segments)}"


def name_prefix(*, https: bool, secure: bool, domain: str | None, path: str) -> str:
    """The prefix of the middleware's cookie names for a site.

    ``__Host-`` where the cookies qualify (an https site, ``Secure``, no ``Domain``,
    ``Path=/``): a browser keeps such a cookie only when this very host set it, host-only,
    so no sibling subdomain can plant one or shadow ours. ``__Secure-`` for ``Secure``
    cookies with a ``Domain`` or another ``Path``: they cannot come from plain http, but
    any host under that domain can still set one. None over http (a prefixed cookie must
    be set by a secure origin; the demo's ``http://*.localhost`` names stay as they are)."""
    if not (https and secure):
        return ""
    return HOST_PREFIX if domain is None and path == "/" else SECURE_PREFIX


class CookieSettings(Protocol):
    """The settings cookie names are made from (:class:`~asgi_sessionsync.settings.Settings`
    has them; typed here so that the settings, which check the names, need not be imported)."""

    @property
    def site_url(self) -> str: ...
    @property
    def secure(self) -> bool: ...
    @property
    def cookie_domain(self) -> str | None: ...
    @property
    def cookie_path(self) -> str: ...
    @property
    def cookie_name(self) -> str: ...
    @property
    def samesite(self) -> str: ...


@dataclass(frozen=True, slots=True)
class CookieNames:
    """The name of every cookie the middleware writes, built once from the settings
    (:meth:`from_settings`) and taken by every part that reads or writes one."""

    session: str  # the session cookie
    pending: str  # a sign-in whose sync waits for the next navigation
    seen: str  # the first-visit catch-up asked the peers lately
    bind: str  # the nonces of this browser's pulls in flight
    held: str  # a peer's sign-in held until the address is verified here
    unreachable: str  # the peers this browser could not reach lately (the catch-up's page said)
    returned: str  # a catch-up's return to the page: whether the navigation that started it spoke for this site
    declined: str  # the user went on without signing in here (the code page), for the catch-up interval
    _encoded: frozenset[bytes] = field(init=False, repr=False, compare=False)
    _stem: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_encoded", frozenset(n.encode("latin-1") for n in self.all))
        object.__setattr__(self, "_stem", self.session.encode("latin-1"))

    @classmethod
    def of(cls, base: str, prefix: str = "") -> CookieNames:
        name = prefix + base
        return cls(
            name,
            f"{name}-sync",
            f"{name}-seen",
            f"{name}-bind",
            f"{name}-held",
            f"{name}-unreachable",
            f"{name}-return",
            f"{name}-declined",
        )

    @classmethod
    def from_settings(cls, settings: CookieSettings) -> CookieNames:
        https = urlsplit(settings.site_url).scheme == "https"
        prefix = name_prefix(
            https=https, secure=settings.secure, domain=settings.cookie_domain, path=settings.cookie_path
        )
        return cls.of(settings.cookie_name, prefix)

    @property
    def all(self) -> tuple[str, ...]:
        return (
            self.session,
            self.pending,
            self.seen,
            self.bind,
            self.held,
            self.unreachable,
            self.returned,
            self.declined,
        )

    def duplicated(self, header: bytes) -> str | None:
        """The first of these names that a ``Cookie`` header carries twice, or None.

        Two cookies of one name reach a site when another host set one for a parent
        domain (or a path): which is this site's own cannot be told, so neither may be
        trusted. Cheap when it cannot be: every name starts with the session cookie's, so
        a header that mentions it at most once is done with one scan."""
        if header.count(self._stem) < 2:
            return None
        seen: set[bytes] = set()
        for part in header.split(b";"):
            name = part.split(b"=", 1)[0].strip()
            if name in self._encoded:
                if name in seen:
                    return name.decode("latin-1")
                seen.add(name)
        return None


def cookie_header(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """All ``Cookie`` headers of a request joined, or None (the common anonymous case)."""
    found: bytes | None = None
    for key, value in headers:
        if key == b"cookie":
            found = value if found is None else found + b"; " + value
    return found


def find_cookie(header: bytes | None, name: str | bytes) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, without parsing the rest.

    ``name`` may be given pre-encoded as ``b"name="`` (the per-request path does)."""
    if not header:
        return None
    needle = name if isinstance(name, bytes) else name.encode("latin-1") + b"="
    start = 0
    while True:
        index = header.find(needle, start)
        if index < 0:
            return None
        if index == 0 or header[index - 1] in b" ;":
            end = header.find(b";", index)
            raw = header[index + len(needle) : end if end >= 0 else None].strip()
            if raw[:1] == b'"':
                raw = raw.strip(b'"')
            return raw.decode("latin-1")
        start = index + 1


def without_cookie(headers: list[tuple[bytes, bytes]], name: str) -> list[tuple[bytes, bytes]]:
    """Request headers with cookie ``name`` removed, so the app never sees it."""
    prefix = name.encode("latin-1") + b"="
    result: list[tuple[bytes, bytes]] = []
    for key, value in headers:
        if key == b"cookie":
            kept = [p for p in (c.strip() for c in value.split(b";")) if p and not p.startswith(prefix)]
            if kept:
                result.append((key, b"; ".join(kept)))
        else:
            result.append((key, value))
    return result


def response_cookie(headers: Iterable[tuple[bytes, bytes]], name: str) -> tuple[bool, str | None]:
    """Whether a response sets cookie ``name``, and its value (None when it deletes it)."""
    prefix = name.encode("latin-1") + b"="
    for key, value in headers:
        if key.lower() == b"set-cookie" and value.startswith(prefix):
            cookie = value.split(b";", 1)[0][len(prefix) :].strip().strip(b'"').decode("latin-1")
            attributes = value.lower()
            if not cookie or b"max-age=0" in attributes or b"1970 " in attributes:
                return True, None
            return True, cookie
    return False, None


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    """Attributes of every cookie the middleware writes, computed once."""

    path: str = "/"
    domain: str | None = None
    secure: bool = True
    samesite: str = "lax"
    httponly: bool = True  # False only for an app's own cookie whose settings say so

    @classmethod
    def from_settings(cls, settings: CookieSettings) -> CookiePolicy:
        """The policy of the middleware's own cookies (``SESSIONSYNC_COOKIE_*``)."""
        return cls(settings.cookie_path, settings.cookie_domain, settings.secure, settings.samesite)

    def _attributes(self) -> str:
        parts = [f"Path={self.path}", "HttpOnly", f"SameSite={self.samesite.capitalize()}"]
        if not self.httponly:
            del parts[1]
        if self.secure:
            parts.append("Secure")
        if self.domain:
            parts.append(f"Domain={self.domain}")
        return "; ".join(parts)

    def set(self, name: str, value: str, max_age: int | None) -> bytes:
        """A Set-Cookie value; ``max_age`` None makes a browser-session cookie."""
        lifetime = "" if max_age is None else f"Max-Age={max_age}; "
        return f"{name}={value}; {lifetime}{self._attributes()}".encode("latin-1")

    def delete(self, name: str) -> bytes:
        return f'{name}=""; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; {self._attributes()}'.encode("latin-1")
