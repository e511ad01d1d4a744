"""What an envelope is for (:class:`Purpose`) and what an opened one says (:class:`Claims`).

A leaf module, importing nothing of the package: :mod:`~asgi_sessionsync.keys` (a key per
purpose), :mod:`~asgi_sessionsync.envelope` (sealing and opening) and
:mod:`~asgi_sessionsync.exceptions` (the claims of a refused envelope) all build on it.
Both names stay importable from where they were: ``keys.Purpose``, ``envelope.Claims``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, NamedTuple


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


class Claims(NamedTuple):
    """What an opened envelope says. ``extra`` holds the purpose's own fields.

    A named tuple: immutable, and five times cheaper to make than a frozen dataclass
    on the per-request path."""

    purpose: Purpose
    network: str
    issuer: str
    audience: str
    subject: str
    issued_at: int
    expires_at: int
    jti: bytes
    ip: str
    extra: Mapping[str, Any]
