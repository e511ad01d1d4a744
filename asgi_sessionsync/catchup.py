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

Its first step is a page of this site (issue #23), not a redirect to a peer: the page
asks each peer from the browser (``pages.catchup_page``) and goes on to this site's
``catchup`` endpoint naming the peers the browser could not reach, which are then left
out for that browser (:mod:`asgi_sessionsync.unreachable`): a peer the server sees well
but the browser cannot open never costs the user the page they asked for. Without
JavaScript the page goes on at once, through every peer, as before.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from urllib.parse import quote

from starlette.types import Scope, Send

from asgi_sessionsync.cookies import find_cookie
from asgi_sessionsync.endpoints.asking import (
    BIND_LIFETIME,
    RETURN_LIFETIME,
    SPEAKS,
    bind_hash,
    find_bind,
    new_bind,
    return_mark,
)
from asgi_sessionsync.fetch_metadata import fetch_metadata
from asgi_sessionsync.i18n import for_request
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.pages import catchup_page
from asgi_sessionsync.protocol import Endpoint
from asgi_sessionsync.site import Site
from asgi_sessionsync.unreachable import UNREACHABLE_FOR, cookie_value, ids_of, peer_id, unreachable
from asgi_sessionsync.urls import endpoint_url, origin_of, request_url, safe_return

logger = package_log("asgi_sessionsync")

Headers = list[tuple[bytes, bytes]]


class CatchUp:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.log = site_log(logger.name, site.site_id)
        settings = site.settings
        self.enabled = settings.catchup and bool(site.peers)
        self.seen_name = site.cookie_names.seen
        self.bind_name = site.cookie_names.bind
        self.away_name = site.cookie_names.unreachable
        self._seen_needle = self.seen_name.encode("latin-1") + b"="
        self.interval = int(settings.catchup_interval)

    def wanted(self, scope: Scope, cookies: bytes | None) -> bool:
        """Whether this request should start a catch-up (the caller knows nobody is
        signed in here)."""
        if not self.enabled or scope["method"] != "GET":
            return False
        if cookies is not None and cookies.find(self._seen_needle) >= 0:
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

    def unreachable(self, cookies: bytes | None) -> frozenset[str]:
        """The peers this browser said it could not reach, lately (their origins)."""
        return unreachable(find_cookie(cookies, self.away_name), (peer.site_id for _, peer in self.site.peers))

    async def start(self, scope: Scope, send: Send, cookies: bytes | None) -> bool:
        """Answer with the catch-up's page (it asks the peers from the browser, then goes on
        to the ``catchup`` endpoint); False when no peer is up, or none the browser reaches."""
        site = self.site
        away = self.unreachable(cookies)
        peers = [entry for entry in await site.asking.reachable() if entry[1].site_id not in away]
        if not peers:
            return False
        # This catch-up's nonce, set now: the catchup step takes it only from this browser's
        # cookie, and its return is judged as this navigation is (issue #23).
        speaks = fetch_metadata(scope).is_same_origin(site.origin)
        nonce, value = new_bind(find_cookie(cookies, self.bind_name), speaks=speaks)
        hashed = base64.urlsafe_b64encode(bind_hash(nonce)).decode("ascii").rstrip("=")
        back = quote(request_url(site.origin, scope), safe="")
        go = endpoint_url(site.settings.site_url, site.prefix, Endpoint.CATCHUP, f"r={back}&h={hashed}")
        probes = [
            (peer_id(peer.site_id), endpoint_url(peer.url, site.prefix, Endpoint.PING), self._probe_mode(peer.site_id))
            for _, peer in peers
        ]
        nonce = secrets.token_urlsafe(12)
        for_request(scope, site.settings.template_dir)
        body = catchup_page(go, probes, nonce)
        connect = " ".join(sorted({origin_of(url) for _, url, _ in probes}))
        policy = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; connect-src {connect}; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'"
        )
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            (b"referrer-policy", b"no-referrer"),
            (b"vary", b"accept-language"),
            (b"content-security-policy", policy.encode("latin-1")),
            (b"set-cookie", _lax(site.cookies.set(self.seen_name, "1", self.interval))),
            (b"set-cookie", _lax(site.cookies.set(self.bind_name, value, BIND_LIFETIME))),
        ]
        self.log.debug("catch-up: asking %d peer(s) whether this browser is signed in", len(peers))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True

    def _probe_mode(self, origin: str) -> str:
        """How the page asks a peer: with CORS when the peer said it answers that (its
        authenticated ping), so a proxy's refusal page counts as out of reach; an older peer
        without (any answer counts: only a failure to connect is out of reach)."""
        result = self.site.health.state_of(origin)
        return "cors" if result is not None and result.cors_probe else "no-cors"

    async def go_on(
        self, scope: Scope, cookies: bytes | None, return_url: str, reported: str, hashed: str
    ) -> tuple[str, Headers]:
        """The ``catchup`` endpoint, where the catch-up's page sends the browser: where to
        now (the first peer the browser reaches, or back to ``return_url``), and the
        cookies to set. ``reported``: the ids of the peers the page could not reach (taken
        only from this site's own page: the caller checks), remembered for
        :data:`UNREACHABLE_FOR` seconds; ``hashed``: the page's nonce, by its hash (one
        this browser's bind cookie does not hold is not taken: a fresh one is)."""
        site = self.site
        back = safe_return(return_url, site.site_id) or site.settings.site_url
        origins = [peer.site_id for _, peer in site.peers]
        away = self.unreachable(cookies) | unreachable(reported, origins)
        headers: Headers = []
        if ids_of(reported):
            for origin in sorted(unreachable(reported, origins)):
                self.log.warning(
                    "catch-up: this browser could not reach %s (its page said so); left out of this browser's "
                    "catch-ups and sign-ins for %d s",
                    origin,
                    UNREACHABLE_FOR,
                )
            away_cookie = site.cookies.set(self.away_name, cookie_value(away), UNREACHABLE_FOR)
            headers.append((b"set-cookie", _lax(away_cookie)))
        peers = [entry for entry in await site.asking.reachable() if entry[1].site_id not in away]
        held = find_cookie(cookies, self.bind_name)
        nonce = find_bind(held, _unb64(hashed)) if hashed else None
        if not peers:
            # Back at once, from this site's page: judged as the navigation that started it.
            mark = return_mark(back, speaks=nonce is not None and nonce.startswith(SPEAKS))
            headers.append((b"set-cookie", site.cookies.set(site.cookie_names.returned, mark, RETURN_LIFETIME)))
            return back, headers
        if nonce is None:
            nonce, value = new_bind(held)
            headers.append((b"set-cookie", _lax(site.cookies.set(self.bind_name, value, BIND_LIFETIME))))
        ip = site.address.bind_value(scope)
        url = site.asking.catchup_url(peers, bind=bind_hash(nonce), return_url=back, ip=ip)
        return url or back, headers


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return b""


def _lax(cookie: bytes) -> bytes:
    """These cookies only ever travel on top-level navigations to this site."""
    return cookie.replace(b"SameSite=None", b"SameSite=Lax")
