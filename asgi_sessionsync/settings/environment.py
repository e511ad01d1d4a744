"""Reading the environment's ``.env`` file, and turning a configuration error into a clean exit."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from asgi_sessionsync.exceptions import ConfigError, config_problems

# Settings whose value is a file: relative in an env file, relative to that file's directory.
_SQLITE = "sqlite:///"
_FILE_VARIABLES = (
    "SESSIONSYNC_NETWORK_FILE",
    "SESSIONSYNC_POLICY_FILE",
    "SESSIONSYNC_GEOIP_DATABASE",
    "SESSIONSYNC_PEER_CA_FILE",
)


def read_env_file(path: str | Path) -> dict[str, str]:
    """Parse a ``.env`` file: ``KEY=value`` lines, ``#`` comments, optional quotes.

    A relative path in it (a ``sqlite:///relative`` store, a network or policy file, a
    GeoIP database, the peers' CA file) is taken relative to the file's own directory, not to wherever the
    command happens to run: the values come back absolute."""
    file = Path(path)
    if not file.is_file():
        return {}
    base = Path(os.path.abspath(file)).parent
    values: dict[str, str] = {}
    for line in file.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = _anchored(key, value, base)
    return values


def _anchored(name: str, value: str, base: Path) -> str:
    """``value`` of variable ``name`` with a relative file path made absolute under ``base``."""
    if name == "SESSIONSYNC_STORE" and value.startswith(_SQLITE):
        path = value[len(_SQLITE) :]
        if path and path != ":memory:" and not os.path.isabs(path):
            return _SQLITE + str(base / path)
    elif name in _FILE_VARIABLES and value and not os.path.isabs(os.path.expanduser(value)):
        return str(base / value)
    return value


def unread_env_file(directory: str | Path = ".") -> Path | None:
    """A ``.env`` file in ``directory`` that holds ``SESSIONSYNC_*`` lines, or None: one
    that is not read unless asked for (``env_file=".env"``, ``--env-file .env``), so that
    the caller can say so instead of starting on other settings than the file's."""
    file = Path(directory) / ".env"
    try:
        if file.is_file() and any(key.startswith("SESSIONSYNC_") for key in read_env_file(file)):
            return file
    except (OSError, UnicodeDecodeError):
        return None
    return None


@contextlib.contextmanager
def exit_on_config_error() -> Iterator[None]:
    """Turn a :class:`ConfigError` raised inside into ``SystemExit`` with one line.

    For the code that builds the app, at import or in an app factory: a server such
    as uvicorn prints an exception from there with its whole traceback, but prints a
    ``SystemExit`` message as it is, and stops::

        with exit_on_config_error():
            app = SessionSyncMiddleware(app)
    """
    try:
        yield
    except ConfigError as error:
        # One line per wrong setting: all of them, not only the first.
        lines = (f"asgi-sessionsync: configuration error: {problem}" for problem in config_problems(error))
        raise SystemExit("\n".join(lines)) from None
