"""The activity log's protocol: the fifth store (re-exported by :mod:`.base`, whose
conventions hold here too)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from asgi_sessionsync.stores.records import ActivityEntry, ActivityFilter

DEFAULT_MAX_ENTRIES = 200_000  # SESSIONSYNC_ACTIVITY_MAX_ROWS's default
TRIM_SLACK = 1000  # entries a backend that trims now and then may hold beyond max_entries


class ActivityLog(Protocol):
    """Every cross-site message sent and received, with its outcome (:class:`ActivityEntry`),
    written only when a message crosses between sites; and the actions people take on this
    site through the console (direction ``local``, with their ``actor``). Bounded by age and by size:
    :meth:`purge` deletes by age and, with ``keep``, all but the newest ``keep``; and
    :meth:`record` keeps at most ``max_entries`` (``SESSIONSYNC_ACTIVITY_MAX_ROWS``), the
    oldest going: at every write (memory, Redis) or every few hundred entries (SQLite, so
    up to :data:`TRIM_SLACK` more for a while), whether or not housekeeping runs."""

    max_entries: int

    async def record(self, entries: Sequence[ActivityEntry]) -> None:
        """Store these entries exactly as given (callers normalize ``user``), in one write.
        Ids are unique (the recorder makes them); recording a stored entry again changes nothing."""
        ...

    async def list(
        self, where: ActivityFilter | None = None, *, limit: int = 100, before: tuple[float, str] | None = None
    ) -> list[ActivityEntry]:
        """Entries matching ``where``, newest first (``at`` descending, ties by ``id``
        descending), at most ``limit``; with ``before`` (the ``(at, id)`` of the previous
        page's last entry, a cursor), only those after it in this order, so pages never
        repeat or skip an entry (one recorded meanwhile is newer: on a first page).
        For administration: may scan, but backends index by time (SQLite, and by user,
        peer and actor) or scan in time order from the cursor (Redis), so a time window
        is cheap."""
        ...

    async def purge(self, before: float, *, keep: int | None = None) -> int:
        """Delete entries with ``at < before`` and, with ``keep``, all but the newest
        ``keep`` (``at``, then ``id``); return how many this call deleted. Idempotent."""
        ...

    async def erase_user(self, user: str) -> int:
        """Delete every entry about ``user`` (normalized), sent or received (a request for
        erasure); return how many. For administration: may scan. Idempotent."""
        ...
