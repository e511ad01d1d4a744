"""Sessions of one site: the session cookie is an envelope of purpose ``session`` naming a
row of the session registry; the registry is the authority on whether it is still active,
and is asked on every request, so that a sign-out anywhere takes effect at once.

One part per job, each built complete by :class:`~asgi_sessionsync.site.Site`:
``resolve.py`` which session a cookie names (per request), ``start.py`` the registry row
and the cookie of a new session, ``end.py`` ending sessions and the app logins that go
with them. Whether a session may start, and the steps it takes, are
:mod:`~asgi_sessionsync.sessions.opening`'s (it takes the site, so it is imported from
its module, not from here).
"""

from __future__ import annotations

from asgi_sessionsync.sessions.active import TOUCH_EVERY, ActiveSession
from asgi_sessionsync.sessions.end import SessionEnder
from asgi_sessionsync.sessions.resolve import OPENED_MAX, SessionResolver
from asgi_sessionsync.sessions.start import SessionStarter

__all__ = ["OPENED_MAX", "TOUCH_EVERY", "ActiveSession", "SessionEnder", "SessionResolver", "SessionStarter"]
