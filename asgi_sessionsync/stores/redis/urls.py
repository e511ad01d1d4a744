"""Redis store URLs: ``redis://…?prefix=…&retention=…&outage_grace=…`` checked and split."""

from __future__ import annotations

import math
import re
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio.connection import URL_QUERY_ARGUMENT_PARSERS

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.stores.redis.connection import (
    _OUR_OPTIONS,
    _PREFIX_RE,
    DEFAULT_OUTAGE_GRACE,
    DEFAULT_PREFIX,
    DEFAULT_RETENTION,
    EXAMPLE,
)
from asgi_sessionsync.urls import redact


class RedisURL(NamedTuple):
    """A store URL split: the URL for redis-py (without our options) and our options."""

    client_url: str
    prefix: str
    retention: float
    outage_grace: float


def _seconds(variable: str, name: str, value: str, *, zero: bool) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not (math.isfinite(seconds) and (seconds >= 0 if zero else seconds > 0)):
        kind = "a number of seconds, 0 or more" if zero else "a positive number of seconds"
        raise ConfigError(variable, f"{name} {value!r} must be {kind}", EXAMPLE)
    return seconds


def _split(url: str, variable: str) -> RedisURL:
    """The URL split, or ConfigError."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ConfigError(variable, f"{redact(url)!r} is not a valid Redis URL ({error})", EXAMPLE) from None
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigError(variable, "a Redis store location starts with redis:// or rediss://", EXAMPLE)
    if not parts.hostname:
        raise ConfigError(variable, f"{redact(url)!r} names no host", EXAMPLE)
    if port == 0:
        raise ConfigError(variable, f"{redact(url)!r}: port 0 is not a port", EXAMPLE)
    if parts.path not in ("", "/") and not re.fullmatch(r"/\d+", parts.path):
        raise ConfigError(variable, f"{redact(url)!r}: the path is the database number, like /0", EXAMPLE)
    if parts.fragment:
        raise ConfigError(variable, f"{redact(url)!r}: a Redis URL has no #fragment", EXAMPLE)
    prefix, retention, grace, passed = DEFAULT_PREFIX, DEFAULT_RETENTION, DEFAULT_OUTAGE_GRACE, []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "prefix":
            if not _PREFIX_RE.fullmatch(value):
                raise ConfigError(
                    variable, f"prefix {value!r} must be 1-100 of A-Z a-z 0-9 _ . : - (no braces)", EXAMPLE
                )
            prefix = value
        elif name == "retention":
            retention = _seconds(variable, name, value, zero=False)
        elif name == "outage_grace":
            grace = _seconds(variable, name, value, zero=True)
        elif name in URL_QUERY_ARGUMENT_PARSERS:
            passed.append((name, value))
        else:
            known = ", ".join(sorted(_OUR_OPTIONS | set(URL_QUERY_ARGUMENT_PARSERS)))
            raise ConfigError(variable, f"unknown Redis URL option {name!r} (known: {known})", EXAMPLE)
    return RedisURL(urlunsplit(parts._replace(query=urlencode(passed))), prefix, retention, grace)


def check_redis_url(url: str, variable: str = "SESSIONSYNC_STORE") -> None:
    """Raise :class:`ConfigError` unless ``url`` is a usable Redis store URL. Connects to nothing."""
    _split(url, variable)
