"""The analytics of one site, computed once for every backend.

- The sessions' figures (:class:`SessionStats`): from the store's own counts where it
  keeps them (:class:`~asgi_sessionsync.stores.SessionAnalytics`), else from its sessions
  (:class:`~asgi_sessionsync.stores.SessionAdministration.search`).
- What the site counts beside (:class:`EventFigures`: failed logins, spam sessions, user
  changes) from ``Stores.counts``, and the accounts (:class:`AccountStats`) from the user
  store and the register of verified addresses: :func:`site_analytics`, which the report,
  the ``analytics`` command and the console's page show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asgi_sessionsync.stores.accounts import AccountStats, account_stats
from asgi_sessionsync.stores.base import Stores
from asgi_sessionsync.stores.event_counts import EventFigures, figures_of
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


# Logins not vouched for by a peer: the ones an app's failed-login signal is about.
LOGINS_HERE = ("here", "adopted")


@dataclass
class SiteAnalytics:
    """Every figure of a period: the sessions', the counted events' and the accounts'.

    ``login_success``: the logins made on this site (``here`` and ``adopted``: not a
    peer's sign-in) per login attempt, attempts being those logins, the failed logins the
    app reported (:func:`~asgi_sessionsync.record_failed_login`) and the sign-ins the
    policy blocked; None when there was no attempt. Without the app's signal it is the
    share the policy let through."""

    sessions: SessionStats
    events: EventFigures
    accounts: AccountStats

    @property
    def logins_here(self) -> int:
        return sum(self.sessions.logins.get(how, 0) for how in LOGINS_HERE)

    @property
    def login_attempts(self) -> int:
        return self.logins_here + self.events.total_failed + self.sessions.blocked

    @property
    def login_success(self) -> float | None:
        attempts = self.login_attempts
        return self.logins_here / attempts if attempts else None

    def as_dict(self) -> dict[str, Any]:
        success = self.login_success
        return {
            **self.sessions.as_dict(),
            "login_success": None if success is None else round(success, 4),
            "login_attempts": self.login_attempts,
            **self.events.as_dict(),
            "accounts": self.accounts.as_dict(),
        }


async def site_analytics(stores: Stores, since: float, until: float, *, top: int = 10) -> SiteAnalytics:
    """The :class:`SiteAnalytics` of the UTC days from ``since``'s through ``until``'s."""
    sessions = await analytics(stores, since, until, top=top)
    events = figures_of(await stores.counts.read(sessions.since, until))
    return SiteAnalytics(sessions, events, await account_stats(stores, since, until))
