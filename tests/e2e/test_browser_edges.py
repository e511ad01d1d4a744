"""Edges in Chromium: a peer that is down during sign-in, and a browser without JavaScript."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.constants import ALICE
from tests.e2e.browser import screenshots, settle, sign_in, who
from tests.e2e.harness import require_chromium, run_demo


@pytest.mark.parametrize("mode", ["bounce", "frame", "auto"])
def test_peer_down_during_sign_in_is_left_out_and_the_user_never_sees_its_error_page(
    mode: str, open_browser: Callable[..., Any], tmp_path: Path
) -> None:
    """Decided behaviour: a peer that does not answer the health check (1 s at most,
    remembered for 3 s) is left out of the chain or frames; every other site is
    signed in and the user lands where they were going."""
    require_chromium()
    with run_demo(tmp_path, mode=mode, only="a,c") as demo:
        context = open_browser(third_party_cookies=True)
        page = context.new_page()
        visited: list[str] = []
        page.on("request", lambda request: visited.append(request.url))
        sign_in(page, demo, "a", *ALICE, path="/account")
        assert page.url == demo.url("a", "/account")
        assert not [url for url in visited if url.startswith(demo.url("b", ""))]
        assert who(context, demo, "a") == ALICE[0]
        expected = {"a": ALICE[0], "c": ALICE[0]}
        assert settle(context, demo, expected) == expected
        screenshots(context, demo, f"peer-down-{mode}")


def test_javascript_disabled_still_gets_bounce_sync_from_a_redirecting_sign_in(
    open_browser: Callable[..., Any], tmp_path: Path
) -> None:
    require_chromium()
    with run_demo(tmp_path, mode="bounce") as demo:
        context = open_browser(third_party_cookies=False, javascript=False)
        page = context.new_page()
        sign_in(page, demo, "a", *ALICE, path="/account")
        assert page.url == demo.url("a", "/account")
        everyone = dict.fromkeys("abc", ALICE[0])
        assert settle(context, demo, everyone) == everyone
        screenshots(context, demo, "no-javascript-bounce")
