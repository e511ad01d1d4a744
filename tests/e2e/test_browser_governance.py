"""The session policy in Chromium (issue #13): one session per user, and the two actions
on the limit a person sees, ``block`` and ``end-oldest``, across the demo's three sites.

The demo reads the policy from ``SESSIONSYNC_POLICY_FILE`` as a deployment would. Two
Chromium instances (each its own profile: two devices of one person) sign in one after
the other. Alice's account is on site A (the middleware's own login), Bob's on site C (a
plain ``request.session`` app whose own login the middleware must undo when it blocks).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.constants import ALICE, BOB
from tests.e2e.browser import screenshots, settle
from tests.e2e.browser import sign_in as sign_in_and_land
from tests.e2e.harness import Demo, require_chromium, run_demo

EVERYONE_OUT = dict.fromkeys("abc")
POLICY = """\
[defaults]
max_sessions = 1
on_limit = "{on_limit}"
"""
# (account, the site whose own login form it signs in with)
ACCOUNTS = [pytest.param(ALICE, "a", id="alice-on-a"), pytest.param(BOB, "c", id="bob-on-c")]


@pytest.fixture(scope="module")
def governed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Demo]]:
    """The demo with a policy of one session per user and ``on_limit``: started on first
    use, one demo per action, for the whole module."""
    require_chromium()
    running: dict[str, Demo] = {}
    with ExitStack() as stack:

        def start(on_limit: str) -> Demo:
            if on_limit not in running:
                tmp = tmp_path_factory.mktemp(f"governed-{on_limit}")
                policy = tmp / "sessions.toml"
                policy.write_text(POLICY.format(on_limit=on_limit))
                running[on_limit] = stack.enter_context(
                    run_demo(tmp, mode="bounce", settings={"SESSIONSYNC_POLICY_FILE": str(policy)})
                )
            return running[on_limit]

        yield start


def submit_login(page: Any, demo: Demo, site: str, email: str, password: str) -> Any:
    """Open /account, get sent to the form, fill it in, submit; the response of the post."""
    page.goto(demo.url(site, "/account"))
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_response(lambda r: r.request.method == "POST" and r.url == demo.url(site, "/login")) as posted:
        page.click("button[type=submit]")
    page.wait_for_load_state("load")
    return posted.value


@pytest.mark.parametrize(("account", "site"), ACCOUNTS)
def test_block_shows_the_refusal_page_and_the_second_device_is_signed_in_nowhere(
    governed: Callable[[str], Demo], open_browser: Callable[..., Any], account: tuple[str, str], site: str
) -> None:
    demo = governed("block")
    email = account[0]
    everywhere = dict.fromkeys("abc", email)
    laptop = open_browser(third_party_cookies=True)
    sign_in_and_land(laptop.new_page(), demo, site, *account)
    assert settle(laptop, demo, everywhere) == everywhere

    phone = open_browser(third_party_cookies=True)
    page = phone.new_page()
    answer = submit_login(page, demo, site, *account)
    assert answer.status == 403
    assert page.url == demo.url(site, "/login")  # the app's redirect to /account never went out
    assert page.locator("h1").first.inner_text() == "Sign-in refused"
    assert "signed in on too many devices at once" in page.locator("body").inner_text()
    assert "You have not been signed in" in page.locator("body").inner_text()
    cookies = {c["name"] for c in phone.cookies()}
    assert "sessionsync" not in cookies and "session" not in cookies  # the app's own login (site C) undone too
    assert settle(phone, demo, EVERYONE_OUT, timeout=3) == EVERYONE_OUT
    screenshots(phone, demo, f"governance-block-{site}-second-device")

    assert settle(laptop, demo, everywhere) == everywhere  # the first device keeps its session
    rows = demo.sessions(site, email)
    assert [r.end_reason for r in rows if r.ended_at is not None] == ["blocked: max_sessions"]
    assert len([r for r in rows if r.ended_at is None]) == 1


@pytest.mark.parametrize(("account", "site"), ACCOUNTS)
def test_end_oldest_signs_the_first_device_out_everywhere_and_the_second_in_everywhere(
    governed: Callable[[str], Demo], open_browser: Callable[..., Any], account: tuple[str, str], site: str
) -> None:
    demo = governed("end-oldest")
    email = account[0]
    everywhere = dict.fromkeys("abc", email)
    laptop = open_browser(third_party_cookies=True)
    sign_in_and_land(laptop.new_page(), demo, site, *account)
    assert settle(laptop, demo, everywhere) == everywhere
    first_chain = {r.chain for r in demo.sessions(site, email)}

    phone = open_browser(third_party_cookies=True)
    page = phone.new_page()
    sign_in_and_land(page, demo, site, *account)
    assert re.fullmatch(rf"Account of {re.escape(email)}", page.locator("h1").first.inner_text())
    assert settle(phone, demo, everywhere) == everywhere
    screenshots(phone, demo, f"governance-end-oldest-{site}-second-device")

    assert settle(laptop, demo, EVERYONE_OUT, timeout=3) == EVERYONE_OUT  # a reload anywhere: not signed in
    screenshots(laptop, demo, f"governance-end-oldest-{site}-first-device")
    for name in "abc":
        ended = {r.end_reason for r in demo.sessions(name, email) if r.chain in first_chain}
        assert ended and all(reason and reason.startswith("limit: max_sessions") for reason in ended), (name, ended)
        assert len([r for r in demo.sessions(name, email) if r.ended_at is None]) == 1
