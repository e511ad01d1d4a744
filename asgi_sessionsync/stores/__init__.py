"""Stores: users, session registry, replay cache, outbox. See :mod:`.base` for the protocols."""

from __future__ import annotations

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.stores.base import (
    MessageStatus,
    Outbox,
    OutboxMessage,
    ReplayCache,
    SessionRecord,
    SessionRegistry,
    Stores,
    User,
    UserStore,
    new_id,
    normalize_email,
)
from asgi_sessionsync.stores.memory import memory_stores
from asgi_sessionsync.stores.sqlite import sqlite_stores

__all__ = [
    "MessageStatus",
    "Outbox",
    "OutboxMessage",
    "ReplayCache",
    "SessionRecord",
    "SessionRegistry",
    "Stores",
    "User",
    "UserStore",
    "memory_stores",
    "new_id",
    "normalize_email",
    "open_stores",
    "sqlite_stores",
]


def open_stores(location: str) -> Stores:
    """Stores for a ``SESSIONSYNC_STORE`` location: ``memory://`` or ``sqlite:///PATH``."""
    if location == "memory://":
        return memory_stores()
    if location.startswith("sqlite:///"):
        return sqlite_stores(location.removeprefix("sqlite:///"))
    raise ConfigError(
        "SESSIONSYNC_STORE",
        f"no store implementation for {location.split(':', 1)[0]!r} in this version",
        "SESSIONSYNC_STORE=sqlite:///sessionsync.sqlite3",
    )
