"""The activity log's protocol: the fifth store (re-exported by :mod:`.base`, whose
conventions hold here too)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from asgi_sessionsync.stores.records import ActivityEntry, ActivityFilter


class ActivityLog(Protocol):
    """Every cross-site message sent and received, with its outcome (:class:`ActivityEntry`),
    written only when a message crosses between sites. Bounded: :meth:`purge` deletes by
    age; Redis and memory also keep at most a fixed number of entries, the oldest going."""

    async def record(self, entries: Sequence[ActivityEntry]) -> None:
        """Store these entries exactly as given (callers normalize ``user``), in one write.
        Ids are unique (the recorder makes them); recording a stored entry again changes nothing."""
        ...

    async def list(self, where: ActivityFilter | None = None, *, limit: int = 100) -> list[ActivityEntry]:
        """Entries matching ``where``, newest first (``at`` descending, ties by ``id``
        descending), at most ``limit``. For administration: may scan, but backends
        index by time (SQLite) or scan in time order (Redis) so a time window is cheap."""
        ...

    async def purge(self, before: float) -> int:
        """Delete entries with ``at < before``; return how many this call deleted. Idempotent."""
        ...
