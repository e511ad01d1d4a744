"""The operator's console and each user's own sessions page (docs/console.md).

- :class:`Console`: the operator's pages (sessions, users, network, analytics, activity
  log, policy), an ASGI app; the middleware serves one at ``<prefix>console/``.
- :class:`AccountPage`: a user's own sessions; served at ``<prefix>account``.
- :func:`list_sessions`, :func:`end_session`, :func:`end_other_sessions`: the same for
  apps that draw their own page (also exported from :mod:`asgi_sessionsync`).

Modules: ``guard.py`` who may look, ``csrf.py`` the POST checks, ``forms.py`` reading a
POST, ``render.py`` the HTML and headers, ``context.py`` what a page is given, ``app.py``
the route table, ``listing.py`` cursors; one module per page.
"""

from __future__ import annotations

from asgi_sessionsync.console.account_page import AccountPage
from asgi_sessionsync.console.app import Console
from asgi_sessionsync.console.guard import Admit, Viewer
from asgi_sessionsync.console.own import OwnSession, end_other_sessions, end_session, list_sessions

__all__ = [
    "AccountPage",
    "Admit",
    "Console",
    "OwnSession",
    "Viewer",
    "end_other_sessions",
    "end_session",
    "list_sessions",
]
