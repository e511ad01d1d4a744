"""The answering side of a sign-in (site A, which has the session; protocol v2).

A carries a sign-in made here to its peers: it sends the browser to the first live peer's
``pull`` with a chain note (its note to itself: the session, the peers still to visit,
where to end), and each peer's request comes back to ``authorize`` (``authorize.py``),
which answers with a hop bound to that peer's cookie and the next peer's ``pull``. Frames
(frame and auto mode) open each peer's ``pull`` with a note of their own. See
docs/design.md, "Protocol v2".
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from asgi_sessionsync.cookies import CookieNames, find_cookie
from asgi_sessionsync.endpoints.asking import BIND_LIFETIME
from asgi_sessionsync.endpoints.left_out import LeftOut
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.peers import PeerEntry, PeerHealth
from asgi_sessionsync.protocol import ChainPayload, Endpoint, HopPayload, Mode, RequestPayload
from asgi_sessionsync.sessions import ActiveSession
from asgi_sessionsync.settings import Peer, Settings
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.unreachable import unreachable
from asgi_sessionsync.urls import endpoint_url, safe_return

# How old a step of a chain this site carries may be (seconds since it was sealed) and
# still be taken, past its own lifetime (SESSIONSYNC_HOP_LIFETIME): the chain note, and a
# peer's request that carries it. Neither grants anything by itself (``authorize`` reads
# this browser's session live and checks that the note names it, and the hop it seals is
# bound to the asking peer's cookie), and the asking peer's bind cookie lives this long:
# a step older than it could sign nobody in there anyway. See docs/design.md, "A slow chain".
LATE_STEP_LIMIT = float(BIND_LIFETIME)


class SignInAnswering:
    """Carries this site's sign-ins to its peers and answers their requests."""

    def __init__(
        self, settings: Settings, tokens: Tokens, health: PeerHealth, peers: Sequence[PeerEntry], rules: NetworkRules
    ) -> None:
        self.tokens = tokens
        self.health = health
        self.site_id = settings.site_id
        self._issuer_query = f"i={quote(self.site_id, safe='')}&k="  # every pull URL's beginning
        self.prefix = settings.path_prefix
        self.hop_lifetime = settings.hop_lifetime
        self.late_limit = max(LATE_STEP_LIMIT, settings.hop_lifetime)
        self.left_out = LeftOut(settings.site_id)
        self._away_name = CookieNames.from_settings(settings).unreachable
        self._by_origin = {peer.site_id: (network, peer) for network, peer in peers}
        # The peers this site carries its sign-ins to (the network file's login "send").
        self.peers = tuple(entry for entry in peers if rules.for_peer(entry[1].site_id).sends("login"))
        self.sends_to = frozenset(peer.site_id for _, peer in self.peers)

    def peer(self, origin: str) -> PeerEntry | None:
        return self._by_origin.get(origin)

    def unreachable(self, cookies: bytes | None) -> frozenset[str]:
        """The peers this browser said it could not reach, lately (``catchup.py``)."""
        return unreachable(find_cookie(cookies, self._away_name), self.sends_to)

    async def reachable(
        self, origins: Sequence[str] | None = None, *, user: str = "", away: frozenset[str] = frozenset()
    ) -> list[PeerEntry]:
        """The peers to carry a sign-in to now (all, or those named, in configuration
        order), minus peers that are down and those this browser cannot reach (``away``),
        each said as left out of ``user``'s sign-in, when given (:class:`LeftOut`).

        A browser is about to be sent to the first one, so a good answer counts only
        for :attr:`PeerHealth.POINT_FOR` (0.1 s): a peer that died after an answer
        strands no browser sent on later, and a burst of sign-ins costs at most ten
        probes a second per peer (one in flight, shared)."""
        wanted = [entry for entry in self.peers if origins is None or entry[1].site_id in origins]
        if away and (skipped := [peer.site_id for _, peer in wanted if peer.site_id in away]):
            if user:
                await self.left_out.peers(skipped, user, "this browser could not reach it lately (its page said so)")
            wanted = [entry for entry in wanted if entry[1].site_id not in away]
        alive = await self.health.alive(wanted, up_for=self.health.POINT_FOR)
        if user and len(alive) < len(wanted):
            up = {peer.site_id for _, peer in alive}
            for origin in (peer.site_id for _, peer in wanted if peer.site_id not in up):
                await self.left_out.peers([origin], user, self._why_down(origin))
        return alive

    def _why_down(self, origin: str) -> str:
        result = self.health.state_of(origin)
        what = result.explain(self.site_id)[0] if result is not None else ""
        return f"it failed its health check just now ({what or 'no answer'})"

    async def start_chain(
        self,
        session: ActiveSession,
        *,
        return_url: str | None,
        ip: str,
        origins: Sequence[str] | None = None,
        mode: Mode = Mode.PAGE,
        away: frozenset[str] = frozenset(),
    ) -> str | None:
        """The first step of carrying ``session`` to the live peers (all, or ``origins``;
        never those this browser cannot reach, ``away``): the first one's ``pull`` URL, or
        None when no peer is up."""
        live = [peer.site_id for _, peer in await self.reachable(origins, user=session.user, away=away)]
        if not live:
            return None
        return self._pull_url(live[0], ChainPayload(session.sid, tuple(live[1:]), return_url, mode), session, ip)

    def frame_urls(self, peers: Sequence[PeerEntry], session: ActiveSession, *, ip: str) -> list[str]:
        """One ``pull`` URL per peer, for hidden iframes."""
        return [
            self._pull_url(peer.site_id, ChainPayload(session.sid, (), None, Mode.FRAME), session, ip)
            for _, peer in peers
        ]

    def _pull_url(self, origin: str, chain: ChainPayload, session: ActiveSession, ip: str) -> str:
        _network, peer = self._by_origin[origin]
        token = self.tokens.seal_message(chain, subject=session.user, ttl=self.hop_lifetime, ip=ip)
        query = self._issuer_query + token
        if chain.mode is Mode.FRAME:
            query += "&m=frame"
        return endpoint_url(peer.url, self.prefix, Endpoint.PULL, query)

    async def onward(
        self, chain: ChainPayload, session: ActiveSession, ip: str, away: frozenset[str] = frozenset()
    ) -> str | None:
        """Where the browser goes after the peer now being served: the next live peer's
        ``pull`` (checked just now, so no browser is sent to a site that died), else the
        chain's return URL on this site."""
        if chain.peers:
            live = [peer.site_id for _, peer in await self.reachable(chain.peers, user=session.user, away=away)]
            if live:
                rest = tuple(o for o in chain.peers if o != live[0] and o in live)
                return self._pull_url(live[0], chain._replace(peers=rest), session, ip)
        return safe_return(chain.return_url, self.site_id)

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
        token = self.tokens.seal_message_for_peer(
            network, asker.site_id, hop, subject=user, ttl=self.hop_lifetime, ip=ip
        )
        return endpoint_url(asker.url, self.prefix, Endpoint.HOP, f"e={token}")
