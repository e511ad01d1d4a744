"""Users in Redis."""

from __future__ import annotations

import time

from asgi_sessionsync.stores.base import (
    User,
    normalize_email,
)
from asgi_sessionsync.stores.redis.connection import RedisConnection, _f, _pairs

_USER_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
return redis.call('HGETALL', KEYS[1])
"""


def _user(h: dict[str, str]) -> User:
    return User(
        email=h["email"],
        role=h["role"],
        name=h["name"],
        password_hash=h.get("password_hash"),
        created_at=float(h["created_at"]),
        provisioned_by=h.get("provisioned_by"),
    )


class RedisUserStore:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    async def get(self, email: str) -> User | None:
        async with self.conn.errors():
            h = await self.conn.hgetall(self.conn.key("user", normalize_email(email)))
        return _user(h) if h else None

    async def create(self, user: User) -> User:
        email = normalize_email(user.email)
        fields = {
            "email": email,
            "role": user.role,
            "name": user.name,
            "created_at": _f(user.created_at or time.time()),
            "password_hash": user.password_hash,
            "provisioned_by": user.provisioned_by,
        }
        flat = [x for k, v in fields.items() if v is not None for x in (k, v)]
        async with self.conn.errors():
            stored = await self.conn.run("user_create", _USER_CREATE, [self.conn.key("user", email)], flat)
        return _user(_pairs(stored))
