"""User sync: users kept in step with the peers (issue #14; see docs/users.md).

- ``sync.py``: :class:`UserSync` (``Site.users``), changes made here and a peer's changes;
- ``outgoing.py``: what each peer is sent of a change, by its rules;
- what this site takes of a peer's change is decided by :mod:`asgi_sessionsync.trust`;
- ``outcomes.py``: the errors and outcomes.
"""

from __future__ import annotations

from asgi_sessionsync.usersync.outcomes import AppliedHook, EmailChangeRefused, Received, UserDeleted, UserNotFound
from asgi_sessionsync.usersync.sync import UserSync

__all__ = ["AppliedHook", "EmailChangeRefused", "Received", "UserDeleted", "UserNotFound", "UserSync"]
