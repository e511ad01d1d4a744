"""Users in SQLite."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.stores.base import (
    User,
    normalize_email,
)
from asgi_sessionsync.stores.sqlite.database import SQLiteDatabase

_USER_COLUMNS = "email, role, name, password_hash, created_at, provisioned_by"


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
