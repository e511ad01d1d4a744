"""Server to server: sign-outs, user changes and the authenticated ping's answer."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, NamedTuple

from asgi_sessionsync.protocol.base import Purpose, Wire, text_or_none

LOGOUT = "logout"

# The receiver's answer to an authentic back-channel message, in a header of its 2xx
# reply, so the sender's activity log says what became of it (a peer that does not send
# it, an older one, leaves the sender with "delivered"). Only the outcome: why a message
# was refused stays in the receiver's own log.
OUTCOME_HEADER = "x-sessionsync-outcome"
ANSWERS = frozenset({"applied", "already applied", "stale", "refused"})


class LogoutPayload(NamedTuple):
    """Server to server: end this chain's sessions (or all of the user's, chain None).

    Optional (governance; left out when not set, and ignored by older peers): ``reason``,
    why it ended (``"idle"``, ``"limit: …"``, ``"revoked"``) for the peer's history; and
    ``seen_before``, for an idle chain: end only sessions not seen after that time."""

    @classmethod
    def purpose(cls) -> Purpose:
        return Purpose.BACKCHANNEL

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
            text_or_none(extra, "c"),
            float(when) if isinstance(when, int | float) else float(issued_at),
            text_or_none(extra, "r"),
            float(seen) if isinstance(seen, int | float) and not isinstance(seen, bool) else None,
        )


class PingAnswer(NamedTuple):
    """A peer's answer to an authenticated ping (purpose ``ping``, sealed by the asked
    site for the asker): the asker's nonce (the ping's jti: the answer is fresh) and the
    asked site's time when it answered (the asker estimates the clock offset from it)."""

    @classmethod
    def purpose(cls) -> Purpose:
        return Purpose.PING

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


APP_PREFIX = "app."


class AppMessagePayload(NamedTuple):
    """Server to server: a message of the app's own kind (``{"k": "app.<name>", "d"}``):
    ``data`` is what the app sent, JSON values (the outbox keeps it as JSON)."""

    @classmethod
    def purpose(cls) -> Purpose:
        return Purpose.BACKCHANNEL

    kind: str
    data: Any

    def to_wire(self) -> Wire:
        return {"k": self.kind, "d": self.data}

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> AppMessagePayload | None:
        kind = text_or_none(extra, "k")
        if kind is None or not kind.startswith(APP_PREFIX) or "d" not in extra:
            return None
        return cls(kind, extra["d"])


def message_kind(extra: Mapping[str, Any]) -> str | None:
    """The kind of a back-channel message (``"logout"``, …), or None."""
    return text_or_none(extra, "k")


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

    @classmethod
    def purpose(cls) -> Purpose:
        return Purpose.BACKCHANNEL

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


# -- the outbox's form of a back-channel message -----------------------------------------------
# A queued message keeps its kind in a column of its own and its payload beside the subject
# (``sub``); the envelope's ``extra`` is the payload with the kind (``k``) put back.

SUBJECT = "sub"


def outbox_form(wire: Mapping[str, Any], subject: str) -> tuple[str, dict[str, Any]]:
    """A payload's wire form as the outbox keeps it: (kind, payload with the subject)."""
    payload = dict(wire)
    kind = str(payload.pop("k"))
    return kind, {SUBJECT: subject, **payload}


def from_outbox_form(kind: str, payload: Mapping[str, Any]) -> tuple[str, Wire]:
    """A queued message's (subject, envelope ``extra``): :func:`outbox_form` undone."""
    return str(payload.get(SUBJECT, "")), {"k": kind, **{k: v for k, v in payload.items() if k != SUBJECT}}


def user_action_of(extra: Mapping[str, Any]) -> str | None:
    """The action of a user message's wire form (or its outbox payload), or None."""
    action = extra.get("a")
    return action if isinstance(action, str) and action else None
