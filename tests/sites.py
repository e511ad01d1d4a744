"""In-process harness: the demo's three sites joined by an in-process network.

Each site is the real demo app under the real middleware; the "network" hands each
HTTP request to the ASGI app of its host (browser and back-channel alike), and can
refuse connections to a host to play a site that is down.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from pathlib import Path

import httpx

from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.urls import origin_of
from demo.sites import NAMES, Site, build_sites

URLS = {n: f"https://{n}.example" for n in NAMES}
BACKCHANNEL = {n: f"http://{n}.internal" for n in NAMES}


class InProcessNetwork(httpx.AsyncBaseTransport):
    def __init__(self, client_ip: str = "203.0.113.7") -> None:
        self.client_ip = client_ip
        self.apps: dict[str, object] = {}
        self.down: set[str] = set()
        self.requests: list[httpx.Request] = []

    def add(self, hosts: Iterable[str], app: object) -> None:
        for host in hosts:
            self.apps[host] = app

    def from_ip(self, ip: str) -> InProcessNetwork:
        other = InProcessNetwork(ip)
        other.apps, other.down, other.requests = self.apps, self.down, self.requests
        return other

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        site = host.split(".", 1)[0]
        self.requests.append(request)
        if site in self.down or host not in self.apps:
            raise httpx.ConnectError(f"connection refused by {host}", request=request)
        transport = httpx.ASGITransport(app=self.apps[host], client=(self.client_ip, 51000))  # type: ignore[arg-type]
        return await transport.handle_async_request(request)


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of a page's forms (CSRF tokens and the like)."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", page):
        if 'type="hidden"' in tag:
            name = re.search(r'name="([^"]*)"', tag)
            value = re.search(r'value="([^"]*)"', tag)
            if name:
                fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    return fields


class Browser:
    """A cookie-keeping client that follows redirects across the sites, like a browser."""

    def __init__(self, network: InProcessNetwork, ip: str = "203.0.113.7", urls: dict[str, str] | None = None) -> None:
        self.urls = urls or URLS
        self.network = network.from_ip(ip)
        self.client = httpx.AsyncClient(transport=self.network, follow_redirects=True, max_redirects=20)

    async def get(self, url: str, **kwargs: object) -> httpx.Response:
        return await self.client.get(url, **kwargs)  # type: ignore[arg-type]

    async def sign_in(self, site: str, email: str, password: str, next_path: str = "/") -> httpx.Response:
        """Open the login form, fill it in, submit it (with its hidden fields, and the
        Origin header a browser sends)."""
        form = await self.client.get(f"{self.urls[site]}/login")
        fields = hidden_fields(form.text)
        fields.update(email=email, password=password, next=next_path)
        origin = {"origin": origin_of(self.urls[site])}
        return await self.client.post(f"{self.urls[site]}/login", data=fields, headers=origin)

    async def sign_out(self, site: str) -> httpx.Response:
        page = await self.client.get(f"{self.urls[site]}/")
        return await self.client.post(
            f"{self.urls[site]}/logout", data=hidden_fields(page.text), headers={"origin": origin_of(self.urls[site])}
        )

    async def who(self, site: str) -> str | None:
        text = (await self.client.get(f"{self.urls[site]}/")).text
        match = re.search(r"Signed in as ([^<]+)</h1>", text)
        if match:
            return match.group(1)
        assert "Not signed in" in text, text[:500]
        return None

    async def everyone(self) -> dict[str, str | None]:
        return {n: await self.who(n) for n in self.urls}

    async def close(self) -> None:
        await self.client.aclose()


async def make_sites(
    data_dir: Path | None, *, sync_mode: str = "bounce", **settings: object
) -> tuple[InProcessNetwork, dict[str, Site]]:
    network = InProcessNetwork()
    sites = await build_sites(
        URLS,
        BACKCHANNEL,
        secret=generate_secret(),
        data_dir=data_dir,
        sync_mode=sync_mode,
        transport=network,
        **settings,
    )
    for name, site in sites.items():
        network.add([f"{name}.example", f"{name}.internal"], site.app)
    return network, sites
