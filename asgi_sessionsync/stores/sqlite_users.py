"""Users in pages and in bulk, for the SQLite store (``users export|import``).

An import batch is one transaction of ``executemany`` in the database's worker thread:
100 000 users are about a hundred short transactions, never one per user.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from asgi_sessionsync.stores.base import ImportCounts, User, normalize_email

if TYPE_CHECKING:
    from asgi_sessionsync.stores.sqlite import SQLiteDatabase

COLUMNS = "email, role, name, password_hash, created_at, provisioned_by"
_IN_CHUNK = 500  # emails per IN (...) query: well under SQLite's variable limit


async def list_users(db: SQLiteDatabase, *, role: str | None, limit: int, offset: int) -> list[User]:
    # The primary key's index gives the order; a role is filtered on the way.
    where, params = ("", ()) if role is None else (" WHERE role = ?", (role,))
    sql = f"SELECT {COLUMNS} FROM users{where} ORDER BY email LIMIT ? OFFSET ?"
    return [User(*row) for row in await db.fetchall(sql, (*params, limit, offset))]


async def import_users(db: SQLiteDatabase, users: Sequence[User], *, replace: bool) -> ImportCounts:
    now = time.time()
    batch: dict[str, tuple[Any, ...]] = {}
    for u in users:
        email = normalize_email(u.email)
        batch[email] = (email, u.role, u.name, u.password_hash, u.created_at or now, u.provisioned_by)
    rows = list(batch.values())
    emails = list(batch)

    def write(c: sqlite3.Connection) -> ImportCounts:
        existing = 0
        for start in range(0, len(emails), _IN_CHUNK):
            chunk = emails[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            existing += c.execute(f"SELECT COUNT(*) FROM users WHERE email IN ({marks})", chunk).fetchone()[0]
        insert = f"INSERT INTO users ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
        if replace:
            insert += (
                " ON CONFLICT (email) DO UPDATE SET role = excluded.role, name = excluded.name,"
                " password_hash = excluded.password_hash, created_at = excluded.created_at,"
                " provisioned_by = excluded.provisioned_by"
            )
        else:
            insert += " ON CONFLICT (email) DO NOTHING"
        c.executemany(insert, rows)
        created = len(rows) - existing
        return ImportCounts(created, existing if replace else 0, 0 if replace else existing)

    if not rows:
        return ImportCounts()
    return await db.transaction(write)
