"""Stores: users, session registry, replay cache, outbox, activity log. See :mod:`.base` for the protocols
and :mod:`.registry` for the ``SESSIONSYNC_STORE`` URLs that name a backend."""

from __future__ import annotations

from asgi_sessionsync.stores.base import (
    DROPPED_BY_OPERATOR,
    EXPIRED,
    ActivityEntry,
    ActivityFilter,
    ActivityLog,
    Direction,
    ImportCounts,
    MessageStatus,
    Outbox,
    OutboxMessage,
    Outcome,
    ReplayCache,
    SessionAdministration,
    SessionAnalytics,
    SessionPeek,
    SessionRecord,
    SessionRegistry,
    SessionStore,
    Stores,
    User,
    UserStore,
    finish_time,
    new_id,
    normalize_email,
)
from asgi_sessionsync.stores.memory import memory_stores
from asgi_sessionsync.stores.registry import check_store_url, open_stores, redact
from asgi_sessionsync.stores.sqlite import sqlite_stores

__all__ = [
    "DROPPED_BY_OPERATOR",
    "EXPIRED",
    "ActivityEntry",
    "ActivityFilter",
    "ActivityLog",
    "Direction",
    "ImportCounts",
    "MessageStatus",
    "Outbox",
    "OutboxMessage",
    "Outcome",
    "ReplayCache",
    "SessionAdministration",
    "SessionAnalytics",
    "SessionPeek",
    "SessionRecord",
    "SessionRegistry",
    "SessionStore",
    "Stores",
    "User",
    "UserStore",
    "check_store_url",
    "finish_time",
    "memory_stores",
    "new_id",
    "normalize_email",
    "open_stores",
    "redact",
    "sqlite_stores",
]
