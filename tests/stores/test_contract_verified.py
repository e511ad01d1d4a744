"""The register of verified addresses (``VerifiedStore`` in ``stores/verified.py``), held
against every backend (memory, SQLite, Redis) through the ``backend`` fixture."""

from __future__ import annotations

import time

from asgi_sessionsync.stores import Stores
from asgi_sessionsync.stores.verified import VerifiedBy, VerifiedMark
from tests.stores.conftest import Backend

A, B = "https://a.example", "https://b.example"


def mark(
    email: str = "ann@example.com", issuer: str = A, *, verified: bool = True, lasts: float = 3600
) -> VerifiedMark:
    now = round(time.time(), 3)
    return VerifiedMark(email, issuer, verified, VerifiedBy.OPERATOR, now, now + lasts)


async def test_a_mark_round_trips_per_address_and_issuer(stores: Stores) -> None:
    made = mark()
    await stores.verified.put(made)
    assert await stores.verified.get("ann@example.com", A) == made
    assert await stores.verified.get(" Ann@Example.COM", A) == made  # normalized
    assert await stores.verified.get("ann@example.com", B) is None
    assert await stores.verified.get("bob@example.com", A) is None


async def test_a_new_mark_replaces_the_old_one(stores: Stores) -> None:
    await stores.verified.put(mark())
    await stores.verified.put(mark(verified=False))
    got = await stores.verified.get("ann@example.com", A)
    assert got is not None and got.verified is False
    assert len(await stores.verified.list()) == 1


async def test_an_expired_mark_is_as_if_never_made_and_purged(stores: Stores, backend: Backend) -> None:
    await stores.verified.put(mark(lasts=-10))
    await stores.verified.put(mark(issuer=B))
    assert await stores.verified.get("ann@example.com", A) is None
    assert [m.issuer for m in await stores.verified.list()] == [B]
    purged = await stores.verified.purge(time.time())
    assert purged in ((0,) if backend.name == "redis" else (1,))
    assert await stores.verified.delete("ann@example.com", A) == 0


async def test_marks_are_listed_by_address_then_issuer_and_by_address(stores: Stores) -> None:
    for email, issuer in [("bob@example.com", A), ("ann@example.com", B), ("ann@example.com", A)]:
        await stores.verified.put(mark(email, issuer))
    listed = [(m.email, m.issuer) for m in await stores.verified.list()]
    assert listed == [("ann@example.com", A), ("ann@example.com", B), ("bob@example.com", A)]
    assert [m.issuer for m in await stores.verified.list("ANN@example.com")] == [A, B]
    assert len(await stores.verified.list(limit=2)) == 2


async def test_delete_one_issuer_or_every_one_and_again_is_zero(stores: Stores) -> None:
    await stores.verified.put(mark())
    await stores.verified.put(mark(issuer=B))
    assert await stores.verified.delete("ann@example.com", B) == 1
    assert await stores.verified.get("ann@example.com", A) is not None
    assert await stores.verified.delete("ann@example.com") == 1
    assert await stores.verified.delete("ann@example.com") == 0
    assert await stores.verified.list() == []


async def test_another_client_of_a_shared_backend_sees_the_marks(backend: Backend) -> None:
    first, second = backend.open(), backend.open()
    await first.verified.put(mark())
    expected = mark() if backend.shared else None
    got = await second.verified.get("ann@example.com", A)
    assert (got is not None) == (expected is not None)
