"""``sessions.get`` per backend: the store call every signed-in request makes.

Run: python -m benchmarks.stores [--quick]

Memory and SQLite (a file in a temporary directory, point reads on the loop, writes in a worker thread)
have no cache of their own. Redis runs on a redis-server this script starts on a
loopback port and stops at the end: "cached" is the per-process cache of active
sessions (pub/sub invalidated), "uncached" one round trip per call. Also timed: how
long an end in one Redis client takes to reach a second client's cache.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from asgi_sessionsync.stores import SessionRecord, Stores, memory_stores, new_id, sqlite_stores
from asgi_sessionsync.stores.redis import redis_stores
from benchmarks.timing import machine, per_call_async, us
from tests.harness.redis_server import redis_binary, start_redis_server

SESSIONS = 1000


async def fill(stores: Stores) -> list[str]:
    now = time.time()
    sids = []
    for _ in range(SESSIONS):
        record = SessionRecord(
            new_id(), "ann@example.com", new_id(), "https://a.example", "203.0.113.9", "Browser/1", now, now
        )
        await stores.sessions.create(record)
        sids.append(record.sid)
    return sids


async def time_get(stores: Stores, number: int) -> float:
    sids = await fill(stores)
    i = 0

    async def get() -> object:
        nonlocal i
        i += 1
        return await stores.sessions.get(sids[i % SESSIONS])

    # Warm up: the Redis cache fills and its subscription is confirmed.
    for _ in range(SESSIONS * 2):
        await get()
        if i % 100 == 0:
            await asyncio.sleep(0.001)
    return await per_call_async(get, number=number, rounds=5)


async def end_reaches_other_client(url: str, runs: int) -> list[float]:
    first, second = redis_stores(url, prefix="bench-end"), redis_stores(url, prefix="bench-end")
    samples = []
    for _ in range(runs):
        now = time.time()
        record = SessionRecord(new_id(), "ann@example.com", new_id(), "https://a", "ip", "ua", now, now)
        await first.sessions.create(record)
        for _ in range(5000):  # bounded: a few seconds at most
            if second.sessions.cache.get(record.sid) is not None:  # type: ignore[attr-defined]
                break
            await second.sessions.get(record.sid)
            await asyncio.sleep(0.001)
        await first.sessions.end(record.sid, reason="bench", when=now)
        started = time.perf_counter()
        for _ in range(1_000_000):
            seen = await second.sessions.get(record.sid)
            if seen is None or not seen.active:
                break
            await asyncio.sleep(0)
        samples.append(time.perf_counter() - started)
    await first.close()
    await second.close()
    return samples


async def main(quick: bool) -> None:
    number = 500 if quick else 5000
    print(f"Stores: sessions.get ({machine()}); median of 5 rounds, {SESSIONS} sessions stored")
    print(f"{'backend':<28} {'per call':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, stores in (
            ("memory", memory_stores()),
            ("sqlite (WAL read on the loop)", sqlite_stores(Path(tmp) / "bench.sqlite3")),
        ):
            print(f"{name:<28} {us(await time_get(stores, number))}")
            await stores.close()

        binary = redis_binary()
        if binary is None:
            print("redis: skipped, redis-server is not installed (apt-get install redis-server)")
            return
        with start_redis_server(Path(tmp) / "redis", binary=binary) as url:
            for name, cache_seconds in (("redis, cached", 30.0), ("redis, uncached", 0.0)):
                stores = redis_stores(url, prefix=f"bench-{cache_seconds:g}", cache_seconds=cache_seconds)
                print(f"{name:<28} {us(await time_get(stores, number))}")
                await stores.close()
            samples = await end_reaches_other_client(url, 20 if quick else 200)
            print(
                f"\nRedis: an end reaches another client's cache in {statistics.median(samples) * 1e3:.2f} ms"
                f" (median of {len(samples)}, max {max(samples) * 1e3:.2f} ms)"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stores", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    asyncio.run(main(parser.parse_args().quick))
