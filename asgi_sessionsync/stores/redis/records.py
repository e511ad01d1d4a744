"""Reading sessions from Redis: the record from its hash, and the scans the governance
queries make.

Redis keeps no index by address or by last request: these scan the site's sessions
(``{prefix}:all``, or the user's index), in batches of pipelined reads."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
    created, ended, expires, app ref; "" for none), and its hash as field, value pairs."""
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


async def search(
    conn: RedisConnection,
    *,
    user: str | None,
    ip: str | None,
    since: float | None,
    active: bool,
    limit: int,
) -> list[SessionRecord]:
    index = conn.key("us", normalize_email(user)) if user else conn.key("all")
    found: list[SessionRecord] = []
    async for r in scan(conn, index):
        if since is not None and r.created_at < since:
            break  # newest first: the rest are older
        if (ip is None or r.ip == ip) and (not active or r.active):
            found.append(r)
            if len(found) >= limit:
                break
    return found


async def idle(
    conn: RedisConnection, seen_before: float, limit: int, *, after: tuple[float, str] | None
) -> list[SessionRecord]:
    found = [
        r
        async for r in scan(conn, conn.key("all"))
        if r.active and r.last_seen_at < seen_before and (after is None or (r.last_seen_at, r.sid) > after)
    ]
    return sorted(found, key=lambda r: (r.last_seen_at, r.sid))[:limit]


async def analytics(conn: RedisConnection, since: float, until: float, *, top: int) -> SessionStats:
    builder = StatsBuilder(since, until, top)
    async for record in scan(conn, conn.key("all")):
        if not builder.record(record):
            break
    return builder.build()
