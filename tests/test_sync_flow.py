"""Three in-process sites: sign in on any, signed in on all; sign out of any, out of all."""

from __future__ import annotations

from asgi_sessionsync.identity import Account
from tests.constants import ALICE, BOB
from tests.sites import URLS, Browser, Sites


async def test_sign_in_on_a_signs_in_everywhere_and_returns_to_the_page_asked_for(
    sites: Sites, browser: Browser
) -> None:
    response = await browser.sign_in("a", *ALICE, next_path="/account")
    assert str(response.url) == f"{URLS['a']}/account"
    assert "Account of alice@example.com" in response.text
    hops = [str(r.url).split("?")[0] for r in response.history]
    # Each peer pulls the sign-in (v2): its pull, A's authorize, its hop.
    assert hops == [
        f"{URLS['a']}/login",
        f"{URLS['b']}/_sessionsync/pull",
        f"{URLS['a']}/_sessionsync/authorize",
        f"{URLS['b']}/_sessionsync/hop",
        f"{URLS['c']}/_sessionsync/pull",
        f"{URLS['a']}/_sessionsync/authorize",
        f"{URLS['c']}/_sessionsync/hop",
    ]
    assert await browser.everyone() == {"a": ALICE[0], "b": ALICE[0], "c": ALICE[0]}


async def test_user_only_on_c_signs_in_on_c_and_b_and_a_auto_provision(sites: Sites, browser: Browser) -> None:
    _, built = sites
    assert await built["b"].stores.users.get(BOB[0]) is None
    await browser.sign_in("c", *BOB)
    assert await browser.everyone() == {"a": BOB[0], "b": BOB[0], "c": BOB[0]}
    provisioned = await built["b"].stores.users.get(BOB[0])
    assert provisioned is not None
    assert provisioned.role == "member" and provisioned.provisioned_by == URLS["c"]


async def test_sign_in_on_each_site_in_turn_then_sign_out_on_each(sites: Sites) -> None:
    network, _ = sites
    for signin_site, signout_site in [("a", "b"), ("c", "a"), ("a", "c")]:
        browser = Browser(network)
        account = ALICE if signin_site == "a" else BOB
        await browser.sign_in(signin_site, *account)
        assert await browser.everyone() == dict.fromkeys("abc", account[0]), signin_site
        await browser.sign_out(signout_site)
        assert await browser.everyone() == dict.fromkeys("abc"), signout_site
        await browser.close()


async def test_sign_in_on_b_through_a_synced_user_then_sign_out_on_b(sites: Sites, browser: Browser) -> None:
    await browser.sign_in("a", *ALICE)
    await browser.sign_out("b")
    assert await browser.everyone() == dict.fromkeys("abc")


async def test_sign_out_ends_only_this_browsers_sessions(sites: Sites) -> None:
    network, _ = sites
    laptop, phone = Browser(network), Browser(network, ip="198.51.100.20")
    await laptop.sign_in("a", *ALICE)
    await phone.sign_in("a", *ALICE)
    await laptop.sign_out("c")
    assert await laptop.everyone() == dict.fromkeys("abc")
    assert await phone.everyone() == dict.fromkeys("abc", ALICE[0])
    await laptop.close()
    await phone.close()


async def test_session_registry_records_who_where_how_and_why_it_ended(sites: Sites, browser: Browser) -> None:
    _, built = sites
    await browser.sign_in("a", *ALICE)
    await browser.sign_out("b")
    (record,) = await built["c"].stores.sessions.list(user=ALICE[0], include_ended=True)
    assert record.via == f"hop from {URLS['a']}"
    assert record.ip == "203.0.113.7"
    assert record.site == URLS["c"]
    assert record.end_reason == f"signed out on {URLS['b']}"
    (on_b,) = await built["b"].stores.sessions.list(user=ALICE[0], include_ended=True)
    assert on_b.end_reason == "signed out"
    assert record.chain == on_b.chain


async def test_peer_down_during_sign_out_gets_the_message_once_back(sites: Sites, browser: Browser) -> None:
    network, built = sites
    await browser.sign_in("a", *ALICE)
    network.down.add("c")
    await browser.sign_out("a")
    assert await browser.who("a") is None and await browser.who("b") is None
    pending = await built["a"].stores.outbox.pending()
    assert [m.peer for m in pending] == [URLS["c"]]
    assert pending[0].attempts == 1 and pending[0].last_error == "ConnectError"
    network.down.clear()
    # The next attempt is due after the back-off; deliver what is due a minute from now.
    sender = built["a"].app.site.courier
    assert await sender.deliver_due(now=pending[0].next_attempt_at + 0.01) == 1
    assert await built["a"].stores.outbox.pending() == []
    assert await browser.who("c") is None


async def test_a_message_delivered_twice_is_applied_once(sites: Sites, browser: Browser) -> None:
    network, _ = sites
    await browser.sign_in("a", *ALICE)
    await browser.sign_out("a")
    posts = [r for r in network.requests if r.url.path.endswith("/backchannel") and r.url.host == "c.internal"]
    assert len(posts) == 1
    replay = await Browser(network).client.post(str(posts[0].url), content=posts[0].content)
    assert replay.status_code == 200 and replay.text == "already applied"


async def test_sign_in_without_peers_up_signs_in_here_and_the_peers_catch_up_at_their_first_visit(
    sites: Sites, browser: Browser
) -> None:
    network, _ = sites
    network.down.update({"b", "c"})
    response = await browser.sign_in("a", *ALICE)
    assert str(response.url) == f"{URLS['a']}/"
    assert "Signed in as alice@example.com" in response.text
    assert [r.url.host for r in response.history] == ["a.example"]  # no browser sent to a dead site
    network.down.clear()
    # v2: a peer that was down asks A at the browser's first visit (a top-level pull).
    assert await browser.who("b") == ALICE[0]
    assert await browser.who("c") == ALICE[0]


async def test_app_login_made_without_the_middleware_is_adopted_here_but_never_synced(
    sites: Sites, browser: Browser
) -> None:
    _, built = sites
    # An app session cookie for C made without the middleware: from before it was
    # installed, or stolen. It is honoured on C, recorded, and not spread to A or B.
    identity = built["c"].app.app_login
    assert identity is not None
    made = await identity.login_cookies({"type": "http", "headers": []}, Account("mallory@example.com"))
    assert made is not None
    cookie = made[0].decode()
    name, value = cookie.split(";", 1)[0].split("=", 1)
    browser.client.cookies.set(name, value, domain="c.example")
    page = await browser.get(f"{URLS['c']}/")
    assert "Signed in as mallory@example.com" in page.text
    assert "_sessionsync/hop" not in page.text and "http-equiv" not in page.text
    assert "sessionsync-sync" not in page.headers.get("set-cookie", "")
    assert page.history == []
    assert await browser.who("a") is None and await browser.who("b") is None
    (record,) = await built["c"].stores.sessions.list(user="mallory@example.com")
    assert record.via == "adopted from the app's own login"


async def test_app_login_that_ends_by_itself_ends_only_the_local_session(sites: Sites, browser: Browser) -> None:
    _, built = sites
    await browser.sign_in("a", *ALICE)
    browser.client.cookies.delete("session", domain="c.example")  # C's own cookie expired
    # C ends its session quietly (A and B are not told); the user is still signed in on
    # A, so C's catch-up signs the browser in again, with a new session.
    assert await browser.who("c") == ALICE[0]
    ended, active = sorted(
        await built["c"].stores.sessions.list(user=ALICE[0], include_ended=True), key=lambda r: r.ended_at is None
    )
    assert ended.end_reason == "app login ended" and active.ended_at is None and active.sid != ended.sid
    assert await browser.who("a") == ALICE[0] and await browser.who("b") == ALICE[0]
