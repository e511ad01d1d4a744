"""A delete that loses a race against an update (issue #23): A deletes a user and ends
their sessions while B, not having heard yet, updates the same user with a newer version.
The update wins the merge (the user exists again on B, and on C when B's update reaches it
first), as documented; the delete's sign-out does not lose: the sessions it ended end on
every site, and no catch-up brings one back."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.site import Site
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from asgi_sessionsync.users import delete_user, update_user

ALICE = ("alice@example.com", "wonderland")
EVERYTHING = NetworkRules.from_mapping(
    {
        "defaults": {
            **dict.fromkeys(("create", "update", "delete", "password", "role", "meta"), "both"),
            "password_formats": ["scrypt"],
        }
    }
)


@pytest.fixture(params=["memory", "sqlite"])
async def net(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SiteNetwork]:
    apps = {name: login_app(name, dict([ALICE]) if name == "a" else {}) for name in "abc"}
    data_dir = tmp_path if request.param == "sqlite" else None
    async with SiteNetwork(apps, settings={"network_rules": EVERYTHING}, data_dir=data_dir) as network:
        yield network


def site(net: SiteNetwork, name: str) -> Site:
    return net.sites[name].site


async def deliver_everything(net: SiteNetwork) -> None:
    """Every site's outbox, delivered now (as its worker would, a little later)."""
    for name in "abc":
        courier = site(net, name).courier
        for peer in (s.site.origin for s in net.sites.values()):
            await site(net, name).stores.outbox.retry_now(peer, time.time())
        while await courier.deliver_due():
            pass


async def test_a_delete_that_loses_to_a_newer_update_still_signs_the_user_out_everywhere(net: SiteNetwork) -> None:
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    assert await browser.everyone() == dict.fromkeys("abc", ALICE[0])
    # A deletes alice while B and C cannot hear it; B then changes her name (a newer
    # version than A's delete) and C hears of that first.
    net.network.down.update({"b", "c"})
    assert await delete_user(site(net, "a"), ALICE[0])
    net.network.down.discard("c")
    await update_user(site(net, "b"), ALICE[0], name="Alice, changed on B")
    net.network.down.clear()
    await deliver_everything(net)
    # The update won the merge where it arrived first: alice exists on B and C ...
    for name in "bc":
        found = await site(net, name).stores.users.get(ALICE[0])
        assert found is not None and found.name == "Alice, changed on B", name
    assert await site(net, "a").stores.users.get(ALICE[0]) is None
    # ... but the sessions the delete ended are ended everywhere, and no catch-up (the
    # browser's visits are navigations) signs her in again from a peer that had not heard.
    assert await browser.everyone() == dict.fromkeys("abc")
    for name in "bc":
        assert not await site(net, name).stores.sessions.search(user=ALICE[0], active=True), name
    # She can sign in again where she exists, with a new sign-in.
    assert not await site(net, "b").stores.outbox.pending()


async def test_a_delete_that_wins_still_ends_the_sessions_once(net: SiteNetwork) -> None:
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    assert await delete_user(site(net, "a"), ALICE[0])
    await deliver_everything(net)
    assert await browser.everyone() == dict.fromkeys("abc")
    for name in "bc":
        assert await site(net, name).stores.users.get(ALICE[0]) is None
        assert await site(net, name).stores.users.tombstone(ALICE[0]) is not None
