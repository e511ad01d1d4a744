"""An in-process network: each request handed to the ASGI app of its host, and the browser's
transport that sends and keeps its cookies."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import httpx
from starlette.types import ASGIApp

from asgi_sessionsync.testing.cookies import _ANY_CONTEXT, CookieJar, _Context
from asgi_sessionsync.testing.sites import _CONTEXT, DEFAULT_CLIENT_IP


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

    def __init__(
        self, network: InProcessNetwork, jar: CookieJar, third_party_cookies: bool, unreachable: Iterable[str] = ()
    ) -> None:
        self.network = network
        self.jar = jar
        self.third_party_cookies = third_party_cookies
        self.unreachable = frozenset(unreachable)  # names or hosts out of this browser's reach

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host in self.unreachable or host.split(".", 1)[0] in self.unreachable:
            raise httpx.ConnectError(f"{host} cannot be reached from this browser", request=request)
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
