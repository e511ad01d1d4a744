"""What user sync reports: what became of a peer's message, the hook type (and its errors,
defined in :mod:`asgi_sessionsync.exceptions`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple

# Defined in exceptions.py, with every exception of the package; importable here as before.
from asgi_sessionsync.exceptions import EmailChangeRefused as EmailChangeRefused
from asgi_sessionsync.exceptions import UserDeleted as UserDeleted
from asgi_sessionsync.exceptions import UserNotFound as UserNotFound
from asgi_sessionsync.protocol import UserAction
from asgi_sessionsync.stores.versions import Applied


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
