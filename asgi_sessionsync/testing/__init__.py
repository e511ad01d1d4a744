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


Modules: :mod:`~.sites` (sites, origins, Fetch Metadata and referrer rules),
:mod:`~.cookies` (the cookie jar), :mod:`~.network` (:class:`InProcessNetwork`),
:mod:`~.navigation` and :mod:`~.browser` (:class:`Browser`) and :mod:`~.kit`
(:class:`SiteNetwork`). Every name is importable from ``asgi_sessionsync.testing``.

Everything here is for tests: nothing of it is used by the middleware itself. It runs in
one process and drives no real browser or server: the repository's own harness for those
(Chromium, Firefox, WebKit, uvicorn, redis-server) lives in its ``tests/harness/``, not in
the package.
"""

from asgi_sessionsync.testing.browser import Browser, hidden_fields
from asgi_sessionsync.testing.cookies import CookieJar, StoredCookie
from asgi_sessionsync.testing.kit import SiteNetwork
from asgi_sessionsync.testing.network import InProcessNetwork
from asgi_sessionsync.testing.sites import (
    DEFAULT_CLIENT_IP,
    NAVIGATION_ACCEPT,
    FetchSite,
    Page,
    SameSite,
    fetch_site,
    registrable_domain,
    same_site,
)

__all__ = [
    "DEFAULT_CLIENT_IP",
    "NAVIGATION_ACCEPT",
    "Browser",
    "CookieJar",
    "FetchSite",
    "InProcessNetwork",
    "Page",
    "RedisServer",
    "SameSite",
    "SiteNetwork",
    "StoredCookie",
    "fetch_site",
    "hidden_fields",
    "registrable_domain",
    "same_site",
]
