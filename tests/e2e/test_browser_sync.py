"""Shared login in Chromium: every scenario in bounce, frame and auto mode, with
third-party cookies allowed and blocked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.constants import ALICE, BOB
from tests.e2e.browser import screenshots, settle, sign_in, sign_out
from tests.e2e.harness import Demo

EVERYONE_OUT = dict.fromkeys("abc")


def syncs(demo: Demo, third_party: bool) -> bool:
    """Every mode syncs, since protocol v2. Frame mode alone depends on third-party
    cookies for its frames; where they are blocked, the frames report failure and the
    first top-level visit to B or C catches up (a pull from A) instead."""
    return True


def label(demo: Demo, third_party: bool, scenario: str) -> str:
    return f"{scenario}-{demo.mode}-{'3p-allowed' if third_party else '3p-blocked'}"  # type: ignore[attr-defined]


@pytest.mark.parametrize("third_party", [True, False], ids=["3p-allowed", "3p-blocked"])
def test_sign_in_on_a_signs_in_b_and_c_and_ends_on_the_page_asked_for(
    demo: Demo, open_browser: Callable[..., Any], third_party: bool
) -> None:
    context = open_browser(third_party_cookies=third_party)
    page = context.new_page()
    before = {s.sid for s in demo.sessions("b", ALICE[0])}  # (the demo serves every test of a mode)
    sign_in(page, demo, "a", *ALICE, path="/account")
    assert page.url == demo.url("a", "/account")
    assert page.locator("h1").inner_text() == "Account of alice@example.com"
    expected = dict.fromkeys("abc", ALICE[0]) if syncs(demo, third_party) else {"a": ALICE[0], "b": None, "c": None}
    assert settle(context, demo, expected) == expected
    # How B was signed in: by its frame where the frame's storage check passes (Chromium
    # with third-party cookies allowed: document.hasStorageAccess() is true), else by the
    # bounce (auto mode after the frames failed) or by the first visit's catch-up.
    [session] = [s for s in demo.sessions("b", ALICE[0]) if s.ended_at is None and s.sid not in before]
    how = "frame" if demo.mode != "bounce" and third_party else "hop"  # type: ignore[attr-defined]
    assert session.via.startswith(f"{how} from "), session
    screenshots(context, demo, label(demo, third_party, "sign-in-on-a"))


@pytest.mark.parametrize("third_party", [True, False], ids=["3p-allowed", "3p-blocked"])
def test_sign_out_on_b_signs_out_a_and_c_on_the_next_load(
    demo: Demo, open_browser: Callable[..., Any], third_party: bool
) -> None:
    context = open_browser(third_party_cookies=third_party)
    page = context.new_page()
    sign_in(page, demo, "a", *ALICE)
    if syncs(demo, third_party):
        assert settle(context, demo, dict.fromkeys("abc", ALICE[0])) == dict.fromkeys("abc", ALICE[0])
        where = "b"
    else:
        where = "a"  # frames could not sign B in; sign-out still works from where the user is
    sign_out(page, demo, where)
    assert settle(context, demo, EVERYONE_OUT, timeout=3) == EVERYONE_OUT
    screenshots(context, demo, label(demo, third_party, f"sign-out-on-{where}"))


@pytest.mark.parametrize("third_party", [True, False], ids=["3p-allowed", "3p-blocked"])
def test_user_only_on_c_signs_in_on_c_and_b_and_a_auto_provision(
    demo: Demo, open_browser: Callable[..., Any], third_party: bool
) -> None:
    context = open_browser(third_party_cookies=third_party)
    page = context.new_page()
    sign_in(page, demo, "c", *BOB)
    expected = dict.fromkeys("abc", BOB[0]) if syncs(demo, third_party) else {"a": None, "b": None, "c": BOB[0]}
    assert settle(context, demo, expected) == expected
    screenshots(context, demo, label(demo, third_party, "sign-in-on-c"))
