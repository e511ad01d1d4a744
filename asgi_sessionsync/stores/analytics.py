"""The session analytics of one site, computed once for every backend: from the store's
own counts where it keeps them (:class:`~asgi_sessionsync.stores.SessionAnalytics`), else
from its sessions (:class:`~asgi_sessionsync.stores.SessionAdministration.search`)."""

from __future__ import annotations

from asgi_sessionsync.stores.base import Stores
from asgi_sessionsync.stores.session_store import SessionAnalytics
from asgi_sessionsync.stores.stats import SessionStats, StatsBuilder


async def analytics(stores: Stores, since: float, until: float, *, top: int = 10) -> SessionStats:
    """The figures of :class:`SessionStats` for the UTC days from ``since``'s through
    ``until``'s: from the store's own counts where it keeps them (:class:`SessionAnalytics`:
    SQLite's and Redis's daily counts), otherwise from its sessions, newest first, at most
    ``SessionStats.MAX_ROWS`` of them (``truncated`` says when there were more)."""
    sessions = stores.sessions
    if isinstance(sessions, SessionAnalytics):
        return await sessions.analytics(since, until, top=top)
    builder = StatsBuilder(since, until, top)
    for record in await sessions.search(limit=SessionStats.MAX_ROWS + 1):
        if not builder.record(record):
            break
    return builder.build()
