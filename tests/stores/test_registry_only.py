"""A session store that implements only the request path runs (issue #21): the contract
is split by who uses it (``stores/session_store.py``); administration says it is missing."""

from __future__ import annotations

import dataclasses

import pytest

from asgi_sessionsync.exceptions import ConfigError, StoreError
from asgi_sessionsync.governance.policy import Policy
from asgi_sessionsync.stores import SessionRegistry, memory_stores
from asgi_sessionsync.stores.memory import MemorySessionRegistry
from asgi_sessionsync.stores.session_store import administers, without_administration
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app

ALICE = ("alice@example.com", "wonderland")
_REQUEST_PATH = ("create", "get", "touch", "end", "end_user", "end_chain_except", "find_by_app_ref", "active")


class RequestPathOnly:
    """A fourth backend: the request path of SessionRegistry, nothing else."""

    def __init__(self) -> None:
        self._inner = MemorySessionRegistry()
        for name in _REQUEST_PATH:
            setattr(self, name, getattr(self._inner, name))


async def test_a_registry_with_only_the_request_path_signs_in_and_out_everywhere() -> None:
    registry: SessionRegistry = RequestPathOnly()  # type: ignore[assignment]
    sessions = without_administration(registry)
    assert not administers(sessions) and administers(MemorySessionRegistry())
    stores = {"a": dataclasses.replace(memory_stores(), sessions=sessions), "b": memory_stores()}
    async with SiteNetwork({"a": login_app("a", dict([ALICE])), "b": login_app("b")}, stores=stores) as net:
        browser = net.browser()
        await browser.sign_in("a", *ALICE)
        assert await browser.everyone() == {"a": ALICE[0], "b": ALICE[0]}
        await browser.sign_out("b")
        assert await browser.everyone() == {"a": None, "b": None}
        with pytest.raises(StoreError, match="implements only the request path"):
            await sessions.list(user=ALICE[0])
        assert (await net.sites["a"].site.purge_history(0.0))["purged_sessions"] == 0


async def test_a_session_policy_needs_the_administration_and_says_so() -> None:
    policy = Policy.from_mapping({"defaults": {"max_sessions": 2}})
    stores = {"a": dataclasses.replace(memory_stores(), sessions=without_administration(MemorySessionRegistry()))}
    with pytest.raises(ConfigError, match="must implement SessionAdministration"):
        SiteNetwork({"a": login_app("a"), "b": login_app("b")}, stores=stores, settings={"policy": policy})
