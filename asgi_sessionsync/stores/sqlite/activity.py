"""The activity log in SQLite: the ``activity`` table (see :mod:`.schema`), indexed by time.

Writes (a record, a purge) run in the database's worker thread like every other write;
reads (``log``, an administration command) too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asgi_sessionsync.stores.base import (
    ActivityEntry,
    ActivityFilter,
    Direction,
    Outcome,
    normalize_email,
)
from asgi_sessionsync.stores.sqlite.database import SQLiteDatabase

_COLUMNS = "id, at, site, direction, peer, kind, user, outcome, reason, message_id"


def _entry(row: tuple[Any, ...]) -> ActivityEntry:
    values = list(row)
    values[3] = Direction(values[3])
    values[7] = Outcome(values[7])
    return ActivityEntry(*values)


def _where(where: ActivityFilter) -> tuple[str, list[Any]]:
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
    if where.user is not None:
        sql.append("user = ?")
        params.append(normalize_email(where.user))
    if where.kind is not None:
        sql.append("(kind = ? OR substr(kind, 1, ?) = ?)")
        params += [where.kind, len(where.kind) + 1, where.kind + "."]
    if where.direction is not None:
        sql.append("direction = ?")
        params.append(where.direction.value)
    if where.outcome is not None:
        sql.append("outcome = ?")
        params.append(where.outcome.value)
    return (" WHERE " + " AND ".join(sql)) if sql else "", params


class SQLiteActivityLog:
    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

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
            )
            for e in entries
        ]
        if rows:
            await self.db.transaction(
                lambda c: c.executemany(
                    f"INSERT OR IGNORE INTO activity ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
            )

    async def list(self, where: ActivityFilter | None = None, *, limit: int = 100) -> list[ActivityEntry]:
        clause, params = _where(where or ActivityFilter())
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM activity{clause} ORDER BY at DESC, id DESC LIMIT ?", (*params, limit)
        )
        return [_entry(r) for r in rows]

    async def purge(self, before: float) -> int:
        return await self.db.change("DELETE FROM activity WHERE at < ?", (before,))
