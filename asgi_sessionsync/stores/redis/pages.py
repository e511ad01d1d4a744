"""Pages of sessions by cursor in Redis (:meth:`SessionAdministration.page`): one sorted
set walked from the cursor, newest first (``ZRANGE … BYSCORE REV``, ties by sid
descending as Redis orders equal scores), its sessions read in pipelined batches.

The set walked is the contract's: ``{prefix}:us:<user>`` for a user's sessions,
``{prefix}:ip:<address>`` for an address's, else ``{prefix}:all``; each scored by
``created_at``. Each call costs O(log n + budget) on the server however deep the cursor
is (a score cursor, not an offset), and an entry whose session Redis has dropped counts
as examined (:class:`~asgi_sessionsync.stores.paging.PageBuilder`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

from asgi_sessionsync.stores.paging import page_from
from asgi_sessionsync.stores.records import SessionFilter, SessionKey, SessionPage, SessionRecord, normalize_email
from asgi_sessionsync.stores.redis.connection import _BATCH, RedisConnection, _f
from asgi_sessionsync.stores.redis.records import _records, ensure_indexes


async def _walk(
    conn: RedisConnection, index: str, after: SessionKey | None, budget: int, first: int
) -> AsyncIterator[tuple[SessionKey, SessionRecord | None]]:
    """The entries of ``index`` after ``after`` in page order, at most ``budget``, with
    their sessions: a first batch of ``first`` (a page's worth, and the cursor's own entry,
    which the batch starts at), then growing ones (a filter that few sessions match)."""
    high, skip, left = ("+inf" if after is None else _f(after[0])), 0, budget
    size = min(first, budget) + (0 if after is None else 1)
    while left > 0:
        async with conn.errors():
            batch = cast(
                list[tuple[str, float]],
                await conn.client.zrange(
                    index, high, "-inf", desc=True, byscore=True, offset=skip, num=size, withscores=True
                ),
            )
        if not batch:
            return
        # The first batch starts at the cursor's time, inclusive: those of that time not after it go.
        keys = [k for k in ((score, sid) for sid, score in batch) if after is None or k < after][:left]
        for key, (_, record) in zip(keys, await _records(conn, [sid for _, sid in keys]), strict=True):
            yield key, record
        left -= len(keys)
        if len(batch) < size:
            return
        last = batch[-1][1]
        same = sum(1 for _, score in batch if score == last)
        skip, high = (skip + same, high) if same == len(batch) else (same, _f(last))
        size = min(_BATCH, size * 4, max(left, 1))


async def session_page(
    conn: RedisConnection, where: SessionFilter, after: SessionKey | None, limit: int, budget: int
) -> SessionPage:
    limit, budget = max(limit, 1), max(budget, 1)
    if where.user is not None:
        index = conn.key("us", normalize_email(where.user))
    elif where.ip is not None:
        await ensure_indexes(conn)
        index = conn.key("ip", where.ip)
    else:
        index = conn.key("all")
    return await page_from(_walk(conn, index, after, budget, limit + 1), where, limit, budget)
