"""A peer the browser cannot reach, in Chromium (issue #23): the servers see every peer
healthy, but this Chromium cannot resolve site A's name (``--host-resolver-rules``: a DNS
failure for the browser only, as a blocking proxy, a resolver or an ad-blocker would make
it). The first navigation to C, with no session there (a first-visit catch-up, which would
ask A first), ends on the page asked for, not on the browser's error page; the sign-in on
C leaves A out of its chain and signs the user in on B."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.constants import BOB
from tests.e2e.browser import screenshots, sign_in, who
from tests.e2e.harness import require_chromium, run_demo


def test_a_peer_out_of_the_browsers_reach_never_costs_the_user_their_page(
    open_browser: Callable[..., Any], tmp_path: Path
) -> None:
    require_chromium()
    with run_demo(tmp_path, mode="bounce") as demo:
        host_a = demo.hosts["a"]
        context = open_browser(third_party_cookies=False, args=[f"--host-resolver-rules=MAP {host_a} ~NOTFOUND"])
        page = context.new_page()
        failed: list[str] = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
        # The first navigation: C's catch-up asks A and B from the browser, leaves A out.
        answer = page.goto(demo.url("c", "/login"))
        page.wait_for_url(demo.url("c", "/login") + "*")
        page.wait_for_load_state("networkidle")
        assert answer is not None
        assert page.url.startswith(demo.url("c", "/login")), page.url
        assert page.locator("input[name=email]").count() == 1  # the page asked for, not an error page
        assert not [url for url in navigations if url.startswith("chrome-error:")], navigations
        assert [url for url in failed if url.startswith(demo.url("a", ""))]  # only the probe of A failed
        # The sign-in on C leaves A out of the chain (C remembers) and signs in on B.
        sign_in(page, demo, "c", *BOB, path="/account")
        assert page.url == demo.url("c", "/account")
        assert not [url for url in navigations if url.startswith(demo.url("a", ""))], navigations
        assert who(context, demo, "b") == BOB[0]
        screenshots(context, demo, "peer-out-of-the-browsers-reach")
