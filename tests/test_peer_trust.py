"""What a peer may do to an account here (issue #20, "Trust, round two"): per action, per
field, and never to a privileged account unless trusted for privileged accounts.

Three in-process sites; A is the peer that acts, B the site acted on. Each test names the
finding it reproduces; each failed on the code before ``asgi_sessionsync/trust.py``."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import pytest

from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.protocol import UserAction, UserActionPayload
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores import User
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from asgi_sessionsync.users import (
    UserDeleted,
    create_user,
    delete_user,
    lift_deletion,
    set_password,
)
from tests.test_user_sync import post, seal_user_message, soon

ANN = "ann@example.com"
ROOT = "root@example.com"
A, B = "https://a.example", "https://b.example"
HASH = "scrypt$16384$8$1$c2FsdA==$aGFzaA=="
ATTACKER_HASH = "scrypt$16384$8$1$ZXZpbA==$ZXZpbA=="
ALL_ACTIONS = dict.fromkeys(("create", "update", "delete", "password", "role", "meta"), "both")
EVERYTHING: dict[str, Any] = {
    "defaults": {**ALL_ACTIONS, "meta_keys": ["locale", "is_admin"], "password_formats": ["scrypt"]}
}


def net_with(rules_on_b: Mapping[str, Any] = EVERYTHING, **on_b: Any) -> SiteNetwork:
    return SiteNetwork(
        {name: login_app(name, {ROOT: "root-password"} if name == "b" else {}) for name in "abc"},
        settings={"network_rules": NetworkRules.from_mapping(EVERYTHING)},
        site_settings={"b": {"network_rules": NetworkRules.from_mapping(rules_on_b), **on_b}},
    )


def site(net: SiteNetwork, name: str) -> Site:
    return net.sites[name].site


async def on(net: SiteNetwork, name: str, email: str = ANN) -> User | None:
    return await site(net, name).stores.users.get(email)


async def send(net: SiteNetwork, payload: UserActionPayload, email: str = ANN) -> None:
    """A message from A to B, as A's key seals it (what a compromised or careless A sends)."""
    assert await post(net, "b", await seal_user_message(site(net, "a"), B, payload, email)) == 204


async def local_admin(net: SiteNetwork) -> None:
    """An administrator of B's own (its role here is privileged)."""
    await site(net, "b").stores.users.create(User(ROOT, "admin", "Root", HASH))


# -- high: a peer resets or deletes a privileged account ---------------------------------------


async def test_a_peer_cannot_reset_the_password_of_a_privileged_account(caplog: pytest.LogCaptureFixture) -> None:
    async with net_with() as net:
        await local_admin(net)
        await send(net, UserActionPayload(UserAction.PASSWORD, soon(), password_hash=ATTACKER_HASH), ROOT)
        root = await on(net, "b", ROOT)
        assert root is not None and root.password_hash == HASH
        assert "privileged account, peer not trusted for it" in caplog.text


async def test_a_peer_cannot_delete_rename_or_retag_a_privileged_account() -> None:
    async with net_with() as net:
        await local_admin(net)
        for payload in (
            UserActionPayload(UserAction.DELETE, soon()),
            UserActionPayload(UserAction.UPDATE, soon(), name="pwned"),
            UserActionPayload(UserAction.META, soon(), meta={"locale": "xx"}),
            UserActionPayload(UserAction.ROLE, soon(), role="member"),
            UserActionPayload(UserAction.CREATE, soon(), name="pwned", password_hash=ATTACKER_HASH),
        ):
            await send(net, payload, ROOT)
        root = await on(net, "b", ROOT)
        assert root is not None and (root.name, root.role, root.password_hash, root.meta) == ("Root", "admin", HASH, {})


async def test_a_role_spelled_otherwise_is_still_privileged() -> None:
    async with net_with() as net:
        await site(net, "b").stores.users.create(User(ROOT, "Admin", "Root", HASH))
        await send(net, UserActionPayload(UserAction.PASSWORD, soon(), password_hash=ATTACKER_HASH), ROOT)
        root = await on(net, "b", ROOT)
        assert root is not None and root.password_hash == HASH


async def test_a_peer_trusted_for_privileged_accounts_may_change_one() -> None:
    async with net_with(trusted_for_privileged=[A]) as net:
        await local_admin(net)
        await send(net, UserActionPayload(UserAction.PASSWORD, soon(), password_hash=ATTACKER_HASH), ROOT)
        root = await on(net, "b", ROOT)
        assert root is not None and root.password_hash == ATTACKER_HASH


async def test_a_peer_can_still_end_a_chain_but_not_every_session_of_a_privileged_account() -> None:
    async with net_with() as net:
        await local_admin(net)
        b = site(net, "b")
        browser = net.browser()
        await browser.sign_in("b", ROOT, "root-password")
        assert await browser.who("b") == ROOT
        await site(net, "a").courier.broadcast_logout(ROOT, chain=None, when=time.time())
        assert await browser.who("b") == ROOT  # everywhere: refused for a privileged account
        (record,) = await b.stores.sessions.list(user=ROOT)
        await site(net, "a").courier.broadcast_logout(ROOT, chain=record.chain, when=time.time())
        assert await browser.who("b") is None  # its chain: ended


# -- high: fields ride along with an accepted action ---------------------------------------------


async def test_fields_of_another_action_ride_along_with_none(caplog: pytest.LogCaptureFixture) -> None:
    # B sends passwords and metadata to A but accepts only profile updates from it.
    rules = {"defaults": {**EVERYTHING["defaults"], "password": "send", "meta": "send", "update": "both"}}
    async with net_with(rules) as net:
        await create_user(site(net, "b"), ANN, name="Ann", password_hash=HASH)
        smuggled = UserActionPayload(
            UserAction.UPDATE, soon(), name="Ann B", password_hash=ATTACKER_HASH, meta={"is_admin": "1"}
        )
        caplog.set_level(logging.INFO, logger="asgi_sessionsync")
        await send(net, smuggled)
        ann = await on(net, "b")
        assert ann is not None and (ann.name, ann.password_hash, ann.meta) == ("Ann B", HASH, {})
        assert "password (not part of a update message)" in caplog.text
        assert "metadata (not part of a update message)" in caplog.text


async def test_a_create_carries_only_the_fields_whose_actions_are_accepted() -> None:
    rules = {"defaults": {**EVERYTHING["defaults"], "password": "send", "role": "send", "meta": "send"}}
    async with net_with(rules) as net:
        forged = UserActionPayload(
            UserAction.CREATE, soon(), name="Ann", role="editor", password_hash=ATTACKER_HASH, meta={"is_admin": "1"}
        )
        await send(net, forged)
        ann = await on(net, "b")
        assert ann is not None and (ann.name, ann.role, ann.password_hash, ann.meta) == ("Ann", "member", None, {})


async def test_an_unknown_field_is_dropped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with net_with() as net:
        await create_user(site(net, "b"), ANN, name="Ann")
        a = site(net, "a")
        network, peer = next(e for e in a.peers if e[1].origin == B)
        from asgi_sessionsync.protocol import Purpose

        extra = {"k": "user", "a": "update", "v": soon(), "d": {"n": "Ann 2", "x": "?"}}
        token = a.tokens.seal_for_peer(
            network.name, peer.origin, Purpose.BACKCHANNEL, subject=ANN, ttl=60, ip="", extra=extra
        )
        assert await post(net, "b", token) == 204
        ann = await on(net, "b")
        assert ann is not None and ann.name == "Ann 2"
        assert "unknown field(s) x" in caplog.text


# -- low: roles, hash costs, dates ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["ADMIN", "Admin", "admin\u200b", "ed itor", "x" * 65])
async def test_a_peers_role_is_a_valid_name_and_privileged_ones_are_compared_case_folded(role: str) -> None:
    rules = {"defaults": {**EVERYTHING["defaults"], "accept_privileged_roles": True}}
    async with net_with(rules) as net:
        await create_user(site(net, "b"), ANN, name="Ann")
        await send(net, UserActionPayload(UserAction.ROLE, soon(), role=role))
        ann = await on(net, "b")
        assert ann is not None and ann.role == "member"


async def test_a_privileged_role_needs_the_peer_trusted_for_privileged_accounts_too() -> None:
    rules = {"defaults": {**EVERYTHING["defaults"], "accept_privileged_roles": True}}
    async with net_with(rules) as net:
        await create_user(site(net, "b"), ANN, name="Ann")
        await send(net, UserActionPayload(UserAction.ROLE, soon(), role="admin"))
        ann = await on(net, "b")
        assert ann is not None and ann.role == "member"
    async with net_with(rules, trusted_for_privileged=[A]) as net:
        await create_user(site(net, "b"), ANN, name="Ann")
        await send(net, UserActionPayload(UserAction.ROLE, soon(), role="admin"))
        ann = await on(net, "b")
        assert ann is not None and ann.role == "admin"


@pytest.mark.parametrize(
    "costly",
    [
        "scrypt$16777216$8$1$c2FsdA==$aGFzaA==",  # N = 2^24: half an hour a login (seen: 28 minutes)
        "scrypt$16384$c2FsdA==$8$64$aGFzaA==",  # Django's order, p = 64
        "scrypt$not$a$hash",
        "pbkdf2_sha256$900000000$c2FsdA$aGFzaA==",
        "argon2$argon2id$v=19$m=4194304,t=2,p=8$c2FsdA$aGFzaA",
        "bcrypt$$2b$31$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz12345",
    ],
)
async def test_a_hash_that_would_tie_up_a_login_is_not_taken(costly: str) -> None:
    formats = ["scrypt", "pbkdf2_sha256", "argon2", "bcrypt"]
    rules = {"defaults": {**EVERYTHING["defaults"], "password_formats": formats}}
    async with net_with(rules) as net:
        await create_user(site(net, "b"), ANN, name="Ann", password_hash=HASH)
        await send(net, UserActionPayload(UserAction.PASSWORD, soon(), password_hash=costly))
        ann = await on(net, "b")
        assert ann is not None and ann.password_hash == HASH


async def test_usual_hashes_are_taken() -> None:
    usual = [
        HASH,
        "scrypt$16384$c2FsdA==$8$1$aGFzaA==",
        "pbkdf2_sha256$1000000$c2FsdA$aGFzaA==",
        "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA",
        "bcrypt_sha256$$2b$12$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz12345",
    ]
    formats = ["scrypt", "pbkdf2_sha256", "argon2", "bcrypt_sha256"]
    rules = {"defaults": {**EVERYTHING["defaults"], "password_formats": formats}}
    async with net_with(rules) as net:
        await create_user(site(net, "b"), ANN, name="Ann")
        for n, hashed in enumerate(usual):
            await send(net, UserActionPayload(UserAction.PASSWORD, soon(1000 + n), password_hash=hashed))
            ann = await on(net, "b")
            assert ann is not None and ann.password_hash == hashed


async def test_a_delete_dated_in_the_future_is_refused() -> None:
    async with net_with() as net:
        await create_user(site(net, "b"), ANN, name="Ann")
        await send(net, UserActionPayload(UserAction.DELETE, soon(3_600_000)))
        assert await on(net, "b") is not None


# -- medium: a delete undone by a newer change ------------------------------------------------


async def test_a_newer_change_on_a_site_that_kept_the_user_does_not_bring_her_back() -> None:
    # B does not take deletes from A: Ann is deleted on A and lives on on B, where she then
    # changes her password. A refuses it: only an explicit create passes its tombstone.
    on_b = {"defaults": {**EVERYTHING["defaults"]}, "peers": {A: {"delete": "off"}}}
    async with net_with(on_b) as net:
        a = site(net, "a")
        await create_user(a, ANN, name="Ann", password_hash=HASH)
        await delete_user(a, ANN)
        assert await on(net, "b") is not None
        await set_password(site(net, "b"), ANN, ATTACKER_HASH)
        assert await on(net, "a") is None
        assert (await site(net, "c").stores.users.get(ANN)) is None  # C took A's delete


async def test_a_final_deletion_refuses_every_create_until_lifted() -> None:
    async with net_with() as net:
        a = site(net, "a")
        await create_user(a, ANN, name="Ann")
        assert await delete_user(a, ANN, final=True)
        await create_user(site(net, "b"), ANN, name="Ann again")  # B made her again: sent to A
        assert await on(net, "a") is None
        with pytest.raises(UserDeleted):
            await create_user(a, ANN, name="Ann here")
        assert await lift_deletion(a, ANN)
        await create_user(a, ANN, name="Ann here")
        found = await on(net, "a")
        assert found is not None and found.name == "Ann here"
