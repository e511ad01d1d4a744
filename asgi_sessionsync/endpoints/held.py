"""The held-sign-in cookie: a peer's sign-in waiting until this site has verified the
address itself (``SESSIONSYNC_REQUIRE_VERIFIED_EMAIL=self``).

An envelope of purpose ``state`` (a site's short-lived note to itself) holding a
:class:`HeldPayload`, bound to the client address, HttpOnly, for
:data:`~asgi_sessionsync.verification.HOLD_LIFETIME` at most. Only this site ever writes
or reads it, so its keys are spelled here rather than in :mod:`asgi_sessionsync.protocol`
(the vocabulary sites speak to each other). ``SameSite=Lax`` when
set by a top-level step; ``None`` (and ``Secure``) when set inside a hidden frame, where
a ``Lax`` cookie would not be stored, so that the next top-level visit finds it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, NamedTuple

from starlette.types import Scope

from asgi_sessionsync.cookies import CookiePolicy, find_cookie
from asgi_sessionsync.exceptions import EnvelopeError
from asgi_sessionsync.keys import Purpose
from asgi_sessionsync.protocol import Mode, Wire
from asgi_sessionsync.site import Site
from asgi_sessionsync.validation import email_or_none
from asgi_sessionsync.verification import HOLD_LIFETIME


class HeldPayload(NamedTuple):
    """A peer's sign-in held until this site has verified the address itself (the
    held-sign-in cookie; the subject is the email). What the hop brought
    (issuer, network, chain, name), where the browser goes once it is done (``onward``),
    the form's CSRF token, the hold's id (stable across codes) and end, and the code
    now out (``code_id``, its HMAC, when it expires; all None before one is sent)."""

    issuer: str
    network: str
    chain: str
    name: str
    onward: str | None
    csrf: bytes
    hold_id: bytes
    until: float
    code_id: bytes | None = None
    code_mac: bytes | None = None
    code_expires: float | None = None

    def to_wire(self) -> Wire:
        wire: Wire = {
            "i": self.issuer,
            "w": self.network,
            "c": self.chain,
            "n": self.name,
            "o": self.onward,
            "x": self.csrf,
            "h": self.hold_id,
            "u": self.until,
        }
        if self.code_id is not None and self.code_mac is not None and self.code_expires is not None:
            wire.update({"k": self.code_id, "a": self.code_mac, "e": self.code_expires})
        return wire

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> HeldPayload | None:
        issuer, network = _opt(extra, "i"), _opt(extra, "w")
        csrf, hold, until = extra.get("x"), extra.get("h"), extra.get("u")
        if not issuer or not network or not isinstance(csrf, bytes) or not isinstance(hold, bytes):
            return None
        if not isinstance(until, int | float) or isinstance(until, bool):
            return None
        code, mac, expires = extra.get("k"), extra.get("a"), extra.get("e")
        has_code = (
            isinstance(code, bytes)
            and isinstance(mac, bytes)
            and isinstance(expires, int | float)
            and not isinstance(expires, bool)
        )
        return cls(
            issuer,
            network,
            _txt(extra, "c"),
            _txt(extra, "n"),
            _opt(extra, "o"),
            csrf,
            hold,
            float(until),
            code if has_code else None,
            mac if has_code else None,
            float(expires) if has_code and isinstance(expires, int | float) else None,
        )


def _opt(extra: Mapping[str, Any], key: str) -> str | None:
    value = extra.get(key)
    return value if isinstance(value, str) else None


def _txt(extra: Mapping[str, Any], key: str) -> str:
    return _opt(extra, key) or ""


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
        token = site.tokens.seal_for_self(
            Purpose.STATE, subject=email, ttl=left, ip=site.address.bind_value(scope), extra=payload.to_wire()
        )
        return self._policy[mode].set(self.name, token, int(left))

    def open(self, scope: Scope, cookies: bytes | None) -> Held | None:
        """The hold this browser has, or None (none, expired, other address, forged)."""
        token = find_cookie(cookies, self.name)
        if not token:
            return None
        site = self.site
        try:
            claims = site.tokens.open(token, Purpose.STATE, ip=site.address.bind_value(scope))
        except EnvelopeError:
            return None
        payload = HeldPayload.from_wire(claims.extra)
        email = email_or_none(claims.subject)
        if payload is None or email is None:
            return None
        return Held(email, payload)

    def clear(self) -> bytes:
        return self._policy[Mode.PAGE].delete(self.name)
