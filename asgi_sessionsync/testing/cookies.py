"""The browser's cookie jar: cookies kept and sent by their ``SameSite`` attribute as Chromium
applies it, and the view of the jar httpx is given."""

from __future__ import annotations

import email.utils
import http.cookiejar
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import httpx

from asgi_sessionsync.testing.sites import SameSite, _trustworthy


@dataclass(slots=True)
class StoredCookie:
    """One cookie as the browser keeps it."""

    name: str
    value: str
    domain: str  # the host (host-only cookie) or the Domain attribute, without a leading dot
    path: str = "/"
    host_only: bool = True
    samesite: SameSite = "lax"
    secure: bool = False
    http_only: bool = False
    expires: float | None = None  # seconds since the epoch; None: until the browser closes
    created: float = field(default_factory=time.time)

    def expired(self, now: float) -> bool:
        return self.expires is not None and self.expires <= now

    def matches(self, url: httpx.URL) -> bool:
        """Whether this cookie goes with a request to ``url`` (domain, path, Secure)."""
        host = url.host.lower()
        if self.host_only:
            if host != self.domain:
                return False
        elif host != self.domain and not host.endswith("." + self.domain):
            return False
        if self.secure and not _trustworthy(url):
            return False
        return _path_matches(url.path or "/", self.path)


def _path_matches(request_path: str, cookie_path: str) -> bool:
    if request_path == cookie_path:
        return True
    if request_path.startswith(cookie_path):
        return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    return False


def _default_path(url: httpx.URL) -> str:
    path = url.path or "/"
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[: path.rindex("/")]


@dataclass(frozen=True, slots=True)
class _Context:
    """Where a request stands for cookies, as the browser computed it."""

    same_site: bool  # same-site with the top-level page and the initiator
    top_level_navigation: bool
    safe_method: bool


_ANY_CONTEXT = _Context(same_site=True, top_level_navigation=True, safe_method=True)


class CookieJar:
    """The browser's cookies, with the attributes that decide when each is sent.

    A small jar of its own rather than httpx's: it must know each cookie's ``SameSite``
    (``Lax`` when the ``Set-Cookie`` does not say, as in Chromium). Iterating gives
    :class:`StoredCookie` objects."""

    def __init__(self) -> None:
        self._cookies: dict[tuple[str, str, str], StoredCookie] = {}

    def __iter__(self) -> Iterator[StoredCookie]:
        now = time.time()
        return iter([c for c in self._cookies.values() if not c.expired(now)])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def set(
        self,
        name: str,
        value: str,
        *,
        domain: str,
        path: str = "/",
        samesite: SameSite = "lax",
        secure: bool = False,
        http_only: bool = False,
        expires: float | None = None,
    ) -> None:
        """Set a cookie by hand. ``domain`` is a host (a host-only cookie) or
        ``.example.com`` (a cookie for that domain and its subdomains)."""
        if not domain:
            raise ValueError("a cookie needs a domain: the host it belongs to, or .domain for its subdomains too")
        host_only = not domain.startswith(".")
        self._put(
            StoredCookie(
                name,
                value,
                domain.lstrip(".").lower(),
                path or "/",
                host_only,
                samesite,
                secure,
                http_only,
                expires,
            )
        )

    def get(self, name: str, domain: str | None = None, path: str | None = None) -> str | None:
        """The value of the first cookie called ``name`` (on ``domain``, at ``path``)."""
        for cookie in self._select(domain, path, name):
            return cookie.value
        return None

    def delete(self, name: str, domain: str | None = None, path: str | None = None) -> None:
        """Remove the cookies called ``name`` (only on ``domain``, at ``path``, when given)."""
        self.clear(domain, path, name)

    def clear(self, domain: str | None = None, path: str | None = None, name: str | None = None) -> None:
        """Remove every cookie, or those on ``domain`` (at ``path``, called ``name``)."""
        for cookie in self._select(domain, path, name):
            self._cookies.pop((cookie.domain, cookie.path, cookie.name), None)

    def header(
        self, url: httpx.URL, context: _Context | None = None, *, third_party_cookies: bool = True
    ) -> str | None:
        """The ``Cookie`` header a request to ``url`` carries (in ``context``: by
        default a same-site top-level request, which takes every cookie that matches)."""
        context = context or _ANY_CONTEXT
        now = time.time()
        chosen = [
            c
            for c in self._cookies.values()
            if not c.expired(now) and c.matches(url) and self._may_send(c, context, third_party_cookies)
        ]
        if not chosen:
            return None
        chosen.sort(key=lambda c: (-len(c.path), c.created))
        return "; ".join(f"{c.name}={c.value}" for c in chosen)

    def store(
        self,
        headers: Iterable[str],
        url: httpx.URL | str,
        context: _Context | None = None,
        *,
        third_party_cookies: bool = True,
    ) -> None:
        """Keep (or delete) what ``Set-Cookie`` headers of a response from ``url`` say,
        as far as the browser accepts them in ``context`` (by default a same-site
        top-level response, which may set anything)."""
        context = context or _ANY_CONTEXT
        url = httpx.URL(url)
        now = time.time()
        for header in headers:
            cookie = _parse_set_cookie(header, url, now)
            if cookie is None or not self._may_store(cookie, context, third_party_cookies):
                continue
            key = (cookie.domain, cookie.path, cookie.name)
            if cookie.expired(now):
                self._cookies.pop(key, None)
                continue
            old = self._cookies.get(key)
            if old is not None:
                cookie.created = old.created
            self._cookies[key] = cookie

    def _put(self, cookie: StoredCookie) -> None:
        self._cookies[(cookie.domain, cookie.path, cookie.name)] = cookie

    def _select(self, domain: str | None, path: str | None, name: str | None) -> list[StoredCookie]:
        wanted = domain.lstrip(".").lower() if domain else None
        return [
            c
            for c in self._cookies.values()
            if (wanted is None or c.domain == wanted)
            and (path is None or c.path == path)
            and (name is None or c.name == name)
        ]

    @staticmethod
    def _may_send(cookie: StoredCookie, context: _Context, third_party_cookies: bool) -> bool:
        if context.same_site:
            return True
        if cookie.samesite == "strict":
            return False
        if cookie.samesite == "lax":
            return context.top_level_navigation and context.safe_method
        return context.top_level_navigation or third_party_cookies

    @staticmethod
    def _may_store(cookie: StoredCookie, context: _Context, third_party_cookies: bool) -> bool:
        if context.same_site or context.top_level_navigation:
            return True
        # A cross-site frame or subresource: only SameSite=None cookies, and only when
        # third-party cookies are allowed.
        return cookie.samesite == "none" and third_party_cookies


def _cookie_date(text: str) -> float | None:
    """An ``Expires`` date (``Thu, 01 Jan 1970 00:00:00 GMT``, or with dashes) as epoch seconds."""
    try:
        return email.utils.parsedate_to_datetime(text.replace("-", " ")).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _parse_set_cookie(header: str, url: httpx.URL, now: float) -> StoredCookie | None:
    """One ``Set-Cookie`` header as the browser takes it, or None when it refuses it."""
    first, *attributes = header.split(";")
    name, sep, value = first.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name:
        return None
    host = url.host.lower()
    cookie = StoredCookie(name, value, host, _default_path(url))
    max_age: float | None = None
    for attribute in attributes:
        key, _, raw = attribute.partition("=")
        key, raw = key.strip().lower(), raw.strip()
        if key == "expires":
            when = _cookie_date(raw)
            if when is not None:
                cookie.expires = when
        elif key == "max-age":
            try:
                max_age = float(int(raw))
            except ValueError:
                continue
        elif key == "domain" and raw:
            domain = raw.lstrip(".").lower()
            if host != domain and not host.endswith("." + domain):
                return None  # a cookie for another site
            cookie.domain, cookie.host_only = domain, False
        elif key == "path":
            cookie.path = raw if raw.startswith("/") else _default_path(url)
        elif key == "samesite":
            mode = raw.lower()
            cookie.samesite = cast(SameSite, mode) if mode in ("strict", "lax", "none") else "lax"
        elif key == "secure":
            cookie.secure = True
        elif key == "httponly":
            cookie.http_only = True
    if max_age is not None:
        cookie.expires = now + max_age
    if cookie.secure and not _trustworthy(url):
        return None
    if cookie.samesite == "none" and not cookie.secure:
        return None  # Chromium refuses SameSite=None without Secure
    if name.startswith("__Secure-") and not cookie.secure:
        return None
    if name.startswith("__Host-") and (not cookie.secure or not cookie.host_only or cookie.path != "/"):
        return None
    return cookie


class _HttpxJarView(http.cookiejar.CookieJar):
    """The browser's jar seen through ``browser.client.cookies`` (httpx's cookie API):
    ``set``, ``delete``, ``clear``, ``get`` and iteration reach the browser's own jar.
    httpx's own cookie handling is switched off: the browser's transport sends and
    keeps cookies."""

    def __init__(self, jar: CookieJar) -> None:
        super().__init__()
        self._jar = jar

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        self._jar.set(
            cookie.name,
            cookie.value or "",
            domain=cookie.domain,
            path=cookie.path or "/",
            secure=cookie.secure,
            expires=float(cookie.expires) if cookie.expires is not None else None,
        )

    def clear(self, domain: str | None = None, path: str | None = None, name: str | None = None) -> None:
        self._jar.clear(domain, path, name)

    def __iter__(self) -> Iterator[http.cookiejar.Cookie]:
        for c in self._jar:
            domain = c.domain if c.host_only else "." + c.domain
            yield http.cookiejar.Cookie(
                version=0,
                name=c.name,
                value=c.value,
                port=None,
                port_specified=False,
                domain=domain,
                domain_specified=not c.host_only,
                domain_initial_dot=not c.host_only,
                path=c.path,
                path_specified=True,
                secure=c.secure,
                expires=int(c.expires) if c.expires is not None else None,
                discard=c.expires is None,
                comment=None,
                comment_url=None,
                rest={"SameSite": c.samesite},
            )

    def __len__(self) -> int:
        return len(self._jar)

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def add_cookie_header(self, request: Any) -> None:
        return None
