"""What a site counts beside its sessions (issue #26), at the one place each happens:
spam sessions when a session starts (:mod:`asgi_sessionsync.sessions.start`), user
changes when user sync applies one (:mod:`asgi_sessionsync.usersync.sync`), failed logins
when the app reports one (:func:`asgi_sessionsync.record_failed_login`).

Counting is best effort: the change it counts is made already, so a store that fails to
count says so in a WARNING and the flow goes on. Counts hold no email, address or token
(:mod:`asgi_sessionsync.stores.event_counts`).

A **spam session** is a session that, when it started, came from a client the device
detector calls a bot or a library (a script signing in: ``bot or script``), or from an
address that had started at least ``BURST_SESSIONS`` sessions here (this one too) in the
``BURST_WINDOW`` seconds before (``burst``): ten sign-ins an hour from one address is a
script or a shared address, worth a look either way. The burst is told from this
process's memory (:class:`SpamSessions`: the last ``BURST_SESSIONS`` start times of at most
``BURST_ADDRESSES`` addresses), not by asking the store on every sign-in: a sign-in pays
no read for an analytics figure. So with several workers each counts its own share (a
burst spread over N workers shows from N times ``BURST_SESSIONS`` sessions an hour on).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque

from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.logs import PackageLog
from asgi_sessionsync.stores import Stores, device_parts
from asgi_sessionsync.stores.event_counts import BURST, SCRIPTED, SPAM
from asgi_sessionsync.stores.records import SessionRecord

BURST_SESSIONS = 10  # sessions from one address within BURST_WINDOW that make the next ones spam
BURST_WINDOW = 3600.0
BURST_ADDRESSES = 10_000  # addresses remembered (the least recently seen forgotten first)
SCRIPTED_CLIENTS = frozenset({"bot", "library"})


async def count(stores: Stores, log: PackageLog, kind: str, key: str, *, at: float | None = None) -> None:
    """Add one to ``kind`` (``key``) today, or on the day of ``at``; a failure is logged."""
    try:
        await stores.counts.add(kind, key, time.time() if at is None else at)
    except StoreError as error:
        log.warning("could not count %s (%s): %s", kind, key, error)


class SpamSessions:
    """Tells and counts spam sessions as they start (see the module's doc); one per site."""

    def __init__(self, stores: Stores, log: PackageLog) -> None:
        self.stores = stores
        self.log = log
        self._starts: OrderedDict[str, deque[float]] = OrderedDict()  # address -> recent start times

    def reason(self, record: SessionRecord) -> str | None:
        """Why the session just recorded counts as spam, or None."""
        if device_parts(record.device)[1] in SCRIPTED_CLIENTS:
            return SCRIPTED
        if not record.ip:
            return None
        starts = self._starts.pop(record.ip, None) or deque(maxlen=BURST_SESSIONS)
        self._starts[record.ip] = starts  # now the most recently seen
        if len(self._starts) > BURST_ADDRESSES:
            self._starts.popitem(last=False)
        starts.append(record.created_at)
        return BURST if len(starts) == BURST_SESSIONS and starts[0] >= record.created_at - BURST_WINDOW else None

    async def count(self, record: SessionRecord) -> None:
        """Count the session just recorded as a spam session when it is one."""
        reason = self.reason(record)
        if reason is not None:
            await count(self.stores, self.log, SPAM, reason, at=record.created_at)
