"""Users in pages from Redis (``users export``, the console's list): ``{prefix}:users``, a
sorted set of every email (score 0, so in email order), walked by rank from where the
page starts: the rank of its cursor or prefix, from ``ZLEXCOUNT`` (O(log n)), never a
scan of the emails before it."""

from __future__ import annotations

import json

from asgi_sessionsync.stores.base import User, normalize_email
from asgi_sessionsync.stores.paging import prefix_end
from asgi_sessionsync.stores.redis.connection import RedisConnection

_PAGE = 500


def user_of(h: dict[str, str]) -> User:
    """A user from its hash."""
    return User(
        email=h["email"],
        role=h["role"],
        name=h["name"],
        password_hash=h.get("password_hash"),
        created_at=float(h["created_at"]),
        provisioned_by=h.get("provisioned_by"),
        meta=json.loads(h.get("meta", "{}")),
        versions={group: (int(v[0]), str(v[1])) for group, v in json.loads(h.get("versions", "{}")).items()},
    )


async def ensure_user_index(conn: RedisConnection) -> None:
    """Index the users of a store written before ``{prefix}:users`` existed (once)."""
    marker = conn.key("users-indexed")
    if await conn.client.exists(marker):
        return
    prefix = conn.key("user", "")
    pattern = prefix + "*"  # a prefix is of A-Z a-z 0-9 _ . : - and braces: nothing a glob reads
    async for key in conn.client.scan_iter(match=pattern, count=1000):
        await conn.client.zadd(conn.key("users"), {str(key)[len(prefix) :]: 0})
    await conn.client.set(marker, "1")


async def _start(conn: RedisConnection, after: str, begins: str) -> int:
    """The rank of the first email after ``after`` and not before ``begins``."""
    start = 0
    if after:
        start = int(await conn.client.zlexcount(conn.key("users"), "-", "[" + after))
    if begins:
        start = max(start, int(await conn.client.zlexcount(conn.key("users"), "-", "(" + begins)))
    return start


async def list_users(
    conn: RedisConnection, *, role: str | None, limit: int, offset: int, after: str | None, prefix: str | None
) -> list[User]:
    after, begins = normalize_email(after or ""), normalize_email(prefix or "")
    end = prefix_end(begins) if begins else None
    async with conn.errors():
        await ensure_user_index(conn)
        found: list[User] = []
        start = await _start(conn, after, begins)
        position, skip = (start + offset, 0) if role is None else (start, offset)
        while len(found) < limit:
            want = limit - len(found) if role is None else _PAGE
            emails = await conn.zrange(conn.key("users"), position, position + want - 1)
            if not emails:
                break
            past = end is not None and emails[-1] >= end
            emails = [e for e in emails if end is None or e < end]  # the prefix's range ends here
            rows = await conn.hgetall_many([conn.key("user", e) for e in emails])
            gone = [e for e, h in zip(emails, rows, strict=True) if not h]
            if gone:  # deleted users: out of the index, then this page again
                await conn.client.zrem(conn.key("users"), *gone)
                continue
            position += len(emails)
            page = [user_of(h) for h in rows if role is None or h.get("role") == role]
            if skip:
                dropped = min(skip, len(page))
                page, skip = page[dropped:], skip - dropped
            found += page
            if past or len(emails) < want:
                break
        return found[:limit]
