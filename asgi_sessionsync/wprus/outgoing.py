"""This site's logins and logouts sent to the WordPress sites, by the browser, as the
plugin's own remote sites send them (docs/design.md, "WP Remote Users Sync").

For each WordPress site that takes ``login`` (or ``logout``) from this one (its
``[wprus."…"]`` table says ``send`` or ``both``): this site asks it for a ``get`` token
(server to server, ``POST <backchannel>/wprus/token/``), then the browser loads
``<url>/wprus/<action>/?wprusdata=…&token=…`` in a hidden iframe, with a bundle naming the
user by its login name there (this site's email: mapping.py), and this site by
``<origin><prefix>`` (what WordPress lists it as). WordPress signs the browser in (its
cookie is ``SameSite=None``) or out (it reads its own cookie: third-party cookies must
be allowed in the browser, as for the plugin's own async mode).

The frames go into the response that signed in or out when it is an HTML page; when it
is a redirect, the redirect goes first to ``<prefix>wprus/out/`` (a page of this site
that holds the frames and goes on to where the app sent the browser once they have
loaded, or after 3 s). That step's URL is sealed for this site, bound to the browser's
address, valid for a minute and used once. A WordPress site that does not answer the
token request in time is skipped, said in the log; the login or logout here stands.
"""

from __future__ import annotations

import html
import json
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlencode, urljoin

import httpx
from starlette.types import Scope

from asgi_sessionsync.exceptions import EnvelopeError
from asgi_sessionsync.i18n import N_, gettext
from asgi_sessionsync.injection import is_injectable
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.protocol import Purpose, Wire
from asgi_sessionsync.urls import endpoint_url, local_url, request_url, safe_return
from asgi_sessionsync.wprus.crypto import seal
from asgi_sessionsync.wprus.site_config import WprusSite, listed_as

if TYPE_CHECKING:
    from asgi_sessionsync.site import Site

logger = package_log("asgi_sessionsync.wprus")
STEP_LIFETIME = 60.0
WAIT_MS = 3000  # the out step goes on after this even when a frame has not loaded
Headers = list[tuple[bytes, bytes]]


class OutStep(NamedTuple):
    """The ``wprus/out`` step's note to this site itself: the action, and where to go on."""

    action: str
    return_url: str

    @classmethod
    def purpose(cls) -> Purpose:
        return Purpose.STATE

    def to_wire(self) -> Wire:
        return {"wpo": self.action, "r": self.return_url}

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> OutStep | None:
        action, back = extra.get("wpo"), extra.get("r")
        if action not in ("login", "logout") or not isinstance(back, str):
            return None
        return cls(str(action), back)


class WprusOutgoing:
    """Sends one site's logins and logouts to its WordPress sites (see the module's doc)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.log = site_log(logger.name, site.site_id)

    def targets(self, action: str) -> tuple[WprusSite, ...]:
        rules = self.site.rules
        return tuple(s for origin, s in rules.wprus if rules.for_peer(origin).sends(action))

    async def after(
        self, scope: Scope, status: int, headers: Headers, snippet: bytes | None, action: str, email: str
    ) -> tuple[Headers, bytes | None]:
        """The response that signed ``email`` in or out here, with the WordPress sites' frames:
        in its page, or by the out step before its redirect."""
        if not self.targets(action) or scope.get("method") == "HEAD":
            return headers, snippet
        location = next((v for k, v in headers if k.lower() == b"location"), None)
        if 300 <= status < 400 and location is not None:
            back = safe_return(
                urljoin(request_url(self.site.origin, scope), location.decode("latin-1")), self.site.origin
            )
            if back is None:
                back = location.decode("latin-1") if location.startswith(b"http") else local_url(self.site.origin, "/")
            step = self.site.tokens.seal_message(
                OutStep(action, back), subject=email, ttl=STEP_LIFETIME, ip=self.site.address.bind_value(scope)
            )
            url = endpoint_url(self.site.settings.site_url, self.site.prefix, "wprus/out/", urlencode({"t": step}))
            kept = [(k, v) for k, v in headers if k.lower() != b"location"]
            return [*kept, (b"location", url.encode("latin-1"))], snippet
        if is_injectable(headers):
            frames = frames_html(await self.frame_urls(action, email))
            return headers, (snippet or b"") + frames
        self.log.info("WordPress %s of %s not sent: the response is neither a page nor a redirect", action, email)
        return headers, snippet

    async def step(self, scope: Scope, token: str) -> tuple[int, bytes, str]:
        """The out step's page: (status, body, script nonce)."""
        site = self.site
        try:
            claims, step = site.tokens.open_message(token, OutStep, ip=site.address.bind_value(scope))
        except EnvelopeError as error:
            self.log.warning("WordPress out step refused: %s", error.reason)
            return 400, b"", ""
        if not await site.stores.replay.use(claims.jti, claims.expires_at + site.settings.clock_skew):
            self.log.warning("WordPress out step refused: already used")
            return 400, b"", ""
        urls = await self.frame_urls(step.action, claims.subject)
        nonce = secrets.token_urlsafe(16)
        return 200, out_page(urls, step.return_url, nonce), nonce

    async def frame_urls(self, action: str, email: str) -> list[str]:
        """The frames' URLs, one per WordPress site that answered the token request."""
        data: dict[str, Any] = {"username": email, "base_url": listed_as(self.site.origin, self.site.prefix)}
        if action == "login":
            data["remember"] = 0
        urls = []
        for target in self.targets(action):
            token = await self._token(target, action)
            if token is None:
                continue
            bundle = seal(data, *target.secrets())
            urls.append(f"{target.url}/wprus/{action}/?{urlencode({'wprusdata': bundle, 'token': token})}")
            self.log.info("WordPress %s of %s sent to %s (by the browser)", action, email, target.origin)
        return urls

    async def _token(self, target: WprusSite, action: str) -> str | None:
        asked = seal({"action": action, "method": "get", "base_url": target.url + "/"}, *target.secrets())
        try:
            answer = await self.site.client.http.post(
                target.server_url("token"), data={"wprusdata": asked}, timeout=max(self.site.settings.peer_timeout, 2.0)
            )
            nonce = json.loads(answer.content).get("nonce") if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            nonce = None
        if not isinstance(nonce, str) or not nonce:
            self.log.warning("WordPress %s not sent to %s: its token request was not answered", action, target.origin)
            return None
        return nonce


def frames_html(urls: list[str]) -> bytes:
    return "".join(
        f'<iframe hidden style="display:none" src="{html.escape(u)}" title="sign-in"></iframe>' for u in urls
    ).encode()


def out_page(urls: list[str], back: str, nonce: str) -> bytes:
    """This site's page that holds the frames and goes on to ``back`` once they loaded."""
    target = json.dumps(back).replace("<", "\\u003c")
    script = (
        f"var n={len(urls)},go=function(){{location.replace({target})}};"
        "document.querySelectorAll('iframe').forEach(function(f){f.addEventListener('load',function(){if(--n<=0)go()})});"
        f"if(n<=0)go();setTimeout(go,{WAIT_MS});"
    )
    title = html.escape(gettext(N_("One moment")))
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>'
        f'<noscript><meta http-equiv="refresh" content="3;url={html.escape(back)}"></noscript></head>'
        f'<body><p>{title}</p>{frames_html(urls).decode()}<script nonce="{nonce}">{script}</script></body></html>'
    ).encode()
