"""Session analytics from SQLite: per-day figures from the daily counts, active sessions from the rows."""

from __future__ import annotations

import sqlite3

from asgi_sessionsync.stores.sqlite.database import SQLiteDatabase
from asgi_sessionsync.stores.stats import BLOCKED, DAY, SessionStats, StatsBuilder


async def session_analytics(db: SQLiteDatabase, since: float, until: float, top: int) -> SessionStats:
    # Per-day figures from the daily counts (a few hundred rows); the active sessions
    # and users from the partial index of active sessions.
    counts = "SELECT day, kind, key, n FROM session_counts WHERE day >= ? AND day < ?"
    not_blocked = "(end_reason IS NULL OR substr(end_reason, 1, 7) != 'blocked')"
    active = (
        "SELECT COUNT(*), COUNT(DISTINCT user) FROM (SELECT user FROM sessions INDEXED BY sessions_active"
        " WHERE ended_at IS NULL AND created_at < ? AND (expires_at IS NULL OR expires_at >= ?)"
        " UNION ALL SELECT user FROM sessions WHERE ended_at IS NOT NULL AND ended_at >= ? AND created_at < ?"
        f" AND (expires_at IS NULL OR expires_at >= ?) AND {not_blocked})"
    )

    def run(c: sqlite3.Connection) -> SessionStats:
        builder = StatsBuilder(since, until, top)
        first, last = int(builder.since // DAY), int(builder.day_until // DAY)
        for number, kind, key, n in c.execute(counts, (first, last)):
            at = number * DAY
            if kind == "via":
                builder.counted_start(key, at, n)
            elif kind == "blocked":
                builder.started("", BLOCKED, "", "", at, n)
            elif kind == "device":
                builder.devices[key] += n
            elif kind == "country":
                builder.countries[key] += n
            elif kind == "client":
                builder.clients[key] += n
            elif kind == "end":
                builder.ended(key, at, n)
        builder.active_sessions, builder.active_user_count = c.execute(
            active, (until, until, until, until, until)
        ).fetchone()
        return builder.build()

    return await db.run(run)
