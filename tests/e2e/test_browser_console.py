"""The operator's console and each user's own page in Chromium (#25), against the demo:
alice@example.com is an administrator of site A (the demo's ``console_admit``).

- a user ends their own session on another device (a second browser) from their page,
  and that device is signed out on every site (the page's browser runs no JavaScript);
- an administrator ends another browser's session from the console, and that browser is
  signed out on every site;
- refused: a user who is not privileged on A, a session that a peer made (alice signed
  in on B, arriving on A by sync), a POST from another origin (even carrying the real
  token), and the console framed by another site.

Screenshots of every page go to ``test-output/console/`` (the README's picture is one).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.constants import ALICE, BOB
from tests.e2e.attacker import EvilSite, evil_site
from tests.e2e.browser import settle, sign_in, who
from tests.e2e.harness import ROOT, Demo, require_chromium, run_demo

SHOTS = ROOT / "test-output" / "console"
CONSOLE = "/_sessionsync/console/"
ACCOUNT = "/_sessionsync/account"
EVERYONE_OUT: dict[str, str | None] = dict.fromkeys("abc")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    require_chromium()
    with run_demo(tmp_path_factory.mktemp("demo-console"), mode="bounce") as running:
        yield running


@pytest.fixture
def evil() -> Iterator[EvilSite]:
    with evil_site() as site:
        yield site


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def active(demo: Demo, site: str, user: str) -> list[str]:
    return [s.sid for s in demo.sessions(site, user) if s.ended_at is None]


def test_a_user_ends_their_session_on_another_device_from_their_page(
    demo: Demo, open_browser: Callable[..., Any]
) -> None:
    phone = open_browser(third_party_cookies=False)
    sign_in(phone.new_page(), demo, "a", *ALICE)
    everyone_alice = dict.fromkeys("abc", ALICE[0])
    assert settle(phone, demo, everyone_alice) == everyone_alice
    laptop = open_browser(third_party_cookies=False, javascript=False)  # the pages need no script
    page = laptop.new_page()
    sign_in(page, demo, "a", *ALICE)
    assert settle(laptop, demo, everyone_alice) == everyone_alice

    page.goto(demo.url("b", ACCOUNT))  # the page of any site of the network shows them
    assert page.locator("h1").inner_text() == "Your sessions"
    assert page.locator("text=this browser").count() == 1
    shot(page, "account-before")
    ends = page.locator("form[action$='/end'] button")
    assert ends.count() >= 1
    with page.expect_navigation():
        ends.first.click()
    assert "Session ended here" in page.locator("body").inner_text()
    shot(page, "account-after")
    assert settle(phone, demo, EVERYONE_OUT) == EVERYONE_OUT
    assert who(laptop, demo, "a") == ALICE[0]


def test_an_administrator_ends_another_browsers_session_from_the_console(
    demo: Demo, open_browser: Callable[..., Any]
) -> None:
    victim = open_browser(third_party_cookies=False)
    sign_in(victim.new_page(), demo, "c", *BOB)
    everyone_bob = dict.fromkeys("abc", BOB[0])
    assert settle(victim, demo, everyone_bob) == everyone_bob

    admin = open_browser(third_party_cookies=False, javascript=False)
    page = admin.new_page()
    sign_in(page, demo, "a", *ALICE)
    page.goto(demo.url("a", CONSOLE))
    assert page.url == demo.url("a", CONSOLE + "sessions")
    assert page.locator("h1").inner_text() == "Sessions"
    shot(page, "sessions")
    page.fill("input[name=user]", BOB[0])
    page.select_option("select[name=state]", "active")
    with page.expect_navigation():
        page.click("text=Search")
    rows = page.locator("tbody tr")
    assert rows.count() == 1 and BOB[0] in rows.first.inner_text()
    shot(page, "sessions-search")
    with page.expect_navigation():
        rows.first.locator("button", has_text="End").click()
    assert "Session ended here" in page.locator("body").inner_text()
    assert settle(victim, demo, EVERYONE_OUT) == EVERYONE_OUT
    assert not active(demo, "a", BOB[0]) and not active(demo, "b", BOB[0]) and not active(demo, "c", BOB[0])
    assert who(admin, demo, "a") == ALICE[0]

    # Every page, looked at: and each one's pictures saved.
    page.goto(demo.url("a", CONSOLE + f"sessions?user={BOB[0]}"))
    with page.expect_navigation():
        page.locator("tbody tr a", has_text="…").first.click()
    assert page.locator("h1").inner_text() == "Session" and "ended by administrator" in page.content()
    shot(page, "session-history")
    for path, heading in (
        ("users", "Users"),
        (f"users/view?email={ALICE[0]}", f"User {ALICE[0]}"),
        ("network", "Network"),
        ("analytics", "Analytics"),
        ("activity", "Activity log"),
        ("policy", "Policy"),
    ):
        page.goto(demo.url("a", CONSOLE + path))
        assert page.locator("h1").inner_text() == heading, path
        shot(page, re.sub(r"[^a-z]+", "-", path.split("?")[0]) + ("-alice" if "email" in path else ""))
    network = page.goto(demo.url("a", CONSOLE + "network"))
    assert network is not None and network.status == 200
    assert page.locator("text=all good").count() == 2  # B and C: peers check's verdict
    activity = page.goto(demo.url("a", CONSOLE + "activity?kind=console"))
    assert activity is not None and "console.end-session" in page.content()


def test_refused_a_user_not_privileged_here_and_a_session_a_peer_made(
    demo: Demo, open_browser: Callable[..., Any]
) -> None:
    # bob signs in on C; his session on A came from C by sync: refused there.
    first = open_browser(third_party_cookies=False)
    sign_in(first.new_page(), demo, "c", *BOB)
    assert settle(first, demo, dict.fromkeys("abc", BOB[0]))["a"] == BOB[0]
    page = first.new_page()
    answer = page.goto(demo.url("a", CONSOLE + "sessions"))
    assert answer is not None and answer.status == 403
    assert "not trusted for privileged sign-ins" in page.content()

    # alice signs in on A once, so that B has her with her password (demo/network.toml).
    once = open_browser(third_party_cookies=False)
    sign_in(once.new_page(), demo, "a", *ALICE)
    assert settle(once, demo, {"b": ALICE[0]}) == {"b": ALICE[0]}
    # In another browser she signs in on B itself: not an administrator of B, refused there;
    # and her session on A, which B made, is refused by A although she administers A.
    elsewhere = open_browser(third_party_cookies=False)
    on_b = elsewhere.new_page()
    sign_in(on_b, demo, "b", *ALICE)
    answer = on_b.goto(demo.url("b", CONSOLE + "sessions"))
    assert answer is not None and answer.status == 403
    assert "may not open" in on_b.content()
    shot(on_b, "refused-not-privileged")
    assert settle(elsewhere, demo, {"a": ALICE[0]}) == {"a": ALICE[0]}
    answer = on_b.goto(demo.url("a", CONSOLE + "sessions"))
    assert answer is not None and answer.status == 403
    assert "not trusted for privileged sign-ins" in on_b.content()
    assert demo.url("b", "").rstrip("/") in on_b.content()
    shot(on_b, "refused-peer-made")


def test_refused_a_cross_site_post_and_a_framed_console(
    demo: Demo, open_browser: Callable[..., Any], evil: EvilSite
) -> None:
    target = open_browser(third_party_cookies=False)
    sign_in(target.new_page(), demo, "c", *BOB)
    assert settle(target, demo, dict.fromkeys("abc", BOB[0]))["a"] == BOB[0]
    bob_sid = active(demo, "a", BOB[0])[0]

    admin = open_browser(third_party_cookies=True)
    page = admin.new_page()
    sign_in(page, demo, "a", *ALICE)
    page.goto(demo.url("a", CONSOLE + "sessions"))
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    assert token
    # The attacker's page posts the console's form, with the real token (the worst case: it leaked).
    evil.pages["/post"] = f"""<h1>Loading</h1>
<form id="f" method="post" action="{demo.url("a", CONSOLE + "sessions/end")}">
<input name="sid" value="{bob_sid}"><input name="csrf" value="{token}"></form>
<script>document.getElementById("f").submit()</script>"""
    attack = admin.new_page()
    with attack.expect_response(lambda r: r.url.endswith("/sessions/end") and r.request.method == "POST") as posted:
        attack.goto(evil.url("/post"))
    attack.wait_for_load_state("load")
    assert posted.value.status in (401, 403)
    shot(attack, "refused-cross-site-post")
    time.sleep(0.5)
    assert bob_sid in active(demo, "a", BOB[0])
    assert who(target, demo, "a") == BOB[0]

    # Framed by another site: Chromium shows nothing of it (X-Frame-Options, frame-ancestors).
    evil.pages["/frame"] = (
        f'<h1>Framed</h1><iframe src="{demo.url("a", CONSOLE + "sessions")}" width="900" height="400"></iframe>'
    )
    framed = admin.new_page()
    with framed.expect_response(lambda r: "/_sessionsync/console/sessions" in r.url) as loaded:
        framed.goto(evil.url("/frame"))
    framed.wait_for_load_state("load")
    time.sleep(0.5)
    assert loaded.value.headers["x-frame-options"] == "DENY"
    child = [f for f in framed.frames if f != framed.main_frame]
    assert len(child) == 1
    shown = (
        child[0].evaluate("document.body ? document.body.innerText : ''")
        if not child[0].url.startswith("chrome-error")
        else ""
    )
    assert "Sessions" not in shown and BOB[0] not in shown
    shot(framed, "refused-framed")
