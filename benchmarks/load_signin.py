"""A burst of concurrent sign-ins against a site with two peers, over real sockets.

``python -m benchmarks.load_signin [--count 150 400] [--workers 1 2] [--hog N]``: for each
count and each number of worker processes of site A, that many browsers sign in on A at
once and follow the whole sync chain (B and C each pull the sign-in from A). Then every
browser asks B and C who it is (a plain request: no catch-up). A sign-in counts as synced
when both peers say the right user: the point is that a busy site never skips a live peer.
A browser that a peer does not know then opens that peer as a browser would (a page view:
its first-visit catch-up, run as a browser without JavaScript runs the catch-up's page):
"caught up" counts those signed in there by it. With two workers, site A keeps its stores
in a real ``redis-server`` (started here) so both share them; with one, in SQLite.
``--hog N`` loads the machine with N processes that only spin, for the round, killed at
its end; ``--hop-lifetime S`` makes steps outlive their envelopes, so that chains leave
peers out and the catch-up has work. A's event loop is watched (``tests/harness/loop_lag.py``): the worst lag during
the burst, and what the loop was running when it stalled. Everything runs on loopback,
bounded in count and time, and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

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


NAVIGATION = {"sec-fetch-mode": "navigate", "sec-fetch-dest": "document", "sec-fetch-site": "none"}
_GO_ON = re.compile(r'<noscript><meta http-equiv="refresh" content="0;url=([^"]+)"></noscript>')


async def page_view(browser: httpx.AsyncClient, url: str) -> str | None:
    """Who a page view of ``url`` shows: a navigation (Fetch Metadata), so the site's
    first-visit catch-up runs; its page is followed as a browser without JavaScript
    does (its refresh at once)."""
    page = await browser.get(url, headers=NAVIGATION)
    found = _GO_ON.search(page.text)
    if found is not None:
        onward = html.unescape(found.group(1))
        page = await browser.get(onward, headers={**NAVIGATION, "sec-fetch-site": "same-origin"})
    return who(page.text)


class Outcome(NamedTuple):
    synced: bool  # both peers signed in by the chain
    missed: int  # peers the chain left this browser out of
    caught_up: int  # of those, signed in there by the next page view
    elapsed: float


async def one_browser(index: int, urls: dict[str, str]) -> Outcome:
    email = f"user{index}@example.com"
    limits = httpx.Limits(max_connections=4)
    async with httpx.AsyncClient(follow_redirects=True, timeout=60, limits=limits) as browser:
        started = time.perf_counter()
        landed = await browser.post(f"{urls['a']}/login", data={"email": email, "password": "pw", "next": "/"})
        elapsed = time.perf_counter() - started
        if who(landed.text) != email:
            return Outcome(False, 0, 0, elapsed)
        missing = [peer for peer in ("b", "c") if who((await browser.get(f"{urls[peer]}/")).text) != email]
        caught = [peer for peer in missing if await page_view(browser, f"{urls[peer]}/") == email]
        return Outcome(not missing, len(missing), len(caught), elapsed)


class Burst(NamedTuple):
    synced: int
    missed: int  # (browser, peer) pairs left out by their chain
    caught_up: int  # of those, signed in at the next page view
    times: list[float]
    wall: float


async def burst(count: int, urls: dict[str, str]) -> Burst:
    """What ``count`` browsers signing in at once got. A browser still under way at the
    deadline counts as not synced ("unfinished at the deadline")."""
    started = time.perf_counter()
    tasks = [asyncio.ensure_future(one_browser(i, urls)) for i in range(count)]
    _done, pending = await asyncio.wait(tasks, timeout=DEADLINE)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    wall = time.perf_counter() - started
    results: list[Outcome | BaseException] = [
        task.exception() or task.result() for task in tasks if task not in pending
    ]
    ok = [r for r in results if isinstance(r, Outcome)]
    failed = collections.Counter(type(r).__name__ for r in results if isinstance(r, BaseException))
    if pending:
        failed["unfinished at the deadline"] = len(pending)
    for name, n in failed.most_common():
        print(f"    {n} × browser failed: {name}")
    return Burst(
        sum(1 for r in ok if r.synced),
        sum(r.missed for r in ok),
        sum(r.caught_up for r in ok),
        sorted(r.elapsed for r in ok),
        wall,
    )


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


@contextlib.contextmanager
def cpu_hog(processes: int, seconds: float) -> Iterator[None]:
    """``processes`` processes that only spin, each for at most ``seconds``; ended on exit."""
    spin = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
    hogs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(processes)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


class LoopLag(NamedTuple):
    worst: float  # ms: A's event loop's worst lag during the burst
    worst_ran: float  # ms: of that, the time the loop thread ran (the rest it waited for a CPU)
    busiest: float  # ms: the most CPU time the loop ran between two ticks (code on the loop)
    p99: float  # ms: of the per-second worst lags
    stalls: list[str]  # what the loop was running when it stalled, most seen first


def loop_lag(tmp: Path, since: float, until: float) -> LoopLag:
    """A's event loop between two times (``tests/harness/loop_lag.py``)."""
    seconds: list[tuple[float, float, float]] = []
    stalls = collections.Counter[str]()
    for path in tmp.glob("lag-a.*"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if since <= record["t"] <= until + 1:
                seconds.append((record["worst_lag_ms"], record["worst_lag_ran_ms"], record["busiest_ms"]))
                stalls.update({stack: n for stack, n in record["stalls"]})
    if not seconds:
        return LoopLag(0.0, 0.0, 0.0, 0.0, [])
    worst = max(seconds)
    lags = sorted(s[0] for s in seconds)
    return LoopLag(
        worst[0],
        worst[1],
        max(s[2] for s in seconds),
        lags[min(len(lags) - 1, int(len(lags) * 0.99))],
        [f"{n} × {stack}" for stack, n in stalls.most_common(6)],
    )


def run(count: int, workers: int, tmp: Path, hog: int = 0, hop_lifetime: float | None = None) -> str:
    pa, pb, pc = free_ports(3)
    urls = {"a": f"http://127.0.0.1:{pa}", "b": f"http://127.0.0.2:{pb}", "c": f"http://127.0.0.3:{pc}"}
    secret = generate_secret()
    accounts = ",".join(f"user{i}@example.com:pw" for i in range(count))
    common = {
        "SESSIONSYNC_SECRET_KEYS": secret,
        "KIT_CSRF_CHECK": "false",
        "SESSIONSYNC_LOG_FORMAT": "json",  # the package's warnings, to each site's log
    }
    if hop_lifetime is not None:  # steps that outlive it: chains that leave peers out
        common.update({"SESSIONSYNC_HOP_LIFETIME": f"{hop_lifetime:g}", "SESSIONSYNC_CLOCK_SKEW": "0"})

    def env(name: str, store: str) -> dict[str, str]:
        peers = ",".join(u for n, u in urls.items() if n != name)
        return {
            **common,
            "SESSIONSYNC_SITE_URL": urls[name],
            "SESSIONSYNC_PEERS": peers,
            "SESSIONSYNC_STORE": store,
            "KIT_SITE_NAME": name,
            "KIT_ACCOUNTS": accounts if name == "a" else "",
            **({"KIT_LOOP_LAG": str(tmp / "lag-a")} if name == "a" else {}),
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
        if hog:
            stack.enter_context(cpu_hog(hog, DEADLINE + 30))
            time.sleep(5)  # the hogs at full speed before the burst
        before, started = load(), time.time()
        result = asyncio.run(burst(count, urls))
        after, ended = load(), time.time()
    for line in why(tmp):
        print(f"    {line}")
    lag = loop_lag(tmp, started, ended)
    print(
        f"    A's event loop during the burst: worst lag {lag.worst:.0f} ms (it ran {lag.worst_ran:.0f} ms of it; "
        f"the rest it waited for a CPU), per-second worst p99 {lag.p99:.0f} ms, the most it ran between two "
        f"ticks {lag.busiest:.0f} ms; stalls seen in:"
    )
    for line in lag.stalls:
        print(f"      {line[:400]}")
    worst = lag.worst
    times = result.times
    p50 = times[len(times) // 2] if times else float("nan")
    p95 = times[int(len(times) * 0.95)] if times else float("nan")
    caught = f"{result.caught_up}/{result.missed}" if result.missed else "—"
    return (
        f"| {count} | {workers} | {hog} | {result.synced}/{count} | {caught} | {result.wall:.1f} s "
        f"| {p50:.1f} s | {p95:.1f} s | {worst:.0f} ms | {before} → {after} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, nargs="+", default=[150, 400])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--hog", type=int, default=0, help="processes that only spin meanwhile (a loaded machine)")
    parser.add_argument(
        "--hop-lifetime",
        type=float,
        help="SESSIONSYNC_HOP_LIFETIME for every site (no clock skew tolerated): short, hops arrive late and "
        "chains leave peers out, for the catch-up to sign them in",
    )
    args = parser.parse_args()
    print("Concurrent sign-ins on A, each synced to B and C (bounce mode, real sockets on loopback)\n")
    print(
        "| sign-ins | A's workers | CPU hogs | synced to both peers | the rest: caught up at the next page view "
        "| wall time | chain p50 | p95 | A's worst loop lag | load (1 / 5 / 15 min) before → after |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for workers in args.workers:
        for count in args.count:
            with tempfile.TemporaryDirectory() as tmp:
                print(run(count, workers, Path(tmp), args.hog, args.hop_lifetime), flush=True)


if __name__ == "__main__":
    main()
