"""User sync across three in-process sites (issue #14): each action end to end, versions
against out-of-order delivery, a peer down while actions queue, the network file's
refusals, tombstones, and signing out everywhere."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.protocol import Purpose, UserAction, UserActionPayload
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores import MessageStatus, User
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from asgi_sessionsync.users import (
    EmailChangeRefused,
    create_user,
    delete_user,
    set_metadata,
    set_password,
    set_role,
    update_user,
)

ANN = "ann@example.com"
EVERYTHING = {
    "defaults": {
        **dict.fromkeys(("create", "update", "delete", "password", "role", "meta"), "both"),
        "meta_keys": ["locale", "team"],
        "password_formats": ["scrypt"],
    }
}


def rules(data: Mapping[str, Any] = EVERYTHING) -> NetworkRules:
    return NetworkRules.from_mapping(data)


@pytest.fixture(params=["memory", "sqlite"])
async def net(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SiteNetwork]:
    """Three sites with every user action on, on memory stores or each on its SQLite file."""
    apps = {name: login_app(name, {"alice@example.com": "wonderland"} if name == "a" else {}) for name in "abc"}
    data_dir = tmp_path if request.param == "sqlite" else None
    async with SiteNetwork(apps, settings={"network_rules": rules()}, data_dir=data_dir) as network:
        yield network


def site(net: SiteNetwork, name: str) -> Site:
    return net.sites[name].site


async def user(net: SiteNetwork, name: str, email: str = ANN) -> User | None:
    return await site(net, name).stores.users.get(email)


async def on_all(net: SiteNetwork, email: str = ANN) -> dict[str, User | None]:
    return {name: await user(net, name, email) for name in "abc"}


# -- each action, end to end ----------------------------------------------------------------


async def test_create_reaches_every_peer_with_role_password_and_allowed_metadata(net: SiteNetwork) -> None:
    await create_user(
        site(net, "a"),
        ANN,
        name="Ann",
        role="editor",
        password_hash="scrypt$16384$8$1$c2FsdA==$aGFzaA==",
        meta={"locale": "de", "secret-note": "x"},
    )
    for name, found in (await on_all(net)).items():
        assert found is not None, name
        assert (found.name, found.role, found.password_hash) == ("Ann", "editor", "scrypt$16384$8$1$c2FsdA==$aGFzaA==")
        assert found.meta == ({"locale": "de", "secret-note": "x"} if name == "a" else {"locale": "de"})
        assert found.provisioned_by == (None if name == "a" else "https://a.example")


async def test_update_password_role_and_metadata_each_reach_every_peer(net: SiteNetwork) -> None:
    await create_user(site(net, "a"), ANN, name="Ann")
    await update_user(site(net, "b"), ANN, name="Ann B")
    await set_password(site(net, "c"), ANN, "scrypt$16384$8$1$bmV3$bmV3")
    await set_role(site(net, "a"), ANN, "editor")
    await set_metadata(site(net, "b"), ANN, {"team": "blue"})
    for name, found in (await on_all(net)).items():
        assert found is not None, name
        assert (found.name, found.password_hash, found.role, found.meta) == (
            "Ann B",
            "scrypt$16384$8$1$bmV3$bmV3",
            "editor",
            {"team": "blue"},
        ), name


async def test_delete_removes_the_user_and_ends_its_sessions_on_every_site(net: SiteNetwork) -> None:
    browser = net.browser()
    await browser.sign_in("a", "alice@example.com", "wonderland")
    assert set((await browser.everyone()).values()) == {"alice@example.com"}
    assert await delete_user(site(net, "a"), "alice@example.com")
    assert await on_all(net, "alice@example.com") == dict.fromkeys("abc")
    assert await browser.everyone() == dict.fromkeys("abc")
    for name in "bc":
        assert await site(net, name).stores.users.tombstone("alice@example.com") is not None


async def test_an_app_sign_in_announces_a_user_of_this_site_to_the_peers_once(net: SiteNetwork) -> None:
    await site(net, "a").stores.users.create(User("alice@example.com", "member", "Alice", "scrypt$16384$8$1$YWJj$YWJj"))
    browser = net.browser()
    await browser.sign_in("a", "alice@example.com", "wonderland")
    found = await user(net, "b", "alice@example.com")
    assert found is not None and found.password_hash == "scrypt$16384$8$1$YWJj$YWJj" and found.name == "Alice"
    queued = len(await site(net, "a").stores.outbox.pending())
    sent = [m for m in await _all_messages(site(net, "a")) if m.kind == "user"]
    await browser.sign_out("a")
    await browser.sign_in("a", "alice@example.com", "wonderland")
    again = [m for m in await _all_messages(site(net, "a")) if m.kind == "user"]
    assert len(again) == len(sent) == 2 and queued == 0


async def _all_messages(s: Site) -> list[Any]:
    outbox: Any = s.stores.outbox
    if not hasattr(outbox, "_messages"):
        pytest.skip("counts every message of the memory outbox")
    return list(outbox._messages.values())  # memory store: every message, any status


# -- versions: order of delivery does not matter ---------------------------------------------


def soon(ms: int = 1000) -> int:
    """A version a little after now (ms): newer than the changes just made."""
    return int(time.time() * 1000) + ms


async def seal_user_message(sender: Site, to: str, payload: UserActionPayload, email: str = ANN) -> str:
    network, peer = next(e for e in sender.peers if e[1].origin == to)
    return sender.tokens.seal_for_peer(
        network.name, peer.origin, Purpose.BACKCHANNEL, subject=email, ttl=60, ip="", extra=payload.to_wire()
    )


async def post(net: SiteNetwork, to: str, token: str) -> int:
    from httpx import AsyncClient

    async with AsyncClient(transport=net.network) as client:
        response = await client.post(f"https://{to}.example/_sessionsync/backchannel", content=token)
    return response.status_code


async def test_an_older_update_delivered_after_a_newer_one_changes_nothing(net: SiteNetwork) -> None:
    a = site(net, "a")
    await create_user(a, ANN, name="Ann")
    newer = await seal_user_message(
        a, "https://b.example", UserActionPayload(UserAction.UPDATE, soon(2000), name="new")
    )
    older = await seal_user_message(
        a, "https://b.example", UserActionPayload(UserAction.UPDATE, soon(1000), name="old")
    )
    assert await post(net, "b", newer) == 204
    assert await post(net, "b", older) == 204  # stale: answered (2xx) so the sender stops
    found = await user(net, "b")
    assert found is not None and found.name == "new"


async def test_a_peer_down_gets_the_queued_actions_and_ends_in_version_order(net: SiteNetwork) -> None:
    a = site(net, "a")
    net.network.down.add("c")
    await create_user(a, ANN, name="Ann")
    await update_user(a, ANN, name="Ann 2")
    await update_user(a, ANN, name="Ann 3")
    await set_role(a, ANN, "editor")
    assert await user(net, "c") is None
    pending = [m for m in await a.stores.outbox.pending() if m.peer == "https://c.example"]
    assert len(pending) == 4
    net.network.down.discard("c")
    # Only the first was tried: the others wait behind it in ann's queue for c (issue #23).
    assert await a.stores.outbox.retry_now("https://c.example", time.time()) == 1  # as when c is seen again
    # Asked for newest first, the outbox still gives the first of the queue only ...
    assert [d.message.id for d in await a.courier.deliver([m.id for m in reversed(pending)])] == [pending[0].id]
    # ... and the rest in the order they were queued (versions would decide anyway).
    while await a.courier.deliver_due():
        pass
    found = await user(net, "c")
    assert found is not None and (found.name, found.role) == ("Ann 3", "editor")
    for message in pending:
        stored = await a.stores.outbox.get(message.id)
        assert stored is not None and stored.status is MessageStatus.DELIVERED


async def test_a_late_update_cannot_bring_back_a_deleted_user(net: SiteNetwork) -> None:
    a = site(net, "a")
    await create_user(a, ANN, name="Ann")
    late = await seal_user_message(
        a, "https://b.example", UserActionPayload(UserAction.UPDATE, int(time.time() * 1000) - 5000, name="late")
    )
    await delete_user(a, ANN)
    assert await post(net, "b", late) == 204
    assert await user(net, "b") is None


# -- the network file's refusals ---------------------------------------------------------------


async def make_net(
    data: Mapping[str, Mapping[str, Any]],
    per_site: Mapping[str, Mapping[str, Any]],
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> SiteNetwork:
    apps = {name: login_app(name) for name in "abc"}
    return SiteNetwork(
        apps,
        settings={"network_rules": rules(data)},
        site_settings={n: {"network_rules": rules(d), **(extra or {}).get(n, {})} for n, d in per_site.items()},
    )


async def test_a_peer_not_accepting_an_action_keeps_its_own_data_and_answers_200() -> None:
    strict = {**EVERYTHING, "peers": {"https://a.example": {"update": "send"}}}
    async with await make_net(EVERYTHING, {"b": strict}) as net:
        a = site(net, "a")
        await create_user(a, ANN, name="Ann")
        await update_user(a, ANN, name="Changed on A")
        b, c = await user(net, "b"), await user(net, "c")
        assert b is not None and b.name == "Ann"
        assert c is not None and c.name == "Changed on A"
        assert not await a.stores.outbox.pending()  # answered 200: nothing left to retry


async def test_a_privileged_role_is_never_taken_from_a_peer_unless_allowed() -> None:
    # C takes privileged roles from A (network file) and trusts A for privileged accounts
    # (SESSIONSYNC_TRUSTED_FOR_PRIVILEGED): both are needed (tests/test_peer_trust.py).
    trusting = {**EVERYTHING, "peers": {"https://a.example": {"accept_privileged_roles": True}}}
    extra = {"c": {"trusted_for_privileged": ["https://a.example"]}}
    async with await make_net(EVERYTHING, {"c": trusting}, extra) as net:
        a = site(net, "a")
        await create_user(a, ANN, name="Ann")
        await set_role(a, ANN, "admin")
        b, c = await user(net, "b"), await user(net, "c")
        assert b is not None and b.role == "member"
        assert c is not None and c.role == "admin"


async def test_metadata_keys_outside_the_allow_list_are_neither_sent_nor_taken(net: SiteNetwork) -> None:
    a = site(net, "a")
    await create_user(a, ANN, name="Ann")
    await set_metadata(a, ANN, {"team": "red", "ssn": "123"})
    forged = await seal_user_message(
        a, "https://b.example", UserActionPayload(UserAction.META, soon(), meta={"ssn": "9"})
    )
    assert await post(net, "b", forged) == 204
    found = await user(net, "b")
    assert found is not None and found.meta == {"team": "red"}


async def test_a_hash_of_a_format_the_peer_cannot_verify_is_not_sent_or_taken(net: SiteNetwork) -> None:
    a = site(net, "a")
    await create_user(a, ANN, name="Ann", password_hash="scrypt$16384$8$1$b25l$b25l")
    await set_password(a, ANN, "argon2$two")
    found = await user(net, "b")
    assert found is not None and found.password_hash == "scrypt$16384$8$1$b25l$b25l"
    forged = await seal_user_message(
        a, "https://b.example", UserActionPayload(UserAction.PASSWORD, soon(), password_hash="md5$x")
    )
    assert await post(net, "b", forged) == 204
    found = await user(net, "b")
    assert found is not None and found.password_hash == "scrypt$16384$8$1$b25l$b25l"


async def test_user_actions_are_off_unless_the_network_file_turns_them_on() -> None:
    async with SiteNetwork({n: login_app(n) for n in "ab"}) as net:
        a = site(net, "a")
        await create_user(a, ANN, name="Ann")
        assert await user(net, "b") is None
        assert not await a.stores.outbox.pending()


async def test_a_malformed_user_message_is_refused() -> None:
    async with SiteNetwork({n: login_app(n) for n in "ab"}, settings={"network_rules": rules()}) as net:
        a = site(net, "a")
        network, peer = a.peers[0]
        token = a.tokens.seal_for_peer(
            network.name,
            peer.origin,
            Purpose.BACKCHANNEL,
            subject=ANN,
            ttl=60,
            ip="",
            extra={"k": "user", "a": "explode", "v": 1},
        )
        assert await post(net, "b", token) == 400


# -- email, sign-out everywhere --------------------------------------------------------------------


async def test_the_email_of_a_synced_user_cannot_change(net: SiteNetwork) -> None:
    await create_user(site(net, "a"), ANN, name="Ann")
    with pytest.raises(EmailChangeRefused):
        await update_user(site(net, "b"), ANN, new_email="other@example.com")


async def test_sign_out_everywhere_signs_every_browser_out_on_every_site() -> None:
    async with SiteNetwork(
        {n: login_app(n, {"alice@example.com": "wonderland"} if n == "a" else {}) for n in "abc"},
        site_settings={"b": {"sign_out_everywhere": True}},
    ) as net:
        laptop, phone = net.browser(), net.browser("198.51.100.20")
        for browser in (laptop, phone):
            await browser.sign_in("a", "alice@example.com", "wonderland")
            assert set((await browser.everyone()).values()) == {"alice@example.com"}
        await laptop.sign_out("b")
        assert await laptop.everyone() == dict.fromkeys("abc")
        assert await phone.everyone() == dict.fromkeys("abc")


async def test_sign_out_everywhere_from_the_api_ends_the_other_browsers_too() -> None:
    from starlette.requests import Request
    from starlette.responses import RedirectResponse, Response

    from asgi_sessionsync import sign_out

    async def everywhere(request: Request) -> Response:
        sign_out(request, everywhere=True)
        return RedirectResponse("/", status_code=303)

    apps = {n: login_app(n, {"alice@example.com": "wonderland"} if n == "a" else {}) for n in "abc"}
    apps["c"].add_route("/logout-everywhere", everywhere, methods=["POST"])
    async with SiteNetwork(apps) as net:
        laptop, phone = net.browser(), net.browser("198.51.100.20")
        for browser in (laptop, phone):
            await browser.sign_in("a", "alice@example.com", "wonderland")
        page = await laptop.get(f"{net.urls['c']}/")
        await laptop.submit(f"{net.urls['c']}/logout-everywhere", {}, from_page=page)
        assert await laptop.everyone() == dict.fromkeys("abc")
        assert await phone.everyone() == dict.fromkeys("abc")


async def test_a_plain_sign_out_still_ends_only_this_browser() -> None:
    apps = {n: login_app(n, {"alice@example.com": "wonderland"} if n == "a" else {}) for n in "abc"}
    async with SiteNetwork(apps) as net:
        laptop, phone = net.browser(), net.browser("198.51.100.20")
        for browser in (laptop, phone):
            await browser.sign_in("a", "alice@example.com", "wonderland")
        await laptop.sign_out("b")
        assert await laptop.everyone() == dict.fromkeys("abc")
        assert await phone.everyone() == dict.fromkeys("abc", "alice@example.com")


async def test_a_peer_whose_sign_outs_are_not_accepted_cannot_end_sessions_here() -> None:
    deaf = {"peers": {"https://b.example": {"logout": "send"}}}
    apps = {n: login_app(n, {"alice@example.com": "wonderland"} if n == "a" else {}) for n in "abc"}
    async with SiteNetwork(apps, site_settings={"a": {"network_rules": rules(deaf)}}) as net:
        browser = net.browser()
        await browser.sign_in("a", "alice@example.com", "wonderland")
        await browser.sign_out("b")
        # Asked of the registries: b's page after the sign-out is caught up from a (where the
        # session lives on), so b has a new session; c took the sign-out.
        active = {n: len(await site(net, n).stores.sessions.list(user="alice@example.com")) for n in "ac"}
        assert active == {"a": 1, "c": 0}


async def test_a_peer_whose_logins_are_not_accepted_is_left_out_of_chains_and_its_hops_refused() -> None:
    closed = {"peers": {"https://a.example": {"login": "send"}}}
    apps = {n: login_app(n, {"alice@example.com": "wonderland"} if n == "a" else {}) for n in "abc"}
    async with SiteNetwork(apps, site_settings={"b": {"network_rules": rules(closed)}}) as net:
        browser = net.browser()
        await browser.sign_in("a", "alice@example.com", "wonderland")
        assert await browser.everyone() == {"a": "alice@example.com", "b": None, "c": "alice@example.com"}
    not_sent = {"peers": {"https://b.example": {"login": "accept"}}}
    async with SiteNetwork(apps, site_settings={"a": {"network_rules": rules(not_sent)}}) as net:
        browser = net.browser()
        response = await browser.sign_in("a", "alice@example.com", "wonderland")
        assert all("b.example" not in str(r.url) for r in response.history)  # not in the chain
        assert await browser.everyone() == {"a": "alice@example.com", "b": None, "c": "alice@example.com"}


async def test_a_version_far_in_the_future_is_refused(net: SiteNetwork) -> None:
    a = site(net, "a")
    await create_user(a, ANN, name="Ann")
    year_2300 = await seal_user_message(a, "https://b.example", UserActionPayload(UserAction.UPDATE, 10**13, name="x"))
    assert await post(net, "b", year_2300) == 204
    found = await user(net, "b")
    assert found is not None and found.name == "Ann"
    await update_user(a, ANN, name="Ann 2")  # and later changes still go through
    found = await user(net, "b")
    assert found is not None and found.name == "Ann 2"


async def test_the_users_api_finds_the_site_from_each_kind_of_target() -> None:
    from starlette.requests import Request

    from asgi_sessionsync.users import SITE_KEY, get_user, site_of

    async with SiteNetwork({"a": login_app("a")}) as net:
        middleware = net.sites["a"]
        await create_user(middleware, ANN, name="Ann")
        scope: dict[str, Any] = {"type": "http", "headers": [], SITE_KEY: middleware.site}
        for target in (middleware, middleware.site, scope, Request(scope)):
            assert site_of(target) is middleware.site
            found = await get_user(target, ANN)
            assert found is not None and found.name == "Ann"
        with pytest.raises(TypeError, match="went through SessionSyncMiddleware"):
            site_of({"type": "http", "headers": []})
