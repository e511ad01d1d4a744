"""Lists by cursor, never by offset: the cursor's text in a link, and the page of
sessions (:meth:`SessionAdministration.page`); the words a session is shown with."""

from __future__ import annotations

import asgi_sessionsync.console.render as render
from asgi_sessionsync.governance.devices import CLIENT_TYPES
from asgi_sessionsync.stores import SessionFilter, SessionKey, SessionPage, SessionRecord, SessionStore, peer_of

PAGE_SIZE = 50
DEVICE_CLASSES = ("desktop", "mobile", "tablet", "bot", "other")
__all__ = ["CLIENT_TYPES", "DEVICE_CLASSES", "PAGE_SIZE", "came_from", "cursor_text", "device_text", "parse_cursor"]


def cursor_text(key: tuple[float, str]) -> str:
    """``(time, id)`` as a link's text: the time's ``repr`` round-trips exactly."""
    return f"{key[0]!r}~{key[1]}"


def parse_cursor(text: str) -> tuple[float, str] | None:
    """The cursor a link carries, or None for none or one that is not ours."""
    when, sep, ident = text.partition("~")
    if not sep or not ident or len(ident) > 64:
        return None
    try:
        value = float(when)
    except ValueError:
        return None
    return (value, ident) if value == value and abs(value) < 1e12 else None


async def sessions_page(
    store: SessionStore, where: SessionFilter, after: SessionKey | None, limit: int = PAGE_SIZE
) -> SessionPage:
    return await store.page(where, after=after, limit=limit)


def came_from(record: SessionRecord) -> str:
    """Where the session's sign-in was made: here, or the peer that vouched for it."""
    return peer_of(record.via) or "this site"


def device_text(record: SessionRecord) -> str:
    parts = [p for p in record.device.split("/") if p]
    return " · ".join(parts) if parts else "unknown device"


def state_text(record: SessionRecord) -> str:
    if record.ended_at is None:
        return '<span class="ok">active</span>'
    return f'<span class="muted">ended: {render.escape(record.end_reason or "")}</span>'
