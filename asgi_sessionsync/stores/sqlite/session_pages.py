"""Pages of sessions by cursor in SQLite (:meth:`SessionAdministration.page`): keyset
pagination on an index in page order, never an offset.

One index is walked, as the contract says: ``sessions_user_page`` (user, created_at, sid)
for a user's sessions, ``sessions_ip_page`` (ip, created_at, sid) for an address's, else
``sessions_created`` (created_at, sid) backwards. Two statements in one read transaction,
in the worker thread:

1. the budget's end: the key of the ``budget``-th entry of the index from the cursor on
   (``LIMIT 1 OFFSET budget - 1``: the index alone, no row read);
2. the page: the index range from the cursor down to that key, every other filter in the
   same statement, ``LIMIT limit + 1`` (one more says that more remain).

So the work is at most ``budget`` index entries and the rows between, and a page that
finds ``limit`` sessions early stops there. Filters that are parts of ``device`` or of
``via`` are the Python definitions (:func:`device_parts`, :func:`peer_of`) registered as
SQL functions, so SQL and :meth:`SessionFilter.matches` cannot disagree.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from asgi_sessionsync.stores.records import (
    SessionFilter,
    SessionKey,
    SessionPage,
    SessionState,
    device_parts,
    normalize_email,
    peer_of,
)
from asgi_sessionsync.stores.sqlite.database import SQLiteDatabase
from asgi_sessionsync.stores.sqlite.session_rows import SESSION_COLUMNS, session_row

_ORDER = "ORDER BY created_at DESC, sid DESC"

_FUNCTIONS = {
    "sessionsync_came_from": lambda via: peer_of(via or "") or "",
    "sessionsync_device_class": lambda device: device_parts(device or "")[0],
    "sessionsync_client_type": lambda device: device_parts(device or "")[1],
}


def _walked(where: SessionFilter) -> tuple[str, str, list[Any]]:
    """The index walked and the condition that selects its part."""
    if where.user is not None:
        return "sessions_user_page", "user = ?", [normalize_email(where.user)]
    if where.ip is not None:
        return "sessions_ip_page", "ip = ?", [where.ip]
    return "sessions_created", "1 = 1", []


def _rest(where: SessionFilter) -> tuple[str, list[Any]]:
    """The filters the walked index does not select, as SQL."""
    sql: list[str] = []
    params: list[Any] = []
    if where.user is not None and where.ip is not None:
        sql.append("ip = ?")
        params.append(where.ip)
    for value, column in (
        (where.came_from, "sessionsync_came_from(via)"),
        (where.device_class, "sessionsync_device_class(device)"),
        (where.client_type, "sessionsync_client_type(device)"),
        (where.country, "country"),
    ):
        if value is not None:
            sql.append(f"{column} = ?")
            params.append(value)
    if where.state is SessionState.ACTIVE:
        sql.append("ended_at IS NULL")
    elif where.state is SessionState.ENDED:
        sql.append("ended_at IS NOT NULL")
    return "".join(f" AND {s}" for s in sql), params


def _before(key: SessionKey | None) -> tuple[str, list[Any]]:
    """Entries after ``key`` in page order (older): a range on created_at the index takes."""
    if key is None:
        return "", []
    return " AND created_at <= ? AND (created_at < ? OR sid < ?)", [key[0], key[0], key[1]]


def _from(key: SessionKey | None) -> tuple[str, list[Any]]:
    """Entries up to ``key`` in page order, ``key`` included."""
    if key is None:
        return "", []
    return " AND created_at >= ? AND (created_at > ? OR sid >= ?)", [key[0], key[0], key[1]]


async def session_page(
    db: SQLiteDatabase, where: SessionFilter, after: SessionKey | None, limit: int, budget: int
) -> SessionPage:
    limit, budget = max(limit, 1), max(budget, 1)
    index, walked, walked_params = _walked(where)
    cursor, cursor_params = _before(after)
    rest, rest_params = _rest(where)
    end_sql = (
        f"SELECT created_at, sid FROM sessions INDEXED BY {index} WHERE {walked}{cursor} {_ORDER} LIMIT 1 OFFSET ?"
    )

    def run(c: sqlite3.Connection) -> SessionPage:
        for name, function in _FUNCTIONS.items():
            c.create_function(name, 1, function, deterministic=True)
        c.execute("BEGIN")  # one snapshot for both statements
        try:
            end_row = c.execute(end_sql, (*walked_params, *cursor_params, budget - 1)).fetchone()
            end: SessionKey | None = (end_row[0], end_row[1]) if end_row else None
            upto, upto_params = _from(end)
            rows = c.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions INDEXED BY {index} WHERE {walked}{cursor}{upto}{rest}"
                f" {_ORDER} LIMIT ?",
                (*walked_params, *cursor_params, *upto_params, *rest_params, limit + 1),
            ).fetchall()
        finally:
            c.execute("COMMIT")
        records = [session_row(row) for row in rows]
        if len(records) > limit:
            last = records[limit - 1]
            return SessionPage(records[:limit], (last.created_at, last.sid))
        return SessionPage(records, end)

    return await db.run(run, write=False)
