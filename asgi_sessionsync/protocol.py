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

    PULL = "pull"  # a site asks a peer whether this browser is signed in there (sets the bind cookie)
    AUTHORIZE = "authorize"  # the asked peer reads its own session and answers with a hop
    HOP = "hop"  # the answer arrives at the asking site: checked against the bind cookie
    BOUNCE = "bounce"  # auto mode: the redirect chain through the peers whose frame failed
    BACKCHANNEL = "backchannel"  # POST: a signed message from a peer
    PING = "ping"  # GET: liveness; POST: the authenticated ping (same key, listed back, clocks)
    VERIFY = "verify"  # the code page of a peer's sign-in held until this site verified the address


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
        sid = _str(extra, "s")
        if not sid:
            return None
        return cls(
            sid,
            _text(extra, "c"),
            _text(extra, "n"),
            _text(extra, "r"),
            extra.get("l") is not True,
            _str(extra, "w"),
            extra.get("ev") is True,
            _seconds(extra, "si"),
        )


def _seconds(extra: Mapping[str, Any], key: str) -> float:
    """A non-negative number of seconds under ``key``; 0 when absent or not one."""
    value = extra.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e11:
        return 0.0
    return float(value)


class Mode(enum.StrEnum):
    """Where a sign-in step runs: the top-level page, or a hidden iframe."""

    PAGE = "page"
    FRAME = "frame"


def _mode(extra: Mapping[str, Any]) -> Mode:
    return Mode.FRAME if extra.get("m") == Mode.FRAME else Mode.PAGE


class ChainPayload(NamedTuple):
    """A site's note to itself while it carries one of its sign-ins to the peers
    (purpose ``chain``): the session, the peers still to visit, where to end."""

    sid: str
    peers: tuple[str, ...]
    return_url: str | None
    mode: Mode

    def to_wire(self) -> Wire:
        return {"s": self.sid, "p": list(self.peers), "r": self.return_url, "m": self.mode.value}

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> ChainPayload | None:
        sid = _str(extra, "s")
        peers = extra.get("p")
        if not sid or not isinstance(peers, list) or not all(isinstance(p, str) for p in peers):
            return None
        return cls(sid, tuple(peers), _str(extra, "r"), _mode(extra))


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
        return cls(bind, _str(extra, "k"), _str(extra, "w"), Onward.from_wire(extra.get("f")), _mode(extra))


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
            _text(extra, "c"),
            _text(extra, "n"),
            _str(extra, "o"),
            _str(extra, "w"),
            _mode(extra),
            extra.get("ev") is True,
            _seconds(extra, "a") if "a" in extra else None,
        )


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
    """Server to server: end this chain's sessions (or all of the user's, chain None).

    Optional (governance; left out when not set, and ignored by older peers): ``reason``,
    why it ended (``"idle"``, ``"limit: …"``, ``"revoked"``) for the peer's history; and
    ``seen_before``, for an idle chain: end only sessions not seen after that time."""

    chain: str | None
    when: float
    reason: str | None = None
    seen_before: float | None = None

    def to_wire(self) -> Wire:
        wire: Wire = {"k": LOGOUT, "c": self.chain, "t": self.when}
        if self.reason is not None:
            wire["r"] = self.reason
        if self.seen_before is not None:
            wire["s"] = self.seen_before
        return wire

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any], issued_at: float) -> LogoutPayload | None:
        if extra.get("k") != LOGOUT:
            return None
        when = extra.get("t", issued_at)
        seen = extra.get("s")
        return cls(
            _str(extra, "c"),
            float(when) if isinstance(when, int | float) else float(issued_at),
            _str(extra, "r"),
            float(seen) if isinstance(seen, int | float) and not isinstance(seen, bool) else None,
        )


class PingAnswer(NamedTuple):
    """A peer's answer to an authenticated ping (purpose ``ping``, sealed by the asked
    site for the asker): the asker's nonce (the ping's jti: the answer is fresh) and the
    asked site's time when it answered (the asker estimates the clock offset from it)."""

    nonce: bytes
    time: float

    def to_wire(self) -> Wire:
        return {"n": self.nonce, "t": self.time}

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> PingAnswer | None:
        nonce, when = extra.get("n"), extra.get("t")
        if not isinstance(nonce, bytes) or not isinstance(when, int | float) or isinstance(when, bool):
            return None
        return cls(nonce, float(when))


def message_kind(extra: Mapping[str, Any]) -> str | None:
    """The kind of a back-channel message (``"logout"``, …), or None."""
    return _str(extra, "k")


USER = "user"


class UserAction(enum.StrEnum):
    """What a ``user`` message does to the user its envelope names (the subject)."""

    CREATE = "create"
    UPDATE = "update"  # the profile (name)
    DELETE = "delete"
    PASSWORD = "password"  # noqa: S105 - an action: a password hash travels, never plain text
    ROLE = "role"
    META = "meta"  # allow-listed metadata keys; a None value deletes the key


_USER_DATA_KEYS = frozenset({"n", "r", "p", "m"})


class UserActionPayload(NamedTuple):
    """Server to server: a change to a user (``{"k": "user", "a", "v", "d"}``).

    ``version`` is the sender's hybrid logical clock for the change (an integer, ms);
    with the issuer's origin it orders changes of one field group across the network.
    ``data`` carries only what the action changes: ``n`` name, ``r`` role, ``p`` hash,
    ``m`` metadata (create may carry all four, each only when that action is sent too)."""

    action: UserAction
    version: int
    name: str | None = None
    role: str | None = None
    password_hash: str | None = None
    meta: dict[str, str | None] | None = None
    # Data keys a receiver does not know (never sent by this package): reported and dropped.
    unknown: tuple[str, ...] = ()

    def to_wire(self) -> Wire:
        data: Wire = {}
        if self.name is not None:
            data["n"] = self.name
        if self.role is not None:
            data["r"] = self.role
        if self.password_hash is not None:
            data["p"] = self.password_hash
        if self.meta is not None:
            data["m"] = dict(self.meta)
        return {"k": USER, "a": self.action.value, "v": self.version, "d": data}

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> UserActionPayload | None:
        """The payload, or None when it is not a well-formed user message: an unknown
        action, a missing version, a field of the wrong type, or data the action needs
        missing (update without a name, password without a hash, role without a role,
        meta without a map)."""
        if extra.get("k") != USER:
            return None
        name_of_action = extra.get("a")
        if not isinstance(name_of_action, str) or name_of_action not in UserAction.__members__.values():
            return None
        action = UserAction(name_of_action)
        version, data = extra.get("v"), extra.get("d", {})
        if not isinstance(version, int) or isinstance(version, bool) or version <= 0 or not isinstance(data, dict):
            return None
        name, role, hashed, meta = data.get("n"), data.get("r"), data.get("p"), data.get("m")
        if any(v is not None and not isinstance(v, str) for v in (name, role, hashed)):
            return None
        if meta is not None and (
            not isinstance(meta, dict)
            or not all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in meta.items())
        ):
            return None
        needed = {
            UserAction.UPDATE: name,
            UserAction.PASSWORD: hashed,
            UserAction.ROLE: role,
            UserAction.META: meta,
        }
        if action in needed and needed[action] is None:
            return None
        unknown = tuple(sorted(str(k)[:40] for k in data if k not in _USER_DATA_KEYS))
        return cls(action, version, name, role, hashed, meta, unknown)
