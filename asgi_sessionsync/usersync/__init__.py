"""User sync: users kept in step with the peers (issue #14; see docs/users.md).

- ``sync.py``: :class:`UserSync` (``Site.users``), changes made here and a peer's changes;
- ``outgoing.py``: what each peer is sent of a change, by its rules;
- ``incoming.py``: what this site takes of a peer's change, by its rules for that peer;
- ``outcomes.py``: the errors and outcomes.
"""

from __future__ import annotations

from asgi_sessionsync.usersync.outcomes import AppliedHook, EmailChangeRefused, Received, UserNotFound
from asgi_sessionsync.usersync.sync import UserSync

__all__ = ["AppliedHook", "EmailChangeRefused", "Received", "UserNotFound", "UserSync"]
