"""SQLite's errors in the package's words: which ones make the store unavailable (a full
disk, an I/O error, a read-only or damaged file, a lock held too long), and what to say."""

from __future__ import annotations

import sqlite3

_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

# Primary result codes (the low byte of an extended code) that mean the store cannot
# answer now, whatever the statement: not a bug of the caller.
_UNAVAILABLE = {
    sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_IOERR: "disk I/O error",
    sqlite3.SQLITE_READONLY: "the file is read-only",
    sqlite3.SQLITE_CANTOPEN: "the file cannot be opened",
    sqlite3.SQLITE_CORRUPT: "the file is damaged",
    sqlite3.SQLITE_NOTADB: "the file is damaged (not a SQLite database)",
    sqlite3.SQLITE_PROTOCOL: "file locking failed",
    sqlite3.SQLITE_NOMEM: "out of memory",
    sqlite3.SQLITE_PERM: "access to the file is denied",
}


def primary_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def is_busy(error: sqlite3.Error) -> bool:
    return isinstance(error, sqlite3.OperationalError) and primary_code(error) in _BUSY


def unavailable_problem(error: sqlite3.Error) -> str | None:
    """What makes the store unavailable, in a few words, or None when ``error`` is
    something else (a constraint, a bug)."""
    code = primary_code(error)
    return _UNAVAILABLE.get(code) if code is not None else None
