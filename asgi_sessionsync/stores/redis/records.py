"""Reading sessions from Redis: the record from its hash, and the scans the governance
queries make.

The governance queries read indexes: the user's or the address's sessions, the active
sessions by last request (idle), the sessions created or ended in a period (analytics);
see each function for its cost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

from asgi_sessionsync.stores.base import (
    SessionRecord,
    normalize_email,
)
from asgi_sessionsync.stores.redis.connection import _BATCH, RedisConnection, _f, _opt
from asgi_sessionsync.stores.stats import SessionStats, StatsBuilder

_SESSION_FIELDS = ("sid", "user", "chain", "site", "ip", "user_agent", "via", "end_reason")


def _session(h: dict[str, str]) -> SessionRecord:
    return SessionRecord(
        sid=h["sid"],
        user=h["user"],
        chain=h["chain"],
        site=h["site"],
        ip=h["ip"],
        user_agent=h["user_agent"],
        created_at=float(h["created_at"]),
        last_seen_at=float(h["last_seen_at"]),
        via=h["via"],
        ended_at=_opt(h.get("ended_at")),
        end_reason=h.get("end_reason"),
        expires_at=_opt(h.get("expires_at")),
        app_ref=h.get("app_ref"),
        country=h.get("country", ""),
        device=h.get("device", ""),
    )


def _session_args(record: SessionRecord) -> tuple[list[str], list[str]]:
    """The script arguments that create ``record``: its index fields (sid, user, chain,
    created, ended, expires, app ref, ip, last seen; "" for none), and its hash as field,
    value pairs."""
    user = normalize_email(record.user)
    fields: dict[str, str | None] = {
        "sid": record.sid,
        "user": user,
        "chain": record.chain,
        "site": record.site,
        "ip": record.ip,
        "user_agent": record.user_agent,
        "created_at": _f(record.created_at),
        "last_seen_at": _f(record.last_seen_at),
        "via": record.via,
        "ended_at": None if record.ended_at is None else _f(record.ended_at),
        "end_reason": record.end_reason,
        "expires_at": None if record.expires_at is None else _f(record.expires_at),
        "app_ref": record.app_ref,
        "country": record.country or None,
        "device": record.device or None,
    }
    flat = [x for k, v in fields.items() if v is not None for x in (k, v)]
    head = [
        record.sid,
        user,
        record.chain,
        _f(record.created_at),
        fields["ended_at"] or "",
        fields["expires_at"] or "",
        record.app_ref or "",
        record.ip,
        _f(record.last_seen_at),
    ]
    return head, flat


async def scan(conn: RedisConnection, index: str, *, newest_first: bool = True) -> AsyncIterator[SessionRecord]:
    """The sessions of ``index``, newest first (or oldest first), a batch at a time."""
    start = 0
    while True:
        async with conn.errors():
            sids = await conn.zrange(index, start, start + _BATCH - 1, desc=newest_first)
            if not sids:
                return
            rows = await conn.hgetall_many([conn.key("s", sid) for sid in sids])
        start += len(sids)
        for h in rows:
            if h:
                yield _session(h)


# -- the governance indexes -------------------------------------------------------------------
# ``{prefix}:seen``: active sessions by last request (``last_seen_at``), kept by the scripts
# that create, touch and end sessions; ``{prefix}:ip:<address>``: a site's sessions from one
# address by creation, kept like the per-user index. Data written before they existed is
# indexed once, by the first process that needs them (``{prefix}:indexes`` says it is done).

INDEXES_VERSION = "2"

_SESSION_INDEX = """
local rows = redis.call('ZRANGE', KEYS[1], ARGV[3], '+inf', 'BYSCORE', 'LIMIT', tonumber(ARGV[4]),
  tonumber(ARGV[5]), 'WITHSCORES')
local last, same = ARGV[3], tonumber(ARGV[4])
for i = 1, #rows, 2 do
  local sid, score = rows[i], rows[i + 1]
  local f = redis.call('HMGET', skey(sid), 'ip', 'created_at', 'ended_at', 'expires_at', 'last_seen_at')
  if f[2] then
    local drop = nil
    if f[3] then drop = drop_at(f[3]) elseif f[4] then drop = drop_at(f[4]) end
    if f[1] and f[1] ~= '' then index(T .. ':ip:' .. f[1], sid, f[2], drop) end
    if not f[3] then redis.call('ZADD', T .. ':seen', f[5], sid) end
  end
  if score == last then same = same + 1 else last, same = score, 1 end
end
return {#rows / 2, last, same}
"""


async def ensure_indexes(conn: RedisConnection) -> None:
    """Index, once per prefix, the sessions written before the governance indexes were:
    a pass over ``{prefix}:all`` in batches (by creation time, so sessions created or
    deleted meanwhile move nothing under it). Idempotent: two processes may both run it."""
    if conn.indexed:
        return
    async with conn.errors():
        if await conn.client.get(conn.key("indexes")) != INDEXES_VERSION:
            low, skip = "-inf", 0
            while True:
                count, low, skip = await conn.run(
                    "session_index", _SESSION_INDEX, [conn.key("all")], [low, skip, _BATCH]
                )
                if int(count) < _BATCH:
                    break
            await conn.client.set(conn.key("indexes"), INDEXES_VERSION)
    conn.indexed = True


async def _records(conn: RedisConnection, sids: list[str]) -> list[tuple[str, SessionRecord | None]]:
    async with conn.errors():
        rows = await conn.hgetall_many([conn.key("s", sid) for sid in sids])
    return [(sid, _session(h) if h else None) for sid, h in zip(sids, rows, strict=True)]


async def listing(conn: RedisConnection, *, user: str | None, include_ended: bool, limit: int) -> list[SessionRecord]:
    """:meth:`SessionAdministration.list`: the user's index, else every session's, newest first."""
    index = conn.key("us", normalize_email(user)) if user else conn.key("all")
    found: list[SessionRecord] = []
    start = 0
    async with conn.errors():  # newest first, ties by sid descending: ZREVRANGE's order
        while len(found) < limit:
            sids = await conn.zrange(index, start, start + _BATCH - 1, desc=True)
            if not sids:
                break
            start += len(sids)
            for h in await conn.hgetall_many([conn.key("s", sid) for sid in sids]):
                if h and (include_ended or "ended_at" not in h):
                    found.append(_session(h))
    return found[:limit]


async def search(
    conn: RedisConnection,
    *,
    user: str | None,
    ip: str | None,
    since: float | None,
    active: bool,
    limit: int,
) -> list[SessionRecord]:
    """By the user's index, else the address's, else the active sessions (``active``
    without ``since``: the last-seen index holds exactly those), else every session,
    newest first, stopping at ``since``."""
    if user:
        index = conn.key("us", normalize_email(user))
    elif ip:
        await ensure_indexes(conn)
        index = conn.key("ip", ip)
    elif active and since is None:
        return await _active(conn, limit)
    else:
        index = conn.key("all")
    found: list[SessionRecord] = []
    async for r in scan(conn, index):
        if since is not None and r.created_at < since:
            break  # newest first: the rest are older
        if (ip is None or r.ip == ip) and (not active or r.active):
            found.append(r)
            if len(found) >= limit:
                break
    return found


async def _active(conn: RedisConnection, limit: int) -> list[SessionRecord]:
    """Every active session, newest first: O(active sessions), never the history."""
    await ensure_indexes(conn)
    found: list[SessionRecord] = []
    start = 0
    while True:
        async with conn.errors():
            sids = await conn.zrange(conn.key("seen"), start, start + _BATCH - 1)
        if not sids:
            break
        start += len(sids)
        found += [r for _, r in await _records(conn, sids) if r is not None and r.active]
    found.sort(key=lambda r: (r.created_at, r.sid), reverse=True)
    return found[:limit]


async def idle(
    conn: RedisConnection, seen_before: float, limit: int, *, after: tuple[float, str] | None
) -> list[SessionRecord]:
    """From the last-seen index: the sessions seen before ``seen_before`` (from ``after``
    on), least recently seen first. O(idle sessions), not O(sessions). Entries whose row
    has ended or is gone (left by an older version, or dropped by Redis) are removed."""
    await ensure_indexes(conn)
    index = conn.key("seen")
    low, high = ("-inf" if after is None else _f(after[0])), f"({_f(seen_before)}"
    found: list[SessionRecord] = []
    stale: list[str] = []
    offset = 0
    while len(found) < limit:
        async with conn.errors():
            batch = cast(
                list[tuple[str, float]],
                await conn.client.zrange(index, low, high, byscore=True, offset=offset, num=_BATCH, withscores=True),
            )
        if not batch:
            break
        offset += len(batch)
        fresh = [sid for sid, score in batch if after is None or (score, sid) > after]
        for sid, r in await _records(conn, fresh):
            if r is None or not r.active:
                stale.append(sid)
            elif r.last_seen_at < seen_before:
                found.append(r)
        if len(batch) < _BATCH:
            break
    if stale:
        async with conn.errors():
            await conn.client.zrem(index, *stale)
    return sorted(found, key=lambda r: (r.last_seen_at, r.sid))[:limit]


async def _by_score(conn: RedisConnection, index: str, low: str) -> AsyncIterator[list[str]]:
    """The members of a sorted set from score ``low`` up, a batch at a time, by a score
    cursor: each call costs O(log n + batch) on the server however far it has gone, and
    members removed meanwhile shift nothing under it (an offset would do both wrong)."""
    skip = 0
    while True:
        async with conn.errors():
            batch = cast(
                list[tuple[str, float]],
                await conn.client.zrange(index, low, "+inf", byscore=True, offset=skip, num=_BATCH, withscores=True),
            )
        if not batch:
            return
        yield [sid for sid, _ in batch]
        if len(batch) < _BATCH:
            return
        last = batch[-1][1]
        same = sum(1 for _, score in batch if score == last)
        skip, low = (skip + same, low) if same == len(batch) else (same, _f(last))


# What the figures read of a row (not the user agent, address, chain, ...): half the bytes.
_COUNTED_FIELDS = ("user", "via", "created_at", "ended_at", "end_reason", "expires_at", "country", "device")


async def _counted_rows(conn: RedisConnection, sids: list[str]) -> list[SessionRecord]:
    if not sids:
        return []
    async with conn.errors():
        pipe = conn.client.pipeline(transaction=False)
        for sid in sids:
            pipe.hmget(conn.key("s", sid), _COUNTED_FIELDS)
        rows = cast(list[list[str | None]], await pipe.execute())
    found = []
    for sid, values in zip(sids, rows, strict=True):
        user, via, created, ended, reason, expires, country, device = values
        if user is None or via is None or created is None:
            continue  # dropped by Redis meanwhile
        at = float(created)
        found.append(
            SessionRecord(
                sid=sid,
                user=user,
                chain="",
                site="",
                ip="",
                user_agent="",
                created_at=at,
                last_seen_at=at,
                via=via,
                ended_at=_opt(ended),
                end_reason=reason,
                expires_at=_opt(expires),
                country=country or "",
                device=device or "",
            )
        )
    return found


async def analytics(conn: RedisConnection, since: float, until: float, *, top: int) -> SessionStats:
    """The sessions that can count: created since the first day (``{prefix}:all`` by
    creation), ended since then (``{prefix}:ended``) and active now (``{prefix}:seen``),
    each once, the fields the figures need in pipelined batches of 500. O(sessions created
    or ended in the period plus the active ones), never the older history; at most
    ``SessionStats.MAX_ROWS`` rows."""
    await ensure_indexes(conn)
    builder = StatsBuilder(since, until, top)
    first = _f(builder.since)
    counted: set[str] = set()
    for index, low in ((conn.key("all"), first), (conn.key("ended"), first), (conn.key("seen"), "-inf")):
        async for sids in _by_score(conn, index, low):
            new = [sid for sid in sids if sid not in counted]
            counted.update(new)
            for r in await _counted_rows(conn, new):
                if not builder.record(r):
                    return builder.build()
    return builder.build()
