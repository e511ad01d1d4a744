"""The outbox of back-channel messages in SQLite.

A queue (one peer, one user: ``peer``, ``subject``) is in ``rowid`` order, the order rows
were inserted; only a message with no pending one before it in its queue is claimed."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from asgi_sessionsync.stores.base import (
    DROPPED_BY_OPERATOR,
    MessageStatus,
    OutboxMessage,
    finish_time,
    new_id,
)
from asgi_sessionsync.stores.sqlite.database import SQLiteDatabase

_OUTBOX_COLUMNS = (
    "id, network, peer, url, kind, payload, created_at, next_attempt_at, attempts, status, last_error,"
    " delivered_at, finished_at"
)


def _message(row: tuple[Any, ...]) -> OutboxMessage:
    values = list(row)
    values[5] = json.loads(values[5])
    values[9] = MessageStatus(values[9])
    return OutboxMessage(*values)


# No pending message before it in its queue (outbox_queue indexes pending rows by queue).
_FIRST = (
    "NOT EXISTS (SELECT 1 FROM outbox AS e INDEXED BY outbox_queue WHERE e.status = 'pending'"
    " AND e.peer = {t}.peer AND e.subject = {t}.subject AND e.rowid < {t}.rowid)"
)


def _claim(c: sqlite3.Connection, ids: list[str], now: float, lease: float) -> list[OutboxMessage]:
    claimed = []
    for message_id in dict.fromkeys(ids):
        # The conditional UPDATE is the lease: only one claimer's succeeds.
        row = c.execute(
            f"UPDATE outbox SET next_attempt_at = ? WHERE id = ? AND status = 'pending'"
            f" AND next_attempt_at <= ? AND {_FIRST.format(t='outbox')} RETURNING {_OUTBOX_COLUMNS}",
            (now + lease, message_id, now),
        ).fetchone()
        if row is not None:
            claimed.append(_message(row))
    return claimed


class SQLiteOutbox:
    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    async def add(self, messages: list[OutboxMessage]) -> None:
        rows = [
            (
                m.id,
                m.network,
                m.peer,
                m.url,
                m.kind,
                json.dumps(m.payload),
                m.created_at,
                m.next_attempt_at,
                m.attempts,
                m.status.value,
                m.last_error,
                m.delivered_at,
                m.finished_at if m.finished_at is not None or m.status is MessageStatus.PENDING else finish_time(m),
                str(m.payload.get("sub", "")),
            )
            for m in messages
        ]
        await self.db.transaction(
            lambda c: c.executemany(
                f"INSERT INTO outbox ({_OUTBOX_COLUMNS}, subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        )

    async def get(self, message_id: str) -> OutboxMessage | None:
        row = await self.db.fetchone(f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE id = ?", (message_id,))
        return _message(row) if row else None

    async def claim_due(self, now: float, lease: float, limit: int = 100) -> list[OutboxMessage]:
        def claim_due(c: sqlite3.Connection) -> list[OutboxMessage]:
            rows = c.execute(
                "SELECT id FROM outbox AS o WHERE status = 'pending' AND next_attempt_at <= ?"
                f" AND {_FIRST.format(t='o')} ORDER BY next_attempt_at, rowid LIMIT ?",
                (now, limit),
            ).fetchall()
            return _claim(c, [r[0] for r in rows], now, lease)

        return await self.db.transaction(claim_due)

    async def claim(self, ids: list[str], now: float, lease: float) -> list[OutboxMessage]:
        return await self.db.transaction(lambda c: _claim(c, ids, now, lease))

    async def delivered(self, message_id: str, when: float) -> None:
        await self.db.change(
            "UPDATE outbox SET status = 'delivered', delivered_at = ?, finished_at = ?, attempts = attempts + 1"
            " WHERE id = ? AND status != 'delivered'",
            (when, when, message_id),
        )

    async def failed(self, message_id: str, *, error: str, next_attempt_at: float, abandon: bool = False) -> None:
        await self.db.change(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, status = ?,"
            " finished_at = ? WHERE id = ? AND status = 'pending'",
            (
                error,
                next_attempt_at,
                "abandoned" if abandon else "pending",
                time.time() if abandon else None,
                message_id,
            ),
        )

    async def retry_now(self, peer: str, now: float) -> int:
        return await self.db.change(
            "UPDATE outbox SET next_attempt_at = ? WHERE peer = ? AND status = 'pending' AND next_attempt_at > ?",
            (now, peer, now),
        )

    async def drop(self, ids: list[str]) -> int:
        now = time.time()
        return await self.db.transaction(
            lambda c: sum(
                c.execute(
                    "UPDATE outbox SET status = 'abandoned', last_error = ?, finished_at = ?"
                    " WHERE id = ? AND status = 'pending'",
                    (DROPPED_BY_OPERATOR, now, message_id),
                ).rowcount
                for message_id in dict.fromkeys(ids)
            )
        )

    async def pending(self) -> list[OutboxMessage]:
        rows = await self.db.fetchall(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE status = 'pending' ORDER BY created_at, id"
        )
        return [_message(r) for r in rows]

    async def purge(self, finished_before: float) -> int:
        return await self.db.change(
            "DELETE FROM outbox WHERE status != 'pending' AND finished_at < ?", (finished_before,)
        )

    async def generation(self) -> str:
        def generation(c: sqlite3.Connection) -> str:
            c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('outbox generation', ?)", (new_id(),))
            return str(c.execute("SELECT value FROM meta WHERE key = 'outbox generation'").fetchone()[0])

        return await self.db.transaction(generation)
