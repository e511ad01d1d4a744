"""The register of verified addresses in SQLite: the ``verified`` table (see :mod:`.schema`)."""

from __future__ import annotations

import time
from typing import Any

from asgi_sessionsync.stores.records import normalize_email
from asgi_sessionsync.stores.sqlite.database import SQLiteDatabase
from asgi_sessionsync.stores.verified import VerifiedBy, VerifiedMark, normalized

_COLUMNS = "email, issuer, verified, by, at, until"


def _mark(row: tuple[Any, ...]) -> VerifiedMark:
    email, issuer, verified, by, at, until = row
    return VerifiedMark(email, issuer, bool(verified), VerifiedBy(by), at, until)


class SQLiteVerifiedStore:
    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    async def put(self, mark: VerifiedMark) -> None:
        m = normalized(mark)
        await self.db.change(
            f"INSERT OR REPLACE INTO verified ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (m.email, m.issuer, int(m.verified), str(m.by), m.at, m.until),
        )

    async def get(self, email: str, issuer: str) -> VerifiedMark | None:
        row = await self.db.read_one(
            f"SELECT {_COLUMNS} FROM verified WHERE email = ? AND issuer = ? AND until >= ?",
            (normalize_email(email), issuer, time.time()),
        )
        return None if row is None else _mark(row)

    async def list(self, email: str | None = None, *, limit: int = 1000) -> list[VerifiedMark]:
        where = "until >= ?"
        params: tuple[Any, ...] = (time.time(),)
        if email is not None:
            where, params = where + " AND email = ?", (*params, normalize_email(email))
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM verified WHERE {where} ORDER BY email, issuer LIMIT ?", (*params, limit)
        )
        return [_mark(row) for row in rows]

    async def delete(self, email: str, issuer: str | None = None) -> int:
        sql = "DELETE FROM verified WHERE email = ? AND until >= ?"
        params: tuple[Any, ...] = (normalize_email(email), time.time())
        if issuer is not None:
            sql, params = sql + " AND issuer = ?", (*params, issuer)
        return await self.db.change(sql, params)

    async def purge(self, now: float) -> int:
        return await self.db.change("DELETE FROM verified WHERE until < ?", (now,))
