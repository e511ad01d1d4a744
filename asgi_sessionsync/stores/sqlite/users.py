"""Users in SQLite; in pages and in bulk for ``users export|import`` (an import batch is
one transaction of ``executemany`` in the worker thread: 100 000 users are about a
hundred short transactions, never one per user)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.stores.accounts import AccountStats
from asgi_sessionsync.stores.base import (
    ImportCounts,
    User,
    normalize_email,
)
from asgi_sessionsync.stores.paging import prefix_end
from asgi_sessionsync.stores.sqlite.accounts import account_stats
from asgi_sessionsync.stores.sqlite.database import SQLiteDatabase
from asgi_sessionsync.stores.versions import Applied, Tombstone, UserChange, merge

_USER_COLUMNS = "email, role, name, password_hash, created_at, provisioned_by, meta, versions"
_IN_CHUNK = 500  # emails per IN (...) query: well under SQLite's variable limit
# An import that overwrites a user leaves its sync versions as they are.
_IMPORT_UPDATE = (
    " ON CONFLICT (email) DO UPDATE SET role = excluded.role, name = excluded.name, password_hash ="
    " excluded.password_hash, created_at = excluded.created_at, provisioned_by = excluded.provisioned_by,"
    " meta = excluded.meta"
)


class SQLiteUserStore:
    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    async def get(self, email: str) -> User | None:
        row = await self.db.read_one(f"SELECT {_USER_COLUMNS} FROM users WHERE email = ?", (normalize_email(email),))
        return _user(row) if row else None

    async def create(self, user: User) -> User:
        email = normalize_email(user.email)
        values = _values(user)

        def create(c: sqlite3.Connection) -> tuple[Any, ...] | None:
            c.execute(f"INSERT OR IGNORE INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values)
            row: tuple[Any, ...] | None = c.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE email = ?", (email,)
            ).fetchone()
            return row

        row = await self.db.run(create)
        if row is None:
            raise StoreError(f"SQLite store {self.db.path.name}: a user vanished right after it was stored")
        return _user(row)

    async def apply(self, change: UserChange) -> Applied:
        email = normalize_email(change.email)

        def apply(c: sqlite3.Connection) -> Applied:
            row = c.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE email = ?", (email,)).fetchone()
            tomb = c.execute(_TOMBSTONE_SELECT, (email,)).fetchone()
            result = merge(_user(row) if row else None, _tombstone(tomb) if tomb else None, change)
            if not result.changed:
                return result
            if result.user is None:
                c.execute("DELETE FROM users WHERE email = ?", (email,))
            else:
                c.execute(
                    f"INSERT OR REPLACE INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    _values(result.user),
                )
            if result.tombstone is None:
                c.execute("DELETE FROM user_tombstones WHERE email = ?", (email,))
            else:
                t = result.tombstone
                c.execute(
                    "INSERT OR REPLACE INTO user_tombstones (email, clock, origin, deleted_at, final)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (email, t.version[0], t.version[1], t.deleted_at, int(t.final)),
                )
            return result

        # One write transaction (BEGIN IMMEDIATE): no other writer, in any process, runs
        # between the read and the write.
        return await self.db.transaction(apply)

    async def account_stats(self, since: float, until: float) -> AccountStats:
        return await account_stats(self.db, since, until)

    async def tombstone(self, email: str) -> Tombstone | None:
        row = await self.db.read_one(_TOMBSTONE_SELECT, (normalize_email(email),))
        return _tombstone(row) if row else None

    async def purge_tombstones(self, deleted_before: float) -> int:
        return await self.db.change("DELETE FROM user_tombstones WHERE deleted_at < ? AND final = 0", (deleted_before,))

    async def list_users(
        self,
        *,
        role: str | None = None,
        limit: int = 1000,
        offset: int = 0,
        after: str | None = None,
        prefix: str | None = None,
    ) -> list[User]:
        # The primary key's index gives the order and the range (after, prefix); a role is
        # filtered on the way.
        where: list[str] = []
        params: list[Any] = []
        if role is not None:
            where.append("role = ?")
            params.append(role)
        if after:
            where.append("email > ?")
            params.append(normalize_email(after))
        if prefix and (begins := normalize_email(prefix)):
            where.append("email >= ?")
            params.append(begins)
            if (end := prefix_end(begins)) is not None:
                where.append("email < ?")
                params.append(end)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        sql = f"SELECT {_USER_COLUMNS} FROM users{clause} ORDER BY email LIMIT ? OFFSET ?"
        return [_user(row) for row in await self.db.fetchall(sql, (*params, limit, offset))]

    async def import_users(self, users: Sequence[User], *, replace: bool = False) -> ImportCounts:
        batch = {normalize_email(u.email): _values(u) for u in users}  # the later one wins
        rows, emails = list(batch.values()), list(batch)
        if not rows:
            return ImportCounts()
        insert = f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)" + (
            _IMPORT_UPDATE if replace else " ON CONFLICT (email) DO NOTHING"
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


_TOMBSTONE_SELECT = "SELECT email, clock, origin, deleted_at, final FROM user_tombstones WHERE email = ?"


def _tombstone(row: tuple[Any, ...]) -> Tombstone:
    return Tombstone(row[0], (int(row[1]), str(row[2])), float(row[3]), bool(row[4]))


def _user(row: tuple[Any, ...]) -> User:
    email, role, name, password_hash, created_at, provisioned_by, meta, versions = row
    return User(
        email,
        role,
        name,
        password_hash,
        created_at,
        provisioned_by,
        meta=json.loads(meta or "{}"),
        versions={group: (int(v[0]), str(v[1])) for group, v in json.loads(versions or "{}").items()},
    )


def _values(user: User) -> tuple[Any, ...]:
    return (
        normalize_email(user.email),
        user.role,
        user.name,
        user.password_hash,
        user.created_at or time.time(),
        user.provisioned_by,
        json.dumps(user.meta, sort_keys=True),
        json.dumps({group: list(v) for group, v in user.versions.items()}, sort_keys=True),
    )
