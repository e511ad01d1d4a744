"""The replay cache (envelope ids used once) in Redis: one ``SET NX PXAT`` per id."""

from __future__ import annotations

import math

from asgi_sessionsync.stores.redis.connection import RedisConnection


class RedisReplayCache:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    async def use(self, jti: bytes, expires_at: float) -> bool:
        # Redis drops the key when its clock passes the expiry: recorded through expires_at.
        at = max(math.ceil(expires_at * 1000), 1)
        async with self.conn.errors():
            return bool(await self.conn.client.set(self.conn.key("j", jti.hex()), "1", nx=True, pxat=at))

    async def seen(self, jti: bytes) -> bool:
        async with self.conn.errors():
            return bool(await self.conn.client.exists(self.conn.key("j", jti.hex())))

    async def release(self, jti: bytes) -> bool:
        async with self.conn.errors():
            return bool(await self.conn.client.delete(self.conn.key("j", jti.hex())))

    async def purge(self, now: float) -> int:
        return 0  # Redis deletes each id at its expiry by itself
