"""The limits of code verification, kept as single-use marks in the replay cache."""

from __future__ import annotations

import time

from asgi_sessionsync.activity import recorder
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import Direction, Stores, memory_stores
from asgi_sessionsync.stores.verified import VerifiedBy
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.verification import (
    MAX_TRIES,
    RESEND_GAP,
    SENDS_PER_HOUR,
    Marks,
    clean_code,
    new_code,
)
from asgi_sessionsync.verified_addresses import REMEMBER_FOR, VerifiedAddresses


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class ClockedReplay:
    """The replay cache's contract on a clock the test moves."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.used: dict[bytes, float] = {}

    async def use(self, jti: bytes, expires_at: float) -> bool:
        if self.used.get(jti, -1.0) >= self.clock():
            return False
        self.used[jti] = expires_at
        return True

    async def seen(self, jti: bytes) -> bool:
        return self.used.get(jti, -1.0) >= self.clock()

    async def release(self, jti: bytes) -> bool:
        return self.used.pop(jti, None) is not None

    async def purge(self, now: float) -> int:
        return 0


def tokens(*secrets: str) -> Tokens:
    settings = Settings.from_env({}, env_file=None, site_url="https://b.example", secret_keys=list(secrets))
    return Tokens(settings)


SECRET = generate_secret()


def marks() -> tuple[Marks, Clock, ClockedReplay]:
    clock = Clock()
    replay = ClockedReplay(clock)
    return Marks(tokens(SECRET), replay, clock), clock, replay


def test_codes_are_six_digits_and_typing_is_forgiving() -> None:
    assert all(len(c) == 6 and c.isdigit() for c in (new_code() for _ in range(100)))
    assert clean_code(" 123-456 ") == "123456"
    assert clean_code("12345") is None and clean_code("abcdef") is None
    assert clean_code("\uff11\uff12\uff13\uff14\uff15\uff16") is None  # full-width digits


async def test_one_code_per_gap_and_five_an_hour_per_address() -> None:
    m, clock, _ = marks()
    assert await m.take_send("ann@example.com") is None
    await m.sent("ann@example.com")
    refusal = await m.take_send("ann@example.com")
    assert refusal is not None and refusal.reason == "gap"
    assert await m.take_send("bob@example.com") is None  # per address
    for _ in range(SENDS_PER_HOUR - 1):
        clock.now += RESEND_GAP + 1
        assert await m.take_send("ann@example.com") is None
        await m.sent("ann@example.com")
    clock.now += RESEND_GAP + 1
    refusal = await m.take_send("ann@example.com")
    assert refusal is not None and refusal.reason == "hour"
    clock.now += 3600
    assert await m.take_send("ann@example.com") is None


async def test_a_failed_send_can_be_retried_at_once_but_counts_for_the_hour() -> None:
    m, _, _ = marks()
    for _ in range(SENDS_PER_HOUR):
        assert await m.take_send("ann@example.com") is None  # never marked sent: failed
    refusal = await m.take_send("ann@example.com")
    assert refusal is not None and refusal.reason == "hour"


async def test_a_code_has_five_tries_and_a_hold_completes_once() -> None:
    m, clock, _ = marks()
    until = clock.now + 900
    assert [await m.take_try(b"code-1", until) for _ in range(MAX_TRIES + 1)] == [True] * MAX_TRIES + [False]
    assert await m.take_try(b"code-2", until)  # a new code, new tries
    assert await m.finish(b"hold", until) and not await m.finish(b"hold", until)
    assert await m.finished(b"hold")


async def test_codes_are_stored_as_hmacs_bound_to_their_id() -> None:
    m, _, _ = marks()
    mac = m.code_mac(b"id-1", "123456")
    assert b"123456" not in mac
    assert m.code_matches(b"id-1", "123456", mac)
    assert not m.code_matches(b"id-1", "123457", mac)
    assert not m.code_matches(b"id-2", "123456", mac)


A = "https://a.example"


def addresses(marks_tokens: Tokens, stores: Stores) -> VerifiedAddresses:
    return VerifiedAddresses(marks_tokens, stores.verified, stores.replay, recorder(A, stores.activity), [A])


async def test_a_verified_address_is_remembered_for_a_year_and_across_a_key_rotation() -> None:
    stores = memory_stores()
    v = addresses(tokens(SECRET), stores)
    assert not await v.remembered("ann@example.com", A)
    await v.remember("ann@example.com", A)
    assert await v.remembered("ann@example.com", A)
    rotated = addresses(tokens(generate_secret(), SECRET), stores)
    assert await rotated.remembered("ann@example.com", A)
    mark = await stores.verified.get("ann@example.com", A)
    assert mark is not None and REMEMBER_FOR - 5 < mark.until - time.time() <= REMEMBER_FOR


async def test_a_verified_address_is_remembered_for_the_issuer_it_was_verified_for_only() -> None:
    v = addresses(tokens(SECRET), memory_stores())
    await v.remember("ann@example.com", A)
    assert not await v.remembered("ann@example.com", "https://c.example")
    assert not await v.remembered("ann@example.com", "https://a.example.evil")


async def test_marks_made_before_the_register_are_still_read_and_revoked() -> None:
    stores = memory_stores()
    t = tokens(SECRET)
    data = b"asgi-sessionsync verify\x00verified\x00ann@example.com\x00" + A.encode()
    await stores.replay.use(t.macs("verify", data)[0][:16], time.time() + 3600)
    v = addresses(t, stores)
    assert await v.verdict("ann@example.com", A) is True
    assert await v.revoke("ann@example.com") == 1
    assert await v.verdict("ann@example.com", A) is None


async def test_a_mark_not_verified_outranks_and_a_revoke_forgets_it() -> None:
    stores = memory_stores()
    v = addresses(tokens(SECRET), stores)
    await v.mark("ann@example.com", A, verified=False, by=VerifiedBy.OPERATOR)
    assert await v.verdict("ann@example.com", A) is False
    assert not await v.remembered("ann@example.com", A)
    assert await v.revoke("ann@example.com", A) == 1
    assert await v.verdict("ann@example.com", A) is None
    assert stores.activity is not None
    kinds = [(e.kind, e.direction, e.peer) for e in await stores.activity.list()]
    assert kinds == [("verify.revoke", Direction.LOCAL, A), ("verify.mark", Direction.LOCAL, A)]
