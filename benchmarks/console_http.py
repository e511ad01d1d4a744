"""The console's pages as a browser gets them, on a 1,000,000-session SQLite store (#25:
each page <= 100 ms): the whole answer (the guard, the store, the HTML) through the
middleware, in process (an ASGI transport, no sockets), signed in as an administrator.

The store is ``benchmarks.console_pages``'s (the analytics benchmark's sessions, 50,000
users, a full activity log); ``benchmarks.console_pages`` times the store calls alone.
Each page is asked ``--runs`` times after one call not counted ("first"): median and max.

Run: python -m benchmarks.console_http [--sessions 1000000] [--runs 10] [--keep PATH]
(``--keep`` a store made by ``benchmarks.console_pages --keep PATH`` is used as it is).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.stores import sqlite_stores
from asgi_sessionsync.testing import Browser, SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from benchmarks.analytics import generate
from benchmarks.console_pages import fill
from benchmarks.timing import machine

SITE = "https://a.example"
ADMIN = ("user0@example.com", "benchmark-password")  # role admin in the generated users
CONSOLE = SITE + "/_sessionsync/console/"


async def measure(path: Path, runs: int) -> None:
    stores = sqlite_stores(path)
    net = SiteNetwork(
        {"a": login_app("a", dict([ADMIN]))}, urls={"a": SITE}, secret=generate_secret(), stores={"a": stores}
    )
    async with net, Browser(net.network) as browser:
        await browser.sign_in("a", *ADMIN)
        first = await browser.client.get(CONSOLE + "sessions")
        assert first.status_code == 200, first.text[:500]
        sid = first.text.split('name="sid" value="', 1)[1].split('"', 1)[0]
        after = first.text.split("after=", 1)[1].split('"', 1)[0].replace("&amp;", "&")
        users = await browser.client.get(CONSOLE + "users")
        user_after = users.text.split("after=", 1)[1].split('"', 1)[0].replace("%40", "@")
        activity = await browser.client.get(CONSOLE + "activity")
        before = activity.text.split("before=", 1)[1].split('"', 1)[0].replace("&amp;", "&")
        pages = {
            "sessions: first page": "sessions",
            "sessions: next page (cursor)": f"sessions?after={after}",
            "sessions: active": "sessions?state=active",
            "sessions: by user": "sessions?user=user12345%40example.com",
            "sessions: by address": "sessions?ip=198.51.7.77",
            "sessions: rare (bot in JP)": "sessions?client=bot&country=JP",
            "sessions: one session's history": f"sessions/view?sid={sid}",
            "users: first page": "users",
            "users: prefix user123": "users?q=user123",
            "users: next page (cursor)": f"users?after={user_after}",
            "users: one user": "users/view?email=user123%40example.com",
            "activity: first page": "activity",
            "activity: older page (cursor)": f"activity?before={before}",
            "activity: kind user, 7 days": "activity?kind=user&since=7d",
            "activity: by actor": "activity?actor=operator3%40example.com",
            "analytics: 7 days": "analytics?since=7d",
            "analytics: 30 days": "analytics?since=30d",
            "network (no peers)": "network",
            "policy": "policy",
        }
        print(f"  {'page':<36} {'first':>8} {'median':>8} {'max':>8}  bytes")
        for label, page in pages.items():
            times = []
            size = 0
            for _ in range(runs + 1):
                started = time.perf_counter()
                answer = await browser.client.get(CONSOLE + page)
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, (label, answer.status_code, answer.text[:300])
                size = len(answer.content)
            rest = times[1:]
            print(f"  {label:<36} {times[0]:8.1f} {statistics.median(rest):8.1f} {max(rest):8.1f}  {size}")
        own = []
        for _ in range(runs):
            started = time.perf_counter()
            answer = await browser.client.get(SITE + "/_sessionsync/account")
            own.append((time.perf_counter() - started) * 1000)
        print(f"  {'account (the user own page)':<36} {'':>8} {statistics.median(own):8.1f} {max(own):8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="the store's path, kept (and used as it is if it exists)")
    args = parser.parse_args()
    now = time.time()
    path = args.keep or Path(tempfile.mkdtemp(prefix="sessionsync-console-http-")) / "registry.sqlite3"
    print(f"Console pages over HTTP, in process, on SQLite ({machine()}): {args.sessions:,} sessions")
    if not path.exists():
        generate(path, args.sessions, now)
        stores = sqlite_stores(path)

        async def filled() -> None:
            try:
                await fill(stores, now)
            finally:
                await stores.close()

        asyncio.run(filled())
    asyncio.run(measure(path, args.runs))


if __name__ == "__main__":
    main()
