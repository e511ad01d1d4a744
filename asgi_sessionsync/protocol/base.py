"""The vocabulary's base: purposes, endpoints, modes, and what every message kind offers."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Protocol, Self

Wire = dict[str, Any]


class Purpose(enum.StrEnum):
    """What an envelope is for; each purpose has its own derived key."""

    SESSION = "session"  # this site's own session cookie
    HOP = "hop"  # one step of a top-level sign-in redirect chain
    FRAME = "frame"  # a hidden iframe sign-in
    BACKCHANNEL = "backchannel"  # a server-to-server message
    STATE = "state"  # short-lived state a site keeps for itself (pending sync, frame checks)
    REQUEST = "request"  # a peer's browser-bound sign-in request, sealed by the asking site for the site it asks
    PENDING = "pending"  # the pending-sync cookie
    FRAMECHECK = "framecheck"  # a frame sign-in's check of its own cookie
    BOUNCE = "bounce"  # auto-mode bounce state
    CHAIN = "chain"  # a site's own continuation of a sign-in chain
    PING = "ping"  # an authenticated peer check


class Payload(Protocol):
    """A message kind: its purpose (hence its key), its wire form and how it is read back.
    ``Tokens.seal_message`` / ``open_message`` seal and open any of them, so that no module
    spells a purpose or parses an envelope's ``extra`` by hand."""

    @classmethod
    def purpose(cls) -> Purpose: ...

    def to_wire(self) -> Wire: ...

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> Self | None: ...


class Endpoint(enum.StrEnum):
    """The middleware's own routes, below its path prefix on every site."""

    PULL = "pull"  # a site asks a peer whether this browser is signed in there (sets the bind cookie)
    AUTHORIZE = "authorize"  # the asked peer reads its own session and answers with a hop
    HOP = "hop"  # the answer arrives at the asking site: checked against the bind cookie
    BOUNCE = "bounce"  # auto mode: the redirect chain through the peers whose frame failed
    BACKCHANNEL = "backchannel"  # POST: a signed message from a peer
    PING = "ping"  # GET: liveness; POST: the authenticated ping (same key, listed back, clocks)
    VERIFY = "verify"  # the code page of a peer's sign-in held until this site verified the address
    CATCHUP = "catchup"  # a first-visit catch-up, after its page asked each peer from the browser (this site's own)
    WHOAMI = "whoami"  # GET (CORS, credentials): who is signed in here, for the network's pages


def text_or_none(extra: Mapping[str, Any], key: str) -> str | None:
    value = extra.get(key)
    return value if isinstance(value, str) else None


def text_of(extra: Mapping[str, Any], key: str) -> str:
    value = extra.get(key)
    return value if isinstance(value, str) else ""


def seconds_of(extra: Mapping[str, Any], key: str) -> float:
    """A non-negative number of seconds under ``key``; 0 when absent or not one."""
    value = extra.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e11:
        return 0.0
    return float(value)


class Mode(enum.StrEnum):
    """Where a sign-in step runs: the top-level page, or a hidden iframe."""

    PAGE = "page"
    FRAME = "frame"


def mode_of(extra: Mapping[str, Any]) -> Mode:
    return Mode.FRAME if extra.get("m") == Mode.FRAME else Mode.PAGE
