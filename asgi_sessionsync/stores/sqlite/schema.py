"""The SQLite schema, its indexes, the governance counts and their triggers, and the migration
of older files; run on open by :class:`~asgi_sessionsync.stores.sqlite.database.SQLiteDatabase`."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    email TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    created_at REAL NOT NULL,
    provisioned_by TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    chain TEXT NOT NULL,
    site TEXT NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    via TEXT NOT NULL,
    ended_at REAL,
    end_reason TEXT,
    expires_at REAL,
    app_ref TEXT,
    country TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS used_ids (
    jti BLOB PRIMARY KEY,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    network TEXT NOT NULL,
    peer TEXT NOT NULL,
    url TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    last_error TEXT,
    delivered_at REAL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS user_tombstones (
    email TEXT PRIMARY KEY,
    clock INTEGER NOT NULL,
    origin TEXT NOT NULL,
    deleted_at REAL NOT NULL,
    final INTEGER NOT NULL DEFAULT 0
);
"""

# The activity log: every cross-site message and its outcome (stores/sqlite/activity.py).
_ACTIVITY = """
CREATE TABLE IF NOT EXISTS activity (
    id TEXT PRIMARY KEY,
    at REAL NOT NULL,
    site TEXT NOT NULL,
    direction TEXT NOT NULL,
    peer TEXT NOT NULL,
    kind TEXT NOT NULL,
    user TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    message_id TEXT NOT NULL,
    actor TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
"""
_SCHEMA += _ACTIVITY

# Addresses verified (or marked not verified) per issuer (stores/sqlite/verified.py).
_SCHEMA += """
CREATE TABLE IF NOT EXISTS verified (
    email TEXT NOT NULL,
    issuer TEXT NOT NULL,
    verified INTEGER NOT NULL,
    by TEXT NOT NULL,
    at REAL NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (email, issuer)
) WITHOUT ROWID;
"""

# What the site counts beside its sessions, per UTC day (stores/sqlite/event_counts.py):
# failed logins, spam sessions, user changes. No personal data.
_SCHEMA += """
CREATE TABLE IF NOT EXISTS event_counts (
    day INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, kind, key)
) WITHOUT ROWID;
"""

# Columns added after the first release, added to older files on open.
_ADDED_COLUMNS = {
    # User sync: allow-listed metadata and the versions per field group, JSON objects.
    "users": [("meta", "TEXT NOT NULL DEFAULT '{}'"), ("versions", "TEXT NOT NULL DEFAULT '{}'")],
    "sessions": [
        ("expires_at", "REAL"),
        ("app_ref", "TEXT"),
        ("country", "TEXT NOT NULL DEFAULT ''"),
        ("device", "TEXT NOT NULL DEFAULT ''"),
    ],
    # The user a message is about (payload "sub"): with the peer, its queue (first in, first out).
    "outbox": [("finished_at", "REAL"), ("subject", "TEXT NOT NULL DEFAULT ''")],
    # A deletion made final here (nothing makes the user again until an operator lifts it).
    "user_tombstones": [("final", "INTEGER NOT NULL DEFAULT 0")],
    # Who took a console action (issue #25): the operator's email; "" for messages.
    "activity": [("actor", "TEXT NOT NULL DEFAULT ''")],
}

# The console's pages by cursor (issue #25): a user's and an address's sessions in page
# order (created_at, sid), walked backwards like sessions_created; the activity log by its
# actor, and every column a filter reads in time order (activity_filter: a filter that few
# entries match reads this index, not every entry's row: 24 ms instead of 290 ms for a
# full log of 200 000, benchmarks/console_pages.py).
_INDEXES = """
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user, ended_at);
CREATE INDEX IF NOT EXISTS sessions_chain ON sessions (chain) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS sessions_ended ON sessions (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_created ON sessions (created_at, sid);
CREATE INDEX IF NOT EXISTS sessions_app_ref ON sessions (app_ref) WHERE app_ref IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_seen ON sessions (last_seen_at, sid) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS sessions_user_page ON sessions (user, created_at, sid);
CREATE INDEX IF NOT EXISTS sessions_ip_page ON sessions (ip, created_at, sid);
DROP INDEX IF EXISTS sessions_ip;
CREATE INDEX IF NOT EXISTS sessions_active ON sessions (user, expires_at, created_at) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS used_ids_expiry ON used_ids (expires_at);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_peer ON outbox (peer) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS outbox_finished ON outbox (finished_at) WHERE status != 'pending';
CREATE INDEX IF NOT EXISTS outbox_queue ON outbox (peer, subject) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS activity_at ON activity (at, id);
CREATE INDEX IF NOT EXISTS activity_user ON activity (user, at) WHERE user != '';
CREATE INDEX IF NOT EXISTS verified_until ON verified (until);
CREATE INDEX IF NOT EXISTS activity_peer ON activity (peer, at);
CREATE INDEX IF NOT EXISTS activity_actor ON activity (actor, at) WHERE actor != '';
CREATE INDEX IF NOT EXISTS activity_filter ON activity (at, id, kind, direction, outcome, peer, user, actor);
CREATE INDEX IF NOT EXISTS users_created ON users (created_at);
CREATE INDEX IF NOT EXISTS users_role_origin ON users (role, provisioned_by);
"""

# Governance: per UTC day, how many sessions started (by via, device class, country),
# were refused ("blocked") and ended (by reason), kept by triggers in the same statement
# as the change, so analytics read a few hundred rows instead of scanning the registry.
# Counts hold no personal data and outlive purges and erasures of the rows they counted.
_NOT_BLOCKED = "(NEW.end_reason IS NULL OR substr(NEW.end_reason, 1, 7) != 'blocked')"
_GOVERNANCE = f"""
CREATE TABLE IF NOT EXISTS session_counts (
    day INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, kind, key)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS session_counts_started AFTER INSERT ON sessions BEGIN
  INSERT INTO session_counts (day, kind, key, n)
  SELECT CAST(NEW.created_at / 86400 AS INTEGER), k, v, 1 FROM (
    SELECT 'blocked' AS k, '' AS v WHERE NOT {_NOT_BLOCKED}
    UNION ALL SELECT 'via', NEW.via WHERE {_NOT_BLOCKED}
    UNION ALL SELECT 'device', substr(NEW.device, 1, instr(NEW.device || '/', '/') - 1) WHERE {_NOT_BLOCKED}
    UNION ALL SELECT 'country', NEW.country WHERE {_NOT_BLOCKED}
  ) WHERE true
  ON CONFLICT (day, kind, key) DO UPDATE SET n = n + 1;
  INSERT INTO session_counts (day, kind, key, n)
  SELECT CAST(NEW.ended_at / 86400 AS INTEGER), 'end', COALESCE(NEW.end_reason, ''), 1
  WHERE NEW.ended_at IS NOT NULL AND {_NOT_BLOCKED}
  ON CONFLICT (day, kind, key) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS session_counts_ended AFTER UPDATE OF ended_at ON sessions
WHEN OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL BEGIN
  INSERT INTO session_counts (day, kind, key, n)
  VALUES (CAST(NEW.ended_at / 86400 AS INTEGER), 'end', COALESCE(NEW.end_reason, ''), 1)
  ON CONFLICT (day, kind, key) DO UPDATE SET n = n + 1;
END;
"""
_BACKFILL = """
INSERT INTO session_counts (day, kind, key, n)
SELECT day, kind, key, SUM(n) FROM (
  SELECT CAST(created_at / 86400 AS INTEGER) AS day,
         CASE WHEN substr(end_reason, 1, 7) = 'blocked' THEN 'blocked' ELSE 'via' END AS kind,
         CASE WHEN substr(end_reason, 1, 7) = 'blocked' THEN '' ELSE via END AS key, COUNT(*) AS n
    FROM sessions GROUP BY 1, 2, 3
  UNION ALL SELECT CAST(created_at / 86400 AS INTEGER), 'device', substr(device, 1, instr(device || '/', '/') - 1),
         COUNT(*) FROM sessions WHERE end_reason IS NULL OR substr(end_reason, 1, 7) != 'blocked' GROUP BY 1, 3
  UNION ALL SELECT CAST(created_at / 86400 AS INTEGER), 'country', country, COUNT(*) FROM sessions
   WHERE end_reason IS NULL OR substr(end_reason, 1, 7) != 'blocked' GROUP BY 1, 3
  UNION ALL SELECT CAST(ended_at / 86400 AS INTEGER), 'end', COALESCE(end_reason, ''), COUNT(*) FROM sessions
   WHERE ended_at IS NOT NULL AND (end_reason IS NULL OR substr(end_reason, 1, 7) != 'blocked') GROUP BY 1, 3
) GROUP BY 1, 2, 3
"""


# The client type (browser, library, bot, other) is the fourth part of ``device``
# (``class/browser/os/client type``; "" for a device recorded with three parts). Its counts
# came later than the others: a trigger of their own, counted from the rows once.
def _client_type(device: str) -> str:
    return (
        f"CASE WHEN length({device}) - length(replace({device}, '/', '')) = 3"
        f" THEN substr({device}, length(rtrim({device}, replace({device}, '/', ''))) + 1) ELSE '' END"
    )


_CLIENT_COUNTS = f"""
CREATE TRIGGER IF NOT EXISTS session_counts_client AFTER INSERT ON sessions WHEN {_NOT_BLOCKED} BEGIN
  INSERT INTO session_counts (day, kind, key, n)
  VALUES (CAST(NEW.created_at / 86400 AS INTEGER), 'client', {_client_type("NEW.device")}, 1)
  ON CONFLICT (day, kind, key) DO UPDATE SET n = n + 1;
END;
"""
_CLIENT_BACKFILL = f"""
INSERT INTO session_counts (day, kind, key, n)
SELECT CAST(created_at / 86400 AS INTEGER), 'client', {_client_type("device")}, COUNT(*) FROM sessions
 WHERE end_reason IS NULL OR substr(end_reason, 1, 7) != 'blocked' GROUP BY 1, 3
ON CONFLICT (day, kind, key) DO UPDATE SET n = n + excluded.n
"""


def _governance_setup(c: sqlite3.Connection) -> None:
    """The daily counts and their triggers; counted from the rows once for an older file."""

    def exists(name: str) -> bool:
        return c.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() is not None

    def setup(c: sqlite3.Connection) -> None:
        new = not exists("session_counts")
        new_clients = not exists("session_counts_client")
        for statement in _split_statements(_GOVERNANCE + _CLIENT_COUNTS):
            c.execute(statement)
        if new:
            c.execute(_BACKFILL)
        if new_clients:
            c.execute(_CLIENT_BACKFILL)

    _transaction(c, setup)


def _split_statements(script: str) -> list[str]:
    """The statements of ``script`` (triggers hold inner semicolons: split at complete ones)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _transaction(c: sqlite3.Connection, body: Callable[[sqlite3.Connection], T]) -> T:
    c.execute("BEGIN IMMEDIATE")
    try:
        result = body(c)
        c.execute("COMMIT")
    except BaseException:
        if c.in_transaction:
            c.execute("ROLLBACK")
        raise
    return result


def _migrate(c: sqlite3.Connection) -> None:
    # Inside a write transaction, so that two processes opening an older file at once
    # do not both add a column.
    for table, columns in _ADDED_COLUMNS.items():
        present = {row[1] for row in c.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns:
            if name not in present:
                c.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    c.execute(
        "UPDATE outbox SET finished_at = COALESCE(delivered_at, created_at)"
        " WHERE status != 'pending' AND finished_at IS NULL"
    )
    # Messages queued before queues existed: their user, from the payload.
    c.execute(
        "UPDATE outbox SET subject = COALESCE(json_extract(payload, '$.sub'), '')"
        " WHERE status = 'pending' AND subject = '' AND json_extract(payload, '$.sub') IS NOT NULL"
    )
