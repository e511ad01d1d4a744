"""The sessions' read-only queries in SQLite that administration asks (listings,
search, pages by cursor, idle sessions, analytics): what :class:`SQLiteSessionRegistry` adds its
request path and writes to."""

from __future__ import annotations

import builtins
from typing import Any

from asgi_sessionsync.stores.base import (
    PAGE_BUDGET,
    SessionFilter,
    SessionKey,
    SessionPage,
    SessionRecord,
    normalize_email,
)
from asgi_sessionsync.stores.sqlite.analytics import session_analytics
from asgi_sessionsync.stores.sqlite.database import SQLiteDatabase
from asgi_sessionsync.stores.sqlite.session_pages import session_page
from asgi_sessionsync.stores.sqlite.session_rows import SESSION_COLUMNS, session_row
from asgi_sessionsync.stores.stats import SessionStats

__all__ = ["SESSION_COLUMNS", "SQLiteSessionQueries", "session_row"]


class SQLiteSessionQueries:
    """Reads that never go through the per-process cache (they are not the request path)."""

    db: SQLiteDatabase

    async def list(
        self, *, user: str | None = None, include_ended: bool = False, limit: int = 1000
    ) -> list[SessionRecord]:
        sql = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE 1 = 1"
        params: list[Any] = []
        if user:
            sql += " AND user = ?"
            params.append(normalize_email(user))
        if not include_ended:
            sql += " AND ended_at IS NULL"
        sql += " ORDER BY created_at DESC, sid DESC LIMIT ?"
        params.append(limit)
        return [session_row(row) for row in await self.db.fetchall(sql, tuple(params))]

    async def search(
        self,
        *,
        user: str | None = None,
        ip: str | None = None,
        since: float | None = None,
        active: bool = False,
        limit: int = 1000,
    ) -> builtins.list[SessionRecord]:
        sql = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE 1 = 1"
        params: list[Any] = []
        if user:
            sql += " AND user = ?"
            params.append(normalize_email(user))
        if ip:
            sql += " AND ip = ?"
            params.append(ip)
        if since is not None:
            sql += " AND created_at >= ?"
            params.append(since)
        if active:
            sql += " AND ended_at IS NULL"
        sql += " ORDER BY created_at DESC, sid DESC LIMIT ?"
        params.append(limit)
        return [session_row(row) for row in await self.db.fetchall(sql, tuple(params))]

    async def page(
        self,
        where: SessionFilter,
        *,
        after: SessionKey | None = None,
        limit: int = 50,
        budget: int = PAGE_BUDGET,
    ) -> SessionPage:
        return await session_page(self.db, where, after, limit, budget)

    async def idle(
        self, seen_before: float, limit: int = 500, *, after: tuple[float, str] | None = None
    ) -> builtins.list[SessionRecord]:
        start = after or (float("-inf"), "")
        rows = await self.db.fetchall(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE ended_at IS NULL AND last_seen_at < ?"
            " AND (last_seen_at, sid) > (?, ?) ORDER BY last_seen_at, sid LIMIT ?",
            (seen_before, *start, limit),
        )
        return [session_row(row) for row in rows]

    async def analytics(self, since: float, until: float, *, top: int = 10) -> SessionStats:
        return await session_analytics(self.db, since, until, top)
