"""The store contract of ``stores/base.py``, held against every backend.

Each test runs once per backend (see ``conftest.py``). Times are near the real clock,
since backends with their own expiry (Redis TTLs) drop rows by real time.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import replace
from typing import Any

import anyio
import pytest

from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.protocol import UserAction
from asgi_sessionsync.stores import (
    MessageStatus,
    OutboxMessage,
    SessionPeek,
    SessionRecord,
    Stores,
    User,
    new_id,
)
from asgi_sessionsync.stores.analytics import analytics
from asgi_sessionsync.stores.versions import Outcome, UserChange
from tests.concurrently import gather
from tests.stores.conftest import Backend

# A float with all its digits: stores keep times exactly as given.
T0 = round(time.time(), 6) + 0.000123


def session(
    *,
    user: str = "ann@example.com",
    chain: str | None = None,
    created_at: float = T0,
    expires_at: float | None = None,
    sid: str | None = None,
) -> SessionRecord:
    return SessionRecord(
        sid=sid or new_id(),
        user=user,
        chain=chain or new_id(),
        site="https://a.example",
        ip="203.0.113.9",
        user_agent="Browser/1.0 (ünïcode)",
        created_at=created_at,
        last_seen_at=created_at,
        via="hop from https://b.example",
        expires_at=expires_at,
    )


def message(
    *, peer: str = "https://b.example", created_at: float = T0, due: float | None = None, user: str | None = None
) -> OutboxMessage:
    """A message for ``peer`` about ``user`` (default: a user of its own, so that it is
    the first of its queue: see the FIFO tests below)."""
    sub = user or f"user-{new_id()[:10].lower()}@example.com"
    return OutboxMessage(
        id=new_id(),
        network="default",
        peer=peer,
        url=peer.replace("https://", "http://") + ".internal",
        kind="logout",
        payload={"sub": sub, "c": None, "t": created_at, "nested": {"list": [1, 2.5, "x"]}},
        created_at=created_at,
        next_attempt_at=created_at if due is None else due,
    )


# -- users -------------------------------------------------------------------------------


async def test_unknown_user_is_none(stores: Stores) -> None:
    assert await stores.users.get("nobody@example.com") is None


async def test_created_user_round_trips_with_every_field(stores: Stores) -> None:
    user = User("ann@example.com", "admin", "Ann Ö", "pbkdf2$hash", T0, "https://b.example")
    assert await stores.users.create(user) == user
    assert await stores.users.get("ann@example.com") == user


async def test_user_email_is_normalized_on_create_and_get(stores: Stores) -> None:
    stored = await stores.users.create(User("  Ann@Example.COM ", "member", created_at=T0))
    assert stored.email == "ann@example.com"
    assert await stores.users.get("ANN@example.com ") == stored


async def test_user_created_at_zero_is_stamped_now(stores: Stores) -> None:
    before = time.time()
    stored = await stores.users.create(User("ann@example.com", "member"))
    assert before <= stored.created_at <= time.time()
    assert await stores.users.get("ann@example.com") == stored


async def test_creating_an_existing_user_returns_the_stored_one_unchanged(stores: Stores) -> None:
    first = await stores.users.create(User("ann@example.com", "member", "Ann", created_at=T0))
    again = await stores.users.create(User("ANN@example.com", "admin", "Mallory", created_at=T0 + 5))
    assert again == first
    assert await stores.users.get("ann@example.com") == first


async def test_concurrent_creates_of_one_user_all_return_the_same_row(backend: Backend) -> None:
    clients = [backend.open() for _ in range(2)] if backend.shared else [backend.open()]
    results = await gather(
        *(clients[i % len(clients)].users.create(User("ann@example.com", f"role{i}", created_at=T0)) for i in range(20))
    )
    assert len(set(results)) == 1


# -- users: versions per field group, tombstones (user sync) ------------------------------


def change(
    action: UserAction,
    *,
    version: int | None,
    origin: str = "https://b.example",
    email: str = "ann@example.com",
    may_create: bool = True,
    **fields: Any,
) -> UserChange:
    return UserChange(
        email=email,
        action=action,
        origin=origin,
        now_ms=int(T0 * 1000),
        version=None if version is None else (version, origin),
        may_create=may_create,
        new_role="member",
        provisioned_by=origin,
        now=T0,
        **fields,
    )


async def test_apply_creates_a_user_with_versions_and_metadata_that_round_trip(stores: Stores) -> None:
    applied = await stores.users.apply(
        change(UserAction.CREATE, version=5, name="Ann Ö", password_hash="scrypt$x", meta={"locale": "de"})
    )
    assert applied.outcome is Outcome.APPLIED
    stored = await stores.users.get("ANN@example.com")
    assert stored is not None and stored == applied.user
    assert (stored.name, stored.role, stored.password_hash, stored.meta) == (
        "Ann Ö",
        "member",
        "scrypt$x",
        {"locale": "de"},
    )
    origin = "https://b.example"
    assert stored.versions == {"profile": (5, origin), "password": (5, origin), "meta:locale": (5, origin)}
    assert stored.provisioned_by == origin and stored.created_at == T0


async def test_an_older_version_never_overwrites_a_newer_one(stores: Stores) -> None:
    await stores.users.apply(change(UserAction.CREATE, version=5, name="Ann"))
    newer = await stores.users.apply(change(UserAction.UPDATE, version=9, name="Ann New"))
    older = await stores.users.apply(change(UserAction.UPDATE, version=7, name="Ann Old"))
    again = await stores.users.apply(change(UserAction.UPDATE, version=9, name="Ann New"))
    assert (newer.outcome, older.outcome, again.outcome) == (Outcome.APPLIED, Outcome.STALE, Outcome.STALE)
    stored = await stores.users.get("ann@example.com")
    assert stored is not None and stored.name == "Ann New" and stored.versions["profile"] == (9, "https://b.example")


async def test_equal_clocks_are_ordered_by_origin_on_every_site(stores: Stores) -> None:
    await stores.users.apply(change(UserAction.UPDATE, version=9, origin="https://c.example", name="from c"))
    lower = await stores.users.apply(change(UserAction.UPDATE, version=9, origin="https://b.example", name="from b"))
    assert lower.outcome is Outcome.STALE
    stored = await stores.users.get("ann@example.com")
    assert stored is not None and stored.name == "from c"


async def test_groups_are_versioned_apart(stores: Stores) -> None:
    await stores.users.apply(change(UserAction.CREATE, version=5, name="Ann", role="editor"))
    await stores.users.apply(change(UserAction.UPDATE, version=9, name="Ann 9"))
    role = await stores.users.apply(change(UserAction.ROLE, version=7, role="member"))
    stored = await stores.users.get("ann@example.com")
    assert role.outcome is Outcome.APPLIED and stored is not None
    assert (stored.name, stored.role) == ("Ann 9", "member")


async def test_metadata_keys_are_versioned_apart_and_none_deletes(stores: Stores) -> None:
    await stores.users.apply(change(UserAction.CREATE, version=5, name="Ann", meta={"a": "1", "b": "1"}))
    await stores.users.apply(change(UserAction.META, version=8, meta={"a": None}))
    await stores.users.apply(change(UserAction.META, version=7, meta={"a": "7", "b": "7"}))
    stored = await stores.users.get("ann@example.com")
    assert stored is not None and stored.meta == {"b": "7"}


async def test_a_change_of_this_sites_own_gets_the_next_version(stores: Stores) -> None:
    await stores.users.apply(change(UserAction.CREATE, version=10**15, name="Ann"))
    mine = await stores.users.apply(change(UserAction.UPDATE, version=None, origin="https://a.example", name="A"))
    # The clock is behind the version seen: one past it, whatever the clock says.
    assert mine.outcome is Outcome.APPLIED and mine.version == (10**15 + 1, "https://a.example")


async def test_delete_leaves_a_tombstone_that_older_changes_cannot_pass(stores: Stores) -> None:
    await stores.users.apply(change(UserAction.CREATE, version=5, name="Ann"))
    deleted = await stores.users.apply(change(UserAction.DELETE, version=10))
    assert deleted.outcome is Outcome.APPLIED and deleted.user is None
    assert await stores.users.get("ann@example.com") is None
    tomb = await stores.users.tombstone("ANN@example.com")
    assert tomb is not None and tomb.version == (10, "https://b.example") and tomb.deleted_at == T0
    late = await stores.users.apply(change(UserAction.UPDATE, version=8, name="late"))
    assert late.outcome is Outcome.DELETED and await stores.users.get("ann@example.com") is None
    again = await stores.users.apply(change(UserAction.CREATE, version=12, name="Ann again"))
    assert again.outcome is Outcome.APPLIED and await stores.users.tombstone("ann@example.com") is None
    back = await stores.users.get("ann@example.com")
    assert back is not None and back.name == "Ann again"


async def test_only_an_explicit_newer_create_passes_a_tombstone(stores: Stores) -> None:
    await stores.users.apply(change(UserAction.CREATE, version=5, name="Ann"))
    await stores.users.apply(change(UserAction.DELETE, version=10))
    # Newer than the delete, but not a create: the user stays deleted (issue #20: a change
    # made on a site that never took the delete must not bring her back).
    for action, fields in (
        (UserAction.UPDATE, {"name": "back?"}),
        (UserAction.PASSWORD, {"password_hash": "scrypt$16384$8$1$c2FsdA==$aGFzaA=="}),
        (UserAction.ROLE, {"role": "editor"}),
        (UserAction.META, {"meta": {"locale": "fr"}}),
    ):
        newer = await stores.users.apply(change(action, version=20, **fields))
        assert newer.outcome is Outcome.DELETED, action
        assert await stores.users.get("ann@example.com") is None
    tomb = await stores.users.tombstone("ann@example.com")
    assert tomb is not None and tomb.version == (10, "https://b.example")


async def test_a_final_delete_stays_until_lifted_and_is_never_purged(stores: Stores) -> None:
    await stores.users.apply(change(UserAction.CREATE, version=5, name="Ann"))
    await stores.users.apply(change(UserAction.DELETE, version=10, final=True))
    tomb = await stores.users.tombstone("ann@example.com")
    assert tomb is not None and tomb.final
    refused = await stores.users.apply(change(UserAction.CREATE, version=50, name="Ann again"))
    mine = await stores.users.apply(change(UserAction.CREATE, version=None, origin="https://a.example", name="A"))
    assert (refused.outcome, mine.outcome) == (Outcome.DELETED, Outcome.DELETED)
    assert await stores.users.purge_tombstones(T0 + 10**6) == 0
    lifted = await stores.users.apply(change(UserAction.DELETE, version=None, origin="https://a.example", lift=True))
    assert lifted.outcome is Outcome.APPLIED
    tomb = await stores.users.tombstone("ann@example.com")
    assert tomb is not None and not tomb.final and tomb.version == (10, "https://b.example")
    again = await stores.users.apply(change(UserAction.CREATE, version=50, name="Ann again"))
    assert again.outcome is Outcome.APPLIED and await stores.users.tombstone("ann@example.com") is None


async def test_an_older_delete_spares_a_user_changed_after_it(stores: Stores) -> None:
    await stores.users.apply(change(UserAction.CREATE, version=5, name="Ann"))
    await stores.users.apply(change(UserAction.UPDATE, version=12, name="Ann 12"))
    stale = await stores.users.apply(change(UserAction.DELETE, version=10))
    assert stale.outcome is Outcome.STALE and await stores.users.get("ann@example.com") is not None


async def test_a_change_for_an_unknown_user_makes_it_only_when_allowed(stores: Stores) -> None:
    refused = await stores.users.apply(change(UserAction.UPDATE, version=5, name="Ann", may_create=False))
    assert refused.outcome is Outcome.UNKNOWN and await stores.users.get("ann@example.com") is None
    made = await stores.users.apply(change(UserAction.UPDATE, version=5, name="Ann"))
    assert made.outcome is Outcome.APPLIED and made.user is not None and made.user.role == "member"


async def test_purge_tombstones_forgets_old_deletes_only(stores: Stores) -> None:
    await stores.users.apply(change(UserAction.DELETE, version=5, email="old@example.com"))
    await stores.users.apply(replace(change(UserAction.DELETE, version=5, email="new@example.com"), now=T0 + 100))
    assert await stores.users.purge_tombstones(T0 + 50) == 1
    assert await stores.users.purge_tombstones(T0 + 50) == 0
    assert await stores.users.tombstone("old@example.com") is None
    assert await stores.users.tombstone("new@example.com") is not None


async def test_concurrent_applies_keep_the_highest_version_of_each_group(backend: Backend) -> None:
    clients = [backend.open() for _ in range(3)] if backend.shared else [backend.open()]
    await clients[0].users.apply(change(UserAction.CREATE, version=1, name="v1"))
    versions = list(range(2, 42))
    results = await gather(
        *(
            clients[i % len(clients)].users.apply(change(UserAction.UPDATE, version=v, name=f"v{v}"))
            for i, v in enumerate(reversed(versions))
        )
    )
    assert all(r.outcome in (Outcome.APPLIED, Outcome.STALE) for r in results)
    stored = await clients[-1].users.get("ann@example.com")
    assert stored is not None and stored.name == "v41" and stored.versions["profile"][0] == 41


# -- sessions ----------------------------------------------------------------------------


async def test_created_session_is_returned_exactly(stores: Stores) -> None:
    record = session(expires_at=T0 + 3600.000001)
    await stores.sessions.create(record)
    assert await stores.sessions.get(record.sid) == record


async def test_unknown_sid_is_none(stores: Stores) -> None:
    assert await stores.sessions.get("no-such-sid") is None


async def test_session_user_is_normalized_on_create(stores: Stores) -> None:
    record = session(user=" Ann@Example.com")
    await stores.sessions.create(record)
    stored = await stores.sessions.get(record.sid)
    assert stored is not None and stored.user == "ann@example.com"
    assert [r.sid for r in await stores.sessions.list(user="ann@example.com")] == [record.sid]


async def test_creating_an_existing_sid_raises_and_keeps_the_first(stores: Stores) -> None:
    record = session()
    await stores.sessions.create(record)
    with pytest.raises(StoreError):
        await stores.sessions.create(session(sid=record.sid, user="mallory@example.com"))
    assert await stores.sessions.get(record.sid) == record


async def test_touch_sets_last_seen_and_ignores_unknown_sids(stores: Stores) -> None:
    record = session()
    await stores.sessions.create(record)
    await stores.sessions.touch(record.sid, T0 + 60.5)
    await stores.sessions.touch("no-such-sid", T0 + 60.5)
    assert await stores.sessions.get(record.sid) == replace(record, last_seen_at=T0 + 60.5)
    assert await stores.sessions.get("no-such-sid") is None


async def test_touch_does_not_revive_an_ended_session(stores: Stores) -> None:
    record = session()
    await stores.sessions.create(record)
    await stores.sessions.end(record.sid, reason="signed out", when=T0 + 1)
    await stores.sessions.touch(record.sid, T0 + 2)
    stored = await stores.sessions.get(record.sid)
    assert stored is not None and stored.ended_at == T0 + 1 and not stored.active


async def test_end_ends_an_active_session_once_and_keeps_the_first_reason(stores: Stores) -> None:
    record = session()
    await stores.sessions.create(record)
    assert await stores.sessions.end(record.sid, reason="signed out", when=T0 + 1.25) is True
    assert await stores.sessions.end(record.sid, reason="revoked", when=T0 + 9) is False
    stored = await stores.sessions.get(record.sid)
    assert stored == replace(record, ended_at=T0 + 1.25, end_reason="signed out")
    assert not stored.active


async def test_ending_an_unknown_sid_is_false(stores: Stores) -> None:
    assert await stores.sessions.end("no-such-sid", reason="signed out", when=T0) is False


async def test_end_user_ends_every_active_session_of_that_user_only(stores: Stores) -> None:
    mine = [session(chain="c1"), session(chain="c2"), session(chain="c3")]
    other = session(user="bob@example.com", chain="c1")
    for record in [*mine, other]:
        await stores.sessions.create(record)
    await stores.sessions.end(mine[2].sid, reason="earlier", when=T0 + 1)

    assert await stores.sessions.end_user("ANN@example.com ", reason="revoked", when=T0 + 2) == 2
    for record in mine[:2]:
        stored = await stores.sessions.get(record.sid)
        assert stored is not None and (stored.ended_at, stored.end_reason) == (T0 + 2, "revoked")
    earlier = await stores.sessions.get(mine[2].sid)
    assert earlier is not None and (earlier.ended_at, earlier.end_reason) == (T0 + 1, "earlier")
    untouched = await stores.sessions.get(other.sid)
    assert untouched is not None and untouched.active
    assert await stores.sessions.end_user("ann@example.com", reason="again", when=T0 + 3) == 0


async def test_end_user_with_chain_ends_only_that_sign_in(stores: Stores) -> None:
    same, other = session(chain="c1"), session(chain="c2")
    for record in (same, other):
        await stores.sessions.create(record)
    assert await stores.sessions.end_user("ann@example.com", reason="signed out", when=T0 + 1, chain="c1") == 1
    assert [r.sid for r in await stores.sessions.list(user="ann@example.com")] == [other.sid]


async def test_end_user_created_before_is_inclusive_and_spares_later_sign_ins(stores: Stores) -> None:
    older, at_cutoff, later = session(created_at=T0 - 10), session(created_at=T0), session(created_at=T0 + 0.001)
    for record in (older, at_cutoff, later):
        await stores.sessions.create(record)
    assert await stores.sessions.end_user("ann@example.com", reason="peer", when=T0 + 5, created_before=T0) == 2
    assert [r.sid for r in await stores.sessions.list(user="ann@example.com")] == [later.sid]


async def test_end_user_with_chain_and_created_before_needs_both(stores: Stores) -> None:
    records = [
        session(chain="c1", created_at=T0 - 1),  # ends
        session(chain="c1", created_at=T0 + 1),  # too new
        session(chain="c2", created_at=T0 - 1),  # other chain
    ]
    for record in records:
        await stores.sessions.create(record)
    ended = await stores.sessions.end_user("ann@example.com", reason="p", when=T0 + 2, chain="c1", created_before=T0)
    assert ended == 1
    assert {r.sid for r in await stores.sessions.list(user="ann@example.com")} == {records[1].sid, records[2].sid}


async def test_end_chain_except_ends_the_chains_other_sessions(stores: Stores) -> None:
    keep, orphan, orphan2 = session(chain="c1"), session(chain="c1"), session(chain="c1", user="bob@example.com")
    other_chain = session(chain="c2")
    for record in (keep, orphan, orphan2, other_chain):
        await stores.sessions.create(record)
    assert await stores.sessions.end_chain_except("c1", keep.sid, reason="re-synced", when=T0 + 1) == 2
    for record in (orphan, orphan2):
        stored = await stores.sessions.get(record.sid)
        assert stored is not None and (stored.ended_at, stored.end_reason) == (T0 + 1, "re-synced")
    for record in (keep, other_chain):
        stored = await stores.sessions.get(record.sid)
        assert stored is not None and stored.active
    assert await stores.sessions.end_chain_except("c1", keep.sid, reason="again", when=T0 + 2) == 0


async def test_end_chain_except_an_unknown_sid_ends_the_whole_chain(stores: Stores) -> None:
    records = [session(chain="c1"), session(chain="c1")]
    for record in records:
        await stores.sessions.create(record)
    assert await stores.sessions.end_chain_except("c1", "no-such-sid", reason="re-synced", when=T0 + 1) == 2


async def test_expire_ends_sessions_past_their_lifetime_at_their_expiry(stores: Stores) -> None:
    past = session(expires_at=T0 - 30.5)
    at_now = session(expires_at=T0)  # not past: expires_at < now is what expires
    future = session(expires_at=T0 + 3600)
    forever = session(expires_at=None, created_at=T0 - 86400)
    already_ended = session(expires_at=T0 - 60)
    for record in (past, at_now, future, forever, already_ended):
        await stores.sessions.create(record)
    await stores.sessions.end(already_ended.sid, reason="signed out", when=T0 - 70)

    assert await stores.sessions.expire(T0) == 1
    expired = await stores.sessions.get(past.sid)
    assert expired == replace(past, ended_at=T0 - 30.5, end_reason="expired")
    for record in (at_now, future, forever):
        stored = await stores.sessions.get(record.sid)
        assert stored is not None and stored.active
    ended = await stores.sessions.get(already_ended.sid)
    assert ended is not None and ended.end_reason == "signed out"
    assert await stores.sessions.expire(T0) == 0


async def test_live_tells_an_expired_but_not_yet_ended_session(stores: Stores) -> None:
    record = session(expires_at=T0 + 10)
    await stores.sessions.create(record)
    stored = await stores.sessions.get(record.sid)
    assert stored is not None and stored.live(T0 + 10) and not stored.live(T0 + 10.5) and stored.active


async def test_purge_deletes_sessions_ended_before_the_cutoff_only(stores: Stores) -> None:
    old, at_cutoff, recent = session(), session(), session()
    old_but_active = session(created_at=T0 - 86400)
    for record in (old, at_cutoff, recent, old_but_active):
        await stores.sessions.create(record)
    await stores.sessions.end(old.sid, reason="x", when=T0 - 100)
    await stores.sessions.end(at_cutoff.sid, reason="x", when=T0 - 50)
    await stores.sessions.end(recent.sid, reason="x", when=T0 - 1)

    assert await stores.sessions.purge(T0 - 50) == 1
    assert await stores.sessions.get(old.sid) is None
    for record in (at_cutoff, recent, old_but_active):
        assert await stores.sessions.get(record.sid) is not None
    assert old.sid not in {r.sid for r in await stores.sessions.list(include_ended=True)}
    assert await stores.sessions.purge(T0 - 50) == 0


async def test_active_gives_the_users_active_sessions_newest_first(stores: Stores) -> None:
    old = session(created_at=T0, sid="a-old")
    new = session(created_at=T0 + 5, sid="b-new")
    ended = session(created_at=T0 + 9)
    other = session(user="bob@example.com")
    for record in (old, new, ended, other):
        await stores.sessions.create(record)
    await stores.sessions.end(ended.sid, reason="signed out", when=T0 + 10)
    assert [r.sid for r in await stores.sessions.active("ANN@example.com")] == ["b-new", "a-old"]
    assert await stores.sessions.active("nobody@example.com") == []


async def test_list_is_newest_first_with_ties_by_sid_descending(stores: Stores) -> None:
    tied = [session(created_at=T0, sid=f"tie-{c}") for c in "bca"]
    records = [session(created_at=T0 - 5), *tied, session(created_at=T0 + 5)]
    for record in records:
        await stores.sessions.create(record)
    listed = await stores.sessions.list()
    assert [r.sid for r in listed] == [records[-1].sid, "tie-c", "tie-b", "tie-a", records[0].sid]


async def test_list_filters_by_user_and_state_and_honours_the_limit(stores: Stores) -> None:
    ann = [session(created_at=T0 + i) for i in range(5)]
    bob = session(user="bob@example.com", created_at=T0 + 10)
    for record in [*ann, bob]:
        await stores.sessions.create(record)
    await stores.sessions.end(ann[4].sid, reason="x", when=T0 + 20)

    assert [r.sid for r in await stores.sessions.list(user="Ann@example.com")] == [r.sid for r in ann[3::-1]]
    assert [r.sid for r in await stores.sessions.list(user="ann@example.com", include_ended=True, limit=2)] == [
        ann[4].sid,
        ann[3].sid,
    ]
    assert [r.sid for r in await stores.sessions.list(limit=2)] == [bob.sid, ann[3].sid]
    assert await stores.sessions.list(user="nobody@example.com", include_ended=True) == []


async def test_an_end_in_one_client_is_seen_by_another_at_once(backend: Backend) -> None:
    if not backend.shared:
        pytest.skip("one process only: nothing to share")
    first, second = backend.open(), backend.open()
    record = session()
    await first.sessions.create(record)
    seen = await second.sessions.get(record.sid)
    assert seen is not None and seen.active
    await first.sessions.end_user("ann@example.com", reason="revoked", when=T0 + 1)
    # Seen at once, or (a per-process cache told through pub/sub) within milliseconds.
    for _ in range(2000):
        stored = await second.sessions.get(record.sid)
        if stored is None or not stored.active:
            break
        await anyio.sleep(0.001)
    assert stored is not None and stored.end_reason == "revoked"


async def test_concurrent_end_user_and_create_leave_no_matching_session_active(backend: Backend) -> None:
    clients = [backend.open(), backend.open()] if backend.shared else [backend.open()]
    records = [session(chain="c1", created_at=T0 - 1) for _ in range(30)]
    for record in records[:10]:
        await clients[0].sessions.create(record)

    async def create_rest() -> None:
        for record in records[10:]:
            await clients[-1].sessions.create(record)

    ended = await gather(
        create_rest(),
        *(clients[i % len(clients)].sessions.end_user("ann@example.com", reason="r", when=T0) for i in range(5)),
    )
    # Every session either ended in one of the calls or was created after all of them;
    # a last call after the dust settles ends the rest, and the counts add up exactly.
    tail = await clients[0].sessions.end_user("ann@example.com", reason="r", when=T0)
    assert sum(n for n in ended[1:] if n is not None) + tail == 30
    assert await clients[0].sessions.list(user="ann@example.com") == []


# -- app login references ----------------------------------------------------------------


async def test_a_session_keeps_its_app_login_reference_and_has_none_by_default(stores: Stores) -> None:
    referenced, plain = replace(session(), app_ref="k3y-Of.the_app~login/1"), session()
    for record in (referenced, plain):
        await stores.sessions.create(record)
    assert await stores.sessions.get(referenced.sid) == referenced
    stored = await stores.sessions.get(plain.sid)
    assert stored == plain and stored.app_ref is None


async def test_find_by_app_ref_finds_the_session_with_exactly_that_reference(stores: Stores) -> None:
    record = replace(session(), app_ref="Ref-1")
    await stores.sessions.create(record)
    await stores.sessions.create(session())
    assert await stores.sessions.find_by_app_ref("Ref-1") == record
    for other in ("ref-1", "Ref", "Ref-10", ""):
        assert await stores.sessions.find_by_app_ref(other) is None


async def test_find_by_app_ref_prefers_an_ended_session_then_the_newest(stores: Stores) -> None:
    older = replace(session(created_at=T0 - 10), app_ref="r")
    newer = replace(session(created_at=T0), app_ref="r")
    elsewhere = replace(session(created_at=T0 + 5), app_ref="s")
    for record in (older, newer, elsewhere):
        await stores.sessions.create(record)
    assert await stores.sessions.find_by_app_ref("r") == newer
    # An app login whose session ended is dead, whatever other session carries it.
    await stores.sessions.end(older.sid, reason="signed out", when=T0 + 1)
    found = await stores.sessions.find_by_app_ref("r")
    assert found == replace(older, ended_at=T0 + 1, end_reason="signed out")
    await stores.sessions.end_user("ann@example.com", reason="revoked", when=T0 + 2)
    found = await stores.sessions.find_by_app_ref("r")
    assert found is not None and not found.active


async def test_a_purged_session_is_no_longer_found_by_its_app_ref(stores: Stores) -> None:
    record = replace(session(), app_ref="gone")
    await stores.sessions.create(record)
    await stores.sessions.end(record.sid, reason="x", when=T0 - 100)
    assert await stores.sessions.purge(T0) == 1
    assert await stores.sessions.find_by_app_ref("gone") is None


async def test_an_end_in_one_client_is_seen_by_an_app_ref_lookup_in_another(backend: Backend) -> None:
    if not backend.shared:
        pytest.skip("one process only: nothing to share")
    first, second = backend.open(), backend.open()
    record = replace(session(), app_ref="shared-ref")
    await first.sessions.create(record)
    found = await second.sessions.find_by_app_ref("shared-ref")
    assert found is not None and found.active
    await first.sessions.end(record.sid, reason="signed out", when=T0 + 1)
    found = await second.sessions.find_by_app_ref("shared-ref")
    assert found is not None and found.end_reason == "signed out"


# -- replay cache ------------------------------------------------------------------------


async def test_an_id_can_be_used_once(stores: Stores) -> None:
    jti = b"\x00\xffid-1"
    assert await stores.replay.use(jti, time.time() + 60) is True
    assert await stores.replay.use(jti, time.time() + 60) is False
    assert await stores.replay.use(b"\x00\xffid-2", time.time() + 60) is True


async def test_seen_tells_used_ids_from_unknown_ones(stores: Stores) -> None:
    await stores.replay.use(b"used", time.time() + 60)
    assert await stores.replay.seen(b"used") is True
    assert await stores.replay.seen(b"never") is False


async def test_an_expired_id_is_not_seen_and_can_be_used_again(stores: Stores) -> None:
    assert await stores.replay.use(b"short", time.time() + 0.2) is True
    assert await stores.replay.seen(b"short") is True
    await anyio.sleep(0.35)
    assert await stores.replay.seen(b"short") is False
    assert await stores.replay.use(b"short", time.time() + 60) is True
    assert await stores.replay.use(b"short", time.time() + 60) is False


async def test_an_id_used_with_a_past_expiry_records_nothing_lasting(stores: Stores) -> None:
    assert await stores.replay.use(b"stale", time.time() - 1) is True
    assert await stores.replay.seen(b"stale") is False
    assert await stores.replay.use(b"stale", time.time() + 60) is True


async def test_fifty_concurrent_uses_of_one_id_let_exactly_one_win(backend: Backend) -> None:
    clients = [backend.open(), backend.open()] if backend.shared else [backend.open()]
    expires_at = time.time() + 60
    results = await gather(*(clients[i % len(clients)].replay.use(b"race", expires_at) for i in range(50)))
    assert results.count(True) == 1


async def test_release_forgets_a_used_id_so_that_it_can_be_used_again(stores: Stores) -> None:
    assert await stores.replay.use(b"claimed", time.time() + 60) is True
    assert await stores.replay.release(b"claimed") is True
    assert await stores.replay.seen(b"claimed") is False
    assert await stores.replay.use(b"claimed", time.time() + 60) is True
    assert await stores.replay.release(b"never used") is False


_USE_IN_A_PROCESS = """
import asyncio, sys, time
from asgi_sessionsync.stores import open_stores

async def main():
    stores = open_stores(sys.argv[1])
    await stores.users.get("warm@example.com")  # connected and set up before the start line
    while time.time() < float(sys.argv[2]):
        await asyncio.sleep(0.001)
    won = await stores.replay.use(b"one message id", time.time() + 60)
    print("won" if won else "lost")
    await stores.close()

asyncio.run(main())
"""


async def test_one_id_claimed_by_several_processes_at_once_is_won_by_exactly_one(backend: Backend) -> None:
    """The receiver's "applied once" across worker processes rests on this (issue #23)."""
    if not backend.shared:
        pytest.skip("the memory store lives in one process")
    start = time.time() + 3.0  # every process waits for the same moment, then claims
    processes = [
        await anyio.open_process([sys.executable, "-c", _USE_IN_A_PROCESS, backend.location, repr(start)])
        for _ in range(4)
    ]
    said = []
    for process in processes:
        assert process.stdout is not None
        with anyio.fail_after(60):
            said.append((await process.stdout.receive()).decode().strip())
            await process.wait()
    assert sorted(said) == ["lost", "lost", "lost", "won"], said


async def test_replay_purge_deletes_expired_ids_and_keeps_live_ones(backend: Backend, stores: Stores) -> None:
    now = time.time()
    for i in range(3):
        await stores.replay.use(b"old-%d" % i, now + 0.1)
    await stores.replay.use(b"live", now + 60)
    await anyio.sleep(0.2)
    purged = await stores.replay.purge(time.time())
    assert purged == (0 if backend.replay_expires_by_itself else 3)
    assert await stores.replay.seen(b"live") is True
    assert await stores.replay.use(b"live", now + 60) is False
    assert await stores.replay.purge(time.time()) == 0


# -- outbox ------------------------------------------------------------------------------


async def test_added_messages_round_trip_and_unknown_ids_are_none(stores: Stores) -> None:
    messages = [message(), message(peer="https://c.example")]
    await stores.outbox.add(messages)
    for m in messages:
        assert await stores.outbox.get(m.id) == m
    assert await stores.outbox.get("no-such-id") is None


async def test_adding_an_existing_id_raises_and_adds_none_of_the_batch(stores: Stores) -> None:
    first = message()
    await stores.outbox.add([first])
    fresh = message()
    with pytest.raises(StoreError):
        await stores.outbox.add([fresh, replace(first, kind="other")])
    assert await stores.outbox.get(fresh.id) is None
    assert await stores.outbox.get(first.id) == first


async def test_claim_due_leases_due_messages_earliest_first(stores: Stores) -> None:
    later, earlier, not_due = message(due=T0 - 1), message(due=T0 - 5), message(due=T0 + 10)
    await stores.outbox.add([later, earlier, not_due])
    claimed = await stores.outbox.claim_due(T0, lease=30)
    assert [m.id for m in claimed] == [earlier.id, later.id]
    assert all(m.next_attempt_at == T0 + 30 and m.status is MessageStatus.PENDING for m in claimed)
    assert await stores.outbox.get(earlier.id) == claimed[0]


async def test_a_claimed_message_is_hidden_from_other_claimers_until_its_lease_ends(backend: Backend) -> None:
    first = backend.open()
    second = backend.open() if backend.shared else first
    m = message(due=T0)
    await first.outbox.add([m])
    assert [c.id for c in await first.outbox.claim_due(T0, lease=30)] == [m.id]
    assert await second.outbox.claim_due(T0 + 29.9, lease=30) == []
    assert await second.outbox.claim([m.id], T0 + 29.9, lease=30) == []
    assert [c.id for c in await second.outbox.claim_due(T0 + 30, lease=30)] == [m.id]


async def test_claim_due_honours_the_limit(stores: Stores) -> None:
    messages = [message(due=T0 - i) for i in range(5)]
    await stores.outbox.add(messages)
    claimed = await stores.outbox.claim_due(T0, lease=30, limit=2)
    assert [m.id for m in claimed] == [messages[4].id, messages[3].id]
    assert len(await stores.outbox.claim_due(T0, lease=30, limit=100)) == 3


async def test_claim_takes_the_given_ids_in_order_and_skips_the_unclaimable(stores: Stores) -> None:
    a, b, done, not_due = message(), message(), message(), message(due=T0 + 60)
    await stores.outbox.add([a, b, done, not_due])
    await stores.outbox.delivered(done.id, T0)
    claimed = await stores.outbox.claim([b.id, "no-such-id", done.id, not_due.id, a.id, b.id], T0, lease=5)
    assert [m.id for m in claimed] == [b.id, a.id]


async def test_concurrent_claimers_never_get_the_same_message(backend: Backend) -> None:
    clients = [backend.open(), backend.open()] if backend.shared else [backend.open()]
    messages = [message(due=T0 - i * 0.001) for i in range(40)]
    await clients[0].outbox.add(messages)
    batches = await gather(*(clients[i % len(clients)].outbox.claim_due(T0, lease=30, limit=7) for i in range(10)))
    ids = [m.id for batch in batches for m in batch]
    assert len(ids) == len(set(ids)) == 40


async def test_delivered_finishes_a_message_and_counts_the_attempt(stores: Stores) -> None:
    m = message()
    await stores.outbox.add([m])
    await stores.outbox.claim([m.id], T0, lease=30)
    await stores.outbox.delivered(m.id, T0 + 1.5)
    stored = await stores.outbox.get(m.id)
    assert stored is not None
    assert (stored.status, stored.delivered_at, stored.finished_at, stored.attempts) == (
        MessageStatus.DELIVERED,
        T0 + 1.5,
        T0 + 1.5,
        1,
    )
    assert await stores.outbox.pending() == []
    assert await stores.outbox.claim_due(T0 + 3600, lease=30) == []


async def test_delivered_twice_keeps_the_first_delivery(stores: Stores) -> None:
    m = message()
    await stores.outbox.add([m])
    await stores.outbox.delivered(m.id, T0 + 1)
    await stores.outbox.delivered(m.id, T0 + 2)
    stored = await stores.outbox.get(m.id)
    assert stored is not None and (stored.delivered_at, stored.attempts) == (T0 + 1, 1)


async def test_reports_about_unknown_messages_are_no_ops(stores: Stores) -> None:
    await stores.outbox.delivered("no-such-id", T0)
    await stores.outbox.failed("no-such-id", error="HTTP 500", next_attempt_at=T0 + 1)
    await stores.outbox.failed("no-such-id", error="HTTP 500", next_attempt_at=T0 + 1, abandon=True)
    assert await stores.outbox.get("no-such-id") is None
    assert await stores.outbox.pending() == []


async def test_failed_reschedules_a_pending_message(stores: Stores) -> None:
    m = message()
    await stores.outbox.add([m])
    await stores.outbox.claim([m.id], T0, lease=30)
    await stores.outbox.failed(m.id, error="ConnectError", next_attempt_at=T0 + 2.5)
    stored = await stores.outbox.get(m.id)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.last_error, stored.next_attempt_at, stored.finished_at) == (
        MessageStatus.PENDING,
        1,
        "ConnectError",
        T0 + 2.5,
        None,
    )
    assert await stores.outbox.claim_due(T0 + 2.4, lease=30) == []
    assert [c.id for c in await stores.outbox.claim_due(T0 + 2.5, lease=30)] == [m.id]


async def test_failed_with_abandon_finishes_the_message(stores: Stores) -> None:
    m = message()
    await stores.outbox.add([m])
    before = time.time()
    await stores.outbox.failed(m.id, error="HTTP 503", next_attempt_at=T0 + 10, abandon=True)
    stored = await stores.outbox.get(m.id)
    assert stored is not None and stored.status is MessageStatus.ABANDONED
    assert (stored.attempts, stored.last_error) == (1, "HTTP 503")
    assert stored.finished_at is not None and before <= stored.finished_at <= time.time()
    assert await stores.outbox.pending() == []
    assert await stores.outbox.claim_due(T0 + 3600, lease=30) == []


async def test_a_late_failure_report_never_resurrects_a_finished_message(stores: Stores) -> None:
    delivered, dropped = message(), message()
    await stores.outbox.add([delivered, dropped])
    await stores.outbox.delivered(delivered.id, T0 + 1)
    await stores.outbox.drop([dropped.id])
    expected = {m.id: await stores.outbox.get(m.id) for m in (delivered, dropped)}
    for m in (delivered, dropped):
        await stores.outbox.failed(m.id, error="late", next_attempt_at=T0 + 5)
        assert await stores.outbox.get(m.id) == expected[m.id]
    assert await stores.outbox.pending() == []


async def test_a_dropped_message_that_arrives_anyway_is_recorded_delivered(stores: Stores) -> None:
    m = message()
    await stores.outbox.add([m])
    await stores.outbox.claim([m.id], T0, lease=30)
    await stores.outbox.drop([m.id])
    await stores.outbox.delivered(m.id, T0 + 1)
    stored = await stores.outbox.get(m.id)
    assert stored is not None and (stored.status, stored.delivered_at) == (MessageStatus.DELIVERED, T0 + 1)


async def test_retry_now_makes_one_peers_pending_messages_due_at_once(stores: Stores) -> None:
    waiting = [message(due=T0 + 100), message(due=T0 + 200)]
    due_already = message(due=T0 - 1)
    other_peer = message(peer="https://c.example", due=T0 + 100)
    finished = message(due=T0 + 100)
    await stores.outbox.add([*waiting, due_already, other_peer, finished])
    await stores.outbox.delivered(finished.id, T0)

    assert await stores.outbox.retry_now("https://b.example", T0) == 2
    for m in waiting:
        stored = await stores.outbox.get(m.id)
        assert stored is not None and stored.next_attempt_at == T0
    stored_due = await stores.outbox.get(due_already.id)
    assert stored_due is not None and stored_due.next_attempt_at == T0 - 1
    claimed = await stores.outbox.claim_due(T0, lease=30)
    assert {m.id for m in claimed} == {waiting[0].id, waiting[1].id, due_already.id}


async def test_drop_abandons_pending_messages_as_dropped_by_operator(stores: Stores) -> None:
    pending, delivered = message(), message()
    await stores.outbox.add([pending, delivered])
    await stores.outbox.delivered(delivered.id, T0)
    before = time.time()
    assert await stores.outbox.drop([pending.id, delivered.id, "no-such-id", pending.id]) == 1
    stored = await stores.outbox.get(pending.id)
    assert stored is not None
    assert (stored.status, stored.last_error) == (MessageStatus.ABANDONED, "dropped by operator")
    assert stored.finished_at is not None and before <= stored.finished_at <= time.time()
    still = await stores.outbox.get(delivered.id)
    assert still is not None and still.status is MessageStatus.DELIVERED
    assert await stores.outbox.drop([pending.id]) == 0


async def test_pending_lists_only_pending_messages_oldest_first(stores: Stores) -> None:
    newest, oldest = message(created_at=T0 + 5), message(created_at=T0 - 5)
    tied = [replace(message(created_at=T0), id=f"tie-{c}") for c in "ba"]
    done = message(created_at=T0 - 10)
    await stores.outbox.add([newest, *tied, oldest, done])
    await stores.outbox.claim([newest.id], T0, lease=30)  # leased messages are still pending
    await stores.outbox.delivered(done.id, T0)
    assert [m.id for m in await stores.outbox.pending()] == [oldest.id, "tie-a", "tie-b", newest.id]


async def test_outbox_purge_deletes_messages_finished_before_the_cutoff_only(stores: Stores) -> None:
    old, at_cutoff, old_pending = message(), message(), message(created_at=T0 - 86400)
    await stores.outbox.add([old, at_cutoff, old_pending])
    await stores.outbox.delivered(old.id, T0 - 100)
    await stores.outbox.delivered(at_cutoff.id, T0 - 50)
    assert await stores.outbox.purge(T0 - 50) == 1
    assert await stores.outbox.get(old.id) is None
    assert await stores.outbox.get(at_cutoff.id) is not None
    assert [m.id for m in await stores.outbox.pending()] == [old_pending.id]
    assert await stores.outbox.purge(T0 - 50) == 0


async def test_outbox_purge_deletes_abandoned_messages_by_when_they_were_abandoned(stores: Stores) -> None:
    m = message(created_at=T0 - 86400)
    await stores.outbox.add([m])
    await stores.outbox.drop([m.id])
    assert await stores.outbox.purge(time.time() - 60) == 0
    assert await stores.outbox.purge(time.time() + 1) == 1
    assert await stores.outbox.get(m.id) is None


# -- outbox: one queue per peer and user, first in first out (issue #23) ------------------


async def test_only_the_first_pending_message_of_a_peer_and_user_is_claimed(stores: Stores) -> None:
    first, second, third = (message(user="ann@example.com", due=T0 - 10 + i) for i in range(3))
    bobs = message(user="bob@example.com", due=T0 - 1)
    to_c = message(user="ann@example.com", peer="https://c.example", due=T0 - 1)
    for m in (first, second, third, bobs, to_c):  # queued one after the other
        await stores.outbox.add([m])
    claimed = await stores.outbox.claim_due(T0, lease=30)
    assert [m.id for m in claimed] == [first.id, bobs.id, to_c.id]
    assert await stores.outbox.claim([second.id, third.id], T0, lease=30) == []  # not first of their queue
    await stores.outbox.delivered(first.id, T0)
    assert [m.id for m in await stores.outbox.claim_due(T0, lease=30)] == [second.id]


async def test_a_queue_waits_for_its_first_message_however_late_it_is_due(stores: Stores) -> None:
    head, later = message(user="ann@example.com"), message(user="ann@example.com")
    await stores.outbox.add([head, later])  # one batch: queued in the order given
    await stores.outbox.claim([head.id], T0, lease=30)
    await stores.outbox.failed(head.id, error="ConnectError", next_attempt_at=T0 + 100)
    assert await stores.outbox.claim_due(T0 + 50, lease=30) == []  # later is due, head is not
    assert [m.id for m in await stores.outbox.claim_due(T0 + 100, lease=30)] == [head.id]
    await stores.outbox.failed(head.id, error="HTTP 400", next_attempt_at=T0, abandon=True)
    assert [m.id for m in await stores.outbox.claim_due(T0 + 100, lease=30)] == [later.id]


async def test_a_dropped_first_message_lets_the_next_one_go(stores: Stores) -> None:
    head, later = message(user="ann@example.com"), message(user="ann@example.com")
    await stores.outbox.add([head, later])
    await stores.outbox.drop([head.id])
    assert [m.id for m in await stores.outbox.claim_due(T0, lease=30)] == [later.id]


async def test_retry_now_keeps_each_queue_in_order(stores: Stores) -> None:
    queue = [message(user="ann@example.com", due=T0 + 100 + i) for i in range(3)]
    for m in queue:
        await stores.outbox.add([m])
    assert await stores.outbox.retry_now("https://b.example", T0) == 3
    assert [m.id for m in await stores.outbox.claim_due(T0, lease=30)] == [queue[0].id]


async def test_two_hundred_messages_of_one_queue_come_out_in_the_order_they_were_queued(backend: Backend) -> None:
    clients = [backend.open(), backend.open()] if backend.shared else [backend.open()]
    queued = [message(user="ann@example.com", due=T0 - 1000 + (i * 7919) % 200) for i in range(200)]
    for i, m in enumerate(queued):  # due times shuffled: the queue order wins
        await clients[i % len(clients)].outbox.add([m])
    out: list[str] = []
    while len(out) < len(queued):
        batches = await gather(*(c.outbox.claim_due(T0, lease=30) for c in clients))
        claimed = [m for batch in batches for m in batch]
        assert len(claimed) == 1, [m.id for m in claimed]
        out.append(claimed[0].id)
        await clients[len(out) % len(clients)].outbox.delivered(claimed[0].id, T0)
    assert out == [m.id for m in queued]


async def test_the_outbox_generation_is_one_id_for_as_long_as_its_data_lasts(backend: Backend) -> None:
    first = backend.open()
    generation = await first.outbox.generation()
    assert generation and generation == await first.outbox.generation()
    if backend.shared:
        assert await backend.open().outbox.generation() == generation


# -- all five ----------------------------------------------------------------------------


async def test_stores_purge_expires_sessions_and_purges_everything_older_than_retention(
    backend: Backend, stores: Stores
) -> None:
    now = time.time()
    expired = session(expires_at=now - 7200)  # expired two hours ago: past a one-hour retention
    recently_expired = session(expires_at=now - 60)
    ended_long_ago, active = session(), session(expires_at=now + 3600)
    for record in (expired, recently_expired, ended_long_ago, active):
        await stores.sessions.create(record)
    await stores.sessions.end(ended_long_ago.sid, reason="x", when=now - 7200)
    await stores.replay.use(b"kept", now + 60)
    await stores.replay.use(b"gone", now - 1)
    old, fresh = message(), message()
    await stores.outbox.add([old, fresh])
    await stores.outbox.delivered(old.id, now - 7200)
    await stores.outbox.delivered(fresh.id, now - 60)

    counts = await stores.purge(now, retention=3600)

    replay_purged = 0 if backend.replay_expires_by_itself else 1
    assert counts == {
        "expired_sessions": 2,
        "purged_sessions": 2,
        "purged_replay_ids": replay_purged,
        "purged_messages": 1,
        "purged_activity": 0,  # see test_contract_activity.py
        "purged_tombstones": 0,
        "purged_verified": 0,  # see test_contract_verified.py
    }
    assert await stores.sessions.get(expired.sid) is None
    assert await stores.sessions.get(ended_long_ago.sid) is None
    kept = await stores.sessions.get(recently_expired.sid)
    assert kept is not None and (kept.ended_at, kept.end_reason) == (now - 60, "expired")
    still = await stores.sessions.get(active.sid)
    assert still is not None and still.active
    assert await stores.replay.seen(b"kept") is True
    assert await stores.outbox.get(old.id) is None
    assert await stores.outbox.get(fresh.id) is not None
    assert await stores.purge(now, retention=3600) == dict.fromkeys(counts, 0)


# -- governance: search, idle, erasure, analytics ------------------------------------------


async def test_country_and_device_round_trip_and_default_to_empty(stores: Stores) -> None:
    record = replace(session(), country="DE", device="mobile/Mobile Safari/iOS")
    plain = session()
    for r in (record, plain):
        await stores.sessions.create(r)
    assert await stores.sessions.get(record.sid) == record
    stored = await stores.sessions.get(plain.sid)
    assert stored is not None and (stored.country, stored.device) == ("", "")


async def test_search_filters_by_user_ip_time_and_state_newest_first(stores: Stores) -> None:
    old = session(created_at=T0 - 100)
    mine = [replace(session(created_at=T0 + i), ip="198.51.100.1") for i in range(3)]
    bob = replace(session(user="bob@example.com", created_at=T0 + 5), ip="198.51.100.1")
    for record in (old, *mine, bob):
        await stores.sessions.create(record)
    await stores.sessions.end(mine[2].sid, reason="signed out", when=T0 + 10)

    assert [r.sid for r in await stores.sessions.search(user="ANN@example.com")] == [
        *(r.sid for r in mine[::-1]),
        old.sid,
    ]
    assert [r.sid for r in await stores.sessions.search(ip="198.51.100.1", active=True)] == [
        bob.sid,
        mine[1].sid,
        mine[0].sid,
    ]
    assert [r.sid for r in await stores.sessions.search(since=T0 + 1, limit=2)] == [bob.sid, mine[2].sid]
    assert await stores.sessions.search(user="nobody@example.com") == []


async def test_idle_lists_active_sessions_not_seen_since_least_recent_first(stores: Stores) -> None:
    stale, staler, fresh, ended = (session(expires_at=T0 + 3600) for _ in range(4))
    for record in (stale, staler, fresh, ended):
        await stores.sessions.create(record)
    await stores.sessions.touch(stale.sid, T0 + 10)
    await stores.sessions.touch(fresh.sid, T0 + 100)
    await stores.sessions.end(ended.sid, reason="signed out", when=T0 + 1)
    idle = await stores.sessions.idle(T0 + 50)
    assert [r.sid for r in idle] == [staler.sid, stale.sid]
    assert [r.sid for r in await stores.sessions.idle(T0 + 50, limit=1)] == [staler.sid]
    assert [r.sid for r in await stores.sessions.idle(T0 + 50, after=(idle[0].last_seen_at, idle[0].sid))] == [
        stale.sid
    ]
    assert await stores.sessions.idle(T0) == []


async def test_erase_user_deletes_all_of_one_users_sessions_active_or_ended(stores: Stores) -> None:
    active, ended = session(chain="c1"), session(chain="c2")
    bob = session(user="bob@example.com", chain="c1")
    for record in (active, ended, bob):
        await stores.sessions.create(record)
    await stores.sessions.end(ended.sid, reason="signed out", when=T0 + 1)
    assert await stores.sessions.erase_user(" Ann@Example.com") == 2
    assert await stores.sessions.get(active.sid) is None and await stores.sessions.get(ended.sid) is None
    assert await stores.sessions.list(user="ann@example.com", include_ended=True) == []
    assert await stores.sessions.search(user="ann@example.com") == []
    assert [r.sid for r in await stores.sessions.list(include_ended=True)] == [bob.sid]
    assert await stores.sessions.end_chain_except("c1", "none", reason="x", when=T0 + 2) == 1
    assert await stores.sessions.erase_user("ann@example.com") == 0


async def test_an_erased_or_purged_session_is_gone_from_every_lookup(stores: Stores) -> None:
    # By its app login too: an index that kept an erased session's sid failed here.
    erased = dataclasses.replace(session(), app_ref="app-1")
    purged = dataclasses.replace(session(user="bob@example.com"), app_ref="app-2")
    for record in (erased, purged):
        await stores.sessions.create(record)
    await stores.sessions.end(purged.sid, reason="x", when=T0 - 100)
    assert await stores.sessions.erase_user("ann@example.com") == 1
    assert await stores.sessions.purge(T0 - 50) == 1
    assert await stores.sessions.find_by_app_ref("app-1") is None
    assert await stores.sessions.find_by_app_ref("app-2") is None
    assert await stores.sessions.end_user("bob@example.com", reason="x", when=T0) == 0
    assert await stores.sessions.active("ann@example.com") == []
    again = dataclasses.replace(session(), app_ref="app-1")  # the same user and app login, anew
    await stores.sessions.create(again)
    assert (await stores.sessions.find_by_app_ref("app-1")) == again
    assert [r.sid for r in await stores.sessions.active("Ann@example.com")] == [again.sid]


async def test_analytics_counts_logins_blocks_active_ends_devices_countries_and_days(stores: Stores) -> None:
    day = 86400.0
    start = (T0 // day) * day - 2 * day  # midnight UTC two days ago
    until = start + 3 * day
    records = [
        replace(session(created_at=start + 10), via="login", country="DE", device="desktop/Chrome/Linux/browser"),
        replace(session(created_at=start + 20), via="hop from https://b.example", country="DE", device="mobile/X/iOS"),
        replace(session(created_at=start + day + 5), via="frame from https://b.example", country="FR"),
        replace(session(user="bob@example.com", created_at=start + day + 6), via="adopted from the app's own login"),
        replace(session(created_at=start + 2 * day), via="login", device="desktop/curl/Linux/library"),
        session(created_at=start - day),  # before the period, still active
        session(created_at=start - day, expires_at=start + day),  # past its lifetime at the end: not active
    ]
    for record in records:
        await stores.sessions.create(record)
    blocked = replace(
        session(created_at=start + 2 * day + 1), ended_at=start + 2 * day + 1, end_reason="blocked: max_sessions"
    )
    await stores.sessions.create(blocked)
    await stores.sessions.end(records[0].sid, reason="signed out", when=start + 100)
    await stores.sessions.end(records[1].sid, reason="signed out on https://b.example", when=start + day + 1)
    await stores.sessions.end(records[2].sid, reason="idle", when=start + 2 * day + 2)
    await stores.sessions.end(records[5].sid, reason="limit: max_sessions (on https://b.example)", when=start + 3)

    stats = await analytics(stores, start, until)

    assert stats.logins == {"here": 2, "via a peer": 2, "adopted": 1}
    assert stats.blocked == 1
    assert stats.ended == {"signed out here": 1, "signed out on a peer": 1, "idle": 1, "limit": 1}
    # Active at the end: records 3 (bob) and 4; record 6 is past its lifetime.
    assert (stats.active_sessions, stats.active_users) == (2, 2)
    assert stats.devices == {"desktop": 2, "": 2, "mobile": 1}
    assert stats.clients == {"": 3, "browser": 1, "library": 1}  # "": none recorded (three-part or no device)
    assert stats.countries == {"": 2, "DE": 2, "FR": 1}
    assert [(d.logins, d.ends, d.blocked) for d in stats.days] == [(2, 2, 0), (2, 1, 0), (1, 1, 1)]
    assert stats.turnover == 4 / 6
    assert not stats.truncated
    empty = await analytics(stores, until + day, until + 2 * day)
    assert (empty.total_logins, empty.total_ended, empty.blocked, empty.turnover) == (0, 0, 0, 0.0)


async def test_peek_answers_only_what_get_would_and_sees_an_end_no_later(backend: Backend) -> None:
    """SessionPeek (memory, and the per-process caches of SQLite and Redis): from memory,
    never a record ``get`` would not give; an end made by another client is seen by peek
    no later than by get."""
    first = backend.open()
    second = backend.open() if backend.shared else first
    if not isinstance(second.sessions, SessionPeek):
        pytest.skip("this backend does not implement the optional SessionPeek (Redis: its get reads the cache)")
    record = session()
    await first.sessions.create(record)
    assert second.sessions.peek("no-such-sid") is None
    # Once get has read it, peek answers the same record (or None: not known without I/O).
    assert await second.sessions.get(record.sid) == record
    peeked = second.sessions.peek(record.sid)
    assert peeked is None or peeked == record
    if backend.name == "memory":
        assert peeked == record  # the memory store always knows
    await first.sessions.end(record.sid, reason="revoked", when=T0 + 1)
    for _ in range(2000):
        got = await second.sessions.get(record.sid)
        if got is not None and not got.active:
            break
        await anyio.sleep(0.001)
    assert got is not None and got.end_reason == "revoked"
    # get has seen the end: peek may not show the session active any more.
    peeked = second.sessions.peek(record.sid)
    assert peeked is None or (not peeked.active and peeked.end_reason == "revoked")
