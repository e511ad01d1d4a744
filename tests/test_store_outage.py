"""What each request gets while a site's store is down (issue #23, docs/operations.md "When a
store is down"): anonymous pages as ever; a signed-in page, a sign-in or a sign-out a
clear 503 with ``Retry-After`` (HTML for browsers, text for the rest, or the site's own
page), never a 500 and never a traceback; a sign-out refused that way changed nothing
(the browser is still signed in, and the sign-out works once the store is back); one
log line when the store goes and one when it is back, with what the requests got.

In process: site A's stores are switched off (``tests/outage.py``) as an unreachable
server would be, or made full (SQLite, ``PRAGMA max_page_count``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.types import Message

from asgi_sessionsync.stores import Stores, sqlite_stores
from asgi_sessionsync.stores.sqlite import SQLiteDatabase
from asgi_sessionsync.testing import DEFAULT_CLIENT_IP, Browser, SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from tests.constants import ALICE
from tests.outage import Outage, switchable

URLS = {"a": "https://a.example", "b": "https://b.example"}
HTML = {"accept": "text/html,application/xhtml+xml"}


def network(stores: Stores, **settings: object) -> SiteNetwork:
    apps = {"a": login_app("a", dict([ALICE]), csrf_check=False), "b": login_app("b", {}, csrf_check=False)}
    return SiteNetwork(apps, urls=URLS, stores={"a": stores}, settings={"logout_wait": "0.5", **settings})


@pytest.fixture
async def down() -> AsyncIterator[tuple[SiteNetwork, Outage]]:
    stores, outage = switchable()
    async with network(stores) as net:
        yield net, outage


def store_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "asgi_sessionsync.stores"]


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]


async def test_a_signed_in_page_while_the_store_is_down_is_a_503_page_not_a_500(
    down: tuple[SiteNetwork, Outage], caplog: pytest.LogCaptureFixture
) -> None:
    net, outage = down
    caplog.set_level(logging.INFO)
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    outage.down = True
    for _ in range(5):
        page = await browser.get(f"{URLS['a']}/", headers=HTML)
        assert page.status_code == 503, page.text[:300]
        assert page.headers["retry-after"].isdigit()
        assert page.headers["content-type"].startswith("text/html")
        assert "try again" in page.text.lower()
    script = await browser.client.get(f"{URLS['a']}/", headers={"accept": "application/json"})
    assert script.status_code == 503 and script.headers["content-type"].startswith("text/plain")
    assert "Traceback" not in script.text and "Traceback" not in page.text
    outage.down = False
    assert await browser.who("a") == ALICE[0]
    lines = store_lines(caplog)
    assert [level for level, _ in lines] == ["ERROR", "WARNING"], lines
    assert "answered 503" in lines[1][1], lines[1][1]
    no_tracebacks(caplog)


async def test_anonymous_pages_are_served_while_the_store_is_down(down: tuple[SiteNetwork, Outage]) -> None:
    net, outage = down
    outage.down = True
    browser = net.browser()
    page = await browser.get(f"{URLS['a']}/", headers={"sec-fetch-mode": "cors"})  # no catch-up
    assert page.status_code == 200 and "Not signed in" in page.text
    assert outage.calls_failed == 0  # the hot path never asks the store


async def test_a_sign_in_while_the_store_is_down_is_a_503_and_signs_nobody_in(
    down: tuple[SiteNetwork, Outage], caplog: pytest.LogCaptureFixture
) -> None:
    net, outage = down
    outage.down = True
    browser = net.browser()
    landed = await browser.sign_in("a", *ALICE)
    assert landed.status_code == 503, landed.text[:300]
    assert "Sign-in is unavailable" in landed.text and "nobody was signed in" in landed.text
    assert browser.cookies.get(net.sites["a"].site.cookie_names.session, domain="a.example") is None
    outage.down = False
    assert await browser.who("a") is None
    assert await browser.who("b") is None
    no_tracebacks(caplog)


@pytest.mark.parametrize("writes_only", [False, True], ids=["down", "writes fail"])
async def test_a_sign_out_while_the_store_is_down_is_refused_visibly_and_works_when_it_is_back(
    down: tuple[SiteNetwork, Outage], caplog: pytest.LogCaptureFixture, writes_only: bool
) -> None:
    net, outage = down
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    assert await browser.everyone() == {"a": ALICE[0], "b": ALICE[0]}
    page = await browser.get(f"{URLS['a']}/")
    outage.down, outage.writes_only = True, writes_only
    refused = await browser.submit(f"{URLS['a']}/logout", {}, from_page=page)
    assert refused.status_code == 503, refused.text[:300]
    if writes_only:  # the session was read: the app signed out, and the store refused to end it
        assert "Sign-out did not happen" in refused.text and "still signed in" in refused.text
    else:  # who this is could not be read: the app never ran
        assert "nothing was done" in refused.text
    outage.down = False
    # Nothing was concluded from what could not be seen: still signed in everywhere ...
    assert await browser.everyone() == {"a": ALICE[0], "b": ALICE[0]}
    # ... and the sign-out works now, everywhere.
    await browser.sign_out("a")
    assert await browser.everyone() == {"a": None, "b": None}
    no_tracebacks(caplog)


async def test_a_sign_out_the_store_may_yet_carry_out_is_unconfirmed_and_still_reaches_the_peers(
    down: tuple[SiteNetwork, Outage], caplog: pytest.LogCaptureFixture
) -> None:
    """A store that did not answer in time may run the sign-out later (a paused Redis runs
    what it was sent when it wakes): nothing is concluded, the browser is asked to sign
    out again, and the peers are told all the same, so that what may have ended here ends
    there too."""
    net, outage = down
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    page = await browser.get(f"{URLS['a']}/")
    outage.down, outage.writes_only, outage.maybe_done = True, True, True
    answer = await browser.submit(f"{URLS['a']}/logout", {}, from_page=page)
    assert answer.status_code == 503 and "could not be confirmed" in answer.text, answer.text[:300]
    assert "sign out again" in answer.text
    courier = net.sites["a"].site.courier
    assert len(courier.ledger.held) == 1  # B's message, kept until the outbox takes it
    outage.down = False
    await courier.ledger.round()
    while await courier.deliver_due():
        pass
    # B was told: its session ended (a visit there now would catch the session up from A).
    assert await net.sites["b"].site.stores.sessions.list(user=ALICE[0]) == []
    assert await browser.who("a") == ALICE[0]  # here it had not happened after all: sign out again
    await browser.sign_out("a")
    assert await browser.everyone() == {"a": None, "b": None}
    no_tracebacks(caplog)


async def test_a_back_channel_message_while_the_store_is_down_is_a_503_the_sender_retries(
    down: tuple[SiteNetwork, Outage], caplog: pytest.LogCaptureFixture
) -> None:
    net, outage = down
    caplog.set_level(logging.INFO)
    browser = net.browser()
    await browser.sign_in("b", *ALICE) if False else await browser.sign_in("a", *ALICE)
    outage.down = True
    b = net.sites["b"]
    # B signs alice out; its message to A is answered 503 while A's store is down.
    await b.site.sign_outs.everywhere(ALICE[0], reason="signed out everywhere")
    pending = await b.site.stores.outbox.pending()
    assert [m.peer for m in pending] == [URLS["a"]]
    assert pending[0].attempts >= 1 and pending[0].last_error == "HTTP 503"
    assert [m for m in caplog.records if m.name == "asgi_sessionsync.endpoints" and m.levelno >= logging.ERROR] == []
    outage.down = False
    assert await b.site.courier.deliver_due(now=pending[0].next_attempt_at + 1) == 1
    assert await browser.who("a") is None
    no_tracebacks(caplog)


async def test_a_full_sqlite_disk_leaves_signed_in_pages_alone_refuses_sign_ins_and_loses_no_sign_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stores = sqlite_stores(tmp_path / "a.sqlite3")
    db = stores.closer
    assert isinstance(db, SQLiteDatabase)
    async with network(stores) as net:
        signed_in, other = net.browser(), net.browser()
        await signed_in.sign_in("a", *ALICE)
        pages = db.connection.execute("PRAGMA page_count").fetchone()[0]
        db.connection.execute(f"PRAGMA max_page_count = {pages}")
        for _ in range(30):  # fill the last free pages
            if (await other.sign_in("a", *ALICE)).status_code == 503:
                break
            await other.sign_out("a")
        assert stores.availability.down
        assert await signed_in.who("a") == ALICE[0]  # reads go on
        landed = await net.browser().sign_in("a", *ALICE)
        assert landed.status_code == 503 and "nobody was signed in" in landed.text
        page = await signed_in.get(f"{URLS['a']}/")
        answer = await signed_in.submit(f"{URLS['a']}/logout", {}, from_page=page)
        if answer.status_code == 503:  # nothing was written: still signed in, everywhere
            assert "still signed in" in answer.text
            assert await signed_in.who("a") == ALICE[0]
        else:  # the session ended (a row changed in place) but its message did not fit: held
            assert answer.status_code == 200 and await signed_in.who("a") is None
            assert net.sites["a"].site.courier.ledger.held
        stores.availability.settle = 0.0  # back at the next write that works, without waiting for it
        db.connection.execute("PRAGMA max_page_count = 1073741823")
        courier = net.sites["a"].site.courier
        await courier.ledger.round()  # the worker's round: what was held is written now ...
        while await courier.deliver_due():  # ... and delivered, one message of alice's queue at a time
            pass
        assert courier.ledger.held == []
        if answer.status_code == 503:
            await signed_in.sign_out("a")
        assert await signed_in.everyone() == {"a": None, "b": None}
    lines = store_lines(caplog)
    assert [level for level, _ in lines] == ["ERROR", "WARNING"], lines
    assert "the disk is full" in lines[0][1]
    no_tracebacks(caplog)


async def test_the_site_may_give_its_own_unavailable_page(tmp_path: Path) -> None:
    own = tmp_path / "unavailable.html"
    own.write_text("<!doctype html><title>Back soon</title><h1>We are back in a minute</h1>", encoding="utf-8")
    stores, outage = switchable()
    async with network(stores, unavailable_page=str(own)) as net:
        browser: Browser = net.browser()
        await browser.sign_in("a", *ALICE)
        outage.down = True
        page = await browser.get(f"{URLS['a']}/", headers=HTML)
        assert page.status_code == 503 and "We are back in a minute" in page.text
        assert page.headers["retry-after"].isdigit()
        script = await browser.client.get(f"{URLS['a']}/", headers={"accept": "*/*"})
        assert script.status_code == 503 and "We are back" not in script.text  # text for non-HTML clients


async def test_a_websocket_with_a_session_while_the_store_is_down_is_closed_try_again_later(
    down: tuple[SiteNetwork, Outage],
) -> None:
    net, outage = down
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    name = net.sites["a"].site.cookie_names.session  # __Host-sessionsync: an https site
    cookie = browser.cookies.get(name, domain="a.example")
    assert cookie is not None
    outage.down = True
    sent: list[Message] = []
    incoming: list[Message] = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": "/ws",
        "client": (DEFAULT_CLIENT_IP, 50000),  # the browser's address: the cookie is bound to it
        "headers": [(b"cookie", f"{name}={cookie}".encode())],
    }
    await net.sites["a"](scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1013}]


async def test_the_store_down_page_is_in_the_browsers_language(down: tuple[SiteNetwork, Outage]) -> None:
    # The outage page is rendered off the request path's usual route (no endpoint): it
    # must still be told this request's Accept-Language (i18n.for_request).
    net, outage = down
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    outage.down = True
    french = await browser.get(f"{URLS['a']}/", headers={**HTML, "accept-language": "fr-CH, fr;q=0.9"})
    english = await browser.get(f"{URLS['a']}/", headers={**HTML, "accept-language": "en"})
    outage.down = False
    assert french.status_code == english.status_code == 503
    assert '<html lang="fr">' in french.text and "This page is briefly unavailable" not in french.text
    assert '<html lang="en">' in english.text and "This page is briefly unavailable" in english.text
