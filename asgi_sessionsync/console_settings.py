"""The operator's console: its section of the settings (``SESSIONSYNC_CONSOLE``), declared
beside the console and composed into :class:`~asgi_sessionsync.settings.Settings`. A leaf
module (the settings' parsers only)."""

from __future__ import annotations

from dataclasses import dataclass

from asgi_sessionsync.settings.parsers import _bool, _field


@dataclass(frozen=True)
class ConsoleSettings:
    """Whether the middleware serves the console and the users' own page (docs/console.md)."""

    serve_console: bool = _field(
        "CONSOLE",
        _bool,
        True,
        "Serve the operator's console at <prefix>console/ (privileged users of this site only) and each "
        "user's own sessions page at <prefix>account (docs/console.md). Off: neither is served; an app can "
        "still mount asgi_sessionsync.console.Console itself.",
    )
