"""``python -m asgi_sessionsync peers check`` (#16): per peer, what works and what to fix."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from starlette.types import ASGIApp

from asgi_sessionsync.cli.peers import Status, check_peers
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Peer
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from tests.cli import run_cli
from tests.harness.processes import free_ports, wait_until_answering

URLS = {n: f"https://{n}.example" for n in "abcd"}


def statuses(report: Any) -> dict[str, str]:
    return {c.name: str(c.status) for c in report.checks}


async def test_each_check_names_what_is_wrong_in_process() -> None:
    secret = generate_secret()
    listed = {n: [Peer(URLS[m]) for m in URLS if m != n] for n in URLS}
    apps = {n: login_app(n) for n in URLS}
    site_settings: dict[str, Mapping[str, Any]] = {
        "a": {"secret_keys": [secret], "peers": listed["a"]},
        "b": {"secret_keys": [secret], "peers": listed["b"], "clock": lambda: time.time() + 60},
        "c": {"secret_keys": [generate_secret()], "peers": listed["c"]},  # another key
        "d": {"secret_keys": [secret], "peers": [Peer(URLS["b"])]},  # does not list a
    }
    async with SiteNetwork(apps, urls=URLS, site_settings=site_settings) as net:
        settings = net.sites["a"].settings
        reports = {r.url: r for r in await check_peers(settings, transport=net.network)}
        assert statuses(reports[URLS["b"]]) == {
            "browser URL": "ok",
            "back-channel URL": "ok",
            "same key": "ok",
            "lists this site": "ok",
            "clock": "FAIL",
        }
        clock = reports[URLS["b"]].checks[-1]
        assert "60.0 s ahead" in clock.detail and "NTP" in clock.fix
        assert 59 < (reports[URLS["b"]].offset or 0) < 61
        c = {ch.name: ch for ch in reports[URLS["c"]].checks}
        assert c["same key"].status is Status.FAIL and "SESSIONSYNC_SECRET_KEYS" in c["same key"].fix
        assert c["clock"].status is Status.OK and "unauthenticated" in c["clock"].detail
        d = {ch.name: ch for ch in reports[URLS["d"]].checks}
        assert d["same key"].status is Status.OK
        assert d["lists this site"].status is Status.FAIL and f"add {URLS['a']}" in d["lists this site"].fix
        net.network.down.add("c")
        (down,) = [r for r in await check_peers(settings, transport=net.network) if r.url == URLS["c"]]
        assert statuses(down)["back-channel URL"] == "FAIL" and statuses(down)["same key"] == "-"


@contextmanager
def serving(apps: Mapping[int, ASGIApp]) -> Iterator[None]:
    """Serve each app on 127.0.0.1:port with uvicorn, in a thread, until the block ends."""
    servers = [
        uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
        for port, app in apps.items()
    ]

    async def run() -> None:
        await asyncio.gather(*(s.serve() for s in servers))

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    try:
        for port in apps:
            wait_until_answering(f"http://127.0.0.1:{port}/_sessionsync/ping")
        yield
    finally:
        for server in servers:
            server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def live() -> Iterator[Callable[..., Any]]:
    """Sites b (same key) and c (another key) on real ports, both listing a."""
    pa, pb, pc, pd = free_ports(4)
    urls = {"a": f"http://a.localhost:{pa}", "b": f"http://b.localhost:{pb}", "c": f"http://c.localhost:{pc}"}
    back = {n: f"http://127.0.0.1:{p}" for n, p in zip("abc", (pa, pb, pc), strict=True)}
    secret = generate_secret()
    net = SiteNetwork(
        {n: login_app(n) for n in urls},
        urls=urls,
        backchannel_urls=back,
        secret=secret,
        site_settings={"c": {"secret_keys": [generate_secret()], "peers": [Peer(urls["a"], back["a"])]}},
        in_process=False,
    )

    def run(peers: str, *args: str) -> Any:
        env = {"SESSIONSYNC_SITE_URL": urls["a"], "SESSIONSYNC_SECRET_KEYS": secret, "SESSIONSYNC_PEERS": peers}
        return run_cli("peers", "check", *args, env={**env, "SESSIONSYNC_STORE": "memory://"})

    run.urls, run.back, run.down = urls, back, f"http://d.localhost:{pd}|http://127.0.0.1:{pd}"  # type: ignore[attr-defined]
    with serving({pb: net.sites["b"], pc: net.sites["c"]}):
        yield run
    # In a thread of its own: asyncio.run in the main thread would leave it without an
    # event loop for the tests that follow.
    closing = threading.Thread(target=asyncio.run, args=(net.aclose(),))
    closing.start()
    closing.join(timeout=10)


def test_peers_check_against_live_sites(live: Any) -> None:
    urls, back = live.urls, live.back
    peers = f"{urls['b']}|{back['b']},{urls['c']}|{back['c']},{live.down}"
    table = live(peers)
    assert table.returncode == 1, table.stderr
    assert "to fix:" in table.stdout and "3 peer(s), 2 with problems" in table.stdout
    assert "as browsers resolve *.localhost" in table.stdout
    shown = json.loads(live(peers, "--format", "json").stdout)
    assert shown["ok"] is False
    by_url = {p["url"]: {c["name"]: c["status"] for c in p["checks"]} for p in shown["peers"]}
    assert set(by_url[urls["b"]].values()) == {"ok"}
    assert by_url[urls["c"]]["same key"] == "FAIL"
    assert by_url[live.down.split("|")[0]]["back-channel URL"] == "FAIL"
    good = live(f"{urls['b']}|{back['b']}")
    assert good.returncode == 0 and "1 peer(s), all good" in good.stdout


def test_a_localhost_name_without_a_backchannel_url_is_reported_with_the_fix(live: Any) -> None:
    result = live(live.urls["b"], "--format", "json")
    assert result.returncode == 1
    (peer,) = json.loads(result.stdout)["peers"]
    checks = {c["name"]: c for c in peer["checks"]}
    assert checks["browser URL"]["status"] == "ok"
    back = checks["back-channel URL"]
    assert back["status"] == "FAIL" and "does not resolve" in back["detail"]
    assert f'SESSIONSYNC_PEERS="{live.urls["b"]}|http://127.0.0.1:PORT"' in back["fix"]


@pytest.mark.parametrize("host", ["b.example.com", "b.localhost"])
def test_a_peer_that_serves_https_is_never_offered_an_http_back_channel(host: str) -> None:
    """#22: the fix for an https peer whose name does not resolve here proposed
    ``|http://127.0.0.1:PORT``, which an https-only site does not serve."""
    from asgi_sessionsync.peers.ping import Problem, explain

    origin = f"https://{host}"
    for problem in Problem:
        what, fix = explain(problem, url=f"{origin}/_sessionsync/ping", origin=origin, asker="https://a.example")
        assert "http://" not in what + fix, (problem, fix)
    _, fix = explain(Problem.UNRESOLVED, url=f"{origin}/_sessionsync/ping", origin=origin, asker="https://a.example")
    assert f'SESSIONSYNC_PEERS="{origin}|https://' in fix and "certificate" in fix
