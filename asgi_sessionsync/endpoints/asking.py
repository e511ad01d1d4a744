"""The asking side of a sign-in (site B, which needs a login; protocol v2).

B never takes a login pushed at it: it sets a bind cookie and asks a peer (A) by a
top-level redirect to A's ``authorize`` with a request sealed for A; A answers with a hop
bound to B's cookie (``hop.py`` checks it). The same request serves the sync after a
sign-in on A (``pull.py``: A sends the browser here with its chain note), frames, and
B's first-visit catch-up (a nested request through the peers in turn). See
docs/design.md, "Protocol v2".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from asgi_sessionsync.peers import PeerEntry, PeerHealth
from asgi_sessionsync.protocol import Endpoint, Mode, Onward, RequestPayload
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.trust import PeerTrust
from asgi_sessionsync.urls import endpoint_url

BIND_LIFETIME = 120  # seconds a bind cookie waits for its hop
BIND_MAX = 3  # nonces one bind cookie holds (parallel tabs and frames)


def bind_hash(nonce: str) -> bytes:
    """What URLs carry instead of the bind cookie's nonce."""
    return hashlib.sha256(b"asgi-sessionsync bind\x00" + nonce.encode("ascii")).digest()[:16]


# The first character of a catch-up's nonce whose navigation spoke for this site (typed, a
# bookmark, this site's own page): its return is judged as that navigation was (issue #23).
SPEAKS = "~"
RETURN_LIFETIME = 30  # seconds the mark of a catch-up's return waits for it


def new_bind(cookie_value: str | None, *, speaks: bool = False) -> tuple[str, str]:
    """A fresh nonce, and the bind cookie value holding it (newest first, bounded).
    ``speaks``: a catch-up started by a navigation that spoke for this site."""
    nonce = (SPEAKS if speaks else "") + secrets.token_urlsafe(16)
    kept = [n for n in (cookie_value or "").split(".") if n][: BIND_MAX - 1]
    return nonce, ".".join([nonce, *kept])


def find_bind(cookie_value: str | None, expected: bytes) -> str | None:
    """The nonce of the bind cookie hashed in ``expected`` (left in the cookie), or None."""
    return next((n for n in (cookie_value or "").split(".") if n and hmac.compare_digest(bind_hash(n), expected)), None)


def take_bind(cookie_value: str | None, expected: bytes) -> tuple[str | None, str]:
    """The nonce of the bind cookie hashed in ``expected`` (None: not there); and the
    cookie value without it (a nonce is used once)."""
    found: str | None = None
    kept: list[str] = []
    for nonce in (cookie_value or "").split("."):
        if not nonce:
            continue
        if found is None and hmac.compare_digest(bind_hash(nonce), expected):
            found = nonce
        else:
            kept.append(nonce)
    return found, ".".join(kept)


def return_mark(url: str, *, speaks: bool) -> str:
    """The mark a catch-up leaves for its return to ``url``: whether the navigation that
    started it spoke for this site. The return itself comes through a peer (a cross-site
    navigation) or from this site's own page (same-origin), whatever started it."""
    digest = hashlib.sha256(b"asgi-sessionsync return\x00" + url.encode("utf-8", "replace")).digest()[:12]
    return base64.urlsafe_b64encode(digest).decode("ascii") + ("1" if speaks else "0")


def returned_speaking(mark: str | None, url: str) -> bool | None:
    """Whether the navigation a catch-up returns to ``url`` from spoke for this site;
    None when ``mark`` is not that return's."""
    if not mark:
        return None
    for speaks in (True, False):
        if hmac.compare_digest(mark, return_mark(url, speaks=speaks)):
            return speaks
    return None


class SignInAsking:
    """Builds what this site sends when it asks a peer for a sign-in."""

    def __init__(
        self, settings: Settings, tokens: Tokens, health: PeerHealth, peers: Sequence[PeerEntry], trust: PeerTrust
    ) -> None:
        self.tokens = tokens
        self.health = health
        self.prefix = settings.path_prefix
        self.hop_lifetime = settings.hop_lifetime
        self._by_origin = {peer.site_id: (network, peer) for network, peer in peers}
        # The peers whose sign-ins this site takes (its catch-up asks them only).
        self.peers = tuple(entry for entry in peers if trust.accepts(entry[1].site_id, "login"))

    def peer(self, origin: str) -> PeerEntry | None:
        return self._by_origin.get(origin)

    async def reachable(self) -> list[PeerEntry]:
        """The peers whose sign-ins this site takes, in configuration order, minus those
        that are down (a browser is about to be sent to the first one: a good answer
        counts only for :attr:`PeerHealth.POINT_FOR`)."""
        return await self.health.alive(list(self.peers), up_for=self.health.POINT_FOR)

    def request_url(
        self,
        entry: PeerEntry,
        *,
        bind: bytes,
        chain: str | None,
        return_url: str | None,
        mode: Mode,
        then: Onward | None = None,
        ip: str,
    ) -> str:
        """The URL of ``entry``'s ``authorize`` carrying a request sealed for it."""
        network, peer = entry
        token = self.tokens.seal_message_for_peer(
            network.name,
            peer.site_id,
            RequestPayload(bind, chain, return_url, then, mode),
            subject="",
            ttl=self.hop_lifetime,
            ip=ip,
        )
        return endpoint_url(peer.url, self.prefix, Endpoint.AUTHORIZE, f"q={token}")

    def catchup_url(self, peers: Sequence[PeerEntry], *, bind: bytes, return_url: str, ip: str) -> str | None:
        """A catch-up through ``peers`` in turn: each forwards to the next when it has no
        session; built back to front, as nested requests."""
        then: Onward | None = None
        url: str | None = None
        for entry in reversed(peers):
            url = self.request_url(
                entry, bind=bind, chain=None, return_url=return_url, mode=Mode.PAGE, then=then, ip=ip
            )
            base, _, query = url.partition("?q=")
            then = Onward(base, query)
        return url
