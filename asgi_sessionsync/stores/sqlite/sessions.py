"""Sessions in SQLite."""

from __future__ import annotations

import builtins
import math
import time
from typing import Any

from asgi_sessionsync.stores.base import (
    EXPIRED,
    SessionRecord,
    normalize_email,
)
from asgi_sessionsync.stores.sqlite.database import SQLiteDatabase
from asgi_sessionsync.stores.sqlite.session_queries import SESSION_COLUMNS, SQLiteSessionQueries, session_row

CACHE_CHECK_EVERY = 0.01  # seconds between two looks at whether the file changed
CACHE_MAX = 10_000  # sessions kept in the per-process cache


class SQLiteSessionRegistry(SQLiteSessionQueries):
    """Sessions in SQLite, with a per-process cache in front of :meth:`get`.

    The cache is the Redis store's shape on SQLite's terms: a signed-in request is
    answered from memory, and the cache is emptied whenever the file changed under it.
    Its own writes empty it at once; another connection's (another worker, a command)
    are seen through ``PRAGMA data_version``, looked at no more than every
    :data:`CACHE_CHECK_EVERY` seconds, so a session ended by another worker is refused
    within that (``benchmarks/sqlite_invalidation.py`` measures it)."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db
        self._cache: dict[str, SessionRecord] = {}
        self._version: int | None = None
        self._checked = -math.inf
        self._emptied = 0  # how many times the cache was emptied: a read started before one is not kept

    def _empty(self) -> None:
        self._cache.clear()
        self._emptied += 1

    def _fresh(self) -> dict[str, SessionRecord]:
        """The cache, emptied first if the file changed since it was filled."""
        now = time.monotonic()
        if now - self._checked >= CACHE_CHECK_EVERY:
            self._checked = now
            version = self.db.data_version()
            if version is None or version != self._version:
                self._empty()
                self._version = version
        return self._cache

    async def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        """One writing statement; nothing cached holds after it (nor while it runs: a read
        in between could cache what it is changing)."""
        self._empty()
        try:
            return await self.db.change(sql, params)
        finally:
            self._empty()
            self._checked = -math.inf

    async def create(self, record: SessionRecord) -> None:
        await self._write(
            f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        cache = self._fresh()
        found = cache.get(sid)
        if found is not None:
            return found
        emptied = self._emptied
        row = await self.db.read_one(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE sid = ?", (sid,))
        if not row:
            return None
        record = session_row(row)
        # Kept when the file's changes can be seen and nothing was written or changed while
        # it was read (else what was read may already be stale).
        if self._version is not None and emptied == self._emptied:
            if len(self._cache) >= CACHE_MAX:
                self._empty()
            self._cache[sid] = record
        return record

    async def find_by_app_ref(self, ref: str) -> SessionRecord | None:
        # Ended first (ended_at IS NULL is 0 for them), then the newest.
        row = await self.db.read_one(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE app_ref = ?"
            " ORDER BY ended_at IS NULL, created_at DESC, sid DESC LIMIT 1",
            (ref,),
        )
        return session_row(row) if row else None

    async def touch(self, sid: str, when: float) -> None:
        await self._write("UPDATE sessions SET last_seen_at = ? WHERE sid = ?", (when, sid))

    async def end(self, sid: str, *, reason: str, when: float) -> bool:
        changed = await self._write(
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
        return await self._write(sql, tuple(params))

    async def end_chain_except(self, chain: str, keep_sid: str, *, reason: str, when: float) -> int:
        return await self._write(
            "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE chain = ? AND sid != ? AND ended_at IS NULL",
            (when, reason, chain, keep_sid),
        )

    async def expire(self, now: float) -> int:
        return await self._write(
            "UPDATE sessions SET ended_at = expires_at, end_reason = ? WHERE ended_at IS NULL AND expires_at < ?",
            (EXPIRED, now),
        )

    async def purge(self, ended_before: float) -> int:
        return await self._write("DELETE FROM sessions WHERE ended_at IS NOT NULL AND ended_at < ?", (ended_before,))

    async def active(self, user: str) -> builtins.list[SessionRecord]:
        return await self.list(user=user)

    async def erase_user(self, user: str) -> int:
        return await self._write("DELETE FROM sessions WHERE user = ?", (normalize_email(user),))
