"""A network of sites sharing one login, in one process."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from asgi_sessionsync import SessionSyncMiddleware  # the public way in: only the root imports the middleware
from asgi_sessionsync.identity import IdentityAdapter
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Peer, Settings
from asgi_sessionsync.stores import Stores, memory_stores, sqlite_stores
from asgi_sessionsync.testing.browser import Browser
from asgi_sessionsync.testing.network import InProcessNetwork
from asgi_sessionsync.testing.sites import DEFAULT_CLIENT_IP


class SiteNetwork:
    """N sites sharing one login, in one process.

    Each app of ``apps`` (site name → ASGI app) is wrapped in
    :class:`~asgi_sessionsync.SessionSyncMiddleware` with every other site as a peer and
    one network secret (``secret``, generated when not given), and served on the hosts
    of its URL and back-channel URL in :attr:`network`.

    - ``urls``: each site's base URL (default ``https://{name}.example``). A URL with a
      path (``https://shop.example/store``) mounts the site under that path, as a host
      app would; sites on one host (``https://example.com/shop``, ``…/blog``) are
      sub-folder sites of one origin, each mounted under its own path.
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
        mounted: dict[str, list[tuple[str, ASGIApp, str]]] = {}
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
            for url in {self.urls[name], self.backchannel_urls[name]}:
                mounted.setdefault(httpx.URL(url).host, []).append((urlsplit(url).path, middleware, name))
            self.network.urls[name] = self.urls[name]
        for host, served in mounted.items():
            # Sites on one host (sub-folder sites of one origin) each under its own path.
            if len(served) == 1 and not served[0][0]:
                self.network.add([host], served[0][1], name=served[0][2])
                continue
            routes = [Mount(path, app=app) for path, app, _ in sorted(served, key=lambda s: -len(s[0]))]
            self.network.add([host], Starlette(routes=routes), name=served[0][2] if len(served) == 1 else host)

    def browser(
        self, ip: str = DEFAULT_CLIENT_IP, *, third_party_cookies: bool = True, unreachable: Iterable[str] = ()
    ) -> Browser:
        """A new browser on this network, from ``ip``; closed with the network.
        ``unreachable``: sites (names or hosts) this browser cannot reach though the
        servers can (see :class:`Browser`)."""
        made = Browser(self.network, ip, self.urls, third_party_cookies=third_party_cookies, unreachable=unreachable)
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
