"""How long the sign-in sync and the first-visit catch-up take in real browsers.

Sign-in sync: starts 1 + N demo-style sites (Starlette + SessionSyncMiddleware, SQLite
each) on s0.localhost … sN.localhost, bounce mode; in the browser, opens the login form
on s0 and submits it; the browser goes through every peer (all HTTP redirects: one
navigation) and back to s0's account page. Two times: the sync alone, from s0's answer
to the login post to the browser's request for the account page, as s0 notes them
(N = 0: that one redirect); and the whole sign-in as the user sees it, from the submit
to the account page, the password check (scrypt, tens of milliseconds on a quiet
machine, far more on a loaded one) included. Then checks that the last peer says
"Signed in as". Fresh cookies every run (a new Chromium context, a new Firefox profile,
a new MiniBrowser); the first run of each cell warms up and is not counted.

First-visit catch-up: three sites, s1 down while the user signs in on s0 (so the chain
leaves it out); s1 comes up, and the time is from opening s1's home page to its
"Signed in as" (s1 asks s0 through the browser: three redirects), next to an ordinary
visit of that page once signed in. A fresh set of servers every run.

Browsers, as the browser tests drive them (``tests.harness.browsers``, nothing
downloaded): Chromium (``/usr/bin/chromium`` by Playwright, third-party cookies
allowed), Firefox ESR (Marionette, standard protection), WebKitGTK (MiniBrowser with
ITP on, under Xvfb). WebKit keeps no ``Secure`` cookie over plain http on
``*.localhost``, so its sites are served over https (a certificate made for the run);
Chromium and Firefox use http.

Run: python -m benchmarks.browser_sync [--browser chromium firefox webkit] [--peers 2 5]
     [--runs 7] [--no-catchup]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.stores import User, sqlite_stores
from asgi_sessionsync.testing import SiteNetwork
from benchmarks.timing import machine
from demo.passwords import hash_password
from demo.sites import native_app
from tests.harness.browsers import CHROMIUM, CHROMIUM_ARGS, ChromiumTab, Tab, Tls, firefox, missing, webkit
from tests.harness.processes import free_ports

ROOT = Path(__file__).resolve().parent.parent
BROWSERS = ("chromium", "firefox", "webkit")
EMAIL, PASSWORD = "alice@example.com", "wonderland"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve_sites(
    ports: list[int],
    data_dir: Path,
    secret: str,
    mode: str,
    late: tuple[int, ...] = (),
    tls: tuple[str, str] | None = None,
) -> None:
    """Serve every site; those in ``late`` only once the process gets SIGUSR1 (down until then)."""
    names = [f"s{i}" for i in range(len(ports))]
    scheme = "https" if tls else "http"
    urls = {n: f"{scheme}://{n}.localhost:{p}" for n, p in zip(names, ports, strict=True)}
    stores = {n: sqlite_stores(data_dir / f"{n}.sqlite3") for n in names}
    password_hash = await anyio.to_thread.run_sync(hash_password, PASSWORD)
    await stores["s0"].users.create(User(EMAIL, "member", password_hash=password_hash))
    apps = {n: native_app(n, stores[n], {o: urls[o] for o in names if o != n}) for n in names}
    # Real servers: the sites reach each other over loopback, not in process.
    net = SiteNetwork(
        apps,
        urls=urls,
        backchannel_urls={n: f"{scheme}://127.0.0.1:{p}" for n, p in zip(names, ports, strict=True)},
        secret=secret,
        settings={"sync_mode": mode},
        stores=stores,
        in_process=False,
    )
    certfile, keyfile = tls or (None, None)
    served = {n: stamped(net.sites[n], data_dir / STAMPS) if n == "s0" else net.sites[n] for n in names}
    servers = [
        _Server(
            uvicorn.Config(
                served[n],
                host="127.0.0.1",
                port=p,
                log_level="warning",
                ssl_certfile=certfile,
                ssl_keyfile=keyfile,
                timeout_graceful_shutdown=2,
            )
        )
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


STAMPS = "stamps.txt"


def stamped(app: ASGIApp, path: Path) -> ASGIApp:
    """``app`` (s0), noting when it answers the login post and when the browser is back
    for the account page: the sync's own time, without the password check before it."""

    def note(what: str) -> None:
        with path.open("a") as out:
            out.write(f"{what} {time.monotonic()}\n")

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in ("/login", "/account"):
            await app(scope, receive, send)
            return
        login = scope["path"] == "/login" and scope["method"] == "POST"
        if scope["path"] == "/account":
            note("account")

        async def watch(message: Message) -> None:
            if login and message["type"] == "http.response.start":
                note("login")
            await send(message)

        await app(scope, receive, watch)

    return wrapped


def sync_seconds(path: Path) -> float:
    """From s0's answer to the login post to the browser's request for the account page."""
    stamps = [line.split() for line in path.read_text().splitlines()]
    login = max(i for i, (what, _) in enumerate(stamps) if what == "login")
    back = next(float(t) for what, t in stamps[login:] if what == "account")
    return back - float(stamps[login][1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], verify: ssl.SSLContext | bool) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url, timeout=1, verify=verify)
            return
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(0.1)


class Sites:
    """The running sites: their URLs, and the process serving them."""

    def __init__(
        self,
        ports: list[int],
        process: subprocess.Popen[bytes],
        scheme: str,
        verify: ssl.SSLContext | bool,
        data: Path,
    ) -> None:
        self.stamps = data / STAMPS
        self.ports = ports
        self.process = process
        self.scheme = scheme
        self.verify = verify  # how this process checks the sites' certificate

    def url(self, index: int, path: str = "/") -> str:
        return f"{self.scheme}://s{index}.localhost:{self.ports[index]}{path}"


@contextmanager
def sites(count: int, mode: str, *, tls: bool, late: tuple[int, ...] = ()) -> Iterator[Sites]:
    """Serve ``count`` sites in a subprocess (over https with ``tls``); the sites in ``late``
    start on SIGUSR1."""
    ports = free_ports(count)
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONSYNC_")}
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
        verify: ssl.SSLContext | bool = True
        if tls:
            certs = Tls.make(Path(data), hosts=[f"s{i}.localhost" for i in range(count)])
            command += ["--tls-cert", str(certs.cert), "--tls-key", str(certs.key)]
            env["SSL_CERT_FILE"] = str(certs.ca)  # the sites check each other's certificate
            verify = ssl.create_default_context(cafile=certs.ca)
        process = subprocess.Popen(command, cwd=ROOT, env=env)
        running = Sites(ports, process, "https" if tls else "http", verify, Path(data))
        try:
            for index, port in enumerate(ports):
                if index not in late:
                    wait_until_up(f"{running.scheme}://127.0.0.1:{port}/_sessionsync/ping", process, verify)
            yield running
        finally:
            process.terminate()
            process.wait(timeout=15)


# -- the browsers ------------------------------------------------------------------------

TabFactory = Callable[[], contextlib.AbstractContextManager[Tab]]


@contextmanager
def browser_tabs(name: str, tmp: Path) -> Iterator[TabFactory]:
    """A factory of tabs with fresh cookies in browser ``name``."""
    problem = missing(name)
    if problem is not None:
        raise SystemExit(f"{name}: {problem}")
    if name == "chromium":
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)

            @contextmanager
            def chromium_tab() -> Iterator[Tab]:
                context = browser.new_context()
                context.set_default_timeout(30000)
                try:
                    yield ChromiumTab(context.new_page())
                finally:
                    context.close()

            try:
                yield chromium_tab
            finally:
                browser.close()
    elif name == "firefox":

        @contextmanager
        def firefox_tab() -> Iterator[Tab]:
            with firefox(tmp) as tab:
                yield tab

        yield firefox_tab
    else:

        @contextmanager
        def webkit_tab() -> Iterator[Tab]:
            with webkit(tmp, itp=True) as tab:
                yield tab

        yield webkit_tab


def sign_in(tab: Tab, home: str) -> float:
    """Fill in and submit s0's login form; seconds from the submit to the account page."""
    tab.goto(f"{home}/login?next=/account")
    tab.fill("input[name=email]", EMAIL)
    tab.fill("input[name=password]", PASSWORD)
    start = time.perf_counter()
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{home}/account", timeout=60)
    return time.perf_counter() - start


def measure(browser: str, tabs: TabFactory, peers: int, runs: int) -> tuple[list[float], list[float]]:
    """Seconds of the sync alone (s0's answer to the login post → the browser back for the
    account page, as s0 sees them), and of the whole sign-in as the user sees it (submit →
    account page, the password check included)."""
    syncs, totals = [], []
    with sites(peers + 1, "bounce", tls=browser == "webkit") as running:
        for run in range(runs + 1):  # the first run warms the servers and the browser
            with tabs() as tab:
                elapsed = sign_in(tab, running.url(0, ""))
                sync = sync_seconds(running.stamps)
                tab.goto(running.url(peers))
                heading = tab.text("h1")
                assert heading == f"Signed in as {EMAIL}", f"the chain did not reach the last peer: {heading}"
            if run:
                syncs.append(sync)
                totals.append(elapsed)
    return syncs, totals


def measure_catchup(browser: str, tabs: TabFactory, runs: int) -> tuple[list[float], list[float]]:
    """Seconds from opening s1 (down during the sign-in on s0) to its signed-in page; and
    of an ordinary visit to that page afterwards."""
    catchup, visit = [], []
    for run in range(runs + 1):  # the first run warms the browser
        with sites(3, "bounce", tls=browser == "webkit", late=(1,)) as running, tabs() as tab:
            sign_in(tab, running.url(0, ""))
            running.process.send_signal(signal.SIGUSR1)
            ping = f"{running.scheme}://127.0.0.1:{running.ports[1]}/_sessionsync/ping"
            wait_until_up(ping, running.process, running.verify)
            start = time.perf_counter()
            tab.goto(running.url(1))
            elapsed = time.perf_counter() - start
            assert tab.url == running.url(1), tab.url
            assert tab.text("h1") == f"Signed in as {EMAIL}", "no catch-up"
            start = time.perf_counter()
            tab.goto(running.url(1))
            again = time.perf_counter() - start
            assert tab.text("h1") == f"Signed in as {EMAIL}"
        if run:
            catchup.append(elapsed)
            visit.append(again)
    return catchup, visit


# -- the report --------------------------------------------------------------------------


def load() -> str:
    """The 1-minute load average (what ``uptime`` shows first) and the core count."""
    return f"{os.getloadavg()[0]:.1f}/{os.cpu_count()}"


def cell(samples: list[float]) -> str:
    """Median / p90 in milliseconds."""
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered) * 1e3:.0f} / {p90 * 1e3:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.browser_sync")
    parser.add_argument("--browser", nargs="+", choices=BROWSERS, default=["chromium"])
    parser.add_argument("--peers", type=int, nargs="+", default=[2, 5], help="0 = the sign-in alone, the baseline")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-catchup", action="store_true", help="skip the first-visit catch-up measurement")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--late", default="", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="bounce", help=argparse.SUPPRESS)
    parser.add_argument("--tls-cert", help=argparse.SUPPRESS)
    parser.add_argument("--tls-key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        ports = [int(p) for p in args.serve.split(",")]
        tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
        with contextlib.suppress(KeyboardInterrupt):
            late = tuple(int(i) for i in args.late.split(",") if i)
            asyncio.run(serve_sites(ports, args.data_dir, args.secret, args.mode, late, tls))
        return
    print(
        f"Sign-in sync (bounce mode) and first-visit catch-up in headless browsers: median / p90 of "
        f"{args.runs} runs ({machine()}); load = 1-minute load average / cores, before and after each row\n"
    )
    columns = [f"sync, {n} peers" for n in args.peers] + [f"whole sign-in, {n} peers" for n in args.peers]
    if not args.no_catchup:
        columns += ["first visit: catch-up", "next visit, signed in"]
    print("| browser | " + " | ".join(columns) + " | load |")
    print("|---" * (len(columns) + 2) + "|")
    for name in args.browser:
        before = load()
        with tempfile.TemporaryDirectory() as tmp, browser_tabs(name, Path(tmp)) as tabs:
            measured = [measure(name, tabs, peers, args.runs) for peers in args.peers]
            cells = [cell(sync) for sync, _ in measured] + [cell(total) for _, total in measured]
            if not args.no_catchup:
                catchup, visit = measure_catchup(name, tabs, args.runs)
                cells += [cell(catchup), cell(visit)]
        label = {"chromium": "Chromium", "firefox": "Firefox ESR", "webkit": "WebKitGTK (https)"}[name]
        print(f"| {label} | " + " | ".join(cells) + f" | {before} → {load()} |", flush=True)


if __name__ == "__main__":
    main()
