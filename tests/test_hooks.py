"""Hooks for app code (#26): each event from the one home of its flow, told after the
fact, never breaking or holding a request. Three in-process sites (``tests.sites``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from asgi_sessionsync import ConfigError, Hooks
from asgi_sessionsync.governance.policy import Policy
from asgi_sessionsync.hooks import PeerUnreachable, SignedIn, SignedOut, SignInBlocked, UserChangeReceived
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from asgi_sessionsync.users import create_user, delete_user
from tests.constants import ALICE
from tests.sites import URLS, Browser, Sites

ANN = "ann@example.com"


def recorder(sites: Sites, event: str) -> dict[str, list[Any]]:
    """Every site's ``event``s, by site name, as its async hook receives them."""
    seen: dict[str, list[Any]] = {name: [] for name in sites[1]}
    for name, site in sites[1].items():

        async def hook(told: Any, name: str = name) -> None:
            seen[name].append(told)

        site.app.site.hooks.on(event, hook)
    return seen


async def until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Hooks run after the fact: wait (a bounded while) for what they were told."""
    with anyio.fail_after(seconds):
        while not check():  # noqa: ASYNC110 - what the hooks recorded: no event to wait on
            await anyio.sleep(0.01)


async def test_signed_in_says_how_on_every_site_and_signed_out_why(sites: Sites, browser: Browser) -> None:
    signed_in, signed_out = recorder(sites, "signed_in"), recorder(sites, "signed_out")
    await browser.sign_in("a", *ALICE)
    await until(lambda: all(signed_in.values()))
    alice = ALICE[0]
    # (the test kit's browsers send no User-Agent: ua-parser calls that device "other")
    other = "other/Other/Other/other"
    assert signed_in["a"] == [SignedIn(URLS["a"], alice, "login", None, "login", other)]
    for name in "bc":
        assert signed_in[name] == [SignedIn(URLS[name], alice, "hop", URLS["a"], f"hop from {URLS['a']}", other)]
    await browser.sign_out("b")
    await until(lambda: all(signed_out.values()))
    assert signed_out["b"] == [SignedOut(URLS["b"], alice, "signed out", 1)]
    for name in "ac":
        assert signed_out[name] == [SignedOut(URLS[name], alice, f"signed out on {URLS['b']}", 1, URLS["b"])]


async def test_a_peer_that_was_down_signs_in_by_catch_up_and_is_said_unreachable(
    sites: Sites, browser: Browser
) -> None:
    network, _ = sites
    signed_in, unreachable = recorder(sites, "signed_in"), recorder(sites, "peer_unreachable")
    network.down.add("c")
    await browser.sign_in("a", *ALICE)
    await until(lambda: bool(unreachable["a"]) and bool(signed_in["b"]))
    (told,) = unreachable["a"]
    assert isinstance(told, PeerUnreachable) and told.peer == URLS["c"] and told.site == URLS["a"]
    network.down.discard("c")
    assert await browser.who("c") == ALICE[0]  # its first-visit catch-up asks A
    await until(lambda: bool(signed_in["c"]))
    assert [(e.how, e.peer) for e in signed_in["c"]] == [("catch-up", URLS["a"])]
    assert [e.how for e in signed_in["b"]] == ["hop"]


async def test_a_hook_that_fails_is_logged_once_and_the_requests_go_on(
    sites: Sites, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def broken(event: SignedIn) -> None:  # a plain one: it runs in a worker thread
        calls.append(threading.current_thread().name)
        raise RuntimeError("the app's bug")

    sites[1]["a"].app.site.hooks.on("signed_in", broken)
    caplog.set_level(logging.ERROR, "asgi_sessionsync.hooks")
    for _ in range(2):
        await browser.sign_in("a", *ALICE)
        assert await browser.who("a") == ALICE[0]
        await browser.sign_out("a")
    await until(lambda: len(calls) == 2)
    assert threading.main_thread().name not in calls
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 1 and "broken" in failures[0].getMessage() and failures[0].exc_info is not None


async def test_a_slow_hook_never_holds_the_request(sites: Sites, browser: Browser) -> None:
    """With the site's worker running (as under lifespan), an async hook that takes 3 s
    leaves the sign-in as fast as without it."""
    done = anyio.Event()

    async def slow(event: SignedIn) -> None:
        await anyio.sleep(3)
        done.set()

    site = sites[1]["a"].app.site
    site.hooks.on("signed_in", slow)
    async with anyio.create_task_group() as group:
        group.start_soon(site.hooks.run)
        await anyio.lowlevel.checkpoint()
        started = time.perf_counter()
        await browser.sign_in("a", *ALICE)
        took = time.perf_counter() - started
        assert took < 2.0, took
        assert not done.is_set()
        with anyio.fail_after(5):
            await done.wait()
        group.cancel_scope.cancel()


@pytest.fixture
async def policy_sites() -> AsyncIterator[SiteNetwork]:
    from tests.sites import three_sites

    async with three_sites(policy=Policy.from_mapping({"defaults": {"block_ips": ["192.0.2.0/24"]}})) as net:
        yield net


async def test_a_sign_in_the_policy_blocks_is_told(policy_sites: SiteNetwork) -> None:
    blocked: list[SignInBlocked] = []

    async def hook(event: SignInBlocked) -> None:
        blocked.append(event)

    policy_sites.sites["a"].site.hooks.on("sign_in_blocked", hook)
    response = await policy_sites.browser("192.0.2.9").sign_in("a", *ALICE)
    assert response.status_code == 403
    await until(lambda: bool(blocked))
    assert blocked == [SignInBlocked(URLS["a"], ALICE[0], "ip_blocked", "login", None)]


async def test_a_peers_user_change_is_told_applied_or_refused() -> None:
    rules = {"defaults": {"create": "both", "delete": "send"}}
    apps = {name: login_app(name, {}) for name in "ab"}
    async with SiteNetwork(apps, settings={"network_rules": NetworkRules.from_mapping(rules)}) as net:
        a, b = net.sites["a"].site, net.sites["b"].site
        changes: list[UserChangeReceived] = []
        b.hooks.on("user_change", changes.append)  # a plain callable (a list's append) will do
        await create_user(a, ANN, name="Ann")
        await delete_user(a, ANN)
        await until(lambda: len(changes) == 2)
        created, deleted = sorted(changes, key=lambda c: c.action)
        assert (created.action, created.outcome, created.refused, created.peer) == (
            "create",
            "applied",
            False,
            a.origin,
        )
        assert (deleted.action, deleted.refused) == ("delete", True)
        assert deleted.outcome == "refused: delete is not accepted from this peer"


def test_an_unknown_event_or_a_hook_that_is_not_callable_is_a_configuration_error() -> None:
    hooks = Hooks()
    with pytest.raises(ConfigError, match="no event 'signed_on'"):
        hooks.on("signed_on", print)
    with pytest.raises(ConfigError, match="must be callable"):
        hooks.on("signed_in", "print")  # type: ignore[call-overload]

    @hooks.on("signed_out")
    def decorated(event: SignedOut) -> None: ...

    assert bool(hooks) and decorated.__name__ == "decorated"
