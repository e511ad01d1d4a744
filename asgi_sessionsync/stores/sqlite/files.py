"""Where a SQLite store lives: the ``sqlite:///`` URL, and the file checked or made (mode 0600)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from asgi_sessionsync.exceptions import ConfigError, StoreError

EXAMPLE = "SESSIONSYNC_STORE=sqlite:////var/lib/myapp/sessionsync.sqlite3"
_PREFIX = "sqlite:///"


def sqlite_path(url: str, variable: str = "SESSIONSYNC_STORE") -> str:
    """The file a ``sqlite:///`` URL names, in SQLAlchemy's convention:
    ``sqlite:///relative/path`` (to the working directory), ``sqlite:////absolute/path``,
    ``sqlite:///:memory:``."""
    if not url.startswith(_PREFIX):
        raise ConfigError(variable, "a SQLite store location starts with sqlite:/// (three slashes)", EXAMPLE)
    path = url[len(_PREFIX) :]
    if not path:
        raise ConfigError(variable, "sqlite:/// names no file", EXAMPLE)
    if "?" in path or "#" in path:
        raise ConfigError(variable, "a SQLite store location takes no ?options or #fragment", EXAMPLE)
    return path


def check_sqlite_path(path: str | Path, variable: str = "SESSIONSYNC_STORE") -> None:
    """Refuse, without creating anything, a path that can never hold the database:
    a directory, one under a parent that is a file, a file this user may not write, or
    one in a directory where SQLite cannot make its ``-wal`` and ``-shm`` files."""
    if str(path) == ":memory:":
        return
    resolved = Path(os.path.abspath(path))
    try:
        if resolved.is_dir():
            raise ConfigError(variable, f"{resolved} is a directory, not a database file", EXAMPLE)
        if resolved.is_file():
            _check_writable(resolved, variable)
        ancestor = resolved.parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise ConfigError(
                variable, f"the directory {resolved.parent} cannot be created: {ancestor} is not a directory", EXAMPLE
            )
    except OSError as error:
        raise ConfigError(variable, f"cannot check {resolved}: {error.strerror}", EXAMPLE) from None


def _read_only(path: Path) -> str:
    """Why ``path`` (which exists) cannot be written, in a few words."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "it is on a read-only file system"
    except OSError:
        pass
    try:
        mode = stat.filemode(path.stat().st_mode)
    except OSError:
        mode = "?"
    return f"this user (uid {os.geteuid()}) may not write it: {mode}"


def _check_writable(resolved: Path, variable: str) -> None:
    """An existing database file must be writable, and so must its directory (SQLite
    makes ``-wal`` and ``-shm`` files beside it): say which is read-only, and why."""
    if not os.access(resolved, os.W_OK):
        raise ConfigError(variable, f"the database file {resolved} is read-only ({_read_only(resolved)})", EXAMPLE)
    directory = resolved.parent
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(
            variable,
            f"the directory {directory} is read-only ({_read_only(directory)}): SQLite makes "
            f"{resolved.name}-wal and {resolved.name}-shm beside the database file",
            EXAMPLE,
        )


def _prepare_file(path: str | Path, *, create: bool, variable: str) -> str:
    """The path to connect to, the file made (mode 0600) or its absence refused."""
    if str(path) == ":memory:":
        return ":memory:"
    check_sqlite_path(path, variable)
    resolved = Path(os.path.abspath(path))
    if not create:
        if not resolved.is_file():
            raise StoreError(f"no SQLite store at {resolved} (nothing was created): check {variable}")
        return str(resolved)
    try:
        resolved.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            variable, f"the directory {resolved.parent} cannot be created: {error.strerror}", EXAMPLE
        ) from None
    try:
        # Created owner-only before SQLite opens it: sessions and password hashes are
        # never readable by others, not even for a moment; SQLite gives the -wal and
        # -shm files the same mode. An existing file keeps the mode it has.
        os.close(os.open(resolved, os.O_RDWR | os.O_CREAT, 0o600))
    except IsADirectoryError:
        raise ConfigError(variable, f"{resolved} is a directory, not a database file", EXAMPLE) from None
    except OSError as error:
        if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM) and resolved.exists():
            reason = "it is on a read-only file system" if error.errno == errno.EROFS else error.strerror
            raise ConfigError(variable, f"the database file {resolved} is read-only ({reason})", EXAMPLE) from None
        if error.errno == errno.EROFS:
            raise ConfigError(
                variable, f"cannot create the database file {resolved}: the directory is read-only", EXAMPLE
            ) from None
        raise ConfigError(variable, f"cannot create the database file {resolved}: {error.strerror}", EXAMPLE) from None
    return str(resolved)
