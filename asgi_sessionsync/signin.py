"""Sign-in sync: the URLs that carry a browser's sign-in to the peers.

Only the site where the user signed in vouches for them: it seals every step itself.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from urllib.parse import urlsplit

from asgi_sessionsync.envelope import Claims
from asgi_sessionsync.keys import Purpose
from asgi_sessionsync.peers import PeerEntry, PeerHealth
from asgi_sessionsync.protocol import Endpoint, FramePayload, HopPayload, NextHop
from asgi_sessionsync.sessions import ActiveSession
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.urls import endpoint_url, safe_return


class SignInSync:
    """Builds hop chains and frame URLs for this site's sign-ins; reads hops it receives."""

    def __init__(self, settings: Settings, tokens: Tokens, health: PeerHealth, peers: Sequence[PeerEntry]) -> None:
        self.tokens = tokens
        self.health = health
        self.peers = tuple(peers)
        self.prefix = settings.path_prefix
        self.hop_lifetime = settings.hop_lifetime

    async def reachable_peers(self, origins: Sequence[str] | None = None) -> list[PeerEntry]:
        """The peers to sync with now (all, or those named), minus peers that are down."""
        wanted = [(network, peer) for network, peer in self.peers if origins is None or peer.origin in origins]
        return await self.health.alive(wanted)

    def hop_chain(self, peers: Sequence[PeerEntry], *, session: ActiveSession, return_url: str, ip: str) -> str | None:
        """URL of the first hop of a redirect chain through ``peers`` ending at ``return_url``.

        Built back to front: each hop's envelope carries the next hop (its URL base, key
        id and sealed bytes; linear in size) so that every peer only vouches for itself
        and an expired or used hop can be skipped without breaking the rest.
        """
        following: NextHop | None = None
        first: str | None = None
        for network, peer in reversed(peers):
            token = self.tokens.seal_for_peer(
                network.name,
                peer.origin,
                Purpose.HOP,
                subject=session.user,
                ttl=self.hop_lifetime,
                ip=ip,
                extra=HopPayload(session.chain, session.name, return_url, following).to_wire(),
            )
            _, kid, body = token.split(".")
            base = endpoint_url(peer.url, self.prefix, Endpoint.HOP)
            following = NextHop(base, kid, _b64decode(body))
            first = f"{base}?e={token}"
        return first

    def frame_url(self, entry: PeerEntry, *, session: ActiveSession, ip: str) -> str:
        network, peer = entry
        token = self.tokens.seal_for_peer(
            network.name,
            peer.origin,
            Purpose.FRAME,
            subject=session.user,
            ttl=self.hop_lifetime,
            ip=ip,
            extra=FramePayload(session.chain, session.name).to_wire(),
        )
        return endpoint_url(peer.url, self.prefix, Endpoint.FRAME, f"e={token}")

    def next_url(self, claims: Claims) -> str | None:
        """Where a hop sends the browser on: the next hop, else the (checked) return URL."""
        hop = HopPayload.from_wire(claims.extra)
        following = hop.following
        if following is not None and urlsplit(following.base_url).scheme in ("http", "https"):
            body = base64.urlsafe_b64encode(following.body).rstrip(b"=").decode("ascii")
            return f"{following.base_url}?e=v1.{following.kid}.{body}"
        return safe_return(hop.return_url, claims.issuer)


def _b64decode(body: str) -> bytes:
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
