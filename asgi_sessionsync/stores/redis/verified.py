"""The register of verified addresses in Redis: a hash per address (``v:<hex of the
address>``), one field per issuer holding ``[verified, by, at, until]`` as JSON; the key
lives until its latest mark's ``until``, so Redis deletes what nobody renewed."""

from __future__ import annotations

import json
import math
import time
from typing import cast

from asgi_sessionsync.stores.records import normalize_email
from asgi_sessionsync.stores.redis.connection import RedisConnection
from asgi_sessionsync.stores.verified import VerifiedBy, VerifiedMark, normalized

# KEYS[1] the address's hash; ARGV[3] the issuer, ARGV[4] the mark, ARGV[5] its until in ms.
_PUT = """
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
local at = tonumber(ARGV[5])
if redis.call('PEXPIRETIME', KEYS[1]) < at then redis.call('PEXPIREAT', KEYS[1], at) end
return 1
"""


def _mark(email: str, issuer: str, value: str) -> VerifiedMark:
    verified, by, at, until = json.loads(value)
    return VerifiedMark(email, issuer, bool(verified), VerifiedBy(by), float(at), float(until))


class RedisVerifiedStore:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    def _key(self, email: str) -> str:
        return self.conn.key("v", normalize_email(email).encode("utf-8").hex())

    async def put(self, mark: VerifiedMark) -> None:
        m = normalized(mark)
        value = json.dumps([m.verified, str(m.by), m.at, m.until])
        async with self.conn.errors():
            await self.conn.run(
                "verified_put", _PUT, [self._key(m.email)], [m.issuer, value, math.ceil(m.until * 1000)]
            )

    async def _marks(self, key: str, email: str) -> list[VerifiedMark]:
        now = time.time()
        fields = await self.conn.hgetall(key)
        marks = (_mark(email, issuer, value) for issuer, value in sorted(fields.items()))
        return [m for m in marks if m.until >= now]

    async def get(self, email: str, issuer: str) -> VerifiedMark | None:
        async with self.conn.errors():
            value = cast(str | None, await self.conn.client.hget(self._key(email), issuer))
        if value is None:
            return None
        mark = _mark(normalize_email(email), issuer, value)
        return mark if mark.until >= time.time() else None

    async def list(self, email: str | None = None, *, limit: int = 1000) -> list[VerifiedMark]:
        async with self.conn.errors():
            if email is not None:
                return (await self._marks(self._key(email), normalize_email(email)))[:limit]
            start = len(self.conn.key("v", ""))
            # Hex keeps the addresses' byte order: sorted keys are sorted addresses.
            keys = sorted([key async for key in self.conn.client.scan_iter(match=self.conn.key("v", "*"), count=500)])
            found: list[VerifiedMark] = []
            for key in keys:
                found += await self._marks(key, bytes.fromhex(key[start:]).decode("utf-8"))
                if len(found) >= limit:
                    break
            return found[:limit]

    async def delete(self, email: str, issuer: str | None = None) -> int:
        key = self._key(email)
        async with self.conn.errors():
            marks = [m for m in await self._marks(key, normalize_email(email)) if issuer in (None, m.issuer)]
            if issuer is None:
                await self.conn.client.delete(key)
            else:
                await self.conn.client.hdel(key, issuer)
        return len(marks)

    async def purge(self, now: float) -> int:
        return 0  # each address's key goes at its latest mark's end; older fields are skipped when read
