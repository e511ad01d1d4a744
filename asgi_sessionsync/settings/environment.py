"""Reading the environment's ``.env`` file, and turning a configuration error into a clean exit."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from asgi_sessionsync.exceptions import ConfigError


def read_env_file(path: str | Path) -> dict[str, str]:
    """Parse a ``.env`` file: ``KEY=value`` lines, ``#`` comments, optional quotes."""
    file = Path(path)
    if not file.is_file():
        return {}
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
        values[key] = value
    return values


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
        raise SystemExit(f"asgi-sessionsync: configuration error: {error}") from None
