"""Beyond one process (issue #12): two uvicorn workers of one site on one real Redis,
a peer in another process, real sockets. A sign-in made by whichever worker is seen by
both; a sign-out made by whichever worker is seen by both and reaches the peer once."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from asgi_sessionsync.keys import generate_secret
from tests.constants import ALICE
from tests.harness.env_site import serve_site_from_env
from tests.harness.processes import free_ports
from tests.stores.redis_server import start_redis_server

ROOT = Path(__file__).resolve().parent.parent


def who(client: httpx.Client, url: str) -> str | None:
    text = client.get(url).text
    if "Signed in as " in text:
        return text.split("Signed in as ", 1)[1].split("<", 1)[0]
    assert "Not signed in" in text, text[:300]
    return None


def until(check: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        time.sleep(0.02)
    return False


def test_two_workers_on_one_redis_share_sessions_and_deliver_a_sign_out_once(tmp_path: Path) -> None:
    pa, pb = free_ports(2)
    a, b = f"http://127.0.0.1:{pa}", f"http://127.0.0.2:{pb}"
    secret = generate_secret()
    with start_redis_server(tmp_path / "redis") as redis_url:
        common = {"SESSIONSYNC_SECRET_KEYS": secret, "KIT_CSRF_CHECK": "false", "SESSIONSYNC_LOGOUT_WAIT": "0"}
        env_a = {
            **common,
            "SESSIONSYNC_SITE_URL": a,
            "SESSIONSYNC_PEERS": b,
            "SESSIONSYNC_STORE": f"{redis_url}?prefix=site-a",
            "KIT_SITE_NAME": "a",
            "KIT_ACCOUNTS": f"{ALICE[0]}:{ALICE[1]}",
        }
        env_b = {
            **common,
            "SESSIONSYNC_SITE_URL": b,
            "SESSIONSYNC_PEERS": a,
            "SESSIONSYNC_STORE": f"sqlite:///{tmp_path / 'b.sqlite3'}",
            "KIT_SITE_NAME": "b",
        }
        log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
        with (
            serve_site_from_env(env_b, "127.0.0.2", pb, log_b),
            serve_site_from_env(env_a, "127.0.0.1", pa, log_a, workers=2),
        ):
            # No keep-alive: every request is a new connection, so both workers answer.
            fresh = httpx.Limits(max_keepalive_connections=0)
            with httpx.Client(follow_redirects=True, timeout=10, limits=fresh) as browser:
                landed = browser.post(f"{a}/login", data={"email": ALICE[0], "password": ALICE[1], "next": "/"})
                assert "Signed in as alice@example.com" in landed.text
                assert who(browser, f"{b}/") == ALICE[0]
                # Both workers answer A: every one of them knows the session.
                answers = [browser.get(f"{a}/") for _ in range(40)]
                assert len({r.headers["x-kit-process"] for r in answers}) == 2
                assert all("Signed in as alice@example.com" in r.text for r in answers)

                browser.post(f"{a}/logout")
                # Whichever worker signed out, the other sees it (Redis pub/sub) ...
                assert until(lambda: all(who(browser, f"{a}/") is None for _ in range(20)))
                # ... and the peer was told, exactly once, by one of the two workers.
                assert until(lambda: who(browser, f"{b}/") is None)
                time.sleep(1.5)  # a second delivery would come within the outbox's first retry
            posts = log_b.read_text().count("POST /_sessionsync/backchannel")
            assert posts == 1, log_b.read_text()[-2000:]
        for log in (log_a, log_b):
            assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
