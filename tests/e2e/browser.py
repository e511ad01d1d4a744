"""What a person does in the demo, as Playwright steps."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from tests.e2e.harness import NAMES, OUTPUT, Demo


def who(context: Any, demo: Demo, site: str) -> str | None:
    """Open a site's home page in a new tab; the signed-in email, or None."""
    return who_at(context, demo.url(site))


def who_at(context: Any, url: str) -> str | None:
    """Open ``url`` (a page whose heading says who is signed in) in a new tab; the
    signed-in email, or None."""
    page = context.new_page()
    try:
        page.goto(url)
        heading = str(page.locator("h1").first.inner_text())
    finally:
        page.close()
    match = re.fullmatch(r"Signed in as (.+)", heading)
    if match:
        return match.group(1)
    assert heading == "Not signed in", heading
    return None


def settle(
    context: Any, demo: Demo, expected: Mapping[str, str | None], timeout: float = 10.0
) -> dict[str, str | None]:
    """The named sites' state once it matches ``expected``, or the last state seen at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        state = {n: who(context, demo, n) for n in expected}
        if state == expected or time.monotonic() > deadline:
            return state
        time.sleep(0.3)


def sign_in(page: Any, demo: Demo, site: str, email: str, password: str, path: str = "/account") -> None:
    """Go to a page that needs a login, get sent to the form, fill it in, submit it."""
    page.goto(demo.url(site, path))
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation(url=re.compile(re.escape(demo.url(site, path)) + "$")):
        page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def sign_out(page: Any, demo: Demo, site: str) -> None:
    page.goto(demo.url(site))
    with page.expect_navigation():
        page.click("text=Sign out")


def screenshots(context: Any, demo: Demo, scenario: str) -> None:
    """Save the final page of every site under test-output/e2e/."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        page = context.new_page()
        try:
            page.goto(demo.url(name))
            page.screenshot(path=str(OUTPUT / f"{scenario}-site-{name}.png"))
        except Exception as error:  # a site that is down has nothing to show
            (OUTPUT / f"{scenario}-site-{name}.txt").write_text(f"not reachable: {type(error).__name__}\n")
        finally:
            page.close()
