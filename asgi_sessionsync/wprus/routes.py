"""Where the plugin's requests land under the path prefix: ``<prefix>wprus/<action>/``.

``login`` and ``logout`` are the browser's GETs (``browser.py``); ``token`` and the user
changes are server-to-server POSTs (``incoming.py``). A site with no WordPress site in
its network file answers none of them (404).
"""

from __future__ import annotations

from starlette.types import Receive, Scope

from asgi_sessionsync.endpoints.arrival import Arrivals
from asgi_sessionsync.endpoints.receiver import _read_body
from asgi_sessionsync.endpoints.reply import TEXT, Reply, text
from asgi_sessionsync.endpoints.step_kit import StepKit
from asgi_sessionsync.wprus.browser import WprusBrowser
from asgi_sessionsync.wprus.incoming import WprusIncoming

# The browser-side actions (GETs, reading this browser's cookies); the others are POSTs.
BROWSER = frozenset({"wprus/login", "wprus/logout"})


def is_wprus(name: str) -> bool:
    """Whether an endpoint name (the path below the prefix) is one of the plugin's."""
    return name.startswith("wprus/") and name.count("/") <= 2


class WprusRoutes:
    """The plugin's endpoints of one site (``None`` parts: no WordPress site declared)."""

    def __init__(self, kit: StepKit, arrivals: Arrivals) -> None:
        site = kit.site
        self.incoming = WprusIncoming(site) if site.rules.wprus else None
        self.browser = WprusBrowser(kit, arrivals) if site.rules.wprus else None
        self.host = site.address.host

    def methods(self, name: str) -> tuple[str, ...]:
        return ("GET",) if name.rstrip("/") in BROWSER else ("POST",)

    async def __call__(self, scope: Scope, receive: Receive, cookies: bytes | None) -> Reply:
        action = scope["path"].rstrip("/").rsplit("/", 1)[-1]
        if scope["method"] == "GET":
            if self.browser is None:
                return text(404, "not found")
            return await self.browser(scope, cookies, action)
        body = await _read_body(receive) if self.incoming is not None else None
        if self.incoming is None or body is None:
            return text(404, "not found")
        status, answer, is_json = await self.incoming(action, body, self.host(scope))
        return Reply(status, answer, b"application/json" if is_json else TEXT)
