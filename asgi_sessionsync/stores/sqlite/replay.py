"""The replay cache (envelope ids used once) in SQLite."""

from __future__ import annotations

import time

from asgi_sessionsync.stores.sqlite.database import SQLiteDatabase


class SQLiteReplayCache:
    _PURGE_EVERY = 500

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db
        self._uses = 0

    async def use(self, jti: bytes, expires_at: float) -> bool:
        now = time.time()
        self._uses += 1
        if self._uses % self._PURGE_EVERY == 0:
            await self.purge(now)
        # Insert, or take over a record that expired: one statement, so exactly one
        # of several concurrent users (connections, processes) wins.
        changed = await self.db.change(
            "INSERT INTO used_ids (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO UPDATE"
            " SET expires_at = excluded.expires_at WHERE used_ids.expires_at < ?",
            (jti, expires_at, now),
        )
        return changed > 0

    async def seen(self, jti: bytes) -> bool:
        row = await self.db.read_one("SELECT expires_at FROM used_ids WHERE jti = ?", (jti,))
        return row is not None and row[0] >= time.time()

    async def release(self, jti: bytes) -> bool:
        return await self.db.change("DELETE FROM used_ids WHERE jti = ?", (jti,)) > 0

    async def purge(self, now: float) -> int:
        return await self.db.change("DELETE FROM used_ids WHERE expires_at < ?", (now,))
