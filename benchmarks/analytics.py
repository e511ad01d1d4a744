"""Analytics over a generated registry: how long the SQLite store takes to answer.

Generates N sessions (default 1,000,000) over the last 30 days into a fresh SQLite store
(the package's own schema and indexes, rows written with one executemany in one
transaction), then times ``sessions.analytics`` over the last 7 days and over all 30,
best of a few runs, and writes the HTML report of the 7 days.

Run: python -m benchmarks.analytics [--sessions 1000000] [--keep PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from asgi_sessionsync.governance.report import render
from asgi_sessionsync.stores import sqlite_stores
from asgi_sessionsync.stores.analytics import analytics, site_analytics
from benchmarks.timing import machine

DAY = 86400.0
VIAS = [("login", 50), ("hop from https://b.example", 30), ("frame from https://c.example", 10),
        ("adopted from the app's own login", 5), ("cross-site login", 5)]  # fmt: skip
ENDS = [("signed out", 30), ("signed out on https://b.example", 20), ("expired", 15), ("idle", 15),
        ("idle (on https://b.example)", 5), ("limit: max_sessions", 3), ("revoked by administrator", 2),
        ("replaced by sign-in hop from https://b.example", 5), ("app login ended", 5)]  # fmt: skip
DEVICES = [("desktop/Chrome/Windows/browser", 30), ("desktop/Firefox/Linux/browser", 8),
           ("desktop/Safari/Mac OS X/browser", 12), ("mobile/Mobile Safari/iOS/browser", 25),
           ("mobile/Chrome Mobile/Android/browser", 18), ("tablet/Mobile Safari/iOS/browser", 5),
           ("bot/Googlebot/Other/bot", 1), ("other/Python Requests/Other/library", 1), ("", 1)]  # fmt: skip
COUNTRIES = [("US", 30), ("DE", 15), ("FR", 10), ("GB", 10), ("JP", 8), ("BR", 7), ("IN", 7), ("CA", 5),
             ("NL", 4), ("", 4)]  # fmt: skip
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def _picker(table: list[tuple[str, int]], rng: random.Random) -> list[str]:
    values, weights = zip(*table, strict=True)
    return rng.choices(values, weights=weights, k=4096)


def generate(path: Path, count: int, now: float, seed: int = 13) -> float:
    """Write ``count`` sessions to a new store at ``path``; return the seconds it took."""
    rng = random.Random(seed)
    started = time.perf_counter()
    asyncio.run(sqlite_stores(path).close())  # the schema and indexes, as the package makes them
    vias, ends, devices, countries = (_picker(t, rng) for t in (VIAS, ENDS, DEVICES, COUNTRIES))

    def rows() -> object:
        for i in range(count):
            created = now - rng.random() * 30 * DAY
            lifetime = created + 14 * DAY
            ended_at: float | None = None
            reason: str | None = None
            roll = rng.random()
            if roll < 0.02:
                ended_at, reason = created, "blocked: max_sessions"
            elif roll < 0.85:
                reason = ends[i % 4096]
                ended_at = min(created + rng.expovariate(1 / 7200.0), now)
                if reason == "expired":
                    ended_at = lifetime if lifetime < now else None
                    reason = reason if ended_at is not None else None
            yield (
                f"s{i:09d}",
                f"user{rng.randrange(50_000)}@example.com",
                f"c{i // 3:09d}",
                "https://a.example",
                f"198.51.{rng.randrange(256)}.{rng.randrange(256)}",
                USER_AGENT,
                created,
                ended_at or min(created + rng.random() * 3600, now),
                vias[(i * 7) % 4096],
                ended_at,
                reason,
                lifetime,
                countries[(i * 13) % 4096],
                devices[(i * 17) % 4096],
            )

    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    # Rows first, indexes after (opening the store makes them again): much faster.
    indexes = [
        name
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions' AND sql IS NOT NULL"
        )
    ]
    for name in indexes:
        connection.execute(f"DROP INDEX {name}")
    # And the daily counts with their triggers: counted from the rows when the store opens.
    for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        connection.execute(f"DROP TRIGGER {name}")
    connection.execute("DROP TABLE session_counts")
    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO sessions (sid, user, chain, site, ip, user_agent, created_at, last_seen_at, via, ended_at,"
        " end_reason, expires_at, country, device) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows(),  # type: ignore[arg-type]
    )
    connection.execute("COMMIT")
    connection.close()
    asyncio.run(sqlite_stores(path).close())  # the indexes again
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("ANALYZE")
    connection.close()
    return time.perf_counter() - started


async def measure(path: Path, now: float, runs: int) -> dict[str, float]:
    stores = sqlite_stores(path)
    results: dict[str, float] = {}
    try:
        for label, days in (("last 7 days", 7), ("all 30 days", 31)):
            best = float("inf")
            for _ in range(runs):
                started = time.perf_counter()
                stats = await analytics(stores, now - days * DAY, now)
                best = min(best, time.perf_counter() - started)
            results[label] = best
            print(
                f"  {label}: {best * 1000:.0f} ms (best of {runs}) — logins {stats.total_logins}, "
                f"blocked {stats.blocked}, active {stats.active_sessions} of {stats.active_users} users, "
                f"ended {stats.total_ended}"
            )
        figures = await site_analytics(stores, now - 7 * DAY, now)
        report = Path(tempfile.gettempdir()) / "sessionsync-analytics-report.html"
        report.write_text(render(figures, site="https://a.example"), encoding="utf-8")
        print(f"  report of the last 7 days: {report}")
    finally:
        await stores.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the store here and keep it (default: a temporary file)")
    args = parser.parse_args()
    now = time.time()
    folder = Path(tempfile.mkdtemp(prefix="sessionsync-analytics-"))
    path = args.keep or folder / "registry.sqlite3"
    print(f"Analytics on SQLite ({machine()}): {args.sessions:,} sessions over 30 days")
    took = generate(path, args.sessions, now)
    print(f"  generated in {took:.1f} s, indexes and daily counts included ({path.stat().st_size / 1e6:.0f} MB)")
    asyncio.run(measure(path, now, args.runs))


if __name__ == "__main__":
    main()
