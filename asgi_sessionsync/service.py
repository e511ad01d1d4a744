"""The sync service: sessions, hop chains, sign-out and peer messages of one site.

Everything here is independent of ASGI; the middleware and the endpoints call it.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpx

from asgi_sessionsync.backchannel import BackchannelSender, PeerHealth
from asgi_sessionsync.client_ip import IPBinding, TrustedProxies, client_host, forwarded_for_header
from asgi_sessionsync.cookies import CookiePolicy
from asgi_sessionsync.envelope import Claims, open_envelope, seal
from asgi_sessionsync.exceptions import EnvelopeError, EnvelopeFailure
from asgi_sessionsync.keys import Keychain, KeyRing, Purpose
from asgi_sessionsync.settings import Network, Peer, Settings, origin_of
from asgi_sessionsync.stores import SessionRecord, Stores, User, new_id, normalize_email, open_stores

logger = logging.getLogger("asgi_sessionsync")

# Purposes that a peer seals for us, and those only we seal for ourselves.
_FROM_PEERS = frozenset({Purpose.HOP, Purpose.FRAME, Purpose.BACKCHANNEL})
_TOUCH_EVERY = 60.0
# Opened session cookies kept in memory, so a signed-in request costs a registry
# look-up rather than a decryption. Bounded; the registry is still asked every time.
_OPENED_MAX = 10_000


class ActiveSession(NamedTuple):
    """A signed-in session, as the request sees it."""

    sid: str
    user: str
    name: str
    role: str
    chain: str


class SyncService:
    """Keys, stores and protocol steps of one site."""

    def __init__(
        self,
        settings: Settings,
        *,
        stores: Stores | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.origin = settings.origin
        self.prefix = settings.path_prefix
        self.rings: dict[str, KeyRing] = {
            n.name: KeyRing([k.reveal() for k in n.secret_keys], network=n.name) for n in settings.networks
        }
        self.home_ring = self.rings[settings.networks[0].name]
        self.keychain = Keychain(self.rings.values())
        self.members: dict[str, tuple[str, ...]] = {
            n.name: (self.origin, *(p.origin for p in n.peers)) for n in settings.networks
        }
        self.peer_list: tuple[tuple[Network, Peer], ...] = tuple(settings.peers())
        self.binding = IPBinding(settings.ip_binding, settings.ip_prefix_v4, settings.ip_prefix_v6)
        self.trusted = TrustedProxies(settings.trusted_proxies)
        self.cookies = CookiePolicy(
            path=settings.cookie_path,
            domain=settings.cookie_domain,
            secure=settings.secure,
            samesite=settings.samesite,
        )
        self.stores = stores if stores is not None else open_stores(settings.store)
        self._opened: dict[tuple[str, str], tuple[float, ActiveSession]] = {}
        self._bindings: dict[str | None, str] = {}
        self.http = httpx.AsyncClient(transport=transport, timeout=settings.peer_timeout)
        self.sender = BackchannelSender(self)
        self.health = PeerHealth(self)

    async def close(self) -> None:
        await self.sender.stop()
        await self.http.aclose()
        await self.stores.close()

    # -- the client ----------------------------------------------------------------------

    def client_ip(self, scope: dict[str, Any]) -> str | None:
        forwarded = forwarded_for_header(scope["headers"]) if self.trusted else None
        return client_host(scope.get("client"), forwarded, self.trusted)

    def ip_binding(self, scope: dict[str, Any]) -> str:
        if self.trusted:
            return self.binding.value(self.client_ip(scope))
        client = scope.get("client")
        host = str(client[0]) if client else None
        value = self._bindings.get(host)
        if value is None:
            if len(self._bindings) > 4096:
                self._bindings.clear()
            value = self._bindings[host] = self.binding.value(host)
        return value

    # -- envelopes -----------------------------------------------------------------------

    def open(self, token: str, purpose: Purpose, *, ip: str | None) -> Claims:
        """Open an envelope addressed to this site and check who sealed it."""
        claims = open_envelope(
            self.keychain,
            token,
            purpose=purpose,
            audience=self.origin,
            ip=ip,
            clock_skew=self.settings.clock_skew,
            audiences_of=self._audiences_of,
        )
        if purpose in _FROM_PEERS:
            if claims.issuer == self.origin or claims.issuer not in self.members[claims.network]:
                raise EnvelopeError(EnvelopeFailure.WRONG_ISSUER, claims)
        elif claims.issuer != self.origin:
            raise EnvelopeError(EnvelopeFailure.WRONG_ISSUER, claims)
        return claims

    def _audiences_of(self, network: str) -> Iterable[str]:
        return self.members.get(network, ())

    def seal_for_self(self, purpose: Purpose, *, subject: str, ttl: float, ip: str, extra: dict[str, Any]) -> str:
        return seal(
            self.home_ring,
            purpose,
            issuer=self.origin,
            audience=self.origin,
            subject=subject,
            ttl=ttl,
            ip=ip,
            extra=extra,
        )

    # -- users and sessions ---------------------------------------------------------------

    async def ensure_user(self, email: str, *, name: str = "", vouched_by: str | None = None) -> User | None:
        """The stored user; auto-provisioned (default role, never a peer's) when allowed."""
        email = normalize_email(email)
        user = await self.stores.users.get(email)
        if user is not None:
            return user
        if vouched_by is not None and not self.settings.auto_provision:
            return None
        logger.info("provisioning user %s (vouched for by %s)", email, vouched_by or "this site's app")
        return await self.stores.users.create(
            User(
                email=email,
                role=self.settings.default_role,
                name=name,
                created_at=time.time(),
                provisioned_by=vouched_by,
            )
        )

    async def start_session(
        self, user: User, *, chain: str | None, scope: dict[str, Any], via: str
    ) -> tuple[ActiveSession, str]:
        """Record a new session; return it and the value of its cookie."""
        now = time.time()
        host = self.client_ip(scope) or ""
        agent = _header(scope, b"user-agent")[:300]
        record = SessionRecord(
            sid=new_id(),
            user=user.email,
            chain=chain or new_id(),
            site=self.origin,
            ip=host,
            user_agent=agent,
            created_at=now,
            last_seen_at=now,
            via=via,
        )
        await self.stores.sessions.create(record)
        token = self.seal_for_self(
            Purpose.SESSION,
            subject=user.email,
            ttl=self.settings.session_lifetime,
            ip=self.binding.value(host or None),
            extra={"s": record.sid, "c": record.chain, "n": user.name, "r": user.role},
        )
        logger.info("session started for %s via %s", user.email, via)
        return ActiveSession(record.sid, user.email, user.name, user.role, record.chain), token

    async def resolve_session(self, token: str, ip: str) -> ActiveSession | None:
        """The active session a cookie names, or None (invalid, expired, ended, other IP).

        A cookie that opened before (same text, same IP binding, not yet expired) is
        not decrypted again; whether its session is still active is asked of the
        registry on every request, so a revocation takes effect at once.
        """
        now = time.time()
        key = (token, ip)
        cached = self._opened.get(key)
        if cached is not None and now <= cached[0]:
            session = cached[1]
        else:
            try:
                claims = self.open(token, Purpose.SESSION, ip=ip)
            except EnvelopeError as error:
                logger.debug("session cookie refused: %s", error.reason)
                return None
            extra = claims.extra
            session = ActiveSession(
                str(extra.get("s", "")),
                claims.subject,
                str(extra.get("n", "")),
                str(extra.get("r", "")),
                str(extra.get("c", "")),
            )
            if len(self._opened) >= _OPENED_MAX:
                del self._opened[next(iter(self._opened))]
            self._opened[key] = (claims.expires_at + self.settings.clock_skew, session)
        record = await self.stores.sessions.get(session.sid)
        if record is None or record.ended_at is not None or record.user != session.user:
            return None
        if now - record.last_seen_at > _TOUCH_EVERY:
            await self.stores.sessions.touch(record.sid, now)
        return session

    async def end_session(self, sid: str, reason: str) -> None:
        await self.stores.sessions.end(sid, reason=reason, when=time.time())

    async def sign_out(self, session: ActiveSession, *, reason: str = "signed out") -> None:
        """End this browser's sessions here and tell every peer to end theirs."""
        now = time.time()
        await self.stores.sessions.end_user(session.user, reason=reason, when=now, chain=session.chain)
        logger.info("signed out %s here; telling %d peer(s)", session.user, len(self.peer_list))
        await self.sender.broadcast_logout(session.user, chain=session.chain, when=now)

    async def sign_out_everywhere(self, email: str, *, reason: str) -> int:
        """End every session of a user here (all browsers) and on every peer.

        Peers that do not confirm within ``logout_wait`` get the message from the outbox
        later (the site's running worker retries it)."""
        now = time.time()
        count = await self.stores.sessions.end_user(email, reason=reason, when=now)
        await self.sender.broadcast_logout(normalize_email(email), chain=None, when=now)
        return count

    async def apply_logout(self, claims: Claims) -> int:
        """A peer said a user signed out: end the matching sessions made before then."""
        extra = claims.extra
        when = float(extra.get("t", claims.issued_at))
        chain = extra.get("c")
        return await self.stores.sessions.end_user(
            claims.subject,
            reason=f"signed out on {claims.issuer}",
            when=time.time(),
            chain=chain if isinstance(chain, str) else None,
            created_before=when,
        )

    # -- sign-in chains -------------------------------------------------------------------

    async def reachable_peers(self, origins: Sequence[str] | None = None) -> list[tuple[Network, Peer]]:
        """The peers to sync with now (all, or those named), minus peers that are down."""
        wanted = [(network, peer) for network, peer in self.peer_list if origins is None or peer.origin in origins]
        return await self.health.alive(wanted)

    def hop_chain(
        self,
        peers: Sequence[tuple[Network, Peer]],
        *,
        session: ActiveSession,
        return_url: str,
        ip: str,
        purpose: Purpose = Purpose.HOP,
    ) -> str | None:
        """URL of the first hop of a redirect chain through ``peers`` ending at ``return_url``.

        Built back to front: each hop's envelope carries the next hop (its URL base, key
        id and sealed bytes; linear in size) so that every peer only vouches for itself
        and an expired or used hop can be skipped without breaking the rest.
        """
        following: list[Any] | None = None
        first: str | None = None
        for network, peer in reversed(peers):
            token = seal(
                self.rings[network.name],
                purpose,
                issuer=self.origin,
                audience=peer.origin,
                subject=session.user,
                ttl=self.settings.hop_lifetime,
                ip=ip,
                extra={"c": session.chain, "n": session.name, "r": return_url, "x": following},
            )
            _, kid, body = token.split(".")
            base = f"{peer.url}{self.prefix}hop"
            following = [base, kid, _b64decode(body)]
            first = f"{base}?e={token}"
        return first

    def frame_url(self, network: Network, peer: Peer, *, session: ActiveSession, ip: str) -> str:
        token = seal(
            self.rings[network.name],
            Purpose.FRAME,
            issuer=self.origin,
            audience=peer.origin,
            subject=session.user,
            ttl=self.settings.hop_lifetime,
            ip=ip,
            extra={"c": session.chain, "n": session.name},
        )
        return f"{peer.url}{self.prefix}frame?e={token}"

    def next_url(self, claims: Claims) -> str | None:
        """Where a hop sends the browser on: the next hop, else the (checked) return URL."""
        following = claims.extra.get("x")
        if (
            isinstance(following, list)
            and len(following) == 3
            and isinstance(following[0], str)
            and isinstance(following[1], str)
            and isinstance(following[2], bytes)
            and urlsplit(following[0]).scheme in ("http", "https")
        ):
            body = base64.urlsafe_b64encode(following[2]).rstrip(b"=").decode("ascii")
            return f"{following[0]}?e=v1.{following[1]}.{body}"
        return self.safe_return(claims.extra.get("r"), claims.issuer)

    def safe_return(self, url: object, allowed_origin: str) -> str | None:
        """``url`` when it is an absolute http(s) URL on ``allowed_origin``; else None."""
        if not isinstance(url, str) or len(url) > 4096:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or origin_of(url) != allowed_origin or "\\" in url:
            return None
        return url

    def local_url(self, path_and_query: str) -> str:
        """An absolute URL on this site for a path (and query) taken from a request."""
        if not path_and_query.startswith("/") or path_and_query.startswith("//"):
            path_and_query = "/"
        return self.origin + path_and_query


def _b64decode(body: str) -> bytes:
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""
