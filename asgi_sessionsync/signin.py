"""Sign-in sync (protocol v2): the browser-bound pull, and the URLs that start it.

A site never pushes a login into another site. The site that needs one (B) sets a
bind cookie and asks a peer (A) by a top-level redirect to A's ``authorize``; A reads
its own session in this browser and answers with a hop for B bound to B's cookie. The
same pull serves three cases: the sync after a sign-in on A (A starts it by sending the
browser to B's ``pull`` with a ``chain`` note), frames, and B's first-visit catch-up.
See docs/design.md, "Protocol v2".
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from urllib.parse import quote

from asgi_sessionsync.keys import Purpose
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.peers import PeerEntry, PeerHealth
from asgi_sessionsync.protocol import ChainPayload, Endpoint, HopPayload, Mode, Onward, RequestPayload
from asgi_sessionsync.sessions import ActiveSession
from asgi_sessionsync.settings import Peer, Settings
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.urls import endpoint_url, safe_return

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


class SignInSync:
    """Builds the steps of the v2 pull for one site."""

    def __init__(self, settings: Settings, tokens: Tokens, health: PeerHealth, peers: Sequence[PeerEntry]) -> None:
        self.tokens = tokens
        self.health = health
        self.peers = tuple(peers)
        self.origin = settings.origin
        self.prefix = settings.path_prefix
        self.hop_lifetime = settings.hop_lifetime
        self._by_origin = {peer.origin: (network, peer) for network, peer in self.peers}
        # The network file's login rules: whom this site carries its sign-ins to (send),
        # and whose sign-ins it takes (accept: hops, and the peers its catch-up asks).
        rules = settings.network_rules or NetworkRules()
        self.sends_to = frozenset(p.origin for _, p in self.peers if rules.for_peer(p.origin).sends("login"))
        self.accepts_from = frozenset(p.origin for _, p in self.peers if rules.for_peer(p.origin).accepts("login"))

    def peer(self, origin: str) -> PeerEntry | None:
        return self._by_origin.get(origin)

    async def reachable_peers(
        self, origins: Sequence[str] | None = None, *, accepting: bool = False
    ) -> list[PeerEntry]:
        """The peers to sync with now (all, or those named, in configuration order),
        minus peers that are down, and minus the peers this site sends no logins to (with
        ``accepting``, for catch-up: takes no logins from).

        A browser is about to be sent to the first one, so a good answer counts only
        for :attr:`PeerHealth.POINT_FOR` (0.1 s): a peer that died after an answer
        strands no browser sent on later, and a burst of sign-ins costs at most ten
        probes a second per peer (one in flight, shared)."""
        allowed = self.accepts_from if accepting else self.sends_to
        wanted = [
            (network, peer)
            for network, peer in self.peers
            if (origins is None or peer.origin in origins) and peer.origin in allowed
        ]
        return await self.health.alive(wanted, up_for=self.health.POINT_FOR)

    # -- the site that has the session (A) -------------------------------------------------

    async def start_chain(
        self,
        session: ActiveSession,
        *,
        return_url: str | None,
        ip: str,
        origins: Sequence[str] | None = None,
        mode: Mode = Mode.PAGE,
    ) -> str | None:
        """The first step of carrying ``session`` to the live peers (all, or ``origins``):
        the first one's ``pull`` URL, or None when no peer is up."""
        live = [peer.origin for _, peer in await self.reachable_peers(origins)]
        if not live:
            return None
        return self._pull_url(live[0], ChainPayload(session.sid, tuple(live[1:]), return_url, mode), session, ip)

    def frame_urls(self, peers: Sequence[PeerEntry], session: ActiveSession, *, ip: str) -> list[str]:
        """One ``pull`` URL per peer, for hidden iframes."""
        return [
            self._pull_url(peer.origin, ChainPayload(session.sid, (), None, Mode.FRAME), session, ip)
            for _, peer in peers
        ]

    def _pull_url(self, origin: str, chain: ChainPayload, session: ActiveSession, ip: str) -> str:
        _network, peer = self._by_origin[origin]
        token = self.tokens.seal_for_self(
            Purpose.CHAIN, subject=session.user, ttl=self.hop_lifetime, ip=ip, extra=chain.to_wire()
        )
        query = f"i={quote(self.origin, safe='')}&k={token}"
        if chain.mode is Mode.FRAME:
            query += "&m=frame"
        return endpoint_url(peer.url, self.prefix, Endpoint.PULL, query)

    async def onward(self, chain: ChainPayload, session: ActiveSession, ip: str) -> str | None:
        """Where the browser goes after the peer now being served: the next live peer's
        ``pull`` (checked just now, so no browser is sent to a site that died), else the
        chain's return URL on this site."""
        if chain.peers:
            live = [peer.origin for _, peer in await self.reachable_peers(chain.peers)]
            if live:
                rest = tuple(o for o in chain.peers if o != live[0] and o in live)
                return self._pull_url(live[0], chain._replace(peers=rest), session, ip)
        return safe_return(chain.return_url, self.origin)

    def answer(
        self,
        asker: Peer,
        network: str,
        *,
        request: RequestPayload,
        user: str,
        chain: str,
        name: str,
        next_url: str | None,
        ip: str,
        email_verified: bool = False,
        age: float | None = None,
    ) -> str:
        """The hop URL answering ``asker``'s request (``user`` empty: nobody here);
        ``email_verified``: this site vouches that the address was verified; ``age``:
        seconds since the sign-in was made."""
        hop = HopPayload(request.bind, chain, name, next_url, request.return_url, request.mode, email_verified, age)
        token = self.tokens.seal_for_peer(
            network, asker.origin, Purpose.HOP, subject=user, ttl=self.hop_lifetime, ip=ip, extra=hop.to_wire()
        )
        return endpoint_url(asker.url, self.prefix, Endpoint.HOP, f"e={token}")

    # -- the site that asks (B) -----------------------------------------------------------

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
        request = RequestPayload(bind, chain, return_url, then, mode)
        token = self.tokens.seal_for_peer(
            network.name,
            peer.origin,
            Purpose.REQUEST,
            subject="",
            ttl=self.hop_lifetime,
            ip=ip,
            extra=request.to_wire(),
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
