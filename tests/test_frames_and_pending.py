"""Frame and auto mode server steps, the pending-sync path, and websockets.

What a browser does to cookies inside third-party frames is shown by the Chromium
suite; here the client plays a browser that keeps frame cookies ("allowed") or
drops them ("blocked").
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket

from asgi_sessionsync import SessionSyncMiddleware, Settings, sign_in
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.testing import SiteNetwork
from tests.constants import ALICE
from tests.sites import URLS, Browser, InProcessNetwork, Sites, make_sites, site_pair, three_sites


@pytest.fixture(params=["frame", "auto"])
async def frame_sites(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Sites]:
    async with three_sites(tmp_path, sync_mode=request.param) as net:
        yield site_pair(net)


def frame_urls(page: str) -> list[str]:
    return [unescape(u) for u in re.findall(r'<iframe src="([^"]+)"', page)]


async def load_frames(
    network: InProcessNetwork, browser: Browser, page: str, *, cookies_allowed: bool
) -> list[dict[str, Any]]:
    """Load each injected frame as the browser would; return what each told its parent."""
    verdicts = []
    blocked = Browser(network, third_party_cookies=False)
    blocked.cookies = browser.cookies  # the same browser, with third-party cookies blocked
    frames_in = browser if cookies_allowed else blocked
    for url in frame_urls(page):
        response = await frames_in.frame(url, from_page=browser.urls["a"] + "/")
        match = re.search(r"parent\.postMessage\((\{.*?\}),(\".*?\")\)", response.text)
        assert match, response.text
        verdict = json.loads(match.group(1))
        verdict["target"] = json.loads(match.group(2))
        verdicts.append(verdict)
    return verdicts


async def test_frames_sign_peers_in_when_third_party_cookies_are_allowed(frame_sites: Sites) -> None:
    network, _ = frame_sites
    browser = Browser(network)
    landing = await browser.sign_in("a", *ALICE)
    assert str(landing.url) == f"{URLS['a']}/"
    verdicts = await load_frames(network, browser, landing.text, cookies_allowed=True)
    assert sorted(v["peer"] for v in verdicts) == [URLS["b"], URLS["c"]]
    assert all(v["ok"] is True and v["target"] == URLS["a"] for v in verdicts)
    assert await browser.everyone() == dict.fromkeys("abc", ALICE[0])


async def test_frames_report_failure_when_cookies_are_blocked_and_leave_no_orphan_session(frame_sites: Sites) -> None:
    network, built = frame_sites
    browser = Browser(network)
    landing = await browser.sign_in("a", *ALICE)
    verdicts = await load_frames(network, browser, landing.text, cookies_allowed=False)
    assert [v["ok"] for v in verdicts] == [False, False]
    # v2: the bind cookie never came back, so no session was even made (none to end).
    assert await built["b"].stores.sessions.list(user=ALICE[0], include_ended=True) == []
    assert await built["c"].stores.sessions.list(user=ALICE[0], include_ended=True) == []
    # The first top-level visit to B and C catches up instead (a pull from A).
    assert await browser.who("b") == ALICE[0] and await browser.who("c") == ALICE[0]


async def test_partitioned_frames_report_failure_and_leave_nothing_in_the_partition(frame_sites: Sites) -> None:
    """Firefox (Total Cookie Protection): a peer's frame under A gets cookies, but in a jar
    keyed by A that the peer's own pages never see. Before the frames' storage check, the
    frame signed B in there and reported success: auto mode did not bounce, and the
    session made in the partition was orphaned (nothing but a catch-up or a sign-out
    ever ended it). Now ``document.hasStorageAccess()`` is false there: the frame reports
    failure before setting anything, and no session is made."""
    network, built = frame_sites
    browser = Browser(network)
    landing = await browser.sign_in("a", *ALICE)
    # The frames' jar: keyed by A, it starts empty for B and C; A's frame of its own page
    # is first-party (A's cookies), as in Firefox.
    partition = Browser(network)
    for cookie in browser.cookies:
        if cookie.domain == "a.example":
            partition.cookies.set(
                cookie.name, cookie.value, domain=cookie.domain, samesite=cookie.samesite, secure=cookie.secure
            )
    verdicts = []
    for url in frame_urls(landing.text):
        response = await partition.frame(url, from_page=URLS["a"] + "/", storage_access=False)
        match = re.search(r"parent\.postMessage\((\{.*?\}),(\".*?\")\)", response.text)
        assert match, response.text
        verdicts.append(json.loads(match.group(1)))
    assert sorted(v["peer"] for v in verdicts) == [URLS["b"], URLS["c"]]
    assert [v["ok"] for v in verdicts] == [False, False]
    assert [c.name for c in partition.cookies if c.domain != "a.example"] == []
    for name in "bc":
        assert await built[name].stores.sessions.list(user=ALICE[0], include_ended=True) == []
    # The first top-level visit to B catches up (in auto mode the page would bounce first).
    assert await browser.who("b") == ALICE[0]
    [session] = await built["b"].stores.sessions.list(user=ALICE[0], include_ended=True)
    assert session.via == f"hop from {URLS['a']}"


async def test_auto_mode_bounces_through_the_peers_whose_frame_failed(tmp_path: Path) -> None:
    network, built = await make_sites(tmp_path, sync_mode="auto")
    try:
        browser = Browser(network)
        landing = await browser.sign_in("a", *ALICE)
        await load_frames(network, browser, landing.text, cookies_allowed=False)
        match = re.search(r"location\.replace\((\".*?\")\+", landing.text)
        assert match
        bounce = json.loads(match.group(1)) + "&peers=" + f"{URLS['b']} {URLS['c']}"
        final = await browser.get(bounce)
        assert str(final.url) == f"{URLS['a']}/"
        assert await browser.everyone() == dict.fromkeys("abc", ALICE[0])
        # The bounce link is bound to the session that made it: another browser gets nothing.
        stranger = Browser(network)
        await stranger.get(bounce)
        assert await stranger.who("b") is None
    finally:
        for site in built.values():
            await site.app.aclose()


async def test_frame_pages_may_only_be_framed_by_network_members(frame_sites: Sites) -> None:
    network, _ = frame_sites
    browser = Browser(network)
    landing = await browser.sign_in("a", *ALICE)
    check = await browser.client.get(frame_urls(landing.text)[0], follow_redirects=False)
    response = await browser.client.get(frame_urls(landing.text)[0] + "&s=1", follow_redirects=False)
    for answer in (check, response):
        policy = answer.headers["content-security-policy"]
        assert policy.startswith("frame-ancestors ") and URLS["a"] in policy and "*" not in policy
    assert "set-cookie" not in check.headers  # the storage check sets nothing
    assert "SameSite=None" in response.headers["set-cookie"] and "Secure" in response.headers["set-cookie"]


async def make_api_network() -> tuple[InProcessNetwork, SessionSyncMiddleware, SessionSyncMiddleware]:
    """Site A signs in through a JSON API (nothing to inject into); B is a plain page."""

    async def api_login(request: Request) -> JSONResponse:
        sign_in(request, "carol@example.com")
        return JSONResponse({"ok": True})

    async def page(request: Request) -> PlainTextResponse:
        user = request.user.email if request.user.is_authenticated else "nobody"
        return PlainTextResponse(f"user: {user}")

    app = Starlette(routes=[Route("/api/login", api_login, methods=["POST"]), Route("/", page)])
    net = SiteNetwork({"a": app, "b": Starlette(routes=[Route("/", page)])}, urls={"a": URLS["a"], "b": URLS["b"]})
    return net.network, net.sites["a"], net.sites["b"]


async def test_sign_in_by_api_starts_the_chain_at_the_next_page_navigation() -> None:
    network, a, b = await make_api_network()
    browser = Browser(network)
    response = await browser.client.post(f"{URLS['a']}/api/login")
    assert response.json() == {"ok": True}
    assert "sessionsync-sync=" in response.headers["set-cookie"]
    # A script's fetch does not start the chain; a page navigation does.
    fetched = await browser.get(f"{URLS['a']}/", headers={"sec-fetch-mode": "cors", "sec-fetch-dest": "empty"})
    assert [str(r.url) for r in fetched.history] == []
    landed = await browser.get(
        f"{URLS['a']}/?tab=2", headers={"sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}
    )
    assert [r.url.host for r in landed.history] == ["a.example", "b.example", "a.example", "b.example"]
    assert str(landed.url) == f"{URLS['a']}/?tab=2"
    assert (await browser.get(f"{URLS['b']}/")).text == "user: carol@example.com"
    # Once done, the pending mark is gone: the next navigation is an ordinary one.
    again = await browser.get(f"{URLS['a']}/", headers={"sec-fetch-mode": "navigate", "sec-fetch-dest": "document"})
    assert again.history == []
    await a.aclose()
    await b.aclose()


async def test_websocket_routes_work_and_see_the_signed_in_user() -> None:
    async def login(request: Request) -> PlainTextResponse:
        sign_in(request, "dave@example.com")
        return PlainTextResponse("ok")

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        user = websocket.user
        await websocket.send_text(user.email if user.is_authenticated else "anonymous")
        await websocket.close()

    app = SessionSyncMiddleware(
        Starlette(routes=[Route("/login", login, methods=["POST"]), WebSocketRoute("/ws", socket)]),
        Settings.from_env({}, env_file=None, site_url=URLS["a"], secret_keys=[generate_secret()], store="memory://"),
    )

    async def talk(cookie: str | None) -> str:
        headers = [(b"host", b"a.example")] + ([(b"cookie", cookie.encode())] if cookie else [])
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "wss",
            "path": "/ws",
            "raw_path": b"/ws",
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("203.0.113.7", 5000),
            "server": ("a.example", 443),
            "subprotocols": [],
        }
        inbox: list[Message] = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
        sent: list[Message] = []

        async def receive() -> Message:
            return inbox.pop(0)

        async def send(message: Message) -> None:
            sent.append(message)

        await app(scope, receive, send)
        assert sent[0]["type"] == "websocket.accept"
        return str(sent[1]["text"])

    name = app.cookie_names.session
    assert name == "__Host-sessionsync"
    assert await talk(None) == "anonymous"
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url=URLS["a"]) as client:
        cookie = (await client.post("/login")).cookies[name]
    assert await talk(f"{name}={cookie}") == "dave@example.com"
    assert await talk(f"{name}={cookie[:-2]}xx") == "anonymous"
    assert await talk(f"{name}={cookie}; {name}={cookie}") == "anonymous"  # two of one name: neither trusted
    await app.aclose()
