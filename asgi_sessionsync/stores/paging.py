"""Pages by cursor: of sessions (:meth:`SessionAdministration.page`), for the backends that walk
an index in Python (memory, Redis), the one definition of the budget and of ``next``; and
the end of a range of strings that start with a prefix (users by email prefix)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable

from asgi_sessionsync.stores.records import SessionFilter, SessionKey, SessionPage, SessionRecord


def key_of(record: SessionRecord) -> SessionKey:
    return (record.created_at, record.sid)


def after_cursor(record: SessionRecord, after: SessionKey | None) -> bool:
    """Whether ``record`` comes after ``after`` in the order of pages (newest first)."""
    return after is None or key_of(record) < after


class PageBuilder:
    """Takes the sessions of the walked index in page order, as they are examined (a
    session the index names that is gone is examined all the same: ``None``)."""

    def __init__(self, where: SessionFilter, limit: int, budget: int) -> None:
        self.where = where
        self.limit = max(limit, 1)
        self.budget = max(budget, 1)
        self.found: list[SessionRecord] = []
        self.examined = 0
        self.last: SessionKey | None = None

    @property
    def done(self) -> bool:
        return len(self.found) > self.limit or self.examined >= self.budget

    def take(self, key: SessionKey, record: SessionRecord | None) -> bool:
        """Examine one session; False once the page is complete (stop walking)."""
        self.examined += 1
        self.last = key
        if record is not None and self.where.matches(record):
            self.found.append(record)
        return not self.done

    def build(self) -> SessionPage:
        """The page: a session beyond ``limit`` found means more remain (``next`` is the
        page's last); a spent budget means the walk stopped at ``last``; else the index
        ran out."""
        if len(self.found) > self.limit:
            return SessionPage(self.found[: self.limit], key_of(self.found[self.limit - 1]))
        if self.examined >= self.budget:
            return SessionPage(self.found, self.last)
        return SessionPage(self.found, None)


def page_of(
    ordered: Iterable[SessionRecord], where: SessionFilter, after: SessionKey | None, limit: int, budget: int
) -> SessionPage:
    """A page from sessions already in page order (newest first)."""
    builder = PageBuilder(where, limit, budget)
    for record in ordered:
        if after_cursor(record, after) and not builder.take(key_of(record), record):
            break
    return builder.build()


async def page_from(
    walk: AsyncIterable[tuple[SessionKey, SessionRecord | None]], where: SessionFilter, limit: int, budget: int
) -> SessionPage:
    """A page from an index walked from the cursor on (each entry's key and its session)."""
    builder = PageBuilder(where, limit, budget)
    async for key, record in walk:
        if not builder.take(key, record):
            break
    return builder.build()


def prefix_end(prefix: str) -> str | None:
    """The least string greater than every string that starts with ``prefix`` (a range's
    exclusive end: ``prefix <= s < prefix_end(prefix)`` exactly when ``s`` starts with it,
    in code point order, which is UTF-8's byte order too); None when there is none."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            following = last + 1 if not 0xD800 <= last + 1 <= 0xDFFF else 0xE000
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return None
