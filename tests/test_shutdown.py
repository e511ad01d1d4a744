"""A server stops at once on SIGTERM (#22): at lifespan shutdown the outbox worker stops
first, a delivery in flight included, and what it had not delivered stays in the outbox
for the next start (said in the log)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.stores import sqlite_stores
from tests.harness.processes import free_ports, wait_until_answering

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts connections and never answers: a delivery to it hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for connection in held:
        connection.close()


@pytest.mark.parametrize("lifespan", ["on", "off"])
def test_sigterm_stops_the_worker_at_once_and_leaves_the_outbox(tmp_path: Path, black_hole: int, lifespan: str) -> None:
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    store = tmp_path / "site.sqlite3"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SESSIONSYNC_", "KIT_"))},
        "SESSIONSYNC_SITE_URL": base,
        "SESSIONSYNC_SECRET_KEYS": generate_secret(),
        "SESSIONSYNC_PEERS": f"http://127.0.0.1:{black_hole}",
        "SESSIONSYNC_STORE": f"sqlite:///{store}",
        "SESSIONSYNC_PEER_TIMEOUT": "60",  # a delivery in flight at SIGTERM would hang a minute
        "KIT_ACCOUNTS": "ann@example.com:pw",
        "KIT_CSRF_CHECK": "false",
    }
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory", "tests.harness.env_site:site_from_env"),
                *("--app-dir", str(ROOT)),
                *("--port", str(port), "--lifespan", lifespan),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_answering(f"{base}/_sessionsync/ping", server, timeout=30)
        with httpx.Client(base_url=base, timeout=10) as client:
            client.post("/login", data={"email": "ann@example.com", "password": "pw"})
            client.post("/logout")  # a sign-out for the peer: its delivery hangs
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=5)  # a generous bound: a hanging delivery would take a minute
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    text = log.read_text()
    assert server.returncode in (0, -signal.SIGTERM), text
    assert "Finished server process" in text, text
    assert "Traceback" not in text, text
    if lifespan == "on":
        assert "Application shutdown complete" in text
        stopped = [line for line in text.splitlines() if "outbox worker stopped" in line]
        assert len(stopped) == 1, text
        assert "1 message(s) wait in the outbox for the next start" in stopped[0]

    async def pending() -> int:
        stores = sqlite_stores(store, create=False)
        try:
            return len(await stores.outbox.pending())
        finally:
            await stores.close()

    import anyio

    assert anyio.run(pending) == 1  # kept for the next start
