"""What user sync reports: its errors, what became of a peer's message, the hook type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple

from asgi_sessionsync.exceptions import SessionSyncError
from asgi_sessionsync.protocol import UserAction
from asgi_sessionsync.stores.versions import Applied


class UserNotFound(SessionSyncError):
    """The user to change does not exist on this site."""


class UserDeleted(UserNotFound):
    """The user was deleted for good on this site (a final deletion): nothing makes it
    again until an operator lifts it (``python -m asgi_sessionsync users undelete EMAIL``,
    or :func:`asgi_sessionsync.users.lift_deletion`)."""


class EmailChangeRefused(SessionSyncError):
    """The email of a synced user cannot change (``SESSIONSYNC_PREVENT_EMAIL_CHANGE``):
    it is the user's key across the network."""


class Received(NamedTuple):
    """What became of a peer's user message: ``outcome`` is ``applied``, ``stale``,
    ``deleted``, ``unknown user`` or ``refused: <why>``."""

    outcome: str
    applied: Applied | None = None

    @property
    def refused(self) -> bool:
        return self.outcome.startswith("refused")


# Called with (peer, action, outcome) after a peer's change was applied here (the Django
# adapter writes it to the app's own User model). Never called for this site's own changes.
AppliedHook = Callable[[str, UserAction, Applied], Awaitable[None]]
