"""How long the whole sign-in sync takes in a real browser, for 2 and for 5 peers.

Starts 1 + N demo-style sites (Starlette + SessionSyncMiddleware, SQLite each) on
s0.localhost … sN.localhost, then in headless Chromium: open the login form on s0,
submit, and time until the browser is back on s0's account page after the bounce
chain through every peer. Fresh cookies every run; median of the runs.

Then the first-visit catch-up: three sites, s1 down while the user signs in on s0 (so
the chain leaves it out); s1 comes up, and the time is from opening s1's home page to
its "Signed in as" (s1 asks s0 through the browser: three redirects), next to an
ordinary visit of that page once signed in. A fresh set of servers every run, so that
no site remembers another's health.

Run: python -m benchmarks.browser_sync [--peers 2 5] [--runs 7] [--mode bounce] [--no-catchup]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import uvicorn

from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.stores import User, sqlite_stores
from asgi_sessionsync.testing import SiteNetwork, free_ports, wait_until_answering
from benchmarks.timing import machine
from demo.passwords import hash_password
from demo.sites import native_app

ROOT = Path(__file__).resolve().parent.parent
# Debian's Chromium, started as the browser tests start it (tests/e2e/harness.py).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve_sites(ports: list[int], data_dir: Path, secret: str, mode: str, late: tuple[int, ...] = ()) -> None:
    """Serve every site; those in ``late`` only once the process gets SIGUSR1 (down until then)."""
    names = [f"s{i}" for i in range(len(ports))]
    urls = {n: f"http://{n}.localhost:{p}" for n, p in zip(names, ports, strict=True)}
    stores = {n: sqlite_stores(data_dir / f"{n}.sqlite3") for n in names}
    password_hash = await anyio.to_thread.run_sync(hash_password, "wonderland")
    await stores["s0"].users.create(User("alice@example.com", "member", password_hash=password_hash))
    apps = {n: native_app(n, stores[n], {o: urls[o] for o in names if o != n}) for n in names}
    # Real servers: the sites reach each other over loopback, not in process.
    net = SiteNetwork(
        apps,
        urls=urls,
        backchannel_urls={n: f"http://127.0.0.1:{p}" for n, p in zip(names, ports, strict=True)},
        secret=secret,
        settings={"sync_mode": mode},
        stores=stores,
        in_process=False,
    )
    servers = [
        _Server(uvicorn.Config(net.sites[n], host="127.0.0.1", port=p, log_level="warning"))
        for n, p in zip(names, ports, strict=True)
    ]
    started = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, started.set)

    async def serve(index: int) -> None:
        if index in late:
            await started.wait()
        await servers[index].serve()

    try:
        await asyncio.gather(*(serve(i) for i in range(len(servers))))
    finally:
        await net.aclose()


@contextmanager
def sites(count: int, mode: str, late: tuple[int, ...] = ()) -> Iterator[tuple[list[int], subprocess.Popen[bytes]]]:
    """Serve ``count`` sites in a subprocess; the sites in ``late`` start on SIGUSR1."""
    ports = free_ports(count)
    with tempfile.TemporaryDirectory() as data:
        command = [
            sys.executable,
            "-m",
            "benchmarks.browser_sync",
            "--serve",
            ",".join(map(str, ports)),
            "--data-dir",
            data,
            f"--secret={generate_secret()}",  # one "=" so that a secret starting with "-" is no option
            "--mode",
            mode,
            "--late",
            ",".join(map(str, late)),
        ]
        process = subprocess.Popen(command, cwd=ROOT)
        try:
            for index, port in enumerate(ports):
                if index not in late:
                    wait_until_answering(f"http://127.0.0.1:{port}/_sessionsync/ping", process)
            yield ports, process
        finally:
            process.terminate()
            process.wait(timeout=10)


def measure(peers: int, runs: int, mode: str) -> list[float]:
    from playwright.sync_api import sync_playwright

    with sites(peers + 1, mode) as (ports, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        home = f"http://s0.localhost:{ports[0]}"
        last = f"http://s{peers}.localhost:{ports[-1]}/"
        samples = []
        for run in range(runs + 1):  # the first run warms the servers and the browser
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{home}/login?next=/account")
            page.fill("input[name=email]", "alice@example.com")
            page.fill("input[name=password]", "wonderland")
            start = time.perf_counter()
            with page.expect_navigation(url=f"{home}/account", wait_until="load"):
                page.click("button[type=submit]")
            elapsed = time.perf_counter() - start
            page.goto(last)
            assert page.locator("h1").inner_text() == "Signed in as alice@example.com", (
                "the chain did not reach the last peer"
            )
            context.close()
            if run:
                samples.append(elapsed)
        browser.close()
    return samples


def sign_in(page: Any, home: str) -> None:
    page.goto(f"{home}/login?next=/account")
    page.fill("input[name=email]", "alice@example.com")
    page.fill("input[name=password]", "wonderland")
    with page.expect_navigation(url=f"{home}/account", wait_until="load"):
        page.click("button[type=submit]")


def measure_catchup(runs: int) -> tuple[list[float], list[float]]:
    """Seconds from opening s1 (down during the sign-in on s0) to its signed-in page; and
    of an ordinary visit to that page afterwards."""
    from playwright.sync_api import sync_playwright

    catchup, visit = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for run in range(runs + 1):  # the first run warms the browser
            with sites(3, "bounce", late=(1,)) as (ports, process):
                home, late = (f"http://s{i}.localhost:{ports[i]}" for i in (0, 1))
                context = browser.new_context()
                page = context.new_page()
                sign_in(page, home)
                process.send_signal(signal.SIGUSR1)
                wait_until_answering(f"http://127.0.0.1:{ports[1]}/_sessionsync/ping", process)
                start = time.perf_counter()
                page.goto(f"{late}/", wait_until="load")
                elapsed = time.perf_counter() - start
                assert page.url == f"{late}/", page.url
                assert page.locator("h1").inner_text() == "Signed in as alice@example.com", "no catch-up"
                start = time.perf_counter()
                page.goto(f"{late}/", wait_until="load")
                again = time.perf_counter() - start
                assert page.locator("h1").inner_text() == "Signed in as alice@example.com"
                context.close()
            if run:
                catchup.append(elapsed)
                visit.append(again)
        browser.close()
    return catchup, visit


def row(label: str, samples: list[float]) -> str:
    return (
        f"| {label} | {statistics.median(samples) * 1e3:.0f} ms | {min(samples) * 1e3:.0f} ms "
        f"| {max(samples) * 1e3:.0f} ms |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peers", type=int, nargs="+", default=[0, 2, 5], help="0 = the sign-in alone, the baseline")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--mode", default="bounce", choices=["bounce"])
    parser.add_argument("--no-catchup", action="store_true", help="skip the first-visit catch-up measurement")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--late", default="", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        ports = [int(p) for p in args.serve.split(",")]
        with contextlib.suppress(KeyboardInterrupt):
            late = tuple(int(i) for i in args.late.split(",") if i)
            asyncio.run(serve_sites(ports, args.data_dir, args.secret, args.mode, late))
        return
    print(f"Sign-in sync in headless Chromium, {args.mode} mode, median of {args.runs} ({machine()})\n")
    print("| peers | median | min | max |")
    print("|---|---|---|---|")
    for peers in args.peers:
        print(row(str(peers), measure(peers, args.runs, args.mode)), flush=True)
    if args.no_catchup:
        return
    print(f"\nFirst-visit catch-up in headless Chromium: s1 was down during the sign-in on s0, median of {args.runs}\n")
    print("| opening s1 | median | min | max |")
    print("|---|---|---|---|")
    catchup, visit = measure_catchup(args.runs)
    print(row("first visit: catch-up through s0", catchup), flush=True)
    print(row("next visit, signed in", visit), flush=True)


if __name__ == "__main__":
    main()
