"""Keep envelopes and token-carrying query values out of logs.

Hop, frame and bounce URLs carry envelopes in their query strings, and a server's
access log writes every request line. :class:`RedactTokens` rewrites a log record
before any handler sees it: every envelope-looking value (``v1.``/``v2.``, a key id,
a base64url body) and the value of every ``e``, ``t``, ``q`` and ``k`` query parameter
becomes ``[redacted]``, in the message and in its arguments (uvicorn passes the
request line as a tuple of arguments, hypercorn as a dict of atoms).

    from asgi_sessionsync.logfilter import install_redaction
    install_redaction()  # uvicorn.access and hypercorn.access
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["REDACTED", "RedactTokens", "install_redaction", "redact"]

REDACTED = "[redacted]"
_ENVELOPE = re.compile(r"v[12]\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
# A query parameter named e, t, q or k: at the start of a query string, or after ? & ;
_PARAMETER = re.compile(r"(^|[?&;])([etqk]=)[^&;#\s\"']*")


def redact(text: str) -> str:
    """``text`` with envelopes and the values of e, t, q and k parameters replaced."""
    if "=" not in text and "v" not in text:
        return text
    text = _ENVELOPE.sub(REDACTED, text)
    return _PARAMETER.sub(rf"\1\2{REDACTED}", text)


def _redacted(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactTokens(logging.Filter):
    """A filter that redacts tokens in a record's message and arguments; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_redacted(a) for a in args)
        elif isinstance(args, Mapping):
            record.args = {k: _redacted(v) for k, v in args.items()}
        return True


def install_redaction(logger_names: Iterable[str] = ("uvicorn.access", "hypercorn.access")) -> None:
    """Add one :class:`RedactTokens` to each named logger (again: no second one).

    A logger's filters survive ``logging.config.dictConfig`` (uvicorn's own logging
    set-up), so this may run before or after the server is configured.
    """
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
