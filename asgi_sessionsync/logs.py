"""Logging: every line names its site, and an optional JSON format.

The package logs to ``asgi_sessionsync`` and its children (``.endpoints``, ``.health``,
``.backchannel``; see docs/operations.md for each line). Several sites may share one
process (tests, the demo, a host serving several apps), so each line is written
through a :class:`SiteLog`: its message starts with ``[<site origin>]`` and its
record carries ``site``, for formatters and filters.

Every line of the package goes through :class:`PackageLog` (``SiteLog`` is one;
:func:`package_log` gives one for lines that name no site): the one place where the
message and its arguments are escaped (``validation.printable``: control, bidi and
invisible characters), so a value from a request (a query parameter, a header, an
exception's text) can never start a forged line or move a terminal's cursor.

Where nobody configured logging (no handler on ``asgi_sessionsync`` nor on the root
logger: a plain ``uvicorn app:app``, a Django project whose ``LOGGING`` names only
``django``), :func:`ensure_handler` gives the package's loggers one stderr handler at
INFO when the middleware is built, so its lines appear whatever the framework; it stays
silent once the root logger has handlers of its own (a configuration made later), so no
line is written twice. ``SESSIONSYNC_LOG_FORMAT=json`` (or :func:`use_json_logs`) gives
its loggers one handler writing a JSON object a line to stderr; :class:`JSONFormatter`
can also be named in a ``logging.config`` dictionary (uvicorn's ``--log-config``) for
any logger.
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

from asgi_sessionsync.validation import printable

__all__ = [
    "JSONFormatter",
    "PackageLog",
    "RateLimit",
    "SiteLog",
    "ensure_handler",
    "package_log",
    "site_log",
    "use_json_logs",
]

ROOT = "asgi_sessionsync"
ARGUMENT_LIMIT = 1000  # characters of one escaped argument; a request cannot make a line huge

if TYPE_CHECKING:
    _Adapter = logging.LoggerAdapter[logging.Logger]
else:
    _Adapter = logging.LoggerAdapter


class _Escaped:
    """An argument of a log line, shown escaped by ``%s`` and ``%r`` alike."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return printable(str(self.value), ARGUMENT_LIMIT)

    def __repr__(self) -> str:
        text = repr(self.value)
        return text if text.isprintable() else printable(text, ARGUMENT_LIMIT)


def _escaped(value: object) -> object:
    # Numbers (and None) stay themselves, so that %d and %.1f keep working.
    return value if value is None or isinstance(value, int | float) else _Escaped(value)


class PackageLog(_Adapter):
    """A logger of the package that escapes every line's message and arguments."""

    def __init__(self, logger: logging.Logger, extra: dict[str, object] | None = None) -> None:
        super().__init__(logger, extra or {})

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        msg, options = self.process(msg, kwargs)
        text = str(msg)
        if not text.isprintable():
            text = printable(text, len(text) * 10)
        options["stacklevel"] = options.get("stacklevel", 1) + 1  # the caller's line, not this one
        self.logger.log(level, text, *(_escaped(a) for a in args), **options)


def package_log(name: str) -> PackageLog:
    """The escaping :class:`PackageLog` of logger ``name``, for lines that name no site."""
    return PackageLog(logging.getLogger(name))


class SiteLog(PackageLog):
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


class _FallbackHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`ensure_handler` installs: writes only while the root logger has
    no handler of its own (once it has, the line reaches it by propagation)."""

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.getLogger().handlers:
            super().emit(record)


FALLBACK_FORMAT = "%(levelname)s %(name)s %(message)s"


def ensure_handler(stream: TextIO | None = None) -> bool:
    """Give the ``asgi_sessionsync`` loggers a stderr handler at INFO when neither they
    nor the root logger have one (nobody configured logging), so that their lines are
    seen under any server and framework. True when it did. A configuration with handlers
    (for ``asgi_sessionsync``, or the root logger) is left as it is; to silence the
    package, give its logger a ``logging.NullHandler()`` or a level."""
    logger = logging.getLogger(ROOT)
    if logger.hasHandlers():
        return False
    handler = _FallbackHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(FALLBACK_FORMAT))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    return True


class _JSONHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler :func:`use_json_logs` installed, so it is installed once."""


def use_json_logs(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Give the ``asgi_sessionsync`` loggers one JSON handler (stderr by default) and
    stop them propagating to the root logger (no line twice). Idempotent."""
    logger = logging.getLogger(ROOT)
    for fallback in [h for h in logger.handlers if isinstance(h, _FallbackHandler)]:
        logger.removeHandler(fallback)  # JSON instead of the plain fallback
    if any(isinstance(h, _JSONHandler) for h in logger.handlers):
        return
    handler = _JSONHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter())
    logger.addHandler(handler)
    logger.propagate = False
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
