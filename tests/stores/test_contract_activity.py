"""The activity log's contract (``ActivityLog`` in ``stores/base.py``), held against every
backend like ``test_contract.py`` (the same ``backend`` fixture: memory, SQLite, Redis)."""

from __future__ import annotations

import time

from asgi_sessionsync.stores import ActivityEntry, ActivityFilter, ActivityLog, Direction, Outcome, Stores, new_id
from tests.stores.conftest import Backend

T0 = round(time.time(), 6) + 0.000123


def entry(
    at: float = T0,
    *,
    peer: str = "https://b.example",
    kind: str = "logout",
    user: str = "ann@example.com",
    direction: Direction = Direction.SENT,
    outcome: Outcome = Outcome.DELIVERED,
    reason: str = "",
    id: str | None = None,
) -> ActivityEntry:
    return ActivityEntry(
        id=id or new_id(),
        at=at,
        site="https://a.example",
        direction=direction,
        peer=peer,
        kind=kind,
        user=user,
        outcome=outcome,
        reason=reason,
        message_id=new_id(),
    )


def log(stores: Stores) -> ActivityLog:
    assert stores.activity is not None, "every backend keeps an activity log"
    return stores.activity


async def test_entries_round_trip_exactly_newest_first(stores: Stores) -> None:
    first = entry(T0, reason="HTTP 503 (attempt 1)", outcome=Outcome.FAILED)
    second = entry(T0 + 1.5, user="", kind="user.create", reason="ünïcode réason")
    await log(stores).record([first, second])
    assert await log(stores).list() == [second, first]


async def test_ties_in_time_are_ordered_by_id_descending(stores: Stores) -> None:
    same = [entry(T0, id=f"id-{n}") for n in (2, 9, 4)]
    await log(stores).record(same)
    assert [e.id for e in await log(stores).list()] == ["id-9", "id-4", "id-2"]


async def test_recording_an_entry_again_changes_nothing(stores: Stores) -> None:
    first = entry(T0)
    await log(stores).record([first])
    await log(stores).record([first])
    assert await log(stores).list() == [first]


async def test_an_empty_log_lists_nothing_and_purges_nothing(stores: Stores) -> None:
    assert await log(stores).list() == []
    assert await log(stores).purge(T0) == 0
    await log(stores).record([])


async def test_filters_each_match_as_documented(stores: Stores) -> None:
    a = entry(T0, peer="https://b.example", kind="logout", user="ann@example.com")
    b = entry(T0 + 1, peer="https://c.example", kind="login", direction=Direction.RECEIVED, outcome=Outcome.APPLIED)
    c = entry(T0 + 2, kind="user.create", user="bob@example.com", outcome=Outcome.REFUSED, reason="bad tag")
    d = entry(T0 + 3, kind="userland", user="", outcome=Outcome.SENT)
    await log(stores).record([a, b, c, d])

    async def ids(**where: object) -> list[str]:
        return [e.id for e in await log(stores).list(ActivityFilter(**where))]  # type: ignore[arg-type]

    assert await ids(since=T0 + 1) == [d.id, c.id, b.id]
    assert await ids(until=T0 + 1) == [a.id]  # until is exclusive
    assert await ids(since=T0 + 1, until=T0 + 3) == [c.id, b.id]
    assert await ids(peer="https://c.example") == [b.id]
    assert await ids(user=" Bob@Example.com") == [c.id]
    assert await ids(kind="user") == [c.id]  # user.* but not "userland"
    assert await ids(kind="user.create") == [c.id]
    assert await ids(direction=Direction.RECEIVED) == [b.id]
    assert await ids(outcome=Outcome.REFUSED) == [c.id]
    assert await ids(direction=Direction.SENT, user="ann@example.com", kind="logout") == [a.id]
    assert [e.id for e in await log(stores).list(limit=2)] == [d.id, c.id]


async def test_a_filter_finds_old_entries_behind_many_newer_ones(stores: Stores) -> None:
    old = entry(T0, user="old@example.com")
    await log(stores).record([old, *(entry(T0 + 1 + n / 1000) for n in range(1200))])
    assert await log(stores).list(ActivityFilter(user="old@example.com")) == [old]
    assert len(await log(stores).list(limit=1100)) == 1100


async def test_purge_deletes_entries_older_than_the_time_given(stores: Stores) -> None:
    old, edge, new = entry(T0 - 100), entry(T0), entry(T0 + 100)
    await log(stores).record([old, edge, new])
    assert await log(stores).purge(T0) == 1
    assert await log(stores).purge(T0) == 0
    assert await log(stores).list() == [new, edge]


async def test_stores_purge_runs_the_activity_purge_with_its_own_retention(stores: Stores) -> None:
    now = time.time()
    old, recent = entry(now - 10 * 86400), entry(now - 86400)
    await log(stores).record([old, recent])
    done = await stores.purge(now, 30 * 86400, activity_retention=5 * 86400)
    assert done["purged_activity"] == 1
    assert await log(stores).list() == [recent]


async def test_recording_keeps_the_log_near_its_bound_and_purge_trims_it_to_the_newest(stores: Stores) -> None:
    """A size bound, not only an age (issue #23): recording drops the oldest beyond
    ``max_entries`` (SQLite every few hundred entries, so a little more for a while);
    ``purge(keep=N)`` leaves exactly the newest N."""
    activity = log(stores)
    activity.max_entries = 50
    written = [entry(T0 + n / 1000) for n in range(1100)]
    for start in range(0, len(written), 10):
        await activity.record(written[start : start + 10])
    kept = await activity.list(limit=5000)
    assert 50 <= len(kept) <= 50 + 1000
    assert kept[0] == written[-1]  # the newest stay
    assert await activity.purge(T0 - 1, keep=50) == len(kept) - 50
    assert [e.id for e in await activity.list(limit=5000)] == [e.id for e in reversed(written[-50:])]


async def test_stores_purge_trims_the_log_to_its_bound(stores: Stores) -> None:
    now = time.time()
    written = [entry(now - 3600 + n) for n in range(10)]
    await log(stores).record(written)
    done = await stores.purge(now, 30 * 86400, activity_max=4)
    assert done["purged_activity"] == 6
    assert [e.id for e in await log(stores).list()] == [e.id for e in reversed(written[-4:])]


async def test_another_client_of_a_shared_store_sees_the_entries(backend: Backend) -> None:
    if not backend.shared:
        return
    one, other = backend.open(), backend.open()
    written = entry(T0)
    await log(one).record([written])
    assert await log(other).list() == [written]


async def test_erase_user_deletes_every_entry_about_the_user_and_nothing_else(stores: Stores) -> None:
    """``sessions erase`` (#26): the user's entries go, sent and received; others stay."""
    ann = [entry(T0 + n, user="ann@example.com", direction=d) for n, d in enumerate(Direction)]
    others = [entry(T0 + 5, user="bob@example.com"), entry(T0 + 6, user="")]
    await log(stores).record([*ann, *others])
    assert await log(stores).erase_user("Ann@Example.com") == len(ann)
    assert await log(stores).list() == list(reversed(others))
    assert await log(stores).erase_user("ann@example.com") == 0  # idempotent
