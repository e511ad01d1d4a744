"""How soon a session ended by one worker is refused by another, on SQLite (issue #24).

Two processes share one SQLite file, as two uvicorn workers do: the *ender* creates a
session, tells the *reader* its id, and ends it at a time it writes down; the reader asks
``sessions.get`` in a loop (each ask is what a signed-in request does) and writes down when
it first sees the session ended. The delay is the difference (both on this machine's
monotonic clock). Repeated ``--rounds`` times; median and maximum.

Run: python -m benchmarks.sqlite_invalidation [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from asgi_sessionsync.stores import SessionRecord, new_id, sqlite_stores
from benchmarks.timing import machine

READER = """
import asyncio, sys, time
from asgi_sessionsync.stores import sqlite_stores

async def main():
    stores = sqlite_stores(sys.argv[1], create=False)
    print("ready", flush=True)
    for line in sys.stdin:
        sid = line.strip()
        while True:  # a signed-in request, again and again, until its session has ended
            record = await stores.sessions.get(sid)
            if record is not None and record.ended_at is not None:
                break
            await asyncio.sleep(0)
        print(time.monotonic(), flush=True)
    await stores.close()

asyncio.run(main())
"""


async def measure(rounds: int) -> list[float]:
    path = Path(tempfile.mkdtemp(prefix="sessionsync-inval-")) / "site.sqlite3"
    stores = sqlite_stores(path)
    reader = subprocess.Popen(  # noqa: ASYNC220 - the benchmark's own loop, nothing else runs on it
        [sys.executable, "-c", READER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert reader.stdin is not None and reader.stdout is not None
    assert reader.stdout.readline().strip() == "ready"
    delays = []
    try:
        for _ in range(rounds):
            now = time.time()
            sid = new_id()
            record = SessionRecord(sid, "ann@example.com", new_id(), "https://a.example", "", "", now, now, "login")
            await stores.sessions.create(record)
            reader.stdin.write(sid + "\n")
            reader.stdin.flush()
            await asyncio.sleep(0.02)  # the reader has it cached, and asks again and again
            ended_at = time.monotonic()
            await stores.sessions.end(sid, reason="signed out", when=time.time())
            seen_at = float(reader.stdout.readline())
            delays.append((seen_at - ended_at) * 1000)
    finally:
        reader.stdin.close()
        reader.wait(10)
        await stores.close()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    delays = asyncio.run(measure(args.rounds))
    print(machine())
    print(
        f"a session ended by another worker, refused after: median {statistics.median(delays):.1f} ms, "
        f"max {max(delays):.1f} ms ({len(delays)} rounds)"
    )


if __name__ == "__main__":
    main()
