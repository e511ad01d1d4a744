"""What only the Redis backend does for users in pages and for the activity log: the
email index built once for an older store, dropped users leaving it, the log trimmed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from asgi_sessionsync.stores import ActivityEntry, Direction, Outcome, User, new_id
from asgi_sessionsync.stores.redis import redis_stores

pytestmark = pytest.mark.asyncio_only("redis-py's asyncio client runs on asyncio only")


@pytest.fixture
def prefix() -> str:
    return "t" + new_id().replace("-", "").replace("_", "")[:10]


@pytest.fixture
async def raw(redis_server: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server, decode_responses=True)
    yield client
    await client.aclose()


async def test_users_of_a_store_older_than_the_index_are_indexed_at_the_first_listing(
    redis_server: str, raw: Redis, prefix: str
) -> None:
    stores = redis_stores(redis_server, prefix=prefix)
    for n in range(5):
        await stores.users.create(User(f"u{n}@example.com", "member", created_at=1.0))
    # As a store written before the index existed: no index, no marker.
    await raw.delete(f"{{{prefix}}}:users", f"{{{prefix}}}:users-indexed")
    assert [u.email for u in await stores.users.list_users()] == [f"u{n}@example.com" for n in range(5)]
    assert await raw.exists(f"{{{prefix}}}:users-indexed")
    await stores.close()


async def test_a_user_gone_from_the_store_leaves_the_index_when_a_listing_meets_it(
    redis_server: str, raw: Redis, prefix: str
) -> None:
    stores = redis_stores(redis_server, prefix=prefix)
    await stores.users.import_users([User(f"u{n}@example.com", "member", created_at=1.0) for n in range(4)])
    await raw.delete(f"{{{prefix}}}:user:u1@example.com")
    assert [u.email for u in await stores.users.list_users(limit=2)] == ["u0@example.com", "u2@example.com"]
    assert await raw.zscore(f"{{{prefix}}}:users", "u1@example.com") is None
    await stores.close()


async def test_the_activity_log_keeps_at_most_its_maximum_the_oldest_going_first(
    redis_server: str, prefix: str
) -> None:
    stores = redis_stores(redis_server, prefix=prefix, activity_max=10)
    assert stores.activity is not None
    now = time.time()
    entries = [
        ActivityEntry(
            new_id(), now + n, "https://a.example", Direction.SENT, "https://b.example", "logout", "", Outcome.DELIVERED
        )
        for n in range(25)
    ]
    for entry in entries:
        await stores.activity.record([entry])
    assert await stores.activity.list() == entries[::-1][:10]
    await stores.close()
