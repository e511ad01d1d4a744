"""Where the plugin's requests land under the path prefix: ``<prefix>wprus/<action>/``.

``login`` and ``logout`` are the browser's GETs (``browser.py``); ``token`` and the user
changes are server-to-server POSTs (``incoming.py``); ``out`` is this site's own step
that sends a login or logout here on to the WordPress sites (``outgoing.py``). A site with no WordPress site in
its network file answers none of them (404).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.types import Receive, Scope

from asgi_sessionsync.endpoints.arrival import Arrivals
from asgi_sessionsync.endpoints.receiver import _read_body
from asgi_sessionsync.endpoints.reply import TEXT, Reply, html, page, text
from asgi_sessionsync.endpoints.step_kit import NOT_VALID, StepKit
from asgi_sessionsync.wprus.browser import WprusBrowser
from asgi_sessionsync.wprus.incoming import WprusIncoming
from asgi_sessionsync.wprus.outgoing import WprusOutgoing

# The browser-side actions (GETs, reading this browser's cookies); the others are POSTs.
BROWSER = frozenset({"wprus/login", "wprus/logout", "wprus/out"})


def is_wprus(name: str) -> bool:
    """Whether an endpoint name (the path below the prefix) is one of the plugin's."""
    return name.startswith("wprus/") and name.count("/") <= 2


class WprusRoutes:
    """The plugin's endpoints of one site (``None`` parts: no WordPress site declared)."""

    def __init__(self, kit: StepKit, arrivals: Arrivals, outgoing: WprusOutgoing) -> None:
        site = kit.site
        self.outgoing = outgoing if site.rules.wprus else None
        self.frame_src = " ".join(s.origin for _, s in site.rules.wprus)
        self.incoming = WprusIncoming(site) if site.rules.wprus else None
        self.browser = WprusBrowser(kit, arrivals) if site.rules.wprus else None
        self.host = site.address.host

    def methods(self, name: str) -> tuple[str, ...]:
        return ("GET",) if name.rstrip("/") in BROWSER else ("POST",)

    async def __call__(self, scope: Scope, receive: Receive, cookies: bytes | None) -> Reply:
        action = scope["path"].rstrip("/").rsplit("/", 1)[-1]
        if scope["method"] == "GET" and action == "out":
            return await self._out(scope)
        if scope["method"] == "GET":
            if self.browser is None:
                return text(404, "not found")
            return await self.browser(scope, cookies, action)
        body = await _read_body(receive) if self.incoming is not None else None
        if self.incoming is None or body is None:
            return text(404, "not found")
        status, answer, is_json = await self.incoming(action, body, self.host(scope))
        return Reply(status, answer, b"application/json" if is_json else TEXT)

    async def _out(self, scope: Scope) -> Reply:
        if self.outgoing is None:
            return text(404, "not found")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        status, body, nonce = await self.outgoing.step(scope, (query.get("t") or [""])[0])
        if status != 200:
            return page(400, *NOT_VALID)
        policy = f"default-src 'none'; script-src 'nonce-{nonce}'; frame-src {self.frame_src}; base-uri 'none'"
        return html(200, body, [(b"content-security-policy", policy.encode())])
