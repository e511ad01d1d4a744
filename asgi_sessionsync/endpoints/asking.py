"""The asking side of a sign-in (site B, which needs a login; protocol v2).

B never takes a login pushed at it: it sets a bind cookie and asks a peer (A) by a
top-level redirect to A's ``authorize`` with a request sealed for A; A answers with a hop
bound to B's cookie (``hop.py`` checks it). The same request serves the sync after a
sign-in on A (``pull.py``: A sends the browser here with its chain note), frames, and
B's first-visit catch-up (a nested request through the peers in turn). See
docs/design.md, "Protocol v2".
"""

from __future__ import annotations

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


def new_bind(cookie_value: str | None) -> tuple[str, str]:
    """A fresh nonce, and the bind cookie value holding it (newest first, bounded)."""
    nonce = secrets.token_urlsafe(16)
    kept = [n for n in (cookie_value or "").split(".") if n][: BIND_MAX - 1]
    return nonce, ".".join([nonce, *kept])


def take_bind(cookie_value: str | None, expected: bytes) -> tuple[bool, str]:
    """Whether the bind cookie holds the nonce hashed in ``expected``; and the cookie
    value without it (a nonce is used once)."""
    found = False
    kept: list[str] = []
    for nonce in (cookie_value or "").split("."):
        if not nonce:
            continue
        if not found and hmac.compare_digest(bind_hash(nonce), expected):
            found = True
        else:
            kept.append(nonce)
    return found, ".".join(kept)


class SignInAsking:
    """Builds what this site sends when it asks a peer for a sign-in."""

    def __init__(
        self, settings: Settings, tokens: Tokens, health: PeerHealth, peers: Sequence[PeerEntry], trust: PeerTrust
    ) -> None:
        self.tokens = tokens
        self.health = health
        self.prefix = settings.path_prefix
        self.hop_lifetime = settings.hop_lifetime
        self._by_origin = {peer.origin: (network, peer) for network, peer in peers}
        # The peers whose sign-ins this site takes (its catch-up asks them only).
        self.peers = tuple(entry for entry in peers if trust.accepts(entry[1].origin, "login"))

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
            peer.origin,
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
