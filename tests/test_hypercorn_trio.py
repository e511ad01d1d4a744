"""Real servers on trio: three sites under ``hypercorn --worker-class trio``, driven over
real sockets by an HTTP client that keeps cookies and follows redirects.

Sign-in on A reaches B and C; sign-out on A reaches them through the back-channel,
sent from A's outbox worker, which runs in the lifespan task group under trio. With C
down at sign-out, the worker retries until C is back. No server logs a traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from asgi_sessionsync.keys import generate_secret
from tests.constants import ALICE
from tests.harness.processes import free_ports, wait_until_answering

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("a", "b", "c")
# One loopback address per site: cookies are kept by host, not by port.
HOSTS = {"a": "127.0.0.11", "b": "127.0.0.12", "c": "127.0.0.13"}


class Servers:
    """Hypercorn (trio worker) serving each site, with its log file."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.secret = generate_secret()
        self.ports = dict(zip(NAMES, free_ports(len(NAMES)), strict=True))
        self.urls = {n: f"http://{HOSTS[n]}:{self.ports[n]}" for n in NAMES}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, list[Path]] = {n: [] for n in NAMES}
        self.exits: dict[str, list[int]] = {n: [] for n in NAMES}

    def start(self, *names: str) -> None:
        """Start each site's server (all at once), then wait until each answers."""
        for name in names:
            self._spawn(name)
        for name in names:
            wait_until_answering(f"{self.urls[name]}/_sessionsync/ping", self.processes[name])

    def _spawn(self, name: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONSYNC_")}
        env.update(
            TEST_SITE=name,
            SESSIONSYNC_SITE_URL=self.urls[name],
            SESSIONSYNC_SECRET_KEYS=self.secret,
            SESSIONSYNC_PEERS=",".join(self.urls[o] for o in NAMES if o != name),
            SESSIONSYNC_STORE=f"sqlite:///{self.tmp / f'site-{name}.sqlite3'}",
        )
        log = self.tmp / f"{name}-{len(self.logs[name])}.log"
        self.logs[name].append(log)
        with log.open("wb") as out:
            self.processes[name] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hypercorn",
                    "--worker-class",
                    "trio",
                    "--bind",
                    f"{HOSTS[name]}:{self.ports[name]}",
                    "--error-logfile",
                    "-",
                    "tests.served_site:app",
                ],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def stop(self, name: str) -> None:
        """SIGTERM: a graceful shutdown, lifespan included."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        try:
            self.exits[name].append(process.wait(timeout=15))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise

    def log(self, name: str) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.logs[name])


@contextmanager
def hypercorn_trio(tmp: Path) -> Iterator[Servers]:
    servers = Servers(tmp)
    try:
        servers.start(*NAMES)
        yield servers
    finally:
        for name in list(servers.processes):
            servers.stop(name)


def who(client: httpx.Client, url: str) -> str | None:
    text = client.get(f"{url}/").text
    if "Not signed in" in text:
        return None
    assert "Signed in as " in text, text
    return text.split("Signed in as ", 1)[1].split("<", 1)[0]


def test_sign_in_and_out_across_three_hypercorn_trio_servers(tmp_path: Path) -> None:
    with hypercorn_trio(tmp_path) as servers, httpx.Client(follow_redirects=True, timeout=10) as browser:
        urls = servers.urls
        signed_in = browser.post(f"{urls['a']}/login", data={"email": ALICE[0], "password": ALICE[1], "next": "/"})
        assert signed_in.status_code == 200 and f"Signed in as {ALICE[0]}" in signed_in.text
        assert {n: who(browser, urls[n]) for n in NAMES} == dict.fromkeys(NAMES, ALICE[0])

        # Sign-out on A: the back-channel ends the sessions on B and C before A answers.
        signed_out = browser.post(f"{urls['a']}/logout")
        assert signed_out.status_code == 200 and "Not signed in" in signed_out.text
        assert {n: who(browser, urls[n]) for n in NAMES} == dict.fromkeys(NAMES)

        # Again, with C down at sign-out: A's worker retries until C is back.
        browser.post(f"{urls['a']}/login", data={"email": ALICE[0], "password": ALICE[1], "next": "/"})
        assert {n: who(browser, urls[n]) for n in NAMES} == dict.fromkeys(NAMES, ALICE[0])
        servers.stop("c")
        browser.post(f"{urls['a']}/logout")
        assert who(browser, urls["b"]) is None
        servers.start("c")  # the same SQLite file: C still has alice's session
        deadline = time.monotonic() + 20
        while who(browser, urls["c"]) is not None:
            assert time.monotonic() < deadline, "the outbox worker never delivered the sign-out to C"
            time.sleep(0.2)

    assert servers.exits == {"a": [0], "b": [0], "c": [0, 0]}
    logs = {n: servers.log(n) for n in NAMES}
    for name, runs in (("a", 1), ("b", 1), ("c", 2)):
        # The worker ran from start-up on; shutdown stopped it and closed the site first.
        assert logs[name].count("lifespan.startup.complete (worker running: True, site closed: False)") == runs
        assert logs[name].count("lifespan.shutdown.complete (worker running: False, site closed: True)") == runs
    assert "logout message to http://" in logs["a"] and "failed (ConnectError), attempt 1" in logs["a"]
    assert logs["a"].count(f"logout message delivered to {urls['c']}") == 2
    for name, text in logs.items():
        assert "Traceback" not in text, f"site {name}:\n{text}"
        assert "no ASGI lifespan" not in text and "ERROR" not in text, f"site {name}:\n{text}"
