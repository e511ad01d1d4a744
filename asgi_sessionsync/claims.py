"""What an opened envelope says (:class:`Claims`).

Importing only the protocol's vocabulary (:class:`~asgi_sessionsync.protocol.Purpose`, what
an envelope is for): :mod:`~asgi_sessionsync.envelope` (sealing and opening) and
:mod:`~asgi_sessionsync.exceptions` (the claims of a refused envelope) build on it.
``envelope.Claims`` stays importable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from asgi_sessionsync.protocol.base import Purpose


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
