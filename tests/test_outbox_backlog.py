"""A peer whose deliveries keep failing is visible (#22): the worker's repeating warning with
the count and age of what is queued for it, one line when that is over, and ``peers check``
showing each peer's outbox. A real SQLite store, a peer at a port where nothing listens.

Before, the only trace was one line per attempt ("failed (ConnectError), attempt 7"): with
a back-off up to five minutes per message, nothing said how much was waiting, for how long.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import anyio
import pytest

from asgi_sessionsync import SessionSyncMiddleware
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.peers import drop
from asgi_sessionsync.peers.backlog import WARN_EVERY
from asgi_sessionsync.settings import Peer, Settings
from asgi_sessionsync.testing_apps import login_app
from tests.cli import run_cli
from tests.constants import ALICE, BOB
from tests.harness.processes import free_ports


def backlog_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == level and r.name == "asgi_sessionsync.backchannel" and "message(s)" in r.getMessage()
    ]


async def test_a_failing_peer_is_warned_about_again_while_it_lasts_and_once_when_it_ends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asgi_sessionsync")
    pa, pb = free_ports(2)  # nothing listens on pb: every delivery to B is refused
    b = f"http://b.localhost:{pb}"
    secret = generate_secret()
    store = tmp_path / "a.sqlite3"
    settings = Settings.from_env(
        {},
        env_file=None,
        site_url=f"http://a.localhost:{pa}",
        secret_keys=[secret],
        peers=[Peer(b, f"http://127.0.0.1:{pb}")],
        store=f"sqlite:///{store}",
        logout_wait=0.5,
    )
    app = SessionSyncMiddleware(login_app("a"), settings)
    courier = app.site.courier
    try:
        for email in (ALICE[0], BOB[0]):  # two queues for one peer
            await courier.broadcast_logout(email, chain=None, when=time.time())
        assert backlog_lines(caplog, logging.WARNING) == []  # the per-attempt lines only, so far
        # The worker: its first look after a failure says what waits for B.
        async with anyio.create_task_group() as group:
            await group.start(courier.run)
            await anyio.sleep(1.6)
            group.cancel_scope.cancel()
        (first,) = backlog_lines(caplog, logging.WARNING)
        assert f"] peer {b}: 2 message(s) queued, 2 failing, the oldest " in first, first
        assert "last error: ConnectError" in first and "peers check" in first

        # peers check, from the same store: B's outbox, with what to do.
        env = {
            "SESSIONSYNC_SITE_URL": settings.site_url,
            "SESSIONSYNC_SECRET_KEYS": secret,
            "SESSIONSYNC_PEERS": f"{b}|http://127.0.0.1:{pb}",
            "SESSIONSYNC_STORE": f"sqlite:///{store}",
        }
        shown = await anyio.to_thread.run_sync(lambda: run_cli("peers", "check", "--format", "json", env=env))
        (peer,) = json.loads(shown.stdout)["peers"]
        outbox = {c["name"]: c for c in peer["checks"]}["outbox"]
        assert outbox["status"] == "warn" and "2 message(s) queued, 2 failing" in outbox["detail"], outbox
        assert f"outbox retry --peer {b}" in outbox["fix"]
        assert peer["outbox"]["queued"] == 2 and peer["outbox"]["failing"] == 2
        assert peer["outbox"]["last_error"] == "ConnectError" and peer["outbox"]["oldest_age"] >= 1
        table = await anyio.to_thread.run_sync(lambda: run_cli("peers", "check", env=env))
        assert "outbox" in table.stdout and "2 failing" in table.stdout, table.stdout

        # Said again every WARN_EVERY while it lasts, not between.
        pending = await app.site.stores.outbox.pending()
        now = time.time()
        courier.backlog.observe(pending, now + WARN_EVERY / 2)
        assert len(backlog_lines(caplog, logging.WARNING)) == 1
        courier.backlog.observe(pending, now + WARN_EVERY + 1)
        again = backlog_lines(caplog, logging.WARNING)
        assert len(again) == 2 and "failing for 5 min" in again[1], again

        # Over (here, dropped by an operator): one line, and no more warnings.
        await drop(app.site.stores.outbox, [m.id for m in pending])
        courier.backlog.observe(await app.site.stores.outbox.pending(), now + WARN_EVERY + 2)
        (over,) = backlog_lines(caplog, logging.INFO)[-1:]
        assert f"] peer {b}: no message waits for it after a failure any more" in over, over
        assert "at most 2 message(s)" in over
        courier.backlog.observe([], now + 3 * WARN_EVERY)
        assert len(backlog_lines(caplog, logging.WARNING)) == 2
    finally:
        await app.aclose()


def test_peers_check_says_when_nothing_is_queued_and_when_the_store_is_not_there(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    env = {
        "SESSIONSYNC_SITE_URL": "http://a.localhost:8001",
        "SESSIONSYNC_SECRET_KEYS": generate_secret(),
        "SESSIONSYNC_PEERS": f"http://b.localhost:{port}|http://127.0.0.1:{port}",
    }
    empty = run_cli("peers", "check", "--format", "json", env={**env, "SESSIONSYNC_STORE": "memory://"})
    (peer,) = json.loads(empty.stdout)["peers"]
    outbox = {c["name"]: c for c in peer["checks"]}["outbox"]
    assert outbox["status"] == "ok" and outbox["detail"] == "nothing queued for this peer"
    absent = tmp_path / "elsewhere.sqlite3"
    missing = run_cli("peers", "check", "--format", "json", env={**env, "SESSIONSYNC_STORE": f"sqlite:///{absent}"})
    (peer,) = json.loads(missing.stdout)["peers"]
    outbox = {c["name"]: c for c in peer["checks"]}["outbox"]
    assert outbox["status"] == "-" and str(absent) in outbox["detail"], outbox
    assert not absent.exists()  # a read command never creates a store
