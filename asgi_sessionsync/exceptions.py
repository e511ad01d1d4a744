"""The one exception hierarchy of asgi-sessionsync.

Every error a user or a peer can cause is a :class:`SessionSyncError`. Messages say
what is wrong and what to do; they never contain a secret, an envelope or a token.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asgi_sessionsync.envelope import Claims


class SessionSyncError(Exception):
    """Base class of every error raised by asgi-sessionsync."""


class ConfigError(SessionSyncError):
    """A setting is missing or invalid; raised at start-up, never per request."""

    def __init__(self, variable: str, problem: str, example: str | None = None) -> None:
        self.variable = variable
        self.problem = problem
        self.example = example
        message = f"{variable}: {problem}"
        if example:
            message += f" (example: {example})"
        super().__init__(message)


class EnvelopeFailure(enum.StrEnum):
    """Why an envelope was refused. Precise, but never says which byte failed."""

    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown key"
    BAD_TAG = "bad tag"
    WRONG_PURPOSE = "wrong purpose"
    WRONG_AUDIENCE = "wrong audience"
    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"
    IP_MISMATCH = "ip mismatch"
    REPLAYED = "replayed"
    WRONG_ISSUER = "wrong issuer"


class EnvelopeError(SessionSyncError):
    """An envelope could not be opened or was refused after opening.

    ``reason`` names the failure. ``claims`` is set only for failures found *after*
    the authentication tag verified (expired, not yet valid, IP mismatch, replayed,
    wrong issuer): the claims are then authentic, just not acceptable.
    """

    reason: EnvelopeFailure = EnvelopeFailure.MALFORMED

    def __init__(self, reason: EnvelopeFailure | None = None, claims: Claims | None = None) -> None:
        if reason is not None:
            self.reason = reason
        self.claims = claims
        super().__init__(f"envelope refused: {self.reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.claims))


class StoreError(SessionSyncError):
    """A store could not be reached or returned something unusable."""


class StoreUnavailable(StoreError):
    """A store cannot answer now: its server is unreachable or does not answer in time,
    its disk is full, its file is read-only, damaged or locked by another process past
    the busy timeout. A known state, not a bug: the stores raise it in place of the
    driver's error, the request path answers it with a 503 (docs/operations.md, "When a
    store is down"), and the store's :class:`~asgi_sessionsync.stores.availability.Availability`
    logs one line when it goes and one when it is back.

    ``store`` names the store ("SQLite store FILE", "Redis store URL" without its password),
    ``problem`` says what is wrong in a few words ("the disk is full"), ``detail`` the
    driver's own words. None of them ever holds a token or a payload. ``maybe_done``: the
    operation may still have been carried out (a command sent to a server that did not
    answer in time, or whose connection broke before its answer: a paused Redis runs it
    when it wakes); False when it certainly was not (SQLite rolls back; a connection that
    was never made; a call not tried).
    """

    def __init__(self, store: str, problem: str, detail: str = "", *, maybe_done: bool = False) -> None:
        self.store = store
        self.problem = problem
        self.detail = detail
        self.maybe_done = maybe_done
        super().__init__(f"{store} unavailable: {problem}" + (f" ({detail})" if detail else ""))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_unavailable, (self.store, self.problem, self.detail, self.maybe_done))


class InvalidEmail(SessionSyncError):
    """Text that is not a valid email address; the message names the problem, never the text."""


def _rebuild_unavailable(store: str, problem: str, detail: str, maybe_done: bool) -> StoreUnavailable:
    return StoreUnavailable(store, problem, detail, maybe_done=maybe_done)
