"""A session's columns in SQLite and the record from its row (shared by the queries and the pages)."""

from __future__ import annotations

from typing import Any

from asgi_sessionsync.stores.base import SessionRecord

SESSION_COLUMNS = (
    "sid, user, chain, site, ip, user_agent, created_at, last_seen_at, via, ended_at, end_reason, expires_at,"
    " app_ref, country, device"
)


def session_row(row: tuple[Any, ...]) -> SessionRecord:
    return SessionRecord(*row)
