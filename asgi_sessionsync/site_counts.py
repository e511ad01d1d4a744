"""What a site counts beside its sessions (issue #26), at the one place each happens:
spam sessions when a session starts (:mod:`asgi_sessionsync.sessions.start`), user
changes when user sync applies one (:mod:`asgi_sessionsync.usersync.sync`), failed logins
when the app reports one (:func:`asgi_sessionsync.record_failed_login`).

Counting is best effort: the change it counts is made already, so a store that fails to
count says so in a WARNING and the flow goes on. Counts hold no email, address or token
(:mod:`asgi_sessionsync.stores.event_counts`).

A **spam session** is a session that, when it started, came from a client the device
detector calls a bot or a library (a script signing in: ``bot or script``), or from an
address that had started at least ``BURST_SESSIONS`` sessions here (refused sign-ins
included, this one too) in the ``BURST_WINDOW`` seconds before (``burst``): ten sign-ins
an hour from one address is a script or a shared address, worth a look either way.
"""

from __future__ import annotations

import time

from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.logs import PackageLog
from asgi_sessionsync.stores import Stores, device_parts
from asgi_sessionsync.stores.event_counts import BURST, SCRIPTED, SPAM
from asgi_sessionsync.stores.records import SessionRecord
from asgi_sessionsync.stores.session_store import administers

BURST_SESSIONS = 10  # sessions from one address within BURST_WINDOW that make the next ones spam
BURST_WINDOW = 3600.0
SCRIPTED_CLIENTS = frozenset({"bot", "library"})


async def count(stores: Stores, log: PackageLog, kind: str, key: str, *, at: float | None = None) -> None:
    """Add one to ``kind`` (``key``) today, or on the day of ``at``; a failure is logged."""
    try:
        await stores.counts.add(kind, key, time.time() if at is None else at)
    except StoreError as error:
        log.warning("could not count %s (%s): %s", kind, key, error)


async def spam_reason(stores: Stores, record: SessionRecord) -> str | None:
    """Why the session just recorded counts as spam (see the module's doc), or None."""
    if device_parts(record.device)[1] in SCRIPTED_CLIENTS:
        return SCRIPTED
    if not record.ip or not administers(stores.sessions):
        return None
    recent = await stores.sessions.search(ip=record.ip, since=record.created_at - BURST_WINDOW, limit=BURST_SESSIONS)
    return BURST if len(recent) >= BURST_SESSIONS else None


async def count_session_start(stores: Stores, log: PackageLog, record: SessionRecord) -> None:
    """Count the session just recorded as a spam session when it is one."""
    try:
        reason = await spam_reason(stores, record)
    except StoreError as error:
        log.warning("could not tell whether a session is spam: %s", error)
        return
    if reason is not None:
        await count(stores, log, SPAM, reason, at=record.created_at)
