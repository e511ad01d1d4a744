"""Lists by cursor (issue #25, the console's lists), held against every backend like
``test_contract.py`` (the same ``backend`` fixture: memory, SQLite, real redis-server):
``SessionAdministration.page``, ``UserStore.list_users(after=, prefix=)`` and
``ActivityLog.list(before=)`` with the ``actor`` field.

Every expectation is also computed from the records themselves (:func:`expected`: sorted
newest first, filtered by :meth:`SessionFilter.matches`), and each test says a few
figures outright, so that a store that agrees with a wrong model still fails."""

from __future__ import annotations

import time
from dataclasses import replace

from asgi_sessionsync.stores import (
    ActivityEntry,
    ActivityFilter,
    ActivityLog,
    Direction,
    SessionFilter,
    SessionKey,
    SessionPage,
    SessionRecord,
    SessionState,
    Stores,
    User,
    new_id,
)
from tests.stores.test_contract_activity import entry

T0 = round(time.time(), 6) + 0.000123

VIAS = [
    "login",
    "hop from https://b.example",
    "frame from https://c.example",
    "hop from https://b.example, verified here",
]
DEVICES = [
    "desktop/Chrome/Windows/browser",
    "mobile/Mobile Safari/iOS/browser",
    "bot/Googlebot/Other/bot",
    "",
    "desktop/Firefox/Linux",
]
COUNTRIES = ["US", "DE", "", "FR"]


def session(n: int, *, created_at: float | None = None, sid: str | None = None) -> SessionRecord:
    """The ``n``-th of a varied population: 5 users, 3 addresses, the vias, devices and
    countries above in turn, one in three ended."""
    at = T0 - 1000 + n if created_at is None else created_at
    return SessionRecord(
        sid=sid or f"{n:04d}-{new_id()[:8]}",
        user=f"user{n % 5}@example.com",
        chain=new_id(),
        site="https://a.example",
        ip=f"203.0.113.{n % 3}",
        user_agent="Browser/1.0",
        created_at=at,
        last_seen_at=at,
        via=VIAS[n % len(VIAS)],
        ended_at=at + 1 if n % 3 == 0 else None,
        end_reason="signed out" if n % 3 == 0 else None,
        country=COUNTRIES[n % len(COUNTRIES)],
        device=DEVICES[n % len(DEVICES)],
    )


def expected(records: list[SessionRecord], where: SessionFilter) -> list[str]:
    ordered = sorted(records, key=lambda r: (r.created_at, r.sid), reverse=True)
    return [r.sid for r in ordered if where.matches(r)]


async def walk(
    stores: Stores, where: SessionFilter, *, limit: int, budget: int = 20_000, after: SessionKey | None = None
) -> tuple[list[str], list[SessionPage]]:
    """Every page from ``after`` on, following ``next`` until it is None (at most 500 calls)."""
    pages: list[SessionPage] = []
    for _ in range(500):
        page = await stores.sessions.page(where, after=after, limit=limit, budget=budget)
        pages.append(page)
        assert len(page.records) <= limit
        if page.next is None:
            break
        after = page.next
    else:
        raise AssertionError("next never became None")
    return [r.sid for p in pages for r in p.records], pages


async def create(stores: Stores, records: list[SessionRecord]) -> list[SessionRecord]:
    for r in records:
        await stores.sessions.create(r)
    return records


# -- sessions ------------------------------------------------------------------------------------


async def test_pages_give_every_session_once_newest_first_and_ties_by_sid(stores: Stores) -> None:
    records = [session(n) for n in range(23)]
    # Three sessions at one time: their order is by sid, descending, also across a page's end.
    records += [session(100 + n, created_at=T0 - 500.5, sid=f"tie-{n}") for n in (3, 1, 2)]
    await create(stores, records)
    every = SessionFilter()
    sids, pages = await walk(stores, every, limit=5)
    assert sids == expected(records, every)
    assert len(sids) == 26 and len(set(sids)) == 26
    assert [len(p.records) for p in pages] == [5, 5, 5, 5, 5, 1]
    ties = [s for s in sids if s.startswith("tie-")]
    assert ties == ["tie-3", "tie-2", "tie-1"]
    first = pages[0]
    assert first.next == (first.records[-1].created_at, first.records[-1].sid)
    for limit in (1, 4, 26, 27, 100):  # and with every page size
        assert (await walk(stores, every, limit=limit))[0] == sids


async def test_an_empty_store_gives_an_empty_last_page(stores: Stores) -> None:
    page = await stores.sessions.page(SessionFilter())
    assert page == SessionPage([], None)
    assert await stores.sessions.page(SessionFilter(user="nobody@example.com")) == SessionPage([], None)


async def test_each_filter_matches_as_documented(stores: Stores) -> None:
    records = await create(stores, [session(n) for n in range(60)])
    filters = {
        SessionFilter(user=" User1@Example.com"): 12,
        SessionFilter(ip="203.0.113.2"): 20,
        SessionFilter(user="user1@example.com", ip="203.0.113.2"): 4,
        SessionFilter(came_from=""): 15,  # made here: "login"
        SessionFilter(came_from="https://b.example"): 30,  # "hop from", with or without ", verified here"
        SessionFilter(came_from="https://c.example"): 15,
        SessionFilter(device_class="desktop"): 24,
        SessionFilter(client_type="bot"): 12,
        SessionFilter(client_type=""): 24,  # no device, and a device of three parts
        SessionFilter(country=""): 15,
        SessionFilter(country="DE"): 15,
        SessionFilter(state=SessionState.ENDED): 20,
        SessionFilter(state=SessionState.ACTIVE): 40,
        SessionFilter(user="user2@example.com", state=SessionState.ACTIVE, country="US"): 2,
        SessionFilter(ip="203.0.113.0", came_from="https://b.example", device_class="mobile"): 2,
        SessionFilter(user="nobody@example.com"): 0,
    }
    for where, count in filters.items():
        sids, _ = await walk(stores, where, limit=7)
        assert sids == expected(records, where), where
        assert len(sids) == count, where


async def test_a_spent_budget_gives_a_short_page_whose_next_goes_on(stores: Stores) -> None:
    records = await create(stores, [session(n) for n in range(40)])
    rare = SessionFilter(country="FR", device_class="desktop")  # n % 4 == 3 and n % 5 in (0, 4): 15, 19, 35, 39
    assert len(expected(records, rare)) == 4
    page = await stores.sessions.page(rare, limit=10, budget=10)
    newest = sorted(records, key=lambda r: (r.created_at, r.sid), reverse=True)
    # Ten examined (the ten newest), two of them matching (35, 39): a short page, and next at the tenth.
    assert [r.sid for r in page.records] == expected(newest[:10], rare)
    assert len(page.records) == 2
    assert page.next == (newest[9].created_at, newest[9].sid)
    sids, pages = await walk(stores, rare, limit=10, budget=10)
    assert sids == expected(records, rare)
    # 40 examined, 10 at a time: the fourth page spends its budget on the oldest session,
    # so its next is that one's, and a fifth finds nothing after it.
    assert len(pages) == 5 and pages[-1] == SessionPage([], None)
    # A budget beyond the index: one page, nothing left.
    assert await stores.sessions.page(rare, limit=10, budget=1000) == SessionPage(
        [r for r in newest if rare.matches(r)], None
    )


async def test_a_page_full_before_the_budget_is_spent_says_where_it_stopped(stores: Stores) -> None:
    records = await create(stores, [session(n) for n in range(30)])
    active = SessionFilter(state=SessionState.ACTIVE)
    page = await stores.sessions.page(active, limit=3, budget=5)
    assert [r.sid for r in page.records] == expected(records, active)[:3]
    assert page.next == (page.records[-1].created_at, page.records[-1].sid)
    # Exactly a page left, within the budget: nothing after it.
    last = await stores.sessions.page(SessionFilter(), after=(records[3].created_at, records[3].sid), limit=3)
    assert [r.sid for r in last.records] == [records[2].sid, records[1].sid, records[0].sid]
    assert last.next is None


async def test_the_cursor_holds_while_sessions_are_added_and_ended(stores: Stores) -> None:
    records = await create(stores, [session(n) for n in range(20)])
    every = SessionFilter()
    first = await stores.sessions.page(every, limit=8)
    assert first.next is not None
    # Meanwhile: newer sessions, one at the cursor's very time with a greater sid (before
    # it in page order), and the newest session ends.
    newer = await create(stores, [session(200 + n, created_at=T0 + n) for n in range(5)])
    at_cursor = await create(stores, [session(300, created_at=first.next[0], sid=first.next[1] + "z")])
    await stores.sessions.end(records[-1].sid, reason="signed out", when=T0 + 10)
    rest, _ = await walk(stores, every, limit=8, after=first.next)
    seen = [r.sid for r in first.records] + rest
    assert seen == expected(records, every)  # nothing repeated, nothing skipped
    assert not {r.sid for r in newer + at_cursor} & set(rest)
    again, _ = await walk(stores, every, limit=8)
    assert again == expected(records + newer + at_cursor, every)


async def test_a_users_pages_walk_only_that_users_sessions(stores: Stores) -> None:
    """The user's index is walked: a budget smaller than the store still reaches every
    one of the user's sessions, however many others are newer."""
    records = await create(stores, [session(n) for n in range(50)])
    theirs = SessionFilter(user="user3@example.com")
    page = await stores.sessions.page(theirs, limit=100, budget=10)
    assert [r.sid for r in page.records] == expected(records, theirs)
    assert len(page.records) == 10 and page.next is not None  # ten examined: all ten of theirs
    by_ip = SessionFilter(ip="203.0.113.0", came_from="https://b.example")  # 3, 9, 15, … 45
    sids, pages = await walk(stores, by_ip, limit=100, budget=18)
    assert sids == expected(records, by_ip) and len(sids) == 8
    assert len(pages) == 1  # the address has 17 sessions: within one budget


# -- users ---------------------------------------------------------------------------------------


async def test_users_page_by_the_last_email_of_the_previous_page(stores: Stores) -> None:
    emails = [f"user{n:03d}@example.com" for n in range(23)]
    await stores.users.import_users([User(e, "admin" if n % 4 == 0 else "member") for n, e in enumerate(emails)][::-1])
    seen: list[str] = []
    after: str | None = None
    while page := await stores.users.list_users(limit=5, after=after):
        seen += [u.email for u in page]
        after = page[-1].email
    assert seen == emails
    admins = await stores.users.list_users(role="admin", after="USER004@example.com ", limit=2)
    assert [u.email for u in admins] == ["user008@example.com", "user012@example.com"]
    assert [u.email for u in await stores.users.list_users(after="user020@example.com", offset=1)] == [emails[22]]
    assert await stores.users.list_users(after="zzz@example.com") == []
    # A cursor that is no user's email: the page starts after where it would be ("5" < "@").
    assert [u.email for u in await stores.users.list_users(after="user0105", limit=2)] == emails[10:12]


async def test_users_by_email_prefix(stores: Stores) -> None:
    names = ["ann@example.com", "anna@example.com", "annie@b.example", "an@example.com", "bob@example.com",
             "a_b@example.com", "axb@example.com", "a%c@example.com", "zoë@example.com", "zoe@example.com"]  # fmt: skip
    await stores.users.import_users([User(e, "admin" if e.startswith("anna") else "member") for e in names])

    async def emails(**asked: object) -> list[str]:
        return [u.email for u in await stores.users.list_users(**asked)]  # type: ignore[arg-type]

    assert await emails(prefix="ann") == ["ann@example.com", "anna@example.com", "annie@b.example"]
    assert await emails(prefix=" ANN") == ["ann@example.com", "anna@example.com", "annie@b.example"]
    assert await emails(prefix="ann", after="ann@example.com", limit=1) == ["anna@example.com"]
    assert await emails(prefix="ann", after="an@example.com") == [
        "ann@example.com",
        "anna@example.com",
        "annie@b.example",
    ]
    assert await emails(prefix="ann", offset=2) == ["annie@b.example"]
    assert await emails(prefix="ann", role="admin") == ["anna@example.com"]
    assert await emails(prefix="a_") == ["a_b@example.com"]  # no wildcard: an underscore is one
    assert await emails(prefix="a%") == ["a%c@example.com"]
    assert await emails(prefix="zo") == ["zoe@example.com", "zoë@example.com"]
    assert await emails(prefix="zoë") == ["zoë@example.com"]
    assert await emails(prefix="annie@b.example") == ["annie@b.example"]
    assert await emails(prefix="annz") == []
    assert await emails(prefix="") == sorted(names)


# -- the activity log ----------------------------------------------------------------------------


def action(
    at: float, *, actor: str = "", kind: str = "logout", id: str | None = None, user: str = "ann@example.com"
) -> ActivityEntry:
    """A console action (``local``, with its actor) or, without an actor, a message sent."""
    return replace(
        entry(at, kind=kind, user=user, id=id, direction=Direction.LOCAL if actor else Direction.SENT),
        actor=actor,
        peer="" if actor else "https://b.example",
    )


async def pages_of(log: ActivityLog, where: ActivityFilter | None = None, *, limit: int) -> list[list[ActivityEntry]]:
    pages: list[list[ActivityEntry]] = []
    before: tuple[float, str] | None = None
    while page := await log.list(where, limit=limit, before=before):
        pages.append(page)
        before = (page[-1].at, page[-1].id)
    return pages


async def test_activity_pages_by_cursor_never_repeat_or_skip(stores: Stores) -> None:
    log = stores.activity
    assert log is not None
    written = [action(T0 + n, actor="op@example.com" if n % 3 == 0 else "") for n in range(17)]
    written += [action(T0 + 5.5, id=f"tie-{n}") for n in (2, 7, 4, 9)]  # ties by id, across pages
    await log.record(written)
    newest_first = sorted(written, key=lambda e: (e.at, e.id), reverse=True)
    pages = await pages_of(log, limit=4)
    assert [e for p in pages for e in p] == newest_first
    assert [len(p) for p in pages] == [4, 4, 4, 4, 4, 1]
    assert [e.id for p in pages for e in p if e.id.startswith("tie-")] == ["tie-9", "tie-7", "tie-4", "tie-2"]
    # Recorded meanwhile: newer, so on a first page and not on the later ones.
    first = await log.list(limit=4)
    await log.record([action(T0 + 100), action(first[-1].at, id=first[-1].id + "z")])
    rest = await log.list(limit=100, before=(first[-1].at, first[-1].id))
    assert first + rest == newest_first


async def test_the_actor_is_kept_and_filtered(stores: Stores) -> None:
    log = stores.activity
    assert log is not None
    mine = [action(T0 + n, actor="op@example.com", kind="session.end") for n in range(6)]
    theirs = [action(T0 + 10, actor="other@example.com", kind="user.role")]
    messages = [action(T0 + 20 + n) for n in range(3)]
    await log.record(mine + theirs + messages)
    everything = await log.list(limit=100)
    assert sorted(everything, key=lambda e: e.id) == sorted(mine + theirs + messages, key=lambda e: e.id)
    assert {e.actor for e in everything} == {"op@example.com", "other@example.com", ""}
    assert all(e.direction is Direction.LOCAL for e in everything if e.actor)

    async def ids(limit: int = 100, before: tuple[float, str] | None = None, **where: object) -> list[str]:
        found = await log.list(ActivityFilter(**where), limit=limit, before=before)  # type: ignore[arg-type]
        return [e.id for e in found]

    assert await ids(actor=" OP@example.com") == [e.id for e in reversed(mine)]
    assert await ids(actor="other@example.com") == [theirs[0].id]
    assert await ids(actor="") == [e.id for e in reversed(messages)]  # no actor: the messages
    assert await ids(actor="nobody@example.com") == []
    assert await ids(direction=Direction.LOCAL, kind="user") == [theirs[0].id]
    # The cursor with filters: the actor's entries two at a time, and with a window.
    pages = await pages_of(log, ActivityFilter(actor="op@example.com"), limit=2)
    assert [[e.id for e in p] for p in pages] == [
        [mine[5].id, mine[4].id],
        [mine[3].id, mine[2].id],
        [mine[1].id, mine[0].id],
    ]
    assert await ids(actor="op@example.com", until=T0 + 4, before=(mine[3].at, mine[3].id)) == [
        mine[2].id,
        mine[1].id,
        mine[0].id,
    ]
    assert await ids(actor="op@example.com", until=T0 + 2, before=(mine[3].at, mine[3].id)) == [mine[1].id, mine[0].id]
    assert await ids(since=T0 + 2, before=(mine[4].at, mine[4].id)) == [mine[3].id, mine[2].id]


async def test_a_cursor_whose_session_was_erased_still_goes_on_from_its_place(stores: Stores) -> None:
    records = await create(stores, [session(n) for n in range(20)])
    every = SessionFilter()
    first = await stores.sessions.page(every, limit=6)  # sessions 19 … 14
    cursor = first.records[-1]
    assert first.next == (cursor.created_at, cursor.sid) and cursor.user == "user4@example.com"
    assert await stores.sessions.erase_user(cursor.user) == 4  # 4, 9, 14, 19: the cursor's own too
    rest, _ = await walk(stores, every, limit=6, after=first.next)
    assert rest == [r.sid for r in reversed(records[:14]) if r.user != cursor.user]
    assert len(rest) == 12  # the 14 older than the cursor, less the user's 4 and 9
