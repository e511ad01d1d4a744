"""Sessions in SQLite."""

from __future__ import annotations

import builtins
from typing import Any

from asgi_sessionsync.stores.base import (
    EXPIRED,
    SessionRecord,
    normalize_email,
)
from asgi_sessionsync.stores.sqlite.analytics import session_analytics
from asgi_sessionsync.stores.sqlite.database import SQLiteDatabase
from asgi_sessionsync.stores.stats import SessionStats

_SESSION_COLUMNS = (
    "sid, user, chain, site, ip, user_agent, created_at, last_seen_at, via, ended_at, end_reason, expires_at,"
    " app_ref, country, device"
)


def _session(row: tuple[Any, ...]) -> SessionRecord:
    return SessionRecord(*row)


class SQLiteSessionRegistry:
    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    async def create(self, record: SessionRecord) -> None:
        await self.db.change(
            f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.sid,
                normalize_email(record.user),
                record.chain,
                record.site,
                record.ip,
                record.user_agent,
                record.created_at,
                record.last_seen_at,
                record.via,
                record.ended_at,
                record.end_reason,
                record.expires_at,
                record.app_ref,
                record.country,
                record.device,
            ),
        )

    async def get(self, sid: str) -> SessionRecord | None:
        row = await self.db.read_one(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE sid = ?", (sid,))
        return _session(row) if row else None

    async def find_by_app_ref(self, ref: str) -> SessionRecord | None:
        # Ended first (ended_at IS NULL is 0 for them), then the newest.
        row = await self.db.read_one(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE app_ref = ?"
            " ORDER BY ended_at IS NULL, created_at DESC, sid DESC LIMIT 1",
            (ref,),
        )
        return _session(row) if row else None

    async def touch(self, sid: str, when: float) -> None:
        await self.db.change("UPDATE sessions SET last_seen_at = ? WHERE sid = ?", (when, sid))

    async def end(self, sid: str, *, reason: str, when: float) -> bool:
        changed = await self.db.change(
            "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE sid = ? AND ended_at IS NULL", (when, reason, sid)
        )
        return changed > 0

    async def end_user(
        self, user: str, *, reason: str, when: float, chain: str | None = None, created_before: float | None = None
    ) -> int:
        sql = "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE user = ? AND ended_at IS NULL"
        params: list[Any] = [when, reason, normalize_email(user)]
        if chain is not None:
            sql += " AND chain = ?"
            params.append(chain)
        if created_before is not None:
            sql += " AND created_at <= ?"
            params.append(created_before)
        return await self.db.change(sql, tuple(params))

    async def end_chain_except(self, chain: str, keep_sid: str, *, reason: str, when: float) -> int:
        return await self.db.change(
            "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE chain = ? AND sid != ? AND ended_at IS NULL",
            (when, reason, chain, keep_sid),
        )

    async def expire(self, now: float) -> int:
        return await self.db.change(
            "UPDATE sessions SET ended_at = expires_at, end_reason = ? WHERE ended_at IS NULL AND expires_at < ?",
            (EXPIRED, now),
        )

    async def purge(self, ended_before: float) -> int:
        return await self.db.change("DELETE FROM sessions WHERE ended_at IS NOT NULL AND ended_at < ?", (ended_before,))

    async def active(self, user: str) -> builtins.list[SessionRecord]:
        return await self.list(user=user)

    async def list(
        self, *, user: str | None = None, include_ended: bool = False, limit: int = 1000
    ) -> list[SessionRecord]:
        sql = f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE 1 = 1"
        params: list[Any] = []
        if user:
            sql += " AND user = ?"
            params.append(normalize_email(user))
        if not include_ended:
            sql += " AND ended_at IS NULL"
        sql += " ORDER BY created_at DESC, sid DESC LIMIT ?"
        params.append(limit)
        return [_session(row) for row in await self.db.fetchall(sql, tuple(params))]

    # -- governance ------------------------------------------------------------------------

    async def search(
        self,
        *,
        user: str | None = None,
        ip: str | None = None,
        since: float | None = None,
        active: bool = False,
        limit: int = 1000,
    ) -> builtins.list[SessionRecord]:
        sql = f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE 1 = 1"
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
        return [_session(row) for row in await self.db.fetchall(sql, tuple(params))]

    async def idle(
        self, seen_before: float, limit: int = 500, *, after: tuple[float, str] | None = None
    ) -> builtins.list[SessionRecord]:
        start = after or (float("-inf"), "")
        rows = await self.db.fetchall(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE ended_at IS NULL AND last_seen_at < ?"
            " AND (last_seen_at, sid) > (?, ?) ORDER BY last_seen_at, sid LIMIT ?",
            (seen_before, *start, limit),
        )
        return [_session(row) for row in rows]

    async def erase_user(self, user: str) -> int:
        return await self.db.change("DELETE FROM sessions WHERE user = ?", (normalize_email(user),))

    async def analytics(self, since: float, until: float, *, top: int = 10) -> SessionStats:
        return await session_analytics(self.db, since, until, top)
