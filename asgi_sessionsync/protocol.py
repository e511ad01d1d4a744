"""The protocol's vocabulary: every message's payload, typed, in one place.

An envelope (see :mod:`asgi_sessionsync.envelope`) carries a fixed claims header and
one ``extra`` mapping whose keys are single letters on the wire, to keep URLs and
cookies short. This module is the only place those letters are spelled: each message
kind has one payload class with ``to_wire()`` and ``from_wire()``; ``from_wire`` never
raises on a well-formed envelope of an older or newer peer, it returns ``None`` for a
payload that lacks what the message needs.

It imports nothing from the package, so every other module can depend on it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, NamedTuple

Wire = dict[str, Any]


class Endpoint(enum.StrEnum):
    """The middleware's own routes, below its path prefix on every site."""

    HOP = "hop"  # one step of the sign-in redirect chain
    FRAME = "frame"  # a hidden-iframe sign-in (frame and auto mode)
    FRAMECHECK = "framecheck"  # inside the frame: did the cookie stick? tells the parent page
    BOUNCE = "bounce"  # auto mode: the redirect chain through the peers whose frame failed
    BACKCHANNEL = "backchannel"  # POST: a signed message from a peer
    PING = "ping"  # liveness, for peers deciding whom to send browsers to


def _str(extra: Mapping[str, Any], key: str) -> str | None:
    value = extra.get(key)
    return value if isinstance(value, str) else None


def _text(extra: Mapping[str, Any], key: str) -> str:
    value = extra.get(key)
    return value if isinstance(value, str) else ""


class SessionPayload(NamedTuple):
    """The middleware's own session cookie (purpose ``session``)."""

    sid: str
    chain: str
    name: str
    role: str

    def to_wire(self) -> Wire:
        return {"s": self.sid, "c": self.chain, "n": self.name, "r": self.role}

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> SessionPayload | None:
        sid = _str(extra, "s")
        if not sid:
            return None
        return cls(sid, _text(extra, "c"), _text(extra, "n"), _text(extra, "r"))


class NextHop(NamedTuple):
    """A v1 hop nested inside the previous one: where to go, and its envelope's parts."""

    base_url: str
    kid: str
    body: bytes

    def to_wire(self) -> list[Any]:
        return [self.base_url, self.kid, self.body]

    @classmethod
    def from_wire(cls, value: object) -> NextHop | None:
        if (
            isinstance(value, list)
            and len(value) == 3
            and isinstance(value[0], str)
            and isinstance(value[1], str)
            and isinstance(value[2], bytes)
        ):
            return cls(value[0], value[1], value[2])
        return None


class HopPayload(NamedTuple):
    """One step of a v1 sign-in redirect chain (purpose ``hop``)."""

    chain: str
    name: str
    return_url: str | None
    following: NextHop | None

    def to_wire(self) -> Wire:
        return {
            "c": self.chain,
            "n": self.name,
            "r": self.return_url,
            "x": self.following.to_wire() if self.following else None,
        }

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> HopPayload:
        return cls(_text(extra, "c"), _text(extra, "n"), _str(extra, "r"), NextHop.from_wire(extra.get("x")))


class FramePayload(NamedTuple):
    """A v1 hidden-iframe sign-in (purpose ``frame``)."""

    chain: str
    name: str

    def to_wire(self) -> Wire:
        return {"c": self.chain, "n": self.name}

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> FramePayload:
        return cls(_text(extra, "c"), _text(extra, "n"))


class FrameCheckPayload(NamedTuple):
    """Inside a frame: the session just made, and the page to tell (a site's note to itself)."""

    sid: str
    parent: str

    def to_wire(self) -> Wire:
        return {"s": self.sid, "p": self.parent}

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> FrameCheckPayload:
        return cls(_text(extra, "s"), _text(extra, "p"))


class PendingPayload(NamedTuple):
    """A sign-in that could not start its sync yet (pending-sync cookie)."""

    sid: str

    def to_wire(self) -> Wire:
        return {"s": self.sid}

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> PendingPayload:
        return cls(_text(extra, "s"))


class BouncePayload(NamedTuple):
    """Auto mode: the session whose frames failed, and where to come back to."""

    sid: str
    return_url: str | None

    def to_wire(self) -> Wire:
        return {"s": self.sid, "r": self.return_url}

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> BouncePayload:
        return cls(_text(extra, "s"), _str(extra, "r"))


LOGOUT = "logout"


class LogoutPayload(NamedTuple):
    """Server to server: end this chain's sessions (or all of the user's, chain None)."""

    chain: str | None
    when: float

    def to_wire(self) -> Wire:
        return {"k": LOGOUT, "c": self.chain, "t": self.when}

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any], issued_at: float) -> LogoutPayload | None:
        if extra.get("k") != LOGOUT:
            return None
        when = extra.get("t", issued_at)
        return cls(_str(extra, "c"), float(when) if isinstance(when, int | float) else float(issued_at))


def message_kind(extra: Mapping[str, Any]) -> str | None:
    """The kind of a back-channel message (``"logout"``, …), or None."""
    return _str(extra, "k")
