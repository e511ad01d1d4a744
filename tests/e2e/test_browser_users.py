"""User sync in Chromium (issue #14): a user that sign-in sync provisioned on a peer
arrives there with its password hash, so it can sign in there directly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.constants import ALICE
from tests.e2e.browser import screenshots, settle, sign_in, sign_out
from tests.e2e.harness import Demo, require_chromium, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    require_chromium()
    # The demo's own network file turns every user action on (demo/network.toml).
    with run_demo(tmp_path_factory.mktemp("demo-users"), mode="bounce") as running:
        yield running


def test_a_user_provisioned_on_b_by_sign_in_sync_signs_in_there_directly_with_its_password(
    demo: Demo, open_browser: Callable[..., Any]
) -> None:
    assert demo.data_dir is not None
    context = open_browser(third_party_cookies=False)
    page = context.new_page()
    sign_in(page, demo, "a", *ALICE)
    assert settle(context, demo, dict.fromkeys("abc", ALICE[0])) == dict.fromkeys("abc", ALICE[0])
    sign_out(page, demo, "a")
    assert settle(context, demo, dict.fromkeys("abc"), timeout=3) == dict.fromkeys("abc")

    # B has no accounts of its own: alice is there because sign-in sync provisioned her,
    # with the scrypt hash A sent over the back-channel.
    fresh = open_browser(third_party_cookies=False).new_page()
    sign_in(fresh, demo, "b", *ALICE, path="/account")
    assert fresh.url == demo.url("b", "/account")
    assert fresh.locator("h1").inner_text() == "Account of alice@example.com"
    assert [s.via for s in demo.sessions("b", ALICE[0])][-1] == "login"  # B's own sign-in, not a hop
    screenshots(fresh.context, demo, "user-sync-direct-sign-in-on-b")

    # A wrong password is still wrong there.
    other = open_browser(third_party_cookies=False).new_page()
    other.goto(demo.url("b", "/login"))
    other.fill("input[name=email]", ALICE[0])
    other.fill("input[name=password]", "not-the-password")
    other.click("button[type=submit]")
    assert "Wrong email or password" in other.content()
