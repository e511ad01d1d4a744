"""What the fault suite runs: real sites under uvicorn (``site_from_env``, the test kit's
login site), browsers as httpx clients in threads, and what each test counts.

A site's output goes through a pipe to a log file written by this process, so that a
limit put on the server's own files (``RLIMIT_FSIZE``: a full disk) never stops its log.
Site A has the accounts; B has none (users arrive from A). A is ``127.0.0.1``, B
``127.0.0.2``, so the two sites' cookies never mix.
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from asgi_sessionsync.keys import generate_secret
from tests.harness.processes import free_ports, wait_until_answering

ROOT = Path(__file__).resolve().parents[2]

ACCOUNTS = [(f"user{n}@example.com", f"password-{n}") for n in range(40)]
HOSTS = {"a": "127.0.0.1", "b": "127.0.0.2", "c": "127.0.0.3"}


def until(check: Callable[[], bool], timeout: float, every: float = 0.1) -> bool:
    """Poll ``check`` until it is true; False after ``timeout`` seconds (never an assertion of time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()


class Served:
    """One site under uvicorn; its output piped into ``log_path``."""

    def __init__(self, name: str, env: dict[str, str], port: int, log_path: Path) -> None:
        self.name = name
        self.env = env
        self.host = HOSTS[name]
        self.port = port
        self.url = f"http://{self.host}:{port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._copier: threading.Thread | None = None

    def start(self, *, wait: bool = True) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("SESSIONSYNC_", "KIT_"))}
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory", "tests.harness.env_site:site_from_env"),
                *("--app-dir", str(ROOT)),
                *("--host", self.host, "--port", str(self.port), "--log-level", "info"),
            ],
            env={**clean, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._copier = threading.Thread(target=self._copy, args=(self.process,), daemon=True)
        self._copier.start()
        if wait:
            wait_until_answering(f"{self.url}/_sessionsync/ping", self.process, timeout=30)

    def _copy(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        with self.log_path.open("ab") as out:
            for line in process.stdout:
                out.write(line)
                out.flush()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._copier is not None:
            self._copier.join(5)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self.process.kill()
        self.process.wait(10)
        if self._copier is not None:
            self._copier.join(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cli(self, *args: str) -> Any:
        """``python -m asgi_sessionsync ARGS --format json`` against this site's store."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONSYNC_")}
        done = subprocess.run(
            [sys.executable, "-m", "asgi_sessionsync", *args, "--format", "json"],
            env={**clean, **{k: v for k, v in self.env.items() if k.startswith("SESSIONSYNC_")}},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode in (0, 1), done.stderr
        return json.loads(done.stdout)

    def outbox(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self.cli("outbox", "list")
        return listed

    def received(self) -> list[dict[str, Any]]:
        """Every back-channel sign-out this site received, as its activity log has it."""
        entries: list[dict[str, Any]] = self.cli(
            "log", "--direction", "received", "--kind", "logout", "--limit", "100000"
        )
        return entries


class Pair:
    """Sites A and B of one network (A, B and C with ``names="abc"``); ``stores`` is each
    site's ``SESSIONSYNC_STORE``; ``kit`` more variables for every site (``KIT_USER_API``,
    ``SESSIONSYNC_NETWORK_FILE``, …)."""

    def __init__(
        self,
        tmp: Path,
        stores: dict[str, str],
        *,
        names: str = "ab",
        kit: dict[str, str] | None = None,
        **settings: str,
    ) -> None:
        self.tmp = tmp
        ports = free_ports(len(names))
        secret = generate_secret()
        urls = {name: f"http://{HOSTS[name]}:{port}" for name, port in zip(names, ports, strict=True)}
        self.sites: dict[str, Served] = {}
        for name, port in zip(names, ports, strict=True):
            env = {
                "SESSIONSYNC_SECRET_KEYS": secret,
                "SESSIONSYNC_SITE_URL": urls[name],
                "SESSIONSYNC_PEERS": ",".join(url for other, url in urls.items() if other != name),
                "SESSIONSYNC_STORE": stores[name],
                "SESSIONSYNC_LOGOUT_WAIT": "0.5",
                "SESSIONSYNC_CATCHUP": "false",  # every visit here is a plain client: no catch-up asked
                "SESSIONSYNC_LOG_FORMAT": "json",  # the package's lines with their logger and level
                **{f"SESSIONSYNC_{k.upper()}": v for k, v in settings.items()},
                "KIT_CSRF_CHECK": "false",
                "KIT_SITE_NAME": name,
                "KIT_ACCOUNTS": ",".join(f"{e}:{p}" for e, p in ACCOUNTS) if name == "a" else "",
                **(kit or {}),
            }
            self.sites[name] = Served(name, env, port, tmp / f"{name}.log")

    @property
    def a(self) -> Served:
        return self.sites["a"]

    @property
    def b(self) -> Served:
        return self.sites["b"]

    @property
    def c(self) -> Served:
        return self.sites["c"]

    def stop(self) -> None:
        for site in self.sites.values():
            site.stop()

    def logs(self) -> str:
        return "\n".join(site.log() for site in self.sites.values())


# -- browsers -------------------------------------------------------------------------------


def who(client: httpx.Client, url: str) -> str | int | None:
    """Who the site's page says is signed in; the status when it is not a page (503)."""
    answer = client.get(f"{url}/")
    if answer.status_code != 200:
        return answer.status_code
    found = re.search(r"Signed in as ([^<]+)</h1>", answer.text)
    if found:
        return found.group(1)
    assert "Not signed in" in answer.text, answer.text[:300]
    return None


NAVIGATION = {"sec-fetch-mode": "navigate", "sec-fetch-dest": "document", "sec-fetch-site": "none"}
_GO_ON = re.compile(r'<noscript><meta http-equiv="refresh" content="0;url=([^"]+)"></noscript>')


def page_view(client: httpx.Client, url: str) -> httpx.Response:
    """A page view of ``url`` as a browser without JavaScript makes it: a navigation (so
    the site's first-visit catch-up runs), the catch-up's page followed by its refresh."""
    page = client.get(url, headers=NAVIGATION)
    found = _GO_ON.search(page.text) if page.status_code == 200 else None
    if found is not None:
        page = client.get(html.unescape(found.group(1)), headers={**NAVIGATION, "sec-fetch-site": "same-origin"})
    return page


@dataclass
class Browser:
    email: str
    password: str
    client: httpx.Client = field(default_factory=lambda: httpx.Client(follow_redirects=True, timeout=30))

    def sign_in(self, pair: Pair) -> int:
        answer = self.client.post(
            f"{pair.a.url}/login", data={"email": self.email, "password": self.password, "next": "/"}
        )
        return answer.status_code

    def sign_out(self, pair: Pair) -> int:
        return self.client.post(f"{pair.a.url}/logout").status_code


@dataclass
class Traffic:
    """Browsers using site A from a few threads until stopped, every answer counted by kind:
    signed-in page views, sign-ins, sign-outs. A sign-out answered as done (the browser saw
    it) is remembered: it must reach B, once."""

    pair: Pair
    signed_in: list[Browser]
    fresh: list[Browser]
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    signed_out: list[Browser] = field(default_factory=list)
    refused_sign_outs: list[Browser] = field(default_factory=list)  # "did not happen"
    unconfirmed_sign_outs: list[Browser] = field(default_factory=list)  # the store may yet have done it
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _count(self, kind: str, status: int) -> None:
        with self._lock:
            self.statuses[(kind, status)] += 1

    def _loop(self, step: Callable[[], None]) -> None:
        while not self._stop.is_set():
            try:
                step()
            except httpx.HTTPError as error:
                with self._lock:
                    self.errors.append(f"{type(error).__name__}: {error}")
            self._stop.wait(0.02)

    def _read(self, browser: Browser) -> Callable[[], None]:
        def step() -> None:
            if browser in self.signed_out:
                return
            self._count("page", browser.client.get(f"{self.pair.a.url}/").status_code)

        return step

    def _sign_in_and_out(self) -> None:
        with self._lock:
            browser = self.fresh.pop() if self.fresh else None
        if browser is None:
            return
        status = browser.sign_in(self.pair)
        self._count("sign-in", status)
        if status != 200:
            return
        answer = browser.client.post(f"{self.pair.a.url}/logout")
        self._count("sign-out", answer.status_code)
        with self._lock:
            if answer.status_code == 200:
                self.signed_out.append(browser)
            elif "could not be confirmed" in answer.text:
                self.unconfirmed_sign_outs.append(browser)
            else:
                self.refused_sign_outs.append(browser)

    def start(self) -> None:
        steps = [self._read(b) for b in self.signed_in[:3]] + [self._sign_in_and_out]
        self._threads = [threading.Thread(target=self._loop, args=(s,), daemon=True) for s in steps]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def count(self, kind: str, status: int) -> int:
        return self.statuses[(kind, status)]

    def server_errors(self) -> dict[str, int]:
        return {f"{k} {s}": n for (k, s), n in self.statuses.items() if s >= 500 and s != 503}


def check_sign_outs(traffic: Traffic) -> None:
    """What each browser was told of its sign-out is true, here and on B: done (signed out
    on both), refused (still signed in on both), or not confirmed (B was told all the
    same; here it may or may not have happened)."""
    pair = traffic.pair
    for browser in traffic.signed_out:
        assert who(browser.client, pair.a.url) is None, browser.email
        assert who(browser.client, pair.b.url) is None, browser.email
    for browser in traffic.refused_sign_outs:
        assert who(browser.client, pair.a.url) == browser.email
        assert who(browser.client, pair.b.url) == browser.email
    for browser in traffic.unconfirmed_sign_outs:
        assert who(browser.client, pair.b.url) is None, browser.email


def sign_in_all(pair: Pair, browsers: list[Browser]) -> None:
    for browser in browsers:
        assert browser.sign_in(pair) == 200
        assert who(browser.client, pair.b.url) == browser.email  # synced to B


def tracebacks(pair: Pair) -> int:
    return pair.logs().count("Traceback")


def lines(site: Served, logger: str, pattern: str = "") -> list[dict[str, Any]]:
    """The package's log lines (JSON) of ``logger`` whose message matches ``pattern``."""
    found = []
    for line in site.log().splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if record.get("logger") == logger and re.search(pattern, record.get("message", "")):
            found.append(record)
    return found


def store_lines(site: Served) -> list[tuple[str, str]]:
    """The store's availability lines: (level, message)."""
    return [(r["level"], r["message"]) for r in lines(site, "asgi_sessionsync.stores")]


def applied_once(site: Served) -> dict[str, Counter[str]]:
    """Each sign-out message id this site received: how often it was applied, how often
    answered "already applied"."""
    found: dict[str, Counter[str]] = {}
    for entry in site.received():
        found.setdefault(entry["message_id"], Counter())[entry["outcome"]] += 1
    return found


def browsers(count: int, offset: int = 0) -> list[Browser]:
    return [Browser(email, password) for email, password in ACCOUNTS[offset : offset + count]]


def close(everyone: list[Browser]) -> None:
    for browser in everyone:
        browser.client.close()


def prlimit_file_size(pid: int, limit: int | None) -> None:
    """Limit the size of files process ``pid`` may write (``None``: no limit)."""
    import resource

    soft = resource.RLIM_INFINITY if limit is None else limit
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))


__all__ = [
    "ACCOUNTS",
    "Browser",
    "Pair",
    "Served",
    "Traffic",
    "applied_once",
    "browsers",
    "check_sign_outs",
    "close",
    "lines",
    "page_view",
    "prlimit_file_size",
    "sign_in_all",
    "store_lines",
    "tracebacks",
    "until",
    "who",
]
