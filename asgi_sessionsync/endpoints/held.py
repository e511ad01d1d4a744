"""The held-sign-in cookie: a peer's sign-in waiting until this site has verified the
address itself (``SESSIONSYNC_REQUIRE_VERIFIED_EMAIL=self``).

An envelope of purpose ``state`` (a site's short-lived note to itself) holding a
:class:`~asgi_sessionsync.protocol.HeldPayload`, bound to the client address, HttpOnly,
for :data:`~asgi_sessionsync.verification.HOLD_LIFETIME` at most. ``SameSite=Lax`` when
set by a top-level step; ``None`` (and ``Secure``) when set inside a hidden frame, where
a ``Lax`` cookie would not be stored, so that the next top-level visit finds it.
"""

from __future__ import annotations

import secrets
from typing import NamedTuple

from starlette.types import Scope

from asgi_sessionsync.cookies import CookiePolicy, find_cookie
from asgi_sessionsync.exceptions import EnvelopeError
from asgi_sessionsync.protocol import HeldPayload, Mode
from asgi_sessionsync.site import Site
from asgi_sessionsync.validation import email_or_none
from asgi_sessionsync.verification import HOLD_LIFETIME


class Arrival(NamedTuple):
    """A sign-in a peer vouches for, as it arrives here (from a hop, or a held one)."""

    email: str
    name: str
    issuer: str
    network: str
    chain: str
    via: str
    email_verified: bool
    # When the sign-in was made, in this site's time (from the hop's age); None: unknown.
    signed_in_at: float | None = None
    catch_up: bool = False  # the answer to this site's own first-visit catch-up


class Held(NamedTuple):
    """An open held cookie: the address and what the hold keeps."""

    email: str
    payload: HeldPayload

    def arrival(self) -> Arrival:
        held = self.payload
        # The hop's sign-in was checked when it was held; what counts now is the hold's start.
        start = held.until - HOLD_LIFETIME
        via = f"hop from {held.issuer}, verified here"
        return Arrival(self.email, held.name, held.issuer, held.network, held.chain, via, True, start)


class HeldCookies:
    """Seals, opens and clears the held-sign-in cookie of one site."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.name = site.cookie_names.held
        self.needle = self.name.encode("latin-1")
        policy = site.cookies
        self._policy = {
            Mode.PAGE: CookiePolicy(path=policy.path, domain=policy.domain, secure=policy.secure, samesite="lax"),
            Mode.FRAME: CookiePolicy(path=policy.path, domain=policy.domain, secure=True, samesite="none"),
        }

    def hold(self, scope: Scope, arrival: Arrival, *, onward: str | None, mode: Mode) -> bytes:
        """The ``Set-Cookie`` value holding ``arrival`` (no code sent yet)."""
        now = self.site.tokens.clock()
        payload = HeldPayload(
            issuer=arrival.issuer,
            network=arrival.network,
            chain=arrival.chain,
            name=arrival.name,
            onward=onward,
            csrf=secrets.token_bytes(16),
            hold_id=secrets.token_bytes(16),
            until=now + HOLD_LIFETIME,
        )
        return self._seal(scope, arrival.email, payload, mode)

    def reseal(self, scope: Scope, held: Held) -> bytes:
        """The cookie again, with what changed (a new code); it ends when the hold ends."""
        return self._seal(scope, held.email, held.payload, Mode.PAGE)

    def _seal(self, scope: Scope, email: str, payload: HeldPayload, mode: Mode) -> bytes:
        site = self.site
        left = max(1.0, payload.until - site.tokens.clock())
        token = site.tokens.seal_message(payload, subject=email, ttl=left, ip=site.address.bind_value(scope))
        return self._policy[mode].set(self.name, token, int(left))

    def open(self, scope: Scope, cookies: bytes | None) -> Held | None:
        """The hold this browser has, or None (none, expired, other address, forged)."""
        token = find_cookie(cookies, self.name)
        if not token:
            return None
        site = self.site
        try:
            claims, payload = site.tokens.open_message(token, HeldPayload, ip=site.address.bind_value(scope))
        except EnvelopeError:
            return None
        email = email_or_none(claims.subject)
        if email is None:
            return None
        return Held(email, payload)

    def clear(self) -> bytes:
        return self._policy[Mode.PAGE].delete(self.name)
