"""First-visit catch-up: a browser with no session here asks the peers, once in a while.

It survives the browsers' bounce-tracking protection (a cookie this site set during a
sign-in bounce may be purged; this site asks again on the user's next real visit) and
catches up a site that was down or left out when the user signed in elsewhere.

Started only by a top-level ``GET`` navigation that carries Fetch Metadata
(``Sec-Fetch-Mode: navigate``, ``Sec-Fetch-Dest: document``) and is not a prefetch:
crawlers, scripts and non-browser clients never start it. The ``-seen`` cookie, set
when it starts, keeps one browser to one catch-up per interval whatever happens; a
client that keeps no cookies ends on a page with a link (see the ``hop`` step), so
nothing can loop.
"""

from __future__ import annotations

from starlette.types import Scope, Send

from asgi_sessionsync.cookies import find_cookie
from asgi_sessionsync.endpoints.asking import BIND_LIFETIME, bind_hash, new_bind
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.site import Site
from asgi_sessionsync.urls import request_url

logger = package_log("asgi_sessionsync")


class CatchUp:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.log = site_log(logger.name, site.origin)
        settings = site.settings
        self.enabled = settings.catchup and bool(site.peers)
        self.seen_name = site.cookie_names.seen
        self.bind_name = site.cookie_names.bind
        self._seen_needle = self.seen_name.encode("latin-1") + b"="
        self.interval = int(settings.catchup_interval)

    def wanted(self, scope: Scope, cookies: bytes | None) -> bool:
        """Whether this request should start a catch-up (the caller knows nobody is
        signed in here)."""
        if not self.enabled or scope["method"] != "GET":
            return False
        if cookies is not None and self._seen_needle in cookies:
            return False
        mode = dest = None
        for key, value in scope["headers"]:
            if key == b"sec-fetch-mode":
                mode = value
            elif key == b"sec-fetch-dest":
                dest = value
            elif key in (b"sec-purpose", b"purpose") and b"prefetch" in value:
                return False
        return mode == b"navigate" and dest == b"document"

    async def start(self, scope: Scope, send: Send, cookies: bytes | None) -> bool:
        """Send the browser to the first live peer; False when no peer is up."""
        site = self.site
        peers = await site.asking.reachable()
        if not peers:
            return False
        nonce, value = new_bind(find_cookie(cookies, self.bind_name))
        url = site.asking.catchup_url(
            peers,
            bind=bind_hash(nonce),
            return_url=request_url(site.origin, scope),
            ip=site.address.bind_value(scope),
        )
        if url is None:
            return False
        lax = site.cookies
        headers = [
            (b"location", url.encode("latin-1")),
            (b"cache-control", b"no-store"),
            (b"referrer-policy", b"no-referrer"),
            (b"set-cookie", _lax(lax.set(self.bind_name, value, BIND_LIFETIME))),
            (b"set-cookie", _lax(lax.set(self.seen_name, "1", self.interval))),
        ]
        self.log.debug("catch-up: asking %d peer(s) whether this browser is signed in", len(peers))
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return True


def _lax(cookie: bytes) -> bytes:
    """These two cookies only ever travel on top-level navigations to this site."""
    return cookie.replace(b"SameSite=None", b"SameSite=Lax")
