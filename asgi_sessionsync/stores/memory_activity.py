"""The activity log in memory (tests, development): kept sorted by time, bounded."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from asgi_sessionsync.stores.activity_log import DEFAULT_MAX_ENTRIES
from asgi_sessionsync.stores.base import ActivityEntry, ActivityFilter, normalize_email


def _key(entry: ActivityEntry) -> tuple[float, str]:
    return (entry.at, entry.id)


class MemoryActivityLog:
    """Entries kept sorted by ``(at, id)``; bounded by :meth:`purge` and by
    ``max_entries`` (the oldest go first), since a process may run without housekeeping."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._entries: list[ActivityEntry] = []
        self._ids: set[str] = set()
        self.max_entries = max_entries

    async def record(self, entries: Sequence[ActivityEntry]) -> None:
        for entry in entries:
            if entry.id in self._ids:
                continue
            self._ids.add(entry.id)
            bisect.insort(self._entries, entry, key=_key)
        self._trim(self.max_entries)

    def _trim(self, keep: int) -> int:
        excess = len(self._entries) - keep
        if excess <= 0:
            return 0
        for entry in self._entries[:excess]:
            self._ids.discard(entry.id)
        del self._entries[:excess]
        return excess

    async def list(
        self, where: ActivityFilter | None = None, *, limit: int = 100, before: tuple[float, str] | None = None
    ) -> list[ActivityEntry]:
        where = where or ActivityFilter()
        end = len(self._entries) if before is None else bisect.bisect_left(self._entries, before, key=_key)
        found: list[ActivityEntry] = []
        for index in range(end - 1, -1, -1):
            if len(found) >= limit:
                break
            entry = self._entries[index]
            if where.matches(entry):
                found.append(entry)
        return found

    async def erase_user(self, user: str) -> int:
        email = normalize_email(user)
        kept = [e for e in self._entries if e.user != email]
        erased = len(self._entries) - len(kept)
        self._entries = kept
        self._ids = {e.id for e in kept}
        return erased

    async def purge(self, before: float, *, keep: int | None = None) -> int:
        cut = bisect.bisect_left(self._entries, before, key=lambda e: e.at)
        for entry in self._entries[:cut]:
            self._ids.discard(entry.id)
        del self._entries[:cut]
        return cut + (self._trim(keep) if keep is not None else 0)
