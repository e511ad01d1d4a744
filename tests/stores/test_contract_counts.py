"""What a site counts beside its sessions (``EventCounts`` in ``stores/event_counts.py``) and
the account statistics (``stores/accounts.py``), held against every backend (memory,
SQLite, Redis) through the ``backend`` fixture."""

from __future__ import annotations

import time

import anyio

from asgi_sessionsync.stores import Stores, User
from asgi_sessionsync.stores.accounts import account_stats
from asgi_sessionsync.stores.event_counts import DAY, DayCount, day_number
from asgi_sessionsync.stores.verified import VerifiedBy, VerifiedMark
from tests.stores.conftest import Backend

NOON = (time.time() // DAY) * DAY + DAY / 2  # today, 12:00 UTC


async def test_counts_add_up_per_day_kind_and_key_and_read_by_period(stores: Stores) -> None:
    counts = stores.counts
    await counts.add("login.failed", "unknown account", NOON)
    await counts.add("login.failed", "unknown account", NOON + 3600)  # the same day
    await counts.add("login.failed", "known account", NOON, n=3)
    await counts.add("user.password", "here", NOON - DAY)  # yesterday
    await counts.add("user.password", "here", NOON - 5 * DAY)
    today = day_number(NOON)
    assert sorted(await counts.read(NOON, NOON)) == [
        DayCount(today, "login.failed", "known account", 3),
        DayCount(today, "login.failed", "unknown account", 2),
    ]
    two_days = sorted(await counts.read(NOON - DAY, NOON))
    assert DayCount(today - 1, "user.password", "here", 1) in two_days and len(two_days) == 3
    # Whole UTC days: any time of the first and of the last day reads the whole day.
    assert len(await counts.read(NOON - 5 * DAY + 40000, NOON - DAY / 2 - 1)) == 2  # days -5 and -1
    assert await counts.read(NOON - 4 * DAY, NOON - 2 * DAY) == []
    assert await counts.read(NOON + DAY, NOON + 2 * DAY) == []


async def test_concurrent_adds_all_count_and_another_client_sees_them(backend: Backend) -> None:
    first, second = backend.open(), backend.open()
    async with anyio.create_task_group() as group:
        for stores in [first, second] * 10:
            group.start_soon(stores.counts.add, "session.spam", "burst", NOON)
    expected = 20 if backend.shared else 10
    read = await first.counts.read(NOON, NOON)
    assert read == [DayCount(day_number(NOON), "session.spam", "burst", expected)]


async def test_account_stats_count_roles_provisioning_creations_and_verified_addresses(stores: Stores) -> None:
    users = [
        User("ann@example.com", "admin", created_at=NOON - 10 * DAY),
        User("bob@example.com", "member", created_at=NOON),
        User("cy@example.com", "member", created_at=NOON - DAY, provisioned_by="https://b.example"),
        User("di@example.com", "member", created_at=NOON - DAY, provisioned_by="https://b.example"),
    ]
    await stores.users.import_users(users)
    now = time.time()
    for email, verified in (("ann@example.com", True), ("bob@example.com", False), ("zed@example.com", True)):
        for issuer in ("https://a.example", "https://b.example"):
            await stores.verified.put(VerifiedMark(email, issuer, verified, VerifiedBy.OPERATOR, now, now + 3600))

    week = await account_stats(stores, NOON - 7 * DAY, NOON)
    assert week.users == 4
    assert week.roles == {"member": 3, "admin": 1}
    assert week.provisioned_by == {"https://b.example": 2, "": 2}
    yesterday, today = (time.strftime("%Y-%m-%d", time.gmtime(NOON - n * DAY)) for n in (1, 0))
    assert week.created == {yesterday: 2, today: 1}  # ann's creation is older than the week
    assert week.total_created == 3
    assert week.verified == 2  # ann and zed (a mark for an address with no account counts too), once each
    assert not week.truncated
    assert (await account_stats(stores, NOON - 20 * DAY, NOON)).total_created == 4
