"""Nothing grows without bound: the worker started by lifespan marks sessions past their
lifetime ended and deletes history older than the retention period."""

from __future__ import annotations

import time

import anyio
from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asgi_sessionsync import SessionSyncMiddleware
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.stores import SessionRecord, memory_stores
from asgi_sessionsync.testing_apps import login_app


def recording(app: ASGIApp, sent: list[Message]) -> ASGIApp:
    """``app``, noting each message it sends the server."""

    async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
        async def noting(message: Message) -> None:
            sent.append(message)
            await send(message)

        await app(scope, receive, noting)

    return recorded


def record(sid: str, *, created: float, ended: float | None = None, expires: float | None = None) -> SessionRecord:
    return SessionRecord(
        sid=sid,
        user="ann@example.com",
        chain="c",
        site="https://a.example",
        ip="203.0.113.7",
        user_agent="test",
        created_at=created,
        last_seen_at=created,
        ended_at=ended,
        end_reason="signed out" if ended else None,
        expires_at=expires,
    )


async def test_lifespan_worker_expires_sessions_and_purges_old_history() -> None:
    now = time.time()
    day = 86400.0
    stores = memory_stores()
    await stores.sessions.create(record("old-ended", created=now - 40 * day, ended=now - 39 * day))
    await stores.sessions.create(record("recent-ended", created=now - 2 * day, ended=now - day))
    await stores.sessions.create(record("past-lifetime", created=now - 20 * day, expires=now - 6 * day))
    await stores.sessions.create(record("live", created=now - day, expires=now + 13 * day))
    app = SessionSyncMiddleware(
        login_app("a", {}),
        site_url="https://a.example",
        secret_keys=[generate_secret()],
        store="memory://",
        retention="30d",
        stores=stores,
        env_file=None,
    )
    sent: list[Message] = []
    async with LifespanManager(recording(app, sent)):
        with anyio.fail_after(10):
            while True:  # the first housekeeping pass runs at start-up
                old = await stores.sessions.get("old-ended")
                expired = await stores.sessions.get("past-lifetime")
                if old is None and expired is not None and expired.ended_at is not None:
                    break
                await anyio.sleep(0.01)

    assert (await stores.sessions.get("recent-ended")) is not None  # within the retention period
    assert expired is not None and expired.end_reason == "expired"
    live = await stores.sessions.get("live")
    assert live is not None and live.ended_at is None
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_housekeeping_keeps_at_most_activity_max_rows_entries() -> None:
    from asgi_sessionsync.stores import ActivityEntry, Direction, Outcome

    now = time.time()
    stores = memory_stores()
    assert stores.activity is not None
    await stores.activity.record(
        [
            ActivityEntry(
                f"e{n}",
                now - 60 + n,
                "https://a.example",
                Direction.SENT,
                "https://b.example",
                "logout",
                "",
                Outcome.DELIVERED,
            )
            for n in range(10)
        ]
    )
    app = SessionSyncMiddleware(
        login_app("a", {}),
        site_url="https://a.example",
        secret_keys=[generate_secret()],
        store="memory://",
        activity_max_rows="4",
        stores=stores,
        env_file=None,
    )
    assert stores.activity.max_entries == 4  # recording keeps the bound too
    done = await app.site.purge_history(now)
    assert done["purged_activity"] == 6
    assert [e.id for e in await stores.activity.list()] == ["e9", "e8", "e7", "e6"]


async def test_housekeeping_deletes_activity_entries_older_than_their_own_retention() -> None:
    from asgi_sessionsync.stores import ActivityEntry, Direction, Outcome

    now = time.time()
    stores = memory_stores()
    assert stores.activity is not None

    def entry(entry_id: str, at: float) -> ActivityEntry:
        return ActivityEntry(
            entry_id, at, "https://a.example", Direction.SENT, "https://b.example", "logout", "", Outcome.DELIVERED
        )

    await stores.activity.record([entry("old", now - 8 * 86400), entry("recent", now - 6 * 86400)])
    app = SessionSyncMiddleware(
        login_app("a", {}),
        site_url="https://a.example",
        secret_keys=[generate_secret()],
        store="memory://",
        retention="30d",
        activity_retention="7d",
        stores=stores,
        env_file=None,
    )
    async with LifespanManager(app):
        with anyio.fail_after(10):
            while True:  # the first housekeeping pass runs at start-up
                if [e.id for e in await stores.activity.list()] == ["recent"]:
                    break
                await anyio.sleep(0.01)
