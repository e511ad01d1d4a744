"""The daily event counts in Redis: a hash per UTC day (``{prefix}:ev:<day>``), one field
per ``kind`` and ``key`` (joined by a NUL), incremented with ``HINCRBY``; each day's key
lives ``KEEP_DAYS`` days after the day, so Redis deletes old counts by itself."""

from __future__ import annotations

from asgi_sessionsync.stores.event_counts import DAY, KEEP_DAYS, DayCount, day_number
from asgi_sessionsync.stores.redis.connection import RedisConnection

_SEP = "\0"


class RedisEventCounts:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    async def add(self, kind: str, key: str, at: float, n: int = 1) -> None:
        day = day_number(at)
        name = self.conn.key("ev", str(day))
        async with self.conn.errors():
            pipe = self.conn.client.pipeline(transaction=True)
            pipe.hincrby(name, f"{kind}{_SEP}{key}", n)
            pipe.expireat(name, int((day + 1 + KEEP_DAYS) * DAY))
            await pipe.execute()

    async def read(self, since: float, until: float) -> list[DayCount]:
        days = list(range(day_number(since), day_number(until) + 1))[-KEEP_DAYS:]
        async with self.conn.errors():
            found = await self.conn.hgetall_many([self.conn.key("ev", str(day)) for day in days])
        counts = []
        for day, fields in zip(days, found, strict=True):
            for field, value in fields.items():
                kind, _, key = field.partition(_SEP)
                if int(value):
                    counts.append(DayCount(day, kind, key, int(value)))
        return counts
