"""Sealing and opening this site's envelopes: who may seal what for whom.

One object per site. It knows the site's origin, its key rings (one per network) and
the members of each network, and applies the issuer rule of every purpose: envelopes
of peer purposes must come from another member of the network whose key opened them,
envelopes a site writes for itself must come from this site.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from asgi_sessionsync.envelope import Claims, open_envelope, seal
from asgi_sessionsync.exceptions import EnvelopeError, EnvelopeFailure
from asgi_sessionsync.keys import Keychain, KeyRing
from asgi_sessionsync.protocol import Payload, Purpose
from asgi_sessionsync.settings import Settings

P = TypeVar("P", bound=Payload)

# Purposes that a peer seals for us; every other purpose only we seal, for ourselves.
FROM_PEERS = frozenset({Purpose.HOP, Purpose.REQUEST, Purpose.BACKCHANNEL, Purpose.PING})


class Tokens:
    """Seal envelopes for this site or its peers; open those addressed to it."""

    __slots__ = ("clock", "clock_skew", "home_ring", "keychain", "members", "offsets", "rings", "site_id")

    def __init__(self, settings: Settings) -> None:
        self.site_id = settings.site_id
        self.clock_skew = settings.clock_skew
        self.clock: Callable[[], float] = settings.clock
        # Each peer's clock minus ours, in seconds, as measured by peer health pings:
        # what is sealed for a peer is sealed in the peer's time.
        self.offsets: dict[str, float] = {}
        self.rings: dict[str, KeyRing] = {
            n.name: KeyRing([k.reveal() for k in n.secret_keys], network=n.name) for n in settings.networks
        }
        self.home_ring = self.rings[settings.networks[0].name]
        self.keychain = Keychain(self.rings.values())
        self.members: dict[str, tuple[str, ...]] = {
            n.name: (self.site_id, *(p.site_id for p in n.peers)) for n in settings.networks
        }

    def all_members(self) -> list[str]:
        """Every site (its name: origin, and path for a sub-folder site) of every network of
        this site, itself included, sorted."""
        return sorted({o for origins in self.members.values() for o in origins})

    def open(self, token: str, purpose: Purpose, *, ip: str | None, any_time: bool = False) -> Claims:
        """Open an envelope addressed to this site and check who sealed it.

        ``any_time`` skips the expiry checks, for a message whose freshness is proven
        otherwise (a ping answer echoes the asker's nonce)."""
        claims = open_envelope(
            self.keychain,
            token,
            purpose=purpose,
            audience=self.site_id,
            ip=ip,
            clock_skew=math.inf if any_time else self.clock_skew,
            now=self.clock(),
            audiences_of=self._audiences_of,
        )
        if purpose in FROM_PEERS:
            if claims.issuer == self.site_id or claims.issuer not in self.members[claims.network]:
                raise EnvelopeError(EnvelopeFailure.WRONG_ISSUER, claims)
        elif claims.issuer != self.site_id:
            raise EnvelopeError(EnvelopeFailure.WRONG_ISSUER, claims)
        return claims

    def open_message(self, token: str, kind: type[P], *, ip: str | None, any_time: bool = False) -> tuple[Claims, P]:
        """Open an envelope of ``kind``'s purpose (see :meth:`open`) and read its payload;
        a payload that is not one of ``kind`` is ``malformed`` (with the authentic claims)."""
        claims = self.open(token, kind.purpose(), ip=ip, any_time=any_time)
        return claims, self.read(claims, kind)

    @staticmethod
    def read(claims: Claims, kind: type[P]) -> P:
        """The payload of authentic ``claims`` (those an :class:`EnvelopeError` carries
        too), as ``kind``; :class:`EnvelopeError` ``malformed`` when it is not one."""
        payload = kind.from_wire(claims.extra)
        if payload is None:
            raise EnvelopeError(EnvelopeFailure.MALFORMED, claims)
        return payload

    def seal_message(self, message: Payload, *, subject: str, ttl: float, ip: str) -> str:
        """``message`` sealed for this site itself, with its kind's purpose."""
        return self.seal_for_self(message.purpose(), subject=subject, ttl=ttl, ip=ip, extra=message.to_wire())

    def seal_message_for_peer(
        self,
        network: str,
        peer_origin: str,
        message: Payload,
        *,
        subject: str,
        ttl: float,
        ip: str,
        jti: bytes | None = None,
        now: float | None = None,
    ) -> str:
        """``message`` sealed for one peer (see :meth:`seal_for_peer`), with its kind's purpose."""
        return self.seal_for_peer(
            network,
            peer_origin,
            message.purpose(),
            subject=subject,
            ttl=ttl,
            ip=ip,
            extra=message.to_wire(),
            jti=jti,
            now=now,
        )

    def _audiences_of(self, network: str) -> Iterable[str]:
        return self.members.get(network, ())

    def seal_for_self(self, purpose: Purpose, *, subject: str, ttl: float, ip: str, extra: Mapping[str, Any]) -> str:
        """An envelope only this site can open (a cookie, a note to itself)."""
        return seal(
            self.home_ring,
            purpose,
            issuer=self.site_id,
            audience=self.site_id,
            subject=subject,
            ttl=ttl,
            ip=ip,
            extra=extra,
            now=self.clock(),
        )

    def macs(self, label: str, data: bytes) -> list[bytes]:
        """HMAC-SHA256 of ``data`` under the ``label`` key of each secret of this site's
        first network, the sealing secret's first: the first is what to write, all are
        what to look for (so that a key rotation does not forget what was written)."""
        return [hmac.new(key.mac_key(label), data, hashlib.sha256).digest() for key in self.home_ring.keys]

    def peer_time(self, peer_origin: str) -> float:
        """Now, on ``peer_origin``'s clock as last measured (ours when never measured)."""
        return self.clock() + self.offsets.get(peer_origin, 0.0)

    def seal_for_peer(
        self,
        network: str,
        peer_origin: str,
        purpose: Purpose,
        *,
        subject: str,
        ttl: float,
        ip: str,
        extra: Mapping[str, Any],
        jti: bytes | None = None,
        now: float | None = None,
    ) -> str:
        """An envelope for one peer, sealed with that network's key, in the peer's time
        (``now``, else :meth:`peer_time`), so that a peer whose clock is off opens it."""
        return seal(
            self.rings[network],
            purpose,
            issuer=self.site_id,
            audience=peer_origin,
            subject=subject,
            ttl=ttl,
            ip=ip,
            extra=extra,
            jti=jti,
            now=self.peer_time(peer_origin) if now is None else now,
        )
