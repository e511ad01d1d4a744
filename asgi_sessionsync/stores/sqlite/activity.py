"""The activity log in SQLite: the ``activity`` table (see :mod:`.schema`), indexed by time.

Writes (a record, a purge) run in the database's worker thread like every other write;
reads (``log``, an administration command) too. The size bound is kept every
:attr:`SQLiteActivityLog.TRIM_EVERY` entries recorded by this process, in the same
transaction as that record: one walk of the time index from the newest, so at most that
many entries beyond ``max_entries`` are there for a while.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from asgi_sessionsync.stores.activity_log import DEFAULT_MAX_ENTRIES
from asgi_sessionsync.stores.base import (
    ActivityEntry,
    ActivityFilter,
    Direction,
    Outcome,
    normalize_email,
)
from asgi_sessionsync.stores.sqlite.database import SQLiteDatabase

_COLUMNS = "id, at, site, direction, peer, kind, user, outcome, reason, message_id, actor"
# All but the newest ``?`` entries (by time, then id), through the activity_at index.
_TRIM = (
    "DELETE FROM activity WHERE (at, id) < (SELECT at, id FROM activity INDEXED BY activity_at"
    " ORDER BY at DESC, id DESC LIMIT 1 OFFSET ?)"
)


def _entry(row: tuple[Any, ...]) -> ActivityEntry:
    values = list(row)
    values[3] = Direction(values[3])
    values[7] = Outcome(values[7])
    return ActivityEntry(*values)


def _where(where: ActivityFilter, before: tuple[float, str] | None = None) -> tuple[str, list[Any]]:
    sql: list[str] = []
    params: list[Any] = []
    if where.since is not None:
        sql.append("at >= ?")
        params.append(where.since)
    if where.until is not None:
        sql.append("at < ?")
        params.append(where.until)
    if where.peer is not None:
        sql.append("peer = ?")
        params.append(where.peer)
    # The partial indexes by user and by actor hold the entries that have one: the term
    # "!= ''" said, so that SQLite knows it may use them.
    for value, column in ((where.user, "user"), (where.actor, "actor")):
        if value is not None:
            email = normalize_email(value)
            sql.append(f"{column} = ?" + (f" AND {column} != ''" if email else ""))
            params.append(email)
    if where.kind is not None:
        sql.append("(kind = ? OR substr(kind, 1, ?) = ?)")
        params += [where.kind, len(where.kind) + 1, where.kind + "."]
    if where.direction is not None:
        sql.append("direction = ?")
        params.append(where.direction.value)
    if where.outcome is not None:
        sql.append("outcome = ?")
        params.append(where.outcome.value)
    if before is not None:
        # After the cursor, newest first: a range on ``at`` an index takes, then the ties by id.
        sql.append("at <= ? AND (at < ? OR id < ?)")
        params += [before[0], before[0], before[1]]
    return (" WHERE " + " AND ".join(sql)) if sql else "", params


class SQLiteActivityLog:
    TRIM_EVERY = 500  # entries recorded between two trims (up to TRIM_SLACK)

    def __init__(self, db: SQLiteDatabase, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.db = db
        self.max_entries = max_entries
        self._since_trim = 0

    async def record(self, entries: Sequence[ActivityEntry]) -> None:
        rows = [
            (
                e.id,
                e.at,
                e.site,
                e.direction.value,
                e.peer,
                e.kind,
                e.user,
                e.outcome.value,
                e.reason,
                e.message_id,
                e.actor,
            )
            for e in entries
        ]
        if not rows:
            return
        self._since_trim += len(rows)
        trim = self._since_trim >= self.TRIM_EVERY
        keep = self.max_entries

        def write(c: sqlite3.Connection) -> None:
            c.executemany(f"INSERT OR IGNORE INTO activity ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            if trim:
                c.execute(_TRIM, (keep - 1,))

        await self.db.transaction(write)
        if trim:
            self._since_trim = 0

    async def list(
        self, where: ActivityFilter | None = None, *, limit: int = 100, before: tuple[float, str] | None = None
    ) -> list[ActivityEntry]:
        where = where or ActivityFilter()
        clause, params = _where(where, before)
        # The entries' ids first, from an index that holds what the filter reads (a user's
        # or an actor's entries: theirs; else every column a filter reads, in time order),
        # then only those rows.
        by_person = any(normalize_email(v) for v in (where.user, where.actor) if v is not None)
        index = "" if by_person else " INDEXED BY activity_filter"
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM activity WHERE id IN (SELECT id FROM activity{index}{clause}"
            f" ORDER BY at DESC, id DESC LIMIT ?) ORDER BY at DESC, id DESC",
            (*params, limit),
        )
        return [_entry(r) for r in rows]

    async def erase_user(self, user: str) -> int:
        email = normalize_email(user)
        return await self.db.transaction(
            lambda c: int(c.execute("DELETE FROM activity WHERE user = ?", (email,)).rowcount)
        )

    async def purge(self, before: float, *, keep: int | None = None) -> int:
        def purge(c: sqlite3.Connection) -> int:
            deleted = int(c.execute("DELETE FROM activity WHERE at < ?", (before,)).rowcount)
            if keep is not None:
                deleted += int(c.execute(_TRIM, (keep - 1,)).rowcount) if keep > 0 else 0
            return deleted

        return await self.db.transaction(purge)
