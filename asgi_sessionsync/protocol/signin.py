"""A site's messages to itself and the steps of a sign-in between two sites: the session
cookie, the chain note, a request and its hop, the pending and bounce notes, a held
sign-in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from asgi_sessionsync.protocol.base import Mode, Purpose, Wire, mode_of, seconds_of, text_of, text_or_none


class SessionPayload(NamedTuple):
    """The middleware's own session cookie (purpose ``session``)."""

    @classmethod
    def purpose(cls) -> Purpose:
        return Purpose.SESSION

    sid: str
    chain: str
    name: str
    role: str
    shared: bool = True  # False: a login that stays on this site (adopted, or cross-site)
    network: str | None = None  # a login that came from a peer is shared in that network only
    # Whether the address is known to be verified (by this site's app, by this site's own
    # code check, or by the peer the sign-in came from). Written only when true: absent
    # means unknown, which counts as not verified.
    email_verified: bool = False
    # When the sign-in was made (epoch seconds, here or on the peer it came from); 0: not
    # written (an older cookie). Void once older than a sign-out everywhere.
    signed_in_at: float = 0.0

    def to_wire(self) -> Wire:
        wire: Wire = {"s": self.sid, "c": self.chain, "n": self.name, "r": self.role}
        if not self.shared:
            wire["l"] = True
        if self.network is not None:
            wire["w"] = self.network
        if self.email_verified:
            wire["ev"] = True
        if self.signed_in_at:
            wire["si"] = round(self.signed_in_at, 3)
        return wire

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> SessionPayload | None:
        sid = text_or_none(extra, "s")
        if not sid:
            return None
        return cls(
            sid,
            text_of(extra, "c"),
            text_of(extra, "n"),
            text_of(extra, "r"),
            extra.get("l") is not True,
            text_or_none(extra, "w"),
            extra.get("ev") is True,
            seconds_of(extra, "si"),
        )


class ChainPayload(NamedTuple):
    """A site's note to itself while it carries one of its sign-ins to the peers
    (purpose ``chain``): the session, the peers still to visit, where to end."""

    @classmethod
    def purpose(cls) -> Purpose:
        return Purpose.CHAIN

    sid: str
    peers: tuple[str, ...]
    return_url: str | None
    mode: Mode

    def to_wire(self) -> Wire:
        return {"s": self.sid, "p": list(self.peers), "r": self.return_url, "m": self.mode.value}

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> ChainPayload | None:
        sid = text_or_none(extra, "s")
        peers = extra.get("p")
        if not sid or not isinstance(peers, list) or not all(isinstance(p, str) for p in peers):
            return None
        return cls(sid, tuple(peers), text_or_none(extra, "r"), mode_of(extra))


class Onward(NamedTuple):
    """The next request of a catch-up: the URL of the next peer's ``authorize`` and the
    request sealed for it (which itself may carry the one after)."""

    url: str
    token: str

    def to_wire(self) -> list[str]:
        return [self.url, self.token]

    @classmethod
    def from_wire(cls, value: object) -> Onward | None:
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
            return cls(value[0], value[1])
        return None


class RequestPayload(NamedTuple):
    """A peer asks the site that may have a session for this browser (purpose
    ``request``, sealed by the asking site for the asked one).

    ``bind`` is the hash of the nonce in the asking site's bind cookie; ``chain`` the
    asked site's own chain token when the asked site started this (a sign-in sync);
    ``return_url`` where the asking site wants the browser back (catch-up); ``then``
    the request for the next peer, should this one have no session."""

    @classmethod
    def purpose(cls) -> Purpose:
        return Purpose.REQUEST

    bind: bytes
    chain: str | None
    return_url: str | None
    then: Onward | None
    mode: Mode

    def to_wire(self) -> Wire:
        return {
            "b": self.bind,
            "k": self.chain,
            "w": self.return_url,
            "f": self.then.to_wire() if self.then else None,
            "m": self.mode.value,
        }

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> RequestPayload | None:
        bind = extra.get("b")
        if not isinstance(bind, bytes) or not bind:
            return None
        return cls(
            bind, text_or_none(extra, "k"), text_or_none(extra, "w"), Onward.from_wire(extra.get("f")), mode_of(extra)
        )


class HopPayload(NamedTuple):
    """The answer to a request (purpose ``hop``, sealed by the asked site for the asking
    one): who is signed in (the envelope's subject; empty for nobody), the chain, and
    where the browser goes next (``next_url``, chosen by the asked site, else the
    asking site's own ``return_url``).

    ``email_verified`` (``ev``, optional): the asked site vouches that the address was
    verified. Written only when true; absent (an older peer, or not verified) is read as
    not verified, and older peers ignore it.

    ``age`` (``a``, optional): seconds since the sign-in was made (no clock compared); one
    older than the user's last sign-out everywhere (a password change) is refused."""

    @classmethod
    def purpose(cls) -> Purpose:
        return Purpose.HOP

    bind: bytes
    chain: str
    name: str
    next_url: str | None
    return_url: str | None
    mode: Mode
    email_verified: bool = False
    age: float | None = None

    def to_wire(self) -> Wire:
        wire: Wire = {
            "b": self.bind,
            "c": self.chain,
            "n": self.name,
            "o": self.next_url,
            "w": self.return_url,
            "m": self.mode.value,
        }
        if self.email_verified:
            wire["ev"] = True
        if self.age is not None:
            wire["a"] = round(max(self.age, 0.0), 3)
        return wire

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> HopPayload | None:
        bind = extra.get("b")
        if not isinstance(bind, bytes) or not bind:
            return None
        return cls(
            bind,
            text_of(extra, "c"),
            text_of(extra, "n"),
            text_or_none(extra, "o"),
            text_or_none(extra, "w"),
            mode_of(extra),
            extra.get("ev") is True,
            seconds_of(extra, "a") if "a" in extra else None,
        )


class PendingPayload(NamedTuple):
    """A sign-in that could not start its sync yet (pending-sync cookie)."""

    @classmethod
    def purpose(cls) -> Purpose:
        return Purpose.PENDING

    sid: str

    def to_wire(self) -> Wire:
        return {"s": self.sid}

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> PendingPayload:
        return cls(text_of(extra, "s"))


class BouncePayload(NamedTuple):
    """Auto mode: the session whose frames failed, and where to come back to."""

    @classmethod
    def purpose(cls) -> Purpose:
        return Purpose.BOUNCE

    sid: str
    return_url: str | None

    def to_wire(self) -> Wire:
        return {"s": self.sid, "r": self.return_url}

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> BouncePayload:
        return cls(text_of(extra, "s"), text_or_none(extra, "r"))


class HeldPayload(NamedTuple):
    """A peer's sign-in held until this site has verified the address itself (the
    held-sign-in cookie; the subject is the email). What the hop brought
    (issuer, network, chain, name), where the browser goes once it is done (``onward``),
    the form's CSRF token, the hold's id (stable across codes) and end, and the code
    now out (``code_id``, its HMAC, when it expires; all None before one is sent). Only
    the site that holds it ever reads it."""

    @classmethod
    def purpose(cls) -> Purpose:
        return Purpose.STATE

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
        issuer, network = text_or_none(extra, "i"), text_or_none(extra, "w")
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
            text_of(extra, "c"),
            text_of(extra, "n"),
            text_or_none(extra, "o"),
            csrf,
            hold,
            float(until),
            code if has_code else None,
            mac if has_code else None,
            float(expires) if has_code and isinstance(expires, int | float) else None,
        )


class DeclinedPayload(NamedTuple):
    """The user went on without signing in here ("Continue without signing in here" on
    the code page; the declined cookie; the subject is the email): the chain of the
    sign-in that was held, so that the catch-ups of that address and that chain's steps do
    not hold it again while the cookie lasts. Only the site that sets it ever reads it."""

    @classmethod
    def purpose(cls) -> Purpose:
        return Purpose.STATE

    chain: str

    def to_wire(self) -> Wire:
        return {"dc": self.chain}

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> DeclinedPayload | None:
        chain = text_or_none(extra, "dc")
        return None if chain is None or "h" in extra else cls(chain)
