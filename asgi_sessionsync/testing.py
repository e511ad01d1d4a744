"""A test kit: several sites sharing login in one process, and a browser to drive them.

Like ``starlette.testclient`` and ``httpx.MockTransport``, this ships in the package so
that an application's own tests (and ours) can run a whole network of sites without a
server, a socket or a real browser::

    from asgi_sessionsync.testing import SiteNetwork
    from asgi_sessionsync.testing_apps import login_app

    async def test_login_is_shared() -> None:
        apps = {"a": login_app("a", {"alice@example.com": "wonderland"}), "b": login_app("b")}
        async with SiteNetwork(apps) as net:
            browser = net.browser()
            await browser.sign_in("a", "alice@example.com", "wonderland")
            assert await browser.everyone() == {"a": "alice@example.com", "b": "alice@example.com"}

- :class:`InProcessNetwork` hands each HTTP request to the ASGI app of its host, for
  browsers and back-channel alike, and can play a site that is down.
- :class:`Browser` keeps cookies and follows redirects itself, sending what a current
  Chromium sends on each request: Fetch Metadata (``Sec-Fetch-Site``, ``-Mode``,
  ``-Dest``, ``-User``), ``Origin`` on form posts, ``Referer`` by referrer policy, and
  cookies by their ``SameSite`` attribute.
- :class:`SiteNetwork` wraps N apps in :class:`~asgi_sessionsync.SessionSyncMiddleware`,
  each with every other one as a peer, on one in-process network.

Everything here is for tests: nothing of it is used by the middleware itself.
"""

from __future__ import annotations

import email.utils
import html
import http.cookiejar
import ipaddress
import re
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from asgi_sessionsync.identity import IdentityAdapter
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.middleware import SessionSyncMiddleware
from asgi_sessionsync.pages import STORAGE_CHECK_META
from asgi_sessionsync.settings import Peer, Settings
from asgi_sessionsync.stores import Stores, memory_stores, sqlite_stores

__all__ = [
    "DEFAULT_CLIENT_IP",
    "Browser",
    "CookieJar",
    "InProcessNetwork",
    "Page",
    "SiteNetwork",
    "StoredCookie",
    "fetch_site",
    "free_ports",
    "hidden_fields",
    "registrable_domain",
    "same_site",
    "wait_until_answering",
]

#: The address requests appear to come from unless told otherwise (TEST-NET-3).
DEFAULT_CLIENT_IP = "203.0.113.7"

# What Chromium sends as Accept, by request destination.
NAVIGATION_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
    "application/signed-exchange;v=b3;q=0.7"
)
_ACCEPT = {
    "document": NAVIGATION_ACCEPT,
    "iframe": NAVIGATION_ACCEPT,
    "image": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    "style": "text/css,*/*;q=0.1",
}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_CONTEXT = "asgi_sessionsync.testing.context"  # request extension: the browser's cookie context

SameSite = Literal["strict", "lax", "none"]
FetchSite = Literal["none", "same-origin", "same-site", "cross-site"]
#: A page a request is made from: its response (whose ``Referrer-Policy`` is honoured),
#: or its URL.
Page = httpx.Response | httpx.URL | str


# --- sites and origins -----------------------------------------------------------------

# Reserved names (RFC 2606, RFC 6761): no public suffix list knows them, so each host
# under them is taken as a site of its own (a.example and b.example are cross-site).
_RESERVED_TLDS = frozenset({"localhost", "example", "test", "invalid"})
# Common second-level public suffixes under two-letter country codes (co.uk, com.au, …).
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "ac", "gov", "edu"})


def registrable_domain(host: str) -> str:
    """The registrable domain ("eTLD+1") of ``host``, approximated without the public
    suffix list: the last two labels (three under ``co.uk``-like suffixes); an IP
    address, a one-label host and any host under ``localhost``, ``example``, ``test``
    or ``invalid`` is its own."""
    host = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return host
    labels = host.split(".")
    if len(labels) < 2 or labels[-1] in _RESERVED_TLDS:
        return host
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _origin(url: httpx.URL) -> str:
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}"


def same_site(one: httpx.URL | str, other: httpx.URL | str) -> bool:
    """Whether two URLs are of the same site: same scheme and registrable domain."""
    a, b = httpx.URL(one), httpx.URL(other)
    return a.scheme == b.scheme and registrable_domain(a.host) == registrable_domain(b.host)


def fetch_site(target: httpx.URL | str, initiator: httpx.URL | str) -> FetchSite:
    """``Sec-Fetch-Site`` of a request to ``target`` made by a page at ``initiator``."""
    a, b = httpx.URL(target), httpx.URL(initiator)
    if _origin(a) == _origin(b):
        return "same-origin"
    return "same-site" if same_site(a, b) else "cross-site"


_FETCH_SITE_ORDER: dict[FetchSite, int] = {"none": 0, "same-origin": 1, "same-site": 2, "cross-site": 3}


def _trustworthy(url: httpx.URL) -> bool:
    """A potentially trustworthy URL: https, or a loopback host (Secure cookies go there)."""
    host = url.host.lower()
    if url.scheme in ("https", "wss") or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- referrer policy -------------------------------------------------------------------

_REFERRER_POLICIES = frozenset(
    {
        "no-referrer",
        "no-referrer-when-downgrade",
        "same-origin",
        "origin",
        "strict-origin",
        "origin-when-cross-origin",
        "strict-origin-when-cross-origin",
        "unsafe-url",
    }
)
_DEFAULT_REFERRER_POLICY = "strict-origin-when-cross-origin"


def _referrer_policy(header: str | None, current: str) -> str:
    """The policy a ``Referrer-Policy`` header sets: its last known token, else ``current``."""
    for token in reversed((header or "").split(",")):
        if token.strip().lower() in _REFERRER_POLICIES:
            return token.strip().lower()
    return current


def _referer(page: httpx.URL, target: httpx.URL, policy: str) -> str | None:
    """The ``Referer`` a request from ``page`` to ``target`` carries under ``policy``."""
    full = str(page.copy_with(fragment=None, username=None, password=None))
    origin = _origin(page) + "/"
    downgrade = _trustworthy(page) and not _trustworthy(target)
    same_origin = _origin(page) == _origin(target)
    if policy == "no-referrer":
        return None
    if policy == "unsafe-url":
        return full
    if policy == "origin":
        return origin
    if policy == "same-origin":
        return full if same_origin else None
    if policy == "no-referrer-when-downgrade":
        return None if downgrade else full
    if policy == "strict-origin":
        return None if downgrade else origin
    if policy == "origin-when-cross-origin":
        return full if same_origin else origin
    # strict-origin-when-cross-origin, the default
    if same_origin:
        return full
    return None if downgrade else origin


@dataclass(frozen=True, slots=True)
class _Page:
    url: httpx.URL
    referrer_policy: str


def _page(page: Page) -> _Page:
    if isinstance(page, httpx.Response):
        policy = _referrer_policy(page.headers.get("referrer-policy"), _DEFAULT_REFERRER_POLICY)
        return _Page(page.url, policy)
    return _Page(httpx.URL(page), _DEFAULT_REFERRER_POLICY)


# --- cookies ---------------------------------------------------------------------------


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


# --- the network -----------------------------------------------------------------------


class InProcessNetwork(httpx.AsyncBaseTransport):
    """An httpx transport that hands each request to the ASGI app of its host.

    ``down`` holds site names or hosts that refuse connections (:class:`httpx.ConnectError`),
    ``requests`` every request made (refused ones too), and ``urls`` each site's base URL
    by name (:class:`SiteNetwork` fills it; :class:`Browser` defaults to it). Requests
    appear to come from ``client_ip``; :meth:`from_ip` is a view from another address
    sharing everything else."""

    def __init__(self, client_ip: str = DEFAULT_CLIENT_IP) -> None:
        self.client_ip = client_ip
        self.apps: dict[str, ASGIApp] = {}
        self.names: dict[str, str] = {}
        self.urls: dict[str, str] = {}
        self.down: set[str] = set()
        self.requests: list[httpx.Request] = []

    def add(self, hosts: Iterable[str], app: ASGIApp, *, name: str | None = None) -> None:
        """Serve ``hosts`` by ``app``; ``name`` is the site's name in ``down`` (default:
        each host's first label)."""
        for host in hosts:
            self.apps[host] = app
            self.names[host] = name or host.split(".", 1)[0]

    def is_down(self, host: str) -> bool:
        return host in self.down or self.names.get(host, host.split(".", 1)[0]) in self.down

    def from_ip(self, ip: str) -> InProcessNetwork:
        """This network, with requests coming from ``ip``."""
        other = InProcessNetwork(ip)
        other.apps, other.names, other.urls = self.apps, self.names, self.urls
        other.down, other.requests = self.down, self.requests
        return other

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.requests.append(request)
        if self.is_down(host) or host not in self.apps:
            raise httpx.ConnectError(f"connection refused by {host}", request=request)
        transport = httpx.ASGITransport(app=cast(Any, self.apps[host]), client=(self.client_ip, 51000))
        return await transport.handle_async_request(request)


class _BrowserTransport(httpx.AsyncBaseTransport):
    """Sends the jar's cookies with each request and keeps what each response sets,
    by the cookie context the browser attached to the request (none: a request made
    through ``browser.client`` directly, which takes every cookie like a same-site one)."""

    def __init__(self, network: InProcessNetwork, jar: CookieJar, third_party_cookies: bool) -> None:
        self.network = network
        self.jar = jar
        self.third_party_cookies = third_party_cookies

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        context = request.extensions.get(_CONTEXT, _ANY_CONTEXT)
        assert isinstance(context, _Context)
        if "cookie" in request.headers:
            del request.headers["cookie"]  # httpx's own jar copy: the browser's jar decides
        cookie = self.jar.header(request.url, context, third_party_cookies=self.third_party_cookies)
        if cookie:
            request.headers["cookie"] = cookie
        response = await self.network.handle_async_request(request)
        self.jar.store(
            response.headers.get_list("set-cookie"),
            request.url,
            context,
            third_party_cookies=self.third_party_cookies,
        )
        return response


# --- the browser -----------------------------------------------------------------------


def hidden_fields(page: str | httpx.Response) -> dict[str, str]:
    """The hidden inputs of a page's forms (CSRF tokens and the like), by name."""
    text = page.text if isinstance(page, httpx.Response) else page
    fields: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", text):
        if re.search(r"""type=["']?hidden""", tag):
            name = re.search(r'name="([^"]*)"', tag)
            value = re.search(r'value="([^"]*)"', tag)
            if name:
                fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    return fields


_Kind = Literal["document", "iframe", "subresource"]


class Browser:
    """A cookie-keeping client that behaves like a current Chromium for the protocol.

    It follows redirects itself (up to ``max_redirects``) so that every request of a
    chain carries what the browser would send:

    - :meth:`get` is a top-level navigation: ``Sec-Fetch-Mode: navigate``,
      ``Sec-Fetch-Dest: document``, ``Sec-Fetch-User: ?1``, an HTML ``Accept``;
      ``Sec-Fetch-Site: none`` when the URL is typed (no ``from_page``), which holds
      along its whole redirect chain (Chromium, and the Fetch Metadata spec). From a
      page (a followed link) the value is the least same-site of the chain so far
      relative to that page: same-origin < same-site < cross-site.
    - :meth:`submit` posts a form from a page: ``Origin`` too, and 303 turns into GET.
    - :meth:`frame` navigates an ``<iframe>`` of a page (``Sec-Fetch-Dest: iframe``).
    - :meth:`subresource` is an ``<img>`` (or other no-cors load) of a page.

    Cookies follow ``SameSite`` as Chromium applies it: on a cross-site request,
    ``Strict`` cookies stay home, ``Lax`` ones go only with top-level GET navigations,
    ``None`` ones always (unless ``third_party_cookies`` is False, which keeps them out
    of cross-site frames and subresources, both ways). Whether a navigation is cross-
    site for cookies is judged between the initiating page and the current URL.
    Not modelled: the "Lax+POST" two-minute grace, partitioned cookies, the public
    suffix list (see :func:`registrable_domain`).

    ``client`` is an httpx client sharing this browser's cookies and address but
    sending only what it is given (no Fetch Metadata): for requests a browser would
    not make, or to look at one answer (``follow_redirects=False``). Its ``cookies``
    are a view of :attr:`cookies`. The ``Cookie`` header of every request, through
    ``client`` or not, comes from the jar (one given in ``headers`` is replaced).
    """

    def __init__(
        self,
        network: InProcessNetwork,
        ip: str = DEFAULT_CLIENT_IP,
        urls: Mapping[str, str] | None = None,
        *,
        third_party_cookies: bool = True,
        max_redirects: int = 20,
    ) -> None:
        self.network = network.from_ip(ip)
        self.urls: Mapping[str, str] = urls if urls is not None else network.urls
        self.cookies = CookieJar()
        self.third_party_cookies = third_party_cookies
        self.max_redirects = max_redirects
        #: The URLs requested by the last top-level navigation, in order.
        self.history: list[str] = []
        self.client = httpx.AsyncClient(
            transport=_BrowserTransport(self.network, self.cookies, third_party_cookies),
            cookies=_HttpxJarView(self.cookies),
            follow_redirects=True,
            max_redirects=max_redirects,
        )

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    # -- what a person does -------------------------------------------------------------

    async def get(
        self,
        url: str | httpx.URL,
        *,
        from_page: Page | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        user_activated: bool = True,
        follow_redirects: bool = True,
    ) -> httpx.Response:
        """Open ``url`` in the tab: typed (no ``from_page``) or a link followed on
        ``from_page``; ``user_activated=False`` for a script's or a meta refresh's
        navigation. ``headers`` are added to (and win over) every request of the chain."""
        page = _page(from_page) if from_page is not None else None
        target = _resolve(url, page, params)
        return await self._fetch(
            "GET",
            target,
            kind="document",
            page=page,
            headers=headers,
            user_activated=user_activated,
            follow_redirects=follow_redirects,
        )

    async def submit(
        self,
        url: str | httpx.URL,
        data: Mapping[str, str],
        *,
        from_page: Page | None = None,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> httpx.Response:
        """Submit a form (POST, urlencoded) found on ``from_page`` (default: a page at
        ``url`` itself, as a form posting to its own address)."""
        page = _page(from_page) if from_page is not None else None
        target = _resolve(url, page, None)
        return await self._fetch(
            "POST",
            target,
            kind="document",
            page=page or _Page(target, _DEFAULT_REFERRER_POLICY),
            data=dict(data),
            headers=headers,
            user_activated=True,
            follow_redirects=follow_redirects,
        )

    async def frame(
        self,
        url: str | httpx.URL,
        *,
        from_page: Page,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
        storage_access: bool | None = None,
    ) -> httpx.Response:
        """Load ``url`` in an ``<iframe>`` of ``from_page``: a navigation of the frame
        (``Sec-Fetch-Dest: iframe``, no user activation), with the cookies of a frame
        under that page (cross-site: third-party).

        A sign-in frame's storage check (the page that asks ``document.hasStorageAccess()``)
        is answered with ``storage_access``: by default as Chromium answers it, true
        when third-party cookies are allowed. False plays a browser that partitions the
        frame's cookies (Firefox): the check page is returned, the frame goes no further."""
        page = _page(from_page)
        access = self.third_party_cookies if storage_access is None else storage_access
        response = await self._fetch(
            "GET",
            _resolve(url, page, None),
            kind="iframe",
            page=page,
            headers=headers,
            user_activated=False,
            follow_redirects=follow_redirects,
        )
        onward = _storage_check(response)
        if onward is None or not access or not follow_redirects:
            return response
        return await self._fetch(
            "GET",
            response.url.join(onward),
            kind="iframe",
            page=page,
            headers=headers,
            user_activated=False,
            follow_redirects=follow_redirects,
        )

    async def subresource(
        self,
        url: str | httpx.URL,
        dest: str = "image",
        *,
        from_page: Page,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = False,
    ) -> httpx.Response:
        """Load ``url`` as an ``<img>`` (``dest``: or ``style``, ``script``, …) of
        ``from_page``: ``Sec-Fetch-Mode: no-cors``, cookies by ``SameSite``.

        A real ``<img>`` follows redirects; by default this stops at the first answer so
        that a test sees what the server said to an image request."""
        page = _page(from_page)
        return await self._fetch(
            "GET",
            _resolve(url, page, None),
            kind="subresource",
            dest=dest,
            page=page,
            headers=headers,
            user_activated=False,
            follow_redirects=follow_redirects,
        )

    # -- the demo page contract ---------------------------------------------------------

    async def sign_in(self, site: str, email: str, password: str, next_path: str = "/") -> httpx.Response:
        """Open the site's ``/login`` form, fill it in (with its hidden fields) and submit
        it; returns the page the browser ends on."""
        form = await self.get(f"{self.urls[site]}/login")
        fields = hidden_fields(form.text)
        fields.update(email=email, password=password, next=next_path)
        return await self.submit(f"{self.urls[site]}/login", fields, from_page=form)

    async def sign_out(self, site: str) -> httpx.Response:
        """Open the site's home page and submit its ``/logout`` form."""
        page = await self.get(f"{self.urls[site]}/")
        return await self.submit(f"{self.urls[site]}/logout", hidden_fields(page.text), from_page=page)

    async def who(self, site: str) -> str | None:
        """Who the site's home page says is signed in ("Signed in as EMAIL"), or None
        ("Not signed in")."""
        text = (await self.get(f"{self.urls[site]}/")).text
        match = re.search(r"Signed in as ([^<]+)</h1>", text)
        if match:
            return match.group(1)
        assert "Not signed in" in text, text[:500]
        return None

    async def everyone(self) -> dict[str, str | None]:
        """:meth:`who` on every site, by name."""
        return {name: await self.who(name) for name in list(self.urls)}

    async def close(self) -> None:
        await self.client.aclose()

    # -- the engine ---------------------------------------------------------------------

    async def _fetch(
        self,
        method: str,
        target: httpx.URL,
        *,
        kind: _Kind,
        page: _Page | None,
        headers: Mapping[str, str] | None,
        user_activated: bool,
        follow_redirects: bool,
        data: dict[str, str] | None = None,
        dest: str | None = None,
    ) -> httpx.Response:
        dest = dest or ("iframe" if kind == "iframe" else "document")
        mode = "no-cors" if kind == "subresource" else "navigate"
        policy = page.referrer_policy if page is not None else _DEFAULT_REFERRER_POLICY
        chain: list[httpx.URL] = []
        previous: list[httpx.Response] = []
        tainted = False  # redirected to another origin: a kept POST then says Origin: null
        if kind == "document":
            self.history = []
        while True:
            chain.append(target)
            if kind == "document":
                self.history.append(str(target))
            sent: dict[str, str] = {
                "accept": _ACCEPT.get(dest, "*/*"),
                "sec-fetch-site": self._sec_fetch_site(chain, page),
                "sec-fetch-mode": mode,
                "sec-fetch-dest": dest,
            }
            if user_activated and kind != "subresource":
                sent["sec-fetch-user"] = "?1"
            if page is not None:
                referer = _referer(page.url, target, policy)
                if referer is not None:
                    sent["referer"] = referer
            if method not in ("GET", "HEAD"):
                sent["origin"] = "null" if page is None or tainted else _origin(page.url)
            sent.update(headers or {})
            if kind == "document":
                cookies_same_site = page is None or same_site(page.url, target)
            else:
                assert page is not None
                cookies_same_site = same_site(page.url, target)
            context = _Context(cookies_same_site, kind == "document", method in _SAFE_METHODS)
            request = self.client.build_request(method, target, headers=sent, data=data, extensions={_CONTEXT: context})
            response = await self.client.send(request, follow_redirects=False)
            location = response.headers.get("location")
            if not follow_redirects or response.status_code not in _REDIRECTS or location is None:
                break
            if len(previous) >= self.max_redirects:
                raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=request)
            following = target.join(location)
            if following.scheme not in ("http", "https"):
                break
            policy = _referrer_policy(response.headers.get("referrer-policy"), policy)
            if (response.status_code == 303 and method != "HEAD") or (
                response.status_code in (301, 302) and method == "POST"
            ):
                method, data = "GET", None
            tainted = tainted or _origin(following) != _origin(target)
            previous.append(response)
            target = following
        response.history = previous
        return response

    @staticmethod
    def _sec_fetch_site(chain: list[httpx.URL], page: _Page | None) -> FetchSite:
        if page is None:
            return "none"
        values = [fetch_site(url, page.url) for url in chain]
        return max(values, key=_FETCH_SITE_ORDER.__getitem__)


def _storage_check(response: httpx.Response) -> str | None:
    """The URL a sign-in frame's storage check goes on to when access is granted, or None
    (not such a page)."""
    if "text/html" not in response.headers.get("content-type", ""):
        return None
    match = re.search(rf'<meta name="{STORAGE_CHECK_META}" content="([^"]*)">', response.text)
    return html.unescape(match.group(1)) if match else None


def _resolve(url: str | httpx.URL, page: _Page | None, params: Mapping[str, str] | None) -> httpx.URL:
    target = page.url.join(url) if page is not None else httpx.URL(url)
    return target.copy_merge_params(dict(params)) if params else target


# --- a network of sites ----------------------------------------------------------------


class SiteNetwork:
    """N sites sharing one login, in one process.

    Each app of ``apps`` (site name → ASGI app) is wrapped in
    :class:`~asgi_sessionsync.SessionSyncMiddleware` with every other site as a peer and
    one network secret (``secret``, generated when not given), and served on the hosts
    of its URL and back-channel URL in :attr:`network`.

    - ``urls``: each site's base URL (default ``https://{name}.example``). A URL with a
      path (``https://shop.example/store``) mounts the site under that path, as a host
      app would.
    - ``backchannel_urls``: where peers reach each site server to server (default: its URL).
    - ``settings``: overrides for every site (``sync_mode="frame"``, …); ``site_settings``
      per site, winning (``identity="starlette-session"``, ``app_session_secret=…``; a
      site given ``networks``, ``secret_keys`` or ``peers`` keeps those instead).
    - ``identities``: identity adapters by site; ``stores``: stores by site; otherwise
      in-memory stores, or SQLite files ``site-{name}.sqlite3`` in ``data_dir``.
    - ``in_process=False`` leaves the sites to reach each other over real sockets, for
      sites served by real servers (``sites[name]`` is the app to serve).

    Use as ``async with SiteNetwork(...) as net:``; leaving closes every site (and every
    browser made by :meth:`browser`). :attr:`sites` holds the middleware of each site.
    """

    def __init__(
        self,
        apps: Mapping[str, ASGIApp],
        *,
        urls: Mapping[str, str] | None = None,
        backchannel_urls: Mapping[str, str] | None = None,
        secret: str | None = None,
        settings: Mapping[str, Any] | None = None,
        site_settings: Mapping[str, Mapping[str, Any]] | None = None,
        identities: Mapping[str, IdentityAdapter] | None = None,
        stores: Mapping[str, Stores] | None = None,
        data_dir: str | Path | None = None,
        network: InProcessNetwork | None = None,
        in_process: bool = True,
    ) -> None:
        names = list(apps)
        for label, given in (
            ("urls", urls),
            ("backchannel_urls", backchannel_urls),
            ("site_settings", site_settings),
            ("identities", identities),
            ("stores", stores),
        ):
            unknown = sorted(set(given or {}) - set(names))
            if unknown:
                raise ValueError(f"{label} names sites that are not in apps: {', '.join(unknown)}")
        self.network = network if network is not None else InProcessNetwork()
        self.secret = secret or generate_secret()
        self.urls = {n: (urls or {}).get(n, f"https://{n}.example").rstrip("/") for n in names}
        self.backchannel_urls = {n: (backchannel_urls or {}).get(n, self.urls[n]).rstrip("/") for n in names}
        self.sites: dict[str, SessionSyncMiddleware] = {}
        self._browsers: list[Browser] = []
        self._closed = False
        folder = Path(data_dir) if data_dir is not None else None
        for name in names:
            own = dict((site_settings or {}).get(name, {}))
            options: dict[str, Any] = {"site_url": self.urls[name], **(settings or {})}
            if not {"networks", "secret_keys", "peers"} & (own.keys() | (settings or {}).keys()):
                options["secret_keys"] = [self.secret]
                options["peers"] = [Peer(self.urls[o], self.backchannel_urls[o]) for o in names if o != name]
            if stores is not None and name in stores:
                site_stores = stores[name]
            elif folder is not None:
                database = folder / f"site-{name}.sqlite3"
                site_stores = sqlite_stores(database)
                options.setdefault("store", f"sqlite:///{database}")
            else:
                site_stores = memory_stores()
            options.setdefault("store", "memory://")
            options.update(own)
            middleware = SessionSyncMiddleware(
                apps[name],
                Settings.from_env({}, env_file=None, **options),
                identity=(identities or {}).get(name),
                stores=site_stores,
                transport=self.network if in_process else None,
            )
            self.sites[name] = middleware
            path = urlsplit(self.urls[name]).path
            served: ASGIApp = Starlette(routes=[Mount(path, app=middleware)]) if path else middleware
            hosts = {httpx.URL(self.urls[name]).host, httpx.URL(self.backchannel_urls[name]).host}
            self.network.add(sorted(hosts), served, name=name)
            self.network.urls[name] = self.urls[name]

    def browser(self, ip: str = DEFAULT_CLIENT_IP, *, third_party_cookies: bool = True) -> Browser:
        """A new browser on this network, from ``ip``; closed with the network."""
        made = Browser(self.network, ip, self.urls, third_party_cookies=third_party_cookies)
        self._browsers.append(made)
        return made

    async def aclose(self) -> None:
        """Close the browsers made here and every site (its worker, stores and client)."""
        if self._closed:
            return
        self._closed = True
        for browser in self._browsers:
            await browser.close()
        for site in self.sites.values():
            await site.aclose()

    async def __aenter__(self) -> SiteNetwork:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()


# --- real servers ----------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """``count`` TCP ports on 127.0.0.1 that were free a moment ago."""
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [int(s.getsockname()[1]) for s in sockets]
    for s in sockets:
        s.close()
    return ports


def wait_until_answering(url: str, process: subprocess.Popen[Any] | None = None, timeout: float = 30.0) -> None:
    """Poll ``url`` until the server behind it answers (any status); give up when
    ``process`` exits or after ``timeout`` seconds. Blocking: for synchronous test code."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(0.1)
