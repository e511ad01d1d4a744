"""The console's pages on a 1,000,000-session SQLite store (issue #25: each page <= 100 ms).

The sessions are the analytics benchmark's (``benchmarks.analytics.generate``: N sessions
over the last 30 days, 50,000 users, 65,536 addresses, the same vias, devices and
countries), plus those 50,000 users and a full activity log (200,000 entries, the default
bound, a tenth of them console actions with an actor). Then each page the console asks is
timed through the store's API as the console calls it (worker thread included), ``--runs``
times, after one call not counted (its time shown as "first"): median and max in ms.

Run: python -m benchmarks.console_pages [--sessions 1000000] [--runs 20] [--keep PATH]
(with --keep, a store already at PATH is used as it is: its generation takes a minute or two).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from asgi_sessionsync.stores import (
    ActivityEntry,
    ActivityFilter,
    Direction,
    Outcome,
    SessionFilter,
    SessionKey,
    SessionState,
    Stores,
    User,
    sqlite_stores,
)
from asgi_sessionsync.stores.analytics import analytics, site_analytics
from benchmarks.analytics import generate
from benchmarks.timing import machine

USERS = 50_000  # as benchmarks.analytics draws them: user0 … user49999@example.com
ACTIVITY = 200_000
PEERS = ["https://b.example", "https://c.example", "https://d.example"]
KINDS = ["login", "logout", "user.create", "user.update", "user.delete", "session.end", "user.role"]
OUTCOMES = [Outcome.SENT, Outcome.DELIVERED, Outcome.APPLIED, Outcome.FAILED, Outcome.REFUSED]


async def fill(stores: Stores, now: float, seed: int = 17) -> None:
    """The users the sessions name, and a full activity log over the 30 days."""
    rng = random.Random(seed)
    users = [User(f"user{n}@example.com", "admin" if n % 1000 == 0 else "member", f"User {n}") for n in range(USERS)]
    await stores.users.import_users(users)
    assert stores.activity is not None
    stores.activity.max_entries = ACTIVITY
    entries = []
    for n in range(ACTIVITY):
        local = n % 10 == 0
        entries.append(
            ActivityEntry(
                id=f"a{n:08d}",
                at=now - rng.random() * 30 * 86400,
                site="https://a.example",
                direction=Direction.LOCAL if local else rng.choice([Direction.SENT, Direction.RECEIVED]),
                peer="" if local else rng.choice(PEERS),
                kind="session.end" if local else rng.choice(KINDS[:5]),
                user=f"user{rng.randrange(USERS)}@example.com",
                outcome=Outcome.APPLIED if local else rng.choices(OUTCOMES, weights=[30, 40, 25, 4, 1])[0],
                reason="",
                message_id="",
                actor=f"operator{n % 7}@example.com" if local else "",
            )
        )
    for start in range(0, len(entries), 10_000):
        await stores.activity.record(entries[start : start + 10_000])


async def _deep_cursor(stores: Stores, where: SessionFilter, pages: int) -> SessionKey | None:
    after: SessionKey | None = None
    for _ in range(pages):
        after = (await stores.sessions.page(where, after=after)).next
    return after


async def _deep_activity(stores: Stores, where: ActivityFilter, pages: int) -> tuple[float, str] | None:
    assert stores.activity is not None
    before: tuple[float, str] | None = None
    for _ in range(pages):
        found = await stores.activity.list(where, limit=50, before=before)
        before = (found[-1].at, found[-1].id) if found else None
    return before


async def measure(path: Path, runs: int) -> list[tuple[str, float, float, str]]:
    stores = sqlite_stores(path)
    assert stores.activity is not None
    activity = stores.activity
    results: list[tuple[str, float, float, str]] = []

    async def timed(label: str, call: Callable[[], Awaitable[object]], said: Callable[[object], str]) -> None:
        started = time.perf_counter()
        shown = said(await call())  # one not counted: the pages of the file in the cache
        first = (time.perf_counter() - started) * 1000
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            await call()
            samples.append((time.perf_counter() - started) * 1000)
        median = statistics.median(samples)
        results.append((label, median, max(samples), shown))
        print(f"  {label:<50} median {median:5.1f} ms  max {max(samples):5.1f} ms  (first {first:5.1f} ms)  {shown}")

    def page_said(page: object) -> str:
        records, following = page.records, page.next  # type: ignore[attr-defined]
        return f"{len(records)} sessions, next {'yes' if following else 'none'}"

    def count(found: object) -> str:
        return f"{len(found)} rows"  # type: ignore[arg-type]

    every, active = SessionFilter(), SessionFilter(state=SessionState.ACTIVE)
    deep = await _deep_cursor(stores, every, 9)
    deep_active = await _deep_cursor(stores, active, 9)
    rare = SessionFilter(client_type="bot", country="JP")
    rarer = SessionFilter(came_from="https://c.example", device_class="tablet", country="NL", state=SessionState.ACTIVE)
    try:
        await timed("sessions: first page, all", lambda: stores.sessions.page(every), page_said)
        await timed("sessions: 10th page by cursor, all", lambda: stores.sessions.page(every, after=deep), page_said)
        await timed("sessions: first page, active", lambda: stores.sessions.page(active), page_said)
        await timed(
            "sessions: 10th page by cursor, active",
            lambda: stores.sessions.page(active, after=deep_active),
            page_said,
        )
        await timed(
            "sessions: by user",
            lambda: stores.sessions.page(SessionFilter(user="user12345@example.com")),
            page_said,
        )
        await timed("sessions: by address", lambda: stores.sessions.page(SessionFilter(ip="198.51.7.77")), page_said)
        await timed("sessions: rare filter (bot in JP), budget spent", lambda: stores.sessions.page(rare), page_said)
        await timed("sessions: rarer (peer, device, country, active)", lambda: stores.sessions.page(rarer), page_said)
        await timed("users: first page", lambda: stores.users.list_users(limit=50), count)
        await timed("users: prefix 'user123'", lambda: stores.users.list_users(prefix="user123", limit=50), count)
        await timed(
            "users: after a cursor, prefix 'user4'",
            lambda: stores.users.list_users(prefix="user4", after="user4567@example.com", limit=50),
            count,
        )
        await timed(
            "users: admins (role filtered on the way)", lambda: stores.users.list_users(role="admin", limit=50), count
        )
        await timed("activity: first page, all", lambda: activity.list(limit=50), count)
        week = ActivityFilter(since=time.time() - 7 * 86400, kind="user")
        await timed("activity: kind user.*, last 7 days", lambda: activity.list(week, limit=50), count)
        by_actor = ActivityFilter(actor="operator3@example.com")
        deep_actor = await _deep_activity(stores, by_actor, 9)
        await timed(
            "activity: by actor, 10th page by cursor",
            lambda: activity.list(by_actor, limit=50, before=deep_actor),
            count,
        )
        await timed(
            "activity: by user",
            lambda: activity.list(ActivityFilter(user="user777@example.com"), limit=50),
            count,
        )
        nothing = ActivityFilter(kind="user.merge")  # no entry: the whole log read, newest to oldest
        await timed("activity: a filter nothing matches (all read)", lambda: activity.list(nothing, limit=50), count)
        refused = ActivityFilter(outcome=Outcome.REFUSED, peer="https://d.example")
        await timed("activity: refused by one peer (rare)", lambda: activity.list(refused, limit=50), count)
        month = time.time() - 30 * 86400
        await timed(
            "analytics: sessions only, last 30 days",
            lambda: analytics(stores, month, time.time()),
            lambda stats: f"{stats.total_logins} logins",  # type: ignore[attr-defined]
        )
        await timed(
            "analytics page: every figure, last 30 days",
            lambda: site_analytics(stores, month, time.time()),
            lambda got: f"{got.sessions.total_logins} logins, {got.accounts.users} users",  # type: ignore[attr-defined]
        )
    finally:
        await stores.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="the store's path, kept (and used as it is if it exists)")
    args = parser.parse_args()
    now = time.time()
    path = args.keep or Path(tempfile.mkdtemp(prefix="sessionsync-console-")) / "registry.sqlite3"
    print(f"Console pages on SQLite ({machine()}): {args.sessions:,} sessions over 30 days")
    if not path.exists():
        took = generate(path, args.sessions, now)
        started = time.perf_counter()
        stores = sqlite_stores(path)
        asyncio.run(_fill_and_close(stores, now))
        took += time.perf_counter() - started
        print(f"  generated in {took:.1f} s ({path.stat().st_size / 1e6:.0f} MB): {path}")
    else:
        print(f"  the store at {path}, as it is")
    asyncio.run(measure(path, args.runs))


async def _fill_and_close(stores: Stores, now: float) -> None:
    try:
        await fill(stores, now)
    finally:
        await stores.close()


if __name__ == "__main__":
    main()
