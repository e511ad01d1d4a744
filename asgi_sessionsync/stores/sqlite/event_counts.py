"""The daily event counts in SQLite: the ``event_counts`` table (see :mod:`.schema`)."""

from __future__ import annotations

from asgi_sessionsync.stores.event_counts import DayCount, day_number
from asgi_sessionsync.stores.sqlite.database import SQLiteDatabase


class SQLiteEventCounts:
    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    async def add(self, kind: str, key: str, at: float, n: int = 1) -> None:
        await self.db.change(
            "INSERT INTO event_counts (day, kind, key, n) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (day, kind, key) DO UPDATE SET n = n + excluded.n",
            (day_number(at), kind, key, n),
        )

    async def read(self, since: float, until: float) -> list[DayCount]:
        rows = await self.db.fetchall(
            "SELECT day, kind, key, n FROM event_counts WHERE day >= ? AND day <= ? AND n != 0",
            (day_number(since), day_number(until)),
        )
        return [DayCount(*row) for row in rows]
