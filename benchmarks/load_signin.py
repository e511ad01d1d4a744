"""A burst of concurrent sign-ins against a site with two peers, over real sockets.

``python -m benchmarks.load_signin [--count 150 400] [--workers 1 2]``: for each count
and each number of worker processes of site A, that many browsers sign in on A at once
and follow the whole sync chain (B and C each pull the sign-in from A). Then every
browser asks B and C who it is. A sign-in counts as synced when both peers say the
right user: the point is that a busy site never skips a live peer. With two workers,
site A keeps its stores in a real ``redis-server`` (started here) so both share them;
with one, in SQLite. Everything runs on loopback, bounded in count and time, and stops
by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from asgi_sessionsync.keys import generate_secret
from tests.harness.env_site import serve_site_from_env
from tests.harness.processes import free_ports
from tests.harness.redis_server import start_redis_server

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 180.0  # seconds one round may take at most
# uvicorn closes a keep-alive connection idle for 5 s by default; under this load a
# browser's connection to one site often idles longer while the others answer, and httpx
# (unlike a browser) does not retry a request sent on a connection the server has just
# closed ("Server disconnected": RemoteProtocolError). A longer idle time, as proxies use.
quiet: dict[str, Any] = {"log_level": "warning", "extra_args": ("--backlog", "4096", "--timeout-keep-alive", "120")}


def who(text: str) -> str | None:
    return text.split("Signed in as ", 1)[1].split("<", 1)[0] if "Signed in as " in text else None


async def one_browser(index: int, urls: dict[str, str]) -> tuple[bool, float]:
    email = f"user{index}@example.com"
    limits = httpx.Limits(max_connections=4)
    async with httpx.AsyncClient(follow_redirects=True, timeout=60, limits=limits) as browser:
        started = time.perf_counter()
        landed = await browser.post(f"{urls['a']}/login", data={"email": email, "password": "pw", "next": "/"})
        elapsed = time.perf_counter() - started
        if who(landed.text) != email:
            return False, elapsed
        on_b = who((await browser.get(f"{urls['b']}/")).text)
        on_c = who((await browser.get(f"{urls['c']}/")).text)
        return on_b == email and on_c == email, elapsed


async def burst(count: int, urls: dict[str, str]) -> tuple[int, list[float], float]:
    """How many browsers synced, their sign-in times, the wall time. A browser still
    under way at the deadline counts as not synced ("unfinished at the deadline")."""
    started = time.perf_counter()
    tasks = [asyncio.ensure_future(one_browser(i, urls)) for i in range(count)]
    _done, pending = await asyncio.wait(tasks, timeout=DEADLINE)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    wall = time.perf_counter() - started
    results: list[tuple[bool, float] | BaseException] = [
        task.exception() or task.result() for task in tasks if task not in pending
    ]
    ok = [r for r in results if isinstance(r, tuple)]
    failed = collections.Counter(type(r).__name__ for r in results if isinstance(r, BaseException))
    if pending:
        failed["unfinished at the deadline"] = len(pending)
    for name, n in failed.most_common():
        print(f"    {n} × browser failed: {name}")
    return sum(1 for synced, _ in ok if synced), sorted(t for _, t in ok), wall


def why(tmp: Path) -> list[str]:
    """The package's warnings and errors in the sites' logs, counted by message (the
    user and the numbers taken out): why a sign-in was not synced, if one was not."""
    counts: collections.Counter[str] = collections.Counter()
    for log in sorted(tmp.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if record.get("level") in ("WARNING", "ERROR"):
                text = re.sub(r"\S+@example\.com|\d+(\.\d+)?", "#", str(record.get("message", "")))
                counts[f"{log.stem}: {text[:160]}"] += 1
    return [f"{n} × {text}" for text, n in counts.most_common(8)]


def run(count: int, workers: int, tmp: Path) -> str:
    pa, pb, pc = free_ports(3)
    urls = {"a": f"http://127.0.0.1:{pa}", "b": f"http://127.0.0.2:{pb}", "c": f"http://127.0.0.3:{pc}"}
    secret = generate_secret()
    accounts = ",".join(f"user{i}@example.com:pw" for i in range(count))
    common = {
        "SESSIONSYNC_SECRET_KEYS": secret,
        "KIT_CSRF_CHECK": "false",
        "SESSIONSYNC_CATCHUP": "false",
        "SESSIONSYNC_LOG_FORMAT": "json",  # the package's warnings, to each site's log
    }

    def env(name: str, store: str) -> dict[str, str]:
        peers = ",".join(u for n, u in urls.items() if n != name)
        return {
            **common,
            "SESSIONSYNC_SITE_URL": urls[name],
            "SESSIONSYNC_PEERS": peers,
            "SESSIONSYNC_STORE": store,
            "KIT_SITE_NAME": name,
            "KIT_ACCOUNTS": accounts if name == "a" else "",
        }

    with contextlib.ExitStack() as stack:
        store_a = f"sqlite:///{tmp / 'a.sqlite3'}"
        if workers > 1:
            store_a = stack.enter_context(start_redis_server(tmp / "redis")) + "?prefix=a"
        for name, host, port in (("b", "127.0.0.2", pb), ("c", "127.0.0.3", pc)):
            stack.enter_context(
                serve_site_from_env(
                    env(name, f"sqlite:///{tmp / (name + '.sqlite3')}"), host, port, tmp / f"{name}.log", **quiet
                )
            )
        stack.enter_context(
            serve_site_from_env(env("a", store_a), "127.0.0.1", pa, tmp / "a.log", workers=workers, **quiet)
        )
        synced, times, wall = asyncio.run(burst(count, urls))
    for line in why(tmp):
        print(f"    {line}")
    p50 = times[len(times) // 2] if times else float("nan")
    p95 = times[int(len(times) * 0.95)] if times else float("nan")
    return f"| {count} | {workers} | {synced}/{count} | {wall:.1f} s | {p50 * 1000:.0f} ms | {p95 * 1000:.0f} ms |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, nargs="+", default=[150, 400])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print("Concurrent sign-ins on A, each synced to B and C (bounce mode, real sockets on loopback)\n")
    print("| sign-ins | A's workers | synced to both peers | wall time | sign-in chain p50 | p95 |")
    print("|---|---|---|---|---|---|")
    for workers in args.workers:
        for count in args.count:
            with tempfile.TemporaryDirectory() as tmp:
                print(run(count, workers, Path(tmp)), flush=True)


if __name__ == "__main__":
    main()
