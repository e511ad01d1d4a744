"""The activity log across three in-process sites: every cross-site message, sent and
received, with its outcome; a failing activity store never stops a message; nothing
secret is ever in it."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx
import pytest

from asgi_sessionsync.activity import ActivityRecorder
from asgi_sessionsync.protocol import Purpose
from asgi_sessionsync.stores import ActivityEntry, ActivityFilter, Direction, Outcome, Stores, User
from tests.constants import ALICE, BOB
from tests.sites import BACKCHANNEL, URLS, Browser, Sites, make_sites, site_pair, three_sites


async def entries(stores: Stores, **where: object) -> list[ActivityEntry]:
    assert stores.activity is not None
    return await stores.activity.list(ActivityFilter(**where), limit=1000)  # type: ignore[arg-type]


def said(found: list[ActivityEntry]) -> set[tuple[str, str, str, str, str]]:
    return {(str(e.direction), e.peer, e.kind, e.user, e.said) for e in found}


async def test_sign_in_and_sign_out_are_recorded_on_every_site(sites: Sites, browser: Browser) -> None:
    _, built = sites
    alice = ALICE[0]
    await browser.sign_in("a", *ALICE)
    assert said(await entries(built["a"].stores)) == {
        ("sent", URLS["b"], "login", alice, "sent"),
        ("sent", URLS["c"], "login", alice, "sent"),
    }
    for name in "bc":
        assert said(await entries(built[name].stores)) == {("received", URLS["a"], "login", alice, "applied: by hop")}
    # Signed-in requests carry no cross-site message: nothing more is written.
    before = {name: len(await entries(site.stores)) for name, site in built.items()}
    for name in "abc":
        for _ in range(3):
            await browser.get(f"{URLS[name]}/")
    assert {name: len(await entries(site.stores)) for name, site in built.items()} == before
    await browser.sign_out("b")
    sent = await entries(built["b"].stores, direction=Direction.SENT)
    assert said(sent) == {
        ("sent", URLS["a"], "logout", alice, "applied"),  # what each peer answered
        ("sent", URLS["c"], "logout", alice, "applied"),
    }
    for name in "ac":
        (received,) = await entries(built[name].stores, kind="logout")
        assert said([received]) == {("received", URLS["b"], "logout", alice, "applied: 1 session(s) ended")}
        # The same message id on both sides: one message followed across two sites.
        assert received.message_id in {e.message_id for e in sent}
        assert received.site == URLS[name]
    assert all(e.site == URLS["b"] for e in await entries(built["b"].stores))


async def test_a_peer_down_leaves_failed_attempts_then_the_delivery(sites: Sites, browser: Browser) -> None:
    network, built = sites
    await browser.sign_in("a", *ALICE)
    network.down.add("c")
    await browser.sign_out("a")
    courier = built["a"].app.site.courier
    (pending,) = await built["a"].stores.outbox.pending()
    for _ in range(3):  # attempts 2, 3, 4 (the sign-out made the first)
        await built["a"].stores.outbox.retry_now(URLS["c"], 0)
        await courier.deliver([pending.id])
    network.down.discard("c")
    await built["a"].stores.outbox.retry_now(URLS["c"], 0)
    await courier.deliver([pending.id])
    to_c = await entries(built["a"].stores, peer=URLS["c"], kind="logout")
    assert [e.said for e in reversed(to_c)] == [
        "failed: ConnectError (attempt 1)",
        "failed: ConnectError (attempt 2)",
        "failed: ConnectError (attempt 4)",  # attempt 3 is not recorded: only powers of two
        "applied: attempt 5",
    ]
    assert {e.message_id for e in to_c} == {pending.id}
    (received,) = await entries(built["c"].stores, kind="logout")
    assert received.outcome is Outcome.APPLIED and received.message_id == pending.id


async def test_a_message_received_twice_is_recorded_as_already_applied(sites: Sites, browser: Browser) -> None:
    network, built = sites
    await browser.sign_in("a", *ALICE)
    await browser.sign_out("a")
    site_a = built["a"].app.site
    token = site_a.tokens.seal_for_peer(
        "default", URLS["b"], Purpose.BACKCHANNEL, subject=ALICE[0], ttl=60, ip="", jti=b"resent-id", extra={}
    )
    async with httpx.AsyncClient(transport=network) as client:
        url = f"{BACKCHANNEL['b']}/_sessionsync/backchannel"
        first = await client.post(url, content=token)
        again = await client.post(url, content=token)
        garbage = await client.post(url, content="v2.nothing.here")
        garbage_again = await client.post(url, content="v2.nothing.here")
    assert first.status_code == 400  # authentic, but no kind it knows
    assert again.status_code == 400 and garbage.status_code == 400 and garbage_again.status_code == 400
    refused = await entries(built["b"].stores, outcome=Outcome.REFUSED)
    authentic = [e for e in refused if e.peer == URLS["a"]]
    assert [e.said for e in authentic] == ["refused: unknown message kind"] * 2
    assert authentic[0].message_id == "resent-id" and authentic[0].user == ALICE[0]
    # Not authentic: recorded once (as logged), with no peer, whatever the number of tries.
    anonymous = [e for e in refused if e.peer == ""]
    assert len(anonymous) == 1 and anonymous[0].kind == "" and anonymous[0].user == ""

    (delivered,) = [e for e in await entries(site_a.stores, peer=URLS["b"], kind="logout")]
    message = await site_a.stores.outbox.get(delivered.message_id)
    assert message is not None
    await site_a.stores.outbox.retry_now(URLS["b"], 0)
    resend = site_a.tokens.seal_for_peer(
        "default",
        URLS["b"],
        Purpose.BACKCHANNEL,
        subject=ALICE[0],
        ttl=60,
        ip="",
        jti=message.id.encode(),
        extra={"k": "logout", **{k: v for k, v in message.payload.items() if k != "sub"}},
    )
    async with httpx.AsyncClient(transport=network) as client:
        answer = await client.post(f"{BACKCHANNEL['b']}/_sessionsync/backchannel", content=resend)
    assert answer.status_code == 200
    twice = await entries(built["b"].stores, kind="logout")
    assert twice[0].said == "already applied"
    assert {e.message_id for e in twice} == {message.id}


async def test_a_sign_in_refused_on_a_peer_is_recorded_with_why(sites: Sites, browser: Browser) -> None:
    _, built = sites
    # Alice is an administrator on B: no peer may sign her in there (not trusted for it).
    await built["b"].stores.users.create(User(ALICE[0], "admin"))
    await browser.sign_in("a", *ALICE)
    (refused,) = await entries(built["b"].stores)
    assert said([refused]) == {
        ("received", URLS["a"], "login", ALICE[0], "refused: privileged account, peer not trusted for it")
    }
    # Visiting B asks A again (catch-up), and is refused again: recorded again.
    assert await browser.everyone() == {"a": ALICE[0], "b": None, "c": ALICE[0]}
    assert len(await entries(built["b"].stores, outcome=Outcome.REFUSED)) == 2
    assert said(await entries(built["a"].stores, peer=URLS["b"])) == {("sent", URLS["b"], "login", ALICE[0], "sent")}


class BrokenLog:
    """An activity store that fails every time."""

    max_entries = 100

    async def record(self, entries: object) -> None:
        raise RuntimeError("disk on fire")

    async def list(
        self, where: object = None, *, limit: int = 100, before: tuple[float, str] | None = None
    ) -> list[ActivityEntry]:
        return []

    async def purge(self, before: float, *, keep: int | None = None) -> int:
        return 0

    async def erase_user(self, user: str) -> int:
        return 0


async def test_a_failing_activity_store_costs_a_warning_and_never_a_message(
    sites: Sites, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    _, built = sites
    for site in built.values():
        broken = ActivityRecorder(site.url, BrokenLog())
        site.app.site.activity = broken
        site.app.site.courier.activity = broken
    caplog.set_level(logging.WARNING, "asgi_sessionsync")
    await browser.sign_in("a", *ALICE)
    assert await browser.everyone() == dict.fromkeys("abc", ALICE[0])
    await browser.sign_out("c")
    assert await browser.everyone() == dict.fromkeys("abc")
    warnings = [r.getMessage() for r in caplog.records if "activity log" in r.getMessage()]
    assert warnings and all("disk on fire" in w for w in warnings)
    assert len([w for w in warnings if URLS["a"] in w]) == 1  # once a minute per site


async def test_switched_off_nothing_is_recorded(tmp_path: Path) -> None:
    _, built = await make_sites(None, activity_log=False)
    try:
        browser = Browser(_)
        await browser.sign_in("a", *ALICE)
        await browser.sign_out("b")
        assert await browser.everyone() == dict.fromkeys("abc")
        for site in built.values():
            assert await entries(site.stores) == []
        await browser.close()
    finally:
        for site in built.values():
            await site.app.aclose()


_ENVELOPE = re.compile(r"v[12]\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")


async def test_no_token_cookie_hash_or_secret_is_ever_in_the_activity_log_or_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole run on SQLite stores, failures included; then every activity entry of every
    site, as stored, and every log line are searched for what must never appear."""
    caplog.set_level(logging.DEBUG, "asgi_sessionsync")
    net = three_sites(tmp_path)
    network, built = site_pair(net)
    try:
        browser = Browser(network)
        await browser.sign_in("a", *ALICE)
        network.down.add("c")
        await browser.sign_out("b")
        network.down.discard("c")
        await browser.sign_in("c", *BOB)
        async with httpx.AsyncClient(transport=network) as client:
            await client.post(f"{BACKCHANNEL['a']}/_sessionsync/backchannel", content="v2.AAAAAAAAAAAA.garbage")
        await browser.sign_out("a")
        secrets_seen = {ALICE[1], BOB[1], net.secret}
        cookies = {c.value for c in browser.cookies if len(c.value) >= 16}
        rows: list[str] = []
        for site in built.values():
            database = site.app.site.stores.activity
            assert database is not None
            rows += [repr(e) for e in await database.list(limit=100_000)]
            hashes = [u.password_hash for u in await site.stores.users.list_users(limit=1000) if u.password_hash]
            secrets_seen.update(hashes)
        # The package's log lines (the test browser's own httpx lines carry its URLs, tokens and all).
        lines = [r.getMessage() for r in caplog.records if r.name.startswith("asgi_sessionsync")]
        assert lines
        text = "\n".join(rows) + "\n" + "\n".join(lines)
        assert len(rows) > 10
        assert not _ENVELOPE.search(text), _ENVELOPE.search(text)
        for value in secrets_seen | cookies:
            assert value not in text
        assert "password" not in "\n".join(rows).lower()
        await browser.close()
    finally:
        await net.aclose()


async def test_a_captured_hop_opened_again_and_again_is_one_refusal(sites: Sites, browser: Browser) -> None:
    network, built = sites
    response = await browser.sign_in("a", *ALICE)
    hop = next(str(r.url) for r in response.history if str(r.url).startswith(f"{URLS['b']}/_sessionsync/hop"))
    thief = Browser(network)
    for _ in range(3):
        await thief.get(hop)
    refused = await entries(built["b"].stores, outcome=Outcome.REFUSED)
    assert said(refused) == {("received", URLS["a"], "login", ALICE[0], "refused: not asked by this browser")}
    assert len(refused) == 1
    await thief.close()


async def test_user_actions_are_recorded_sent_and_received_with_stale_ones_said(tmp_path: Path) -> None:
    from asgi_sessionsync.network_rules import NetworkRules
    from asgi_sessionsync.testing import SiteNetwork
    from asgi_sessionsync.testing_apps import login_app
    from asgi_sessionsync.users import create_user, update_user

    everything = {"defaults": dict.fromkeys(("create", "update"), "both")}
    apps = {name: login_app(name, {}) for name in "ab"}
    async with SiteNetwork(apps, settings={"network_rules": NetworkRules.from_mapping(everything)}) as net:
        a, b = net.sites["a"].site, net.sites["b"].site
        await create_user(a, "ann@example.com", name="Ann")
        await update_user(a, "ann@example.com", name="Ann B")
        assert said(await entries(a.stores, direction=Direction.SENT)) == {
            ("sent", "https://b.example", "user.create", "ann@example.com", "applied"),
            ("sent", "https://b.example", "user.update", "ann@example.com", "applied"),
        }
        assert said(await entries(b.stores, kind="user")) == {
            ("received", "https://a.example", "user.create", "ann@example.com", "applied"),
            ("received", "https://a.example", "user.update", "ann@example.com", "applied"),
        }
        # The update again, as a retry with a new id would be: older than what B holds.
        (update,) = await entries(a.stores, kind="user.update")
        message = await a.stores.outbox.get(update.message_id)
        assert message is not None
        replayed = a.tokens.seal_for_peer(
            "default",
            "https://b.example",
            Purpose.BACKCHANNEL,
            subject="ann@example.com",
            ttl=60,
            ip="",
            jti=b"another-id",
            extra={"k": "user", **{k: v for k, v in message.payload.items() if k != "sub"}},
        )
        async with httpx.AsyncClient(transport=net.network) as client:
            answer = await client.post("https://b.example/_sessionsync/backchannel", content=replayed)
        assert answer.status_code == 204
        (stale,) = await entries(b.stores, outcome=Outcome.STALE)
        assert (stale.kind, stale.message_id, stale.peer) == ("user.update", "another-id", "https://a.example")


async def test_the_sender_records_what_the_receiver_answered_refused_applied_already(tmp_path: Path) -> None:
    """#26: the sender's activity log said ``delivered`` for a message the receiver
    refused. The receiver now says its outcome (``x-sessionsync-outcome``) on every answer
    to an authentic message, and the sender records it: B refuses A's sign-outs here."""
    from asgi_sessionsync.network_rules import NetworkRules
    from asgi_sessionsync.testing import SiteNetwork
    from asgi_sessionsync.testing_apps import login_app
    from asgi_sessionsync.users import create_user, update_user

    rules = {"defaults": {"create": "both", "update": "both", "logout": "send"}}
    apps = {name: login_app(name, {}) for name in "ab"}
    async with SiteNetwork(apps, settings={"network_rules": NetworkRules.from_mapping(rules)}) as net:
        a, b = net.sites["a"].site, net.sites["b"].site
        await create_user(a, "ann@example.com", name="Ann")
        await a.sign_outs.everywhere("ann@example.com", reason="test")
        sent = {e.kind: e.said for e in await entries(a.stores, direction=Direction.SENT)}
        assert sent == {"user.create": "applied", "logout": "refused: by the peer (its log says why)"}
        (refused,) = await entries(b.stores, kind="logout")
        assert refused.said == "refused: logout is not accepted from that peer"

        # The same message again (a retry whose first answer was lost): already applied.
        (create,) = await entries(a.stores, kind="user.create")
        message = await a.stores.outbox.get(create.message_id)
        assert message is not None
        await a.courier._send_all([message])  # as the ledger sends again what a lost store forgot
        again = [e.said for e in await entries(a.stores, kind="user.create")]
        assert again == ["already applied: attempt 2", "applied"]
        await update_user(a, "ann@example.com", name="Ann B")
        assert (await entries(a.stores, kind="user.update"))[0].said == "applied"
