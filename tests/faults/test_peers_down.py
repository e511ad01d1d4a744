"""Peers down, with real processes and sockets (issue #12; in the fault suite since #23):
a peer killed just after a good health answer strands nobody, and a peer back after
being down gets its queued sign-out because it was seen alive again, not when its
back-off runs out.

Three sites under uvicorn (A on 127.0.0.1, B on 127.0.0.2, C on 127.0.0.3), each with
its own SQLite store, so a killed B keeps its sessions when it starts again.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.peers import PeerHealth
from tests.constants import ALICE, BOB
from tests.faults.harness import page_view
from tests.harness.env_site import serve_site_from_env
from tests.harness.processes import free_ports

NAVIGATION = {"sec-fetch-mode": "navigate", "sec-fetch-dest": "document", "sec-fetch-site": "none"}


def who(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> str | None:
    """Who ``url`` shows; with ``headers`` (a navigation), as a page view of a browser
    without JavaScript (the catch-up's page followed by its refresh)."""
    text = page_view(client, url).text if headers else client.get(url).text
    if "Signed in as " in text:
        return text.split("Signed in as ", 1)[1].split("<", 1)[0]
    assert "Not signed in" in text, text[:300]
    return None


def until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


class Network:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        ports = free_ports(3)
        hosts = {"a": "127.0.0.1", "b": "127.0.0.2", "c": "127.0.0.3"}
        self.where = {name: (hosts[name], port) for name, port in zip("abc", ports, strict=True)}
        self.url = {name: f"http://{host}:{port}" for name, (host, port) in self.where.items()}
        secret = generate_secret()
        self.env: dict[str, dict[str, str]] = {}
        for name in "abc":
            self.env[name] = {
                "SESSIONSYNC_SECRET_KEYS": secret,
                "SESSIONSYNC_SITE_URL": self.url[name],
                "SESSIONSYNC_PEERS": ",".join(self.url[o] for o in "abc" if o != name),
                "SESSIONSYNC_STORE": f"sqlite:///{tmp_path / f'{name}.sqlite3'}",
                "SESSIONSYNC_LOGOUT_WAIT": "0",
                "SESSIONSYNC_LOG_FORMAT": "json",  # the package's own lines, to the server's log
                "KIT_CSRF_CHECK": "false",
                "KIT_SITE_NAME": name,
                "KIT_ACCOUNTS": f"{ALICE[0]}:{ALICE[1]},{BOB[0]}:{BOB[1]}" if name == "a" else "",
            }
        self.starts = 0

    @contextlib.contextmanager
    def serve(self, name: str) -> Iterator[subprocess.Popen[bytes]]:
        self.starts += 1
        host, port = self.where[name]
        with serve_site_from_env(self.env[name], host, port, self.tmp / f"{name}-{self.starts}.log") as process:
            yield process

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.tmp.glob("*.log")))

    def outbox(self, name: str) -> list[dict[str, Any]]:
        """Site ``name``'s pending messages, read with the command line as an operator would."""
        done = subprocess.run(
            [sys.executable, "-m", "asgi_sessionsync", "outbox", "list", "--format", "json"],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("SESSIONSYNC_")}, **self.env[name]},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        messages: list[dict[str, Any]] = json.loads(done.stdout)
        return messages


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def test_a_peer_killed_just_after_a_good_health_answer_strands_nobody_and_is_caught_up(tmp_path: Path) -> None:
    net = Network(tmp_path)
    with net.serve("a"), net.serve("c"):
        with net.serve("b") as b_process, httpx.Client(follow_redirects=True, timeout=20) as first:
            landed = first.post(f"{net.url['a']}/login", data={"email": ALICE[0], "password": ALICE[1], "next": "/"})
            assert "Signed in as alice@example.com" in landed.text
            # A has just had a good answer from B: the chain went through it.
            assert who(first, f"{net.url['b']}/") == ALICE[0]
            kill(b_process)
        # A good answer counts for POINT_FOR before a browser is sent on it; past that
        # (0.1 s after B died), no browser may be sent to B.
        time.sleep(PeerHealth.POINT_FOR)
        with httpx.Client(follow_redirects=True, timeout=20) as second:
            landed = second.post(f"{net.url['a']}/login", data={"email": BOB[0], "password": BOB[1], "next": "/"})
            assert landed.url.host == net.where["a"][0], landed.url
            assert "Signed in as bob@example.com" in landed.text
            assert who(second, f"{net.url['c']}/") == BOB[0]
            with net.serve("b"):
                # B learns of the sign-in it missed at the browser's first visit.
                assert who(second, f"{net.url['b']}/", NAVIGATION) == BOB[0]
    assert "Traceback" not in net.logs(), net.logs()[-3000:]


def test_a_peer_back_after_being_down_gets_its_queued_sign_out_before_its_back_off_ends(tmp_path: Path) -> None:
    net = Network(tmp_path)
    with net.serve("a"), net.serve("c"), httpx.Client(follow_redirects=True, timeout=20) as browser:
        with net.serve("b") as b_process:
            landed = browser.post(f"{net.url['a']}/login", data={"email": ALICE[0], "password": ALICE[1], "next": "/"})
            assert "Signed in as alice@example.com" in landed.text
            assert who(browser, f"{net.url['b']}/") == ALICE[0]
            kill(b_process)
        browser.post(f"{net.url['a']}/logout")
        assert who(browser, f"{net.url['a']}/") is None
        assert until(lambda: who(browser, f"{net.url['c']}/") is None, timeout=30)

        def backed_off() -> bool:
            to_b = [m for m in net.outbox("a") if m["peer"] == net.url["b"]]
            return bool(to_b) and to_b[0]["attempts"] >= 5

        # Attempts 1-5 fail (1 + 2 + 4 + 8 s of back-off); the next would come 13 s or more
        # later, well after B is back even on a loaded machine.
        assert until(backed_off, timeout=60), net.outbox("a")
        with net.serve("b"):
            back_at = time.time()
            assert until(lambda: who(browser, f"{net.url['b']}/") is None, timeout=60)
            delivered_after = time.time() - back_at
        print(f"queued sign-out delivered {delivered_after:.2f} s after the peer answered again")
        # Delivered because A saw B alive again, not because a back-off ran out.
        assert "is reachable again: 1 queued message(s) sent now" in net.logs(), net.logs()[-3000:]
        assert [m for m in net.outbox("a") if m["peer"] == net.url["b"]] == []
    assert "Traceback" not in net.logs(), net.logs()[-3000:]
