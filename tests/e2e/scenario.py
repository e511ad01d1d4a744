"""What a person does in the demo, for browsers driven over WebDriver or Marionette
(Firefox, WebKitGTK): one tab, top-level navigations only. ``browser.py`` has the same
steps as Playwright calls for Chromium."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

from tests.e2e.harness import NAMES, OUTPUT, Demo
from tests.harness.browsers import Tab


def who(tab: Tab, demo: Demo, site: str) -> str | None:
    """Open a site's home page (a top-level navigation, as typed); the signed-in email, or None."""
    tab.goto(demo.url(site))
    heading = tab.text("h1")
    match = re.fullmatch(r"Signed in as (.+)", heading)
    if match:
        return match.group(1)
    assert heading == "Not signed in", heading
    return None


def settle(tab: Tab, demo: Demo, expected: Mapping[str, str | None], timeout: float = 10.0) -> dict[str, str | None]:
    """The named sites' state once it matches ``expected``, or the last state seen at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        state = {n: who(tab, demo, n) for n in expected}
        if state == expected or time.monotonic() > deadline:
            return state
        time.sleep(0.3)


def sign_in(tab: Tab, demo: Demo, site: str, email: str, password: str, path: str = "/account") -> float:
    """Go to a page that needs a login, fill in the form, submit it, wait to land back on
    that page; the seconds from the submit to landing (the sign-in and its sync)."""
    tab.goto(demo.url(site, path))
    tab.fill("input[name=email]", email)
    tab.fill("input[name=password]", password)
    start = time.perf_counter()
    tab.click("button[type=submit]")
    tab.wait_for_url(demo.url(site, path))
    return time.perf_counter() - start


def sign_out(tab: Tab, demo: Demo, site: str, timeout: float = 15.0) -> None:
    tab.goto(demo.url(site))
    tab.click("form[action='/logout'] button")
    # The post lands back on the same URL: wait for the signed-out page itself, or the
    # next navigation may cut the post short.
    deadline = time.monotonic() + timeout
    while True:
        try:
            if tab.url == demo.url(site) and tab.text("h1") == "Not signed in":
                return
        except Exception:  # the page is being replaced  # noqa: S110
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"signing out on {site} did not land on a signed-out page")
        time.sleep(0.05)


def screenshots(tab: Tab, demo: Demo, scenario: str) -> None:
    """Save the final page of every site under test-output/e2e/."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        try:
            tab.goto(demo.url(name))
            tab.screenshot(OUTPUT / f"{scenario}-site-{name}.png")
        except Exception as error:  # a site that is down has nothing to show
            (OUTPUT / f"{scenario}-site-{name}.txt").write_text(f"not reachable: {type(error).__name__}\n")
