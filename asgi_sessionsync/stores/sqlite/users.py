"""Users in SQLite; in pages and in bulk for ``users export|import`` (an import batch is
one transaction of ``executemany`` in the worker thread: 100 000 users are about a
hundred short transactions, never one per user)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.stores.base import (
    ImportCounts,
    User,
    normalize_email,
)
from asgi_sessionsync.stores.sqlite.database import SQLiteDatabase

_USER_COLUMNS = "email, role, name, password_hash, created_at, provisioned_by"
_IN_CHUNK = 500  # emails per IN (...) query: well under SQLite's variable limit


class SQLiteUserStore:
    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    async def get(self, email: str) -> User | None:
        row = await self.db.read_one(f"SELECT {_USER_COLUMNS} FROM users WHERE email = ?", (normalize_email(email),))
        return User(*row) if row else None

    async def create(self, user: User) -> User:
        email = normalize_email(user.email)
        values = (email, user.role, user.name, user.password_hash, user.created_at or time.time(), user.provisioned_by)

        def create(c: sqlite3.Connection) -> tuple[Any, ...] | None:
            c.execute(f"INSERT OR IGNORE INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", values)
            row: tuple[Any, ...] | None = c.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE email = ?", (email,)
            ).fetchone()
            return row

        row = await self.db.run(create)
        if row is None:
            raise StoreError(f"SQLite store {self.db.path.name}: a user vanished right after it was stored")
        return User(*row)

    async def list_users(self, *, role: str | None = None, limit: int = 1000, offset: int = 0) -> list[User]:
        # The primary key's index gives the order; a role is filtered on the way.
        where, params = ("", ()) if role is None else (" WHERE role = ?", (role,))
        sql = f"SELECT {_USER_COLUMNS} FROM users{where} ORDER BY email LIMIT ? OFFSET ?"
        return [User(*row) for row in await self.db.fetchall(sql, (*params, limit, offset))]

    async def import_users(self, users: Sequence[User], *, replace: bool = False) -> ImportCounts:
        now = time.time()
        batch: dict[str, tuple[Any, ...]] = {}
        for u in users:  # the later one wins
            email = normalize_email(u.email)
            batch[email] = (email, u.role, u.name, u.password_hash, u.created_at or now, u.provisioned_by)
        rows, emails = list(batch.values()), list(batch)
        if not rows:
            return ImportCounts()
        insert = f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (email) DO " + (
            "UPDATE SET role = excluded.role, name = excluded.name, password_hash = excluded.password_hash,"
            " created_at = excluded.created_at, provisioned_by = excluded.provisioned_by"
            if replace
            else "NOTHING"
        )

        def write(c: sqlite3.Connection) -> ImportCounts:
            existing = 0
            for start in range(0, len(emails), _IN_CHUNK):
                chunk = emails[start : start + _IN_CHUNK]
                marks = ", ".join("?" * len(chunk))
                existing += c.execute(f"SELECT COUNT(*) FROM users WHERE email IN ({marks})", chunk).fetchone()[0]
            c.executemany(insert, rows)
            return ImportCounts(len(rows) - existing, existing if replace else 0, 0 if replace else existing)

        return await self.db.transaction(write)
