"""What a browser knows of sites and origins: which hosts are same-site, the Fetch Metadata
``Sec-Fetch-Site`` of a request, the ``Referer`` a referrer policy allows, and the headers
Chromium sends."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Literal

import httpx

try:
    from publicsuffixlist import PublicSuffixList
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError("the test kit needs publicsuffixlist: pip install 'asgi-sessionsync[testing]'") from error

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

# Reserved names (RFC 2606, RFC 6761): the public suffix list has no rule for them, so it
# would take ``example`` as a suffix and ``x.a.example`` as of site ``a.example``; each host
# under them is taken as a site of its own instead (a.example and x.a.example are
# cross-site), as the kit's sites on ``https://{name}.example`` need.
_RESERVED_TLDS = frozenset({"localhost", "example", "test", "invalid"})


@functools.cache
def _suffixes() -> PublicSuffixList:
    """The public suffix list as the package ships it (loaded once, on first use)."""
    return PublicSuffixList()


def registrable_domain(host: str) -> str:
    """The registrable domain ("eTLD+1") of ``host``, by the public suffix list (ICANN and
    private sections, as browsers use it: ``shop.co.uk``, ``user.github.io``). An IP
    address, a one-label host, a public suffix itself and any host under ``localhost``,
    ``example``, ``test`` or ``invalid`` is its own."""
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
    return _suffixes().privatesuffix(host) or host


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
