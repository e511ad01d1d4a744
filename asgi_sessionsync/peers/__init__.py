"""Talking to peers: the authenticated ping, peer health, and the back-channel courier.

- :mod:`~asgi_sessionsync.peers.client`: :class:`PeerClient`, the lazy HTTP client, and the
  process's one TLS context.
- :mod:`~asgi_sessionsync.peers.ping`: the authenticated ping (:func:`ping`,
  :func:`answer_ping`), its :class:`PingResult` and what a :class:`Problem` means
  (:func:`explain`).
- :mod:`~asgi_sessionsync.peers.health`: :class:`PeerHealth`, which peers answer well and
  their clock offsets.
- :mod:`~asgi_sessionsync.peers.delivery`: one attempt to deliver one queued message, and its
  back-off.
- :mod:`~asgi_sessionsync.peers.courier`: :class:`Courier`, the durable sender of sign-outs
  (and :func:`retry_now`, :func:`drop` for operators).

Everything here runs on any async library anyio supports (asyncio, trio). Every name is
importable from ``asgi_sessionsync.peers`` as before; patch a module constant (``RETRY_BASE``,
``POLL_INTERVAL``...) in the module that defines it.
"""

from asgi_sessionsync.peers.client import PeerClient, PeerEntry
from asgi_sessionsync.peers.courier import POLL_INTERVAL, RECOVERY_EVERY, Courier, drop, retry_now
from asgi_sessionsync.peers.delivery import MESSAGE_MAX_AGE, RETRY_BASE, RETRY_MAX, Delivery, Sender, logger
from asgi_sessionsync.peers.health import SKEW_LOG_EVERY, PeerHealth, health_logger
from asgi_sessionsync.peers.ping import (
    KEYS_HEADER,
    MAX_PING_BYTES,
    PROBE_HEADER,
    SITE_HEADER,
    TIME_HEADER,
    PingResult,
    Problem,
    answer_ping,
    explain,
    is_localhost_name,
    key_ids,
    ping,
    transport_problem,
)

__all__ = [
    "KEYS_HEADER",
    "MAX_PING_BYTES",
    "MESSAGE_MAX_AGE",
    "POLL_INTERVAL",
    "PROBE_HEADER",
    "RECOVERY_EVERY",
    "RETRY_BASE",
    "RETRY_MAX",
    "SITE_HEADER",
    "SKEW_LOG_EVERY",
    "TIME_HEADER",
    "Courier",
    "Delivery",
    "PeerClient",
    "PeerEntry",
    "PeerHealth",
    "PingResult",
    "Problem",
    "Sender",
    "answer_ping",
    "drop",
    "explain",
    "health_logger",
    "is_localhost_name",
    "key_ids",
    "logger",
    "ping",
    "retry_now",
    "transport_problem",
]
