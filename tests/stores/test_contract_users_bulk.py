"""``UserStore.list_users`` and ``UserStore.import_users`` (``stores/base.py``), held
against every backend (memory, SQLite, Redis) like ``test_contract.py``."""

from __future__ import annotations

import time

from asgi_sessionsync.stores import ImportCounts, Stores, User

T0 = round(time.time(), 6) + 0.000123


def users(count: int, *, role: str = "member", start: int = 0) -> list[User]:
    return [User(f"user{n:05d}@example.com", role, f"User {n}", None, T0 + n) for n in range(start, start + count)]


async def test_list_users_is_ordered_by_email_and_pages_with_limit_and_offset(stores: Stores) -> None:
    for user in reversed(users(7)):
        await stores.users.create(user)
    emails = [u.email for u in await stores.users.list_users(limit=100)]
    assert emails == sorted(emails) and len(emails) == 7
    page = await stores.users.list_users(limit=3, offset=2)
    assert [u.email for u in page] == emails[2:5]
    assert await stores.users.list_users(limit=3, offset=7) == []


async def test_list_users_by_role_pages_over_that_role_only(stores: Stores) -> None:
    await stores.users.import_users(users(5, role="member") + users(4, role="admin", start=100))
    admins = await stores.users.list_users(role="admin", limit=100)
    assert [u.role for u in admins] == ["admin"] * 4
    assert await stores.users.list_users(role="admin", limit=2, offset=1) == admins[1:3]
    assert await stores.users.list_users(role="nobody", limit=10) == []


async def test_import_creates_users_exactly_as_given_with_normalized_emails(stores: Stores) -> None:
    given = User(" Ann@Example.COM", "admin", "Ann Ö", "scrypt$abc$def", T0, "https://b.example")
    counts = await stores.users.import_users([given])
    assert counts == ImportCounts(created=1)
    stored = await stores.users.get("ann@example.com")
    assert stored == User("ann@example.com", "admin", "Ann Ö", "scrypt$abc$def", T0, "https://b.example")
    assert await stores.users.list_users() == [stored]


async def test_import_stamps_a_zero_creation_time(stores: Stores) -> None:
    before = time.time()
    await stores.users.import_users([User("ann@example.com", "member")])
    stored = await stores.users.get("ann@example.com")
    assert stored is not None and before <= stored.created_at <= time.time()


async def test_import_leaves_existing_users_unless_replace(stores: Stores) -> None:
    first = await stores.users.create(User("ann@example.com", "member", "Ann", created_at=T0))
    changed = User("ann@example.com", "editor", "Ann B", "scrypt$x", T0 + 9, None)
    assert await stores.users.import_users([changed, *users(2)]) == ImportCounts(created=2, skipped=1)
    assert await stores.users.get("ann@example.com") == first
    assert await stores.users.import_users([changed], replace=True) == ImportCounts(updated=1)
    assert await stores.users.get("ann@example.com") == changed


async def test_replacing_drops_fields_the_new_row_lacks(stores: Stores) -> None:
    await stores.users.create(User("ann@example.com", "member", "Ann", "scrypt$old", T0, "https://b.example"))
    await stores.users.import_users([User("ann@example.com", "member", "Ann", None, T0, None)], replace=True)
    assert await stores.users.get("ann@example.com") == User("ann@example.com", "member", "Ann", None, T0, None)


async def test_an_email_twice_in_one_call_counts_once_and_the_later_wins(stores: Stores) -> None:
    counts = await stores.users.import_users(
        [
            User("ann@example.com", "member", "One", created_at=T0),
            User("ANN@example.com", "member", "Two", created_at=T0),
        ]
    )
    assert counts == ImportCounts(created=1)
    stored = await stores.users.get("ann@example.com")
    assert stored is not None and stored.name == "Two"


async def test_a_large_batch_is_imported_and_listed_in_pages(stores: Stores) -> None:
    assert await stores.users.import_users(users(2500)) == ImportCounts(created=2500)
    seen: list[str] = []
    while page := await stores.users.list_users(limit=1000, offset=len(seen)):
        seen += [u.email for u in page]
    assert seen == [f"user{n:05d}@example.com" for n in range(2500)]
    assert await stores.users.import_users([]) == ImportCounts()
