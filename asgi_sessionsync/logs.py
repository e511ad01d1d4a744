"""Logging: every line names its site, and an optional JSON format.

The package logs to ``asgi_sessionsync`` and its children (``.endpoints``, ``.health``,
``.backchannel``; see docs/operations.md for each line). Several sites may share one
process (tests, the demo, a host serving several apps), so each line is written
through a :class:`SiteLog`: its message starts with ``[<site origin>]`` and its
record carries ``site``, for formatters and filters.

The package configures no handler unless asked: ``SESSIONSYNC_LOG_FORMAT=json`` (or
:func:`use_json_logs`) gives its loggers one handler writing a JSON object a line to
stderr; :class:`JSONFormatter` can also be named in a ``logging.config`` dictionary
(uvicorn's ``--log-config``) for any logger.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

__all__ = ["JSONFormatter", "RateLimit", "SiteLog", "site_log", "use_json_logs"]

ROOT = "asgi_sessionsync"

if TYPE_CHECKING:
    _Adapter = logging.LoggerAdapter[logging.Logger]
else:
    _Adapter = logging.LoggerAdapter


class SiteLog(_Adapter):
    """A logger's view for one site: ``[origin] message``, and ``record.site``."""

    def __init__(self, logger: logging.Logger, site: str) -> None:
        super().__init__(logger, {"site": site})
        self.site = site
        self._prefix = f"[{site}] "

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(kwargs.get("extra") or {}), "site": self.site}
        return self._prefix + str(msg), kwargs


@functools.lru_cache(maxsize=1024)
def site_log(name: str, site: str) -> SiteLog:
    """The :class:`SiteLog` of logger ``name`` for ``site`` (made once)."""
    return SiteLog(logging.getLogger(name), site)


class JSONFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``site``
    (when the line is a site's), ``message`` (without the ``[site]`` prefix), and
    ``exception`` with the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        site = getattr(record, "site", None)
        if isinstance(site, str):
            message = message.removeprefix(f"[{site}] ")
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        if isinstance(site, str):
            data["site"] = site
        data["message"] = message
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class RateLimit:
    """Whether a line about ``key`` may be logged now: at most once per ``period`` seconds
    per key (the keys are few: names, reasons)."""

    def __init__(self, period: float = 60.0) -> None:
        self.period = period
        self._last: dict[str, float] = {}

    def __call__(self, key: str) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, -self.period) < self.period:
            return False
        self._last[key] = now
        return True


class _JSONHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler :func:`use_json_logs` installed, so it is installed once."""


def use_json_logs(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Give the ``asgi_sessionsync`` loggers one JSON handler (stderr by default) and
    stop them propagating to the root logger (no line twice). Idempotent."""
    logger = logging.getLogger(ROOT)
    if any(isinstance(h, _JSONHandler) for h in logger.handlers):
        return
    handler = _JSONHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter())
    logger.addHandler(handler)
    logger.propagate = False
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
