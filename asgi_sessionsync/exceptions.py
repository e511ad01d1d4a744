"""The one exception hierarchy of asgi-sessionsync.

Every exception class of the package is defined here, under :class:`SessionSyncError`
(a test keeps it so); each is importable from the root package, and from the module
that raised it before (``asgi_sessionsync.users.UserNotFound``, ``mail.MailError``, …).
Messages say what is wrong and what to do; they never contain a secret, an envelope or a
token.

::

    SessionSyncError
    ├── ConfigError          a setting is missing or invalid (start-up)
    ├── StartupRefused       the site could not start: raised into the app's lifespan
    ├── EnvelopeError        an envelope was refused (its reason: EnvelopeFailure)
    ├── StoreError           a store could not be reached or answered nonsense
    ├── InvalidEmail         text that is not an email address
    ├── MailError            a message could not be sent
    ├── UserNotFound         no such user on this site (user sync's API)
    │   └── UserDeleted      the user was deleted for good here
    └── EmailChangeRefused   a synced user's email cannot change
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asgi_sessionsync.claims import Claims


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


class ConfigErrors(ConfigError):
    """Several settings are wrong: every one of them (``errors``), so that one run of
    ``config check`` or one failed start shows them all. Its text is one line per error;
    ``variable``, ``problem`` and ``example`` are the first one's."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = tuple(errors)
        first = self.errors[0]
        super().__init__(first.variable, first.problem, first.example)
        self.args = ("\n".join(str(error) for error in self.errors),)

    def __str__(self) -> str:
        return str(self.args[0])


def config_error_of(errors: list[ConfigError]) -> ConfigError:
    """The one error to raise for ``errors`` (not empty): itself when there is one."""
    flat = [one for error in errors for one in getattr(error, "errors", (error,))]
    return flat[0] if len(flat) == 1 else ConfigErrors(flat)


def config_problems(error: ConfigError) -> list[str]:
    """Each error ``error`` stands for, as text (one for a plain :class:`ConfigError`)."""
    return [str(one) for one in getattr(error, "errors", (error,))]


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


class StoreDamaged(StoreError):
    """A store's file is damaged: ``PRAGMA quick_check`` found problems (its words). Found
    at start-up, and named there as a configuration error (the setting names a file that
    cannot serve)."""


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


class StartupRefused(SessionSyncError):
    """The site cannot start (a store that cannot be opened, an async library the store
    does not run on, …): raised into the app's lifespan after the server was told
    (``lifespan.startup.failed``, with the same message)."""


class MailError(SessionSyncError):
    """A message could not be sent. Its text names the server (never a password) and
    what went wrong; the middleware shows the user a page saying so and keeps what
    was held."""


class UserNotFound(SessionSyncError):
    """The user to change does not exist on this site."""


class UserDeleted(UserNotFound):
    """The user was deleted for good on this site (a final deletion): nothing makes it
    again until an operator lifts it (``python -m asgi_sessionsync users undelete EMAIL``,
    or :func:`asgi_sessionsync.users.lift_deletion`)."""


class EmailChangeRefused(SessionSyncError):
    """The email of a synced user cannot change (``SESSIONSYNC_PREVENT_EMAIL_CHANGE``):
    it is the user's key across the network."""


def _rebuild_unavailable(store: str, problem: str, detail: str, maybe_done: bool) -> StoreUnavailable:
    return StoreUnavailable(store, problem, detail, maybe_done=maybe_done)


class WprusRefused(SessionSyncError):
    """A WP Remote Users Sync message that this site does not take (a bundle that does not
    open, a token that is unknown, used, expired or for another action, an unknown site);
    ``reason`` is a few words for the log, never shown to a browser."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MessageRefused(SessionSyncError):
    """A message of the app's own kind that cannot be sent: a kind that is not
    ``app.<name>`` or not declared in the network file, a payload that is not JSON values
    or is over the size limit (:func:`asgi_sessionsync.app_messages.send_message`)."""
