"""Attacks on shared login in Chromium, against the demo (docs/security.md; issue #9).

An attacker has a site on another origin (``http://evil.localhost:<port>``, a Starlette
app in a thread) and a browser of their own at the same address as the victim (both at
127.0.0.1). Each scenario failed on protocol v1 (commit 30e695f) and must pass now:

- a sign-in URL captured in the attacker's browser and opened in the victim's never
  signs the victim in as the attacker, nor replaces who the victim is;
- an ``<img>`` (or ``fetch()``) of a peer from another site cannot make that peer end
  and re-adopt its login outside the synced chain, so sign-out still reaches it; nor,
  when the peer's own login cookie is ``SameSite=None`` too, sign it in anew there (issue
  #20; failed before that fix);
- a login form posted from another site signs the victim in nowhere (the demo's CSRF
  check answers 403) and, for an app that accepts it anyway, stays on that one site.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.constants import ALICE, BOB
from tests.e2e.attacker import EvilSite, capturing_proxy, evil_site
from tests.e2e.browser import screenshots, settle, sign_in, sign_out, who
from tests.e2e.harness import OUTPUT, Demo, require_chromium, run_demo

EVERYONE_OUT: dict[str, str | None] = dict.fromkeys("abc")


@pytest.fixture
def evil() -> Iterator[EvilSite]:
    with evil_site() as site:
        yield site


def mode_of(demo: Demo) -> str:
    return str(demo.mode)  # type: ignore[attr-defined]


def label(demo: Demo, scenario: str, third_party: bool = True) -> str:
    return f"attack-{scenario}-{mode_of(demo)}-{'3p-allowed' if third_party else '3p-blocked'}"


def state(context: Any, demo: Demo) -> dict[str, str | None]:
    """Who is signed in on each site now (one look, no waiting for it to change)."""
    return {name: who(context, demo, name) for name in "abc"}


def settled_page(page: Any) -> None:
    """Let a page finish what it started (frames, auto mode's bounce); never fail on it."""
    with contextlib.suppress(Exception):  # a page that keeps a connection open: look at it as it is
        page.wait_for_load_state("networkidle", timeout=8000)


# -- A sign-in captured in one browser, opened in another at the same address ------------


@contextmanager
def alices_captured_sign_in(
    open_browser: Callable[..., Any], demo: Demo, third_party: bool, shot: str
) -> Iterator[tuple[list[str], str, Any]]:
    """The attacker signs in as alice on A in their own browser, through a proxy that keeps
    the first sign-in step meant for B from reaching B. Yields every /_sessionsync/ URL
    of the chain in order, the step kept, and the attacker's browser (open until the end
    of the block)."""
    with capturing_proxy(demo.url("b", "")) as proxy:
        attacker = open_browser(third_party_cookies=third_party, proxy=proxy.server)
        page = attacker.new_page()
        page.goto(demo.url("a", "/login?next=/account"))
        page.fill("input[name=email]", ALICE[0])
        page.fill("input[name=password]", ALICE[1])
        page.click("button[type=submit]")
        if mode_of(demo) == "frame" and not third_party:
            # With third-party cookies blocked the frames' storage check stops them before
            # any step: B learns of the sign-in at the browser's first visit, and that
            # catch-up (B's request, A's authorize, B's hop) is the chain to capture.
            page.wait_for_url(demo.url("a", "/account"))
            page.goto(demo.url("b", "/"))
        captured = proxy.wait_for_capture()
        assert proxy.stopped is not None
        OUTPUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUTPUT / f"{shot}-attacker.png"))
        try:
            yield captured, proxy.stopped, attacker
        finally:
            attacker.close()  # before its proxy goes


def open_captured(victim: Any, urls: list[str]) -> list[str]:
    """The victim's browser opens each captured URL (a link, a redirect from the
    attacker's page: a top-level navigation either way); the URLs whose page showed the
    victim as alice."""
    showed_alice = []
    for url in urls:
        page = victim.new_page()
        try:
            page.goto(url)
            if ALICE[0] in page.locator("body").inner_text():
                showed_alice.append(url)
        finally:
            page.close()
    return showed_alice


@pytest.mark.parametrize(
    ("demo", "third_party"),
    [("bounce", True), ("frame", True), ("frame", False), ("auto", True), ("auto", False)],
    ids=["bounce", "frame-3p-allowed", "frame-3p-blocked", "auto-3p-allowed", "auto-3p-blocked"],
    indirect=["demo"],
)
def test_a_sign_in_captured_in_one_browser_signs_no_other_browser_in_at_the_same_address(
    demo: Demo, open_browser: Callable[..., Any], third_party: bool
) -> None:
    """Third-party cookies matter to frames only: bounce mode runs with them allowed."""
    # A victim signed in as bob (on C, his own login; synced to A and B), and a fresh one.
    bob = open_browser(third_party_cookies=third_party)
    sign_in(bob.new_page(), demo, "c", *BOB)
    everyone_bob = dict.fromkeys("abc", BOB[0])
    before = {"bob": settle(bob, demo, everyone_bob), "fresh": EVERYONE_OUT}
    assert before["bob"]["c"] == BOB[0]
    fresh = open_browser(third_party_cookies=third_party)

    after: dict[str, dict[str, str | None]] = {}
    showed_alice: list[str] = []
    control: dict[str, str | None] = {}
    for name, victim in (("bob", bob), ("fresh", fresh)):
        shot = label(demo, f"captured-sign-in-{name}", third_party)
        # A chain of its own for each victim: a step used by one victim cannot spare the next.
        with alices_captured_sign_in(open_browser, demo, third_party, shot) as (captured, kept, attacker):
            assert any(url.startswith(demo.url("b", "/_sessionsync/")) for url in captured), captured
            showed_alice += open_captured(victim, captured)
            if mode_of(demo) == "bounce":
                # The control: the step the victim could not use still signs alice in on B in
                # the browser it was made for (frame mode's steps are for frames only).
                attacker.new_page().goto(kept)
                control[name] = who(attacker, demo, "b")
        after[name] = state(victim, demo)
        screenshots(victim, demo, shot)
    # Nobody became alice anywhere; bob stayed bob wherever he was signed in.
    assert after == before
    assert not showed_alice
    assert before["bob"] == everyone_bob  # and sign-in sync itself worked in this mode
    assert all(user == ALICE[0] for user in control.values()), control


# -- An <img> of a peer from another site, then sign-out elsewhere -------------------------

SUBRESOURCES = {
    "img-home": lambda url: f'<img src="{url("/")}" alt="">',
    "img-account": lambda url: f'<img src="{url("/account")}" alt="">',
    "fetch-no-cors": lambda url: (
        f'<script>fetch("{url("/")}", {{mode: "no-cors", credentials: "include"}})'
        '.finally(() => document.title = "done")</script>'
    ),
}


@pytest.mark.parametrize("demo", ["frame", "auto"], indirect=True)
@pytest.mark.parametrize("variant", list(SUBRESOURCES))
def test_a_peer_loaded_as_an_image_from_another_site_is_still_signed_out_with_the_others(
    demo: Demo, open_browser: Callable[..., Any], evil: EvilSite, variant: str
) -> None:
    """Frame mode needs SameSite=None for the middleware's cookie; C's own login cookie
    stays Lax. v1 saw the session without the app's login on the image request, ended it
    quietly, and re-adopted C's login on the next visit under a chain never synced: the
    sign-out on A never reached it. (Bounce mode's cookie is Lax: the image carries
    none. With third-party cookies blocked it carries none either.)"""
    context = open_browser(third_party_cookies=True)
    page = context.new_page()
    sign_in(page, demo, "c", *BOB)
    everyone_bob = dict.fromkeys("abc", BOB[0])
    assert settle(context, demo, everyone_bob) == everyone_bob

    evil.pages["/pictures"] = "<h1>Pictures</h1>" + SUBRESOURCES[variant](lambda path: demo.url("c", path))
    page.goto(evil.url("/pictures"))
    page.wait_for_load_state("load")
    settled_page(page)
    assert who(context, demo, "c") == BOB[0]  # the user's next visit to C, as they would

    sign_out(page, demo, "a")
    assert settle(context, demo, EVERYONE_OUT, timeout=3) == EVERYONE_OUT
    screenshots(context, demo, label(demo, f"subresource-{variant}"))


# -- A login form posted from another site --------------------------------------------------


def post_alices_login_from_evil(context: Any, demo: Demo, evil: EvilSite, shot: str) -> tuple[int, str]:
    """The attacker's page auto-submits a login form to A with alice's credentials (and a
    made-up CSRF value) in the victim's browser; the status of the answer to that POST,
    and the text of the page the victim ends on."""
    evil.pages["/win"] = f"""<h1>You won</h1>
<form id="f" method="post" action="{demo.url("a", "/login")}">
<input name="email" value="{ALICE[0]}"><input name="password" value="{ALICE[1]}">
<input name="next" value="/account"><input name="csrf" value="made-up-by-the-attacker-0123456789abcdef">
</form><script>document.getElementById("f").submit()</script>"""
    page = context.new_page()
    with page.expect_response(lambda r: r.url == demo.url("a", "/login") and r.request.method == "POST") as posted:
        page.goto(evil.url("/win"))
    page.wait_for_load_state("load")
    settled_page(page)
    status = posted.value.status
    shown = page.locator("body").inner_text()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{shot}-landing.png"))  # the page the victim ends on
    page.close()
    return status, shown


def test_a_login_form_posted_from_another_site_is_refused_and_signs_the_victim_in_nowhere(
    demo: Demo, open_browser: Callable[..., Any], evil: EvilSite
) -> None:
    context = open_browser(third_party_cookies=True)
    shot = label(demo, "cross-site-login-post")
    status, shown = post_alices_login_from_evil(context, demo, evil, shot)
    assert status == 403
    assert "Request refused" in shown
    time.sleep(0.5)
    assert state(context, demo) == EVERYONE_OUT
    screenshots(context, demo, shot)


@pytest.mark.parametrize("mode", ["bounce", "frame", "auto"])
def test_a_login_form_posted_from_another_site_to_an_app_without_csrf_checks_stays_on_that_site(
    mode: str, open_browser: Callable[..., Any], evil: EvilSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app accepts the cross-site login (its own business: the demo with --no-csrf);
    the middleware keeps that sign-in on A and never syncs it to B or C."""
    require_chromium()
    monkeypatch.setenv("DEMO_NO_CSRF", "1")
    with run_demo(tmp_path, mode=mode) as demo:
        demo.mode = mode  # type: ignore[attr-defined]
        context = open_browser(third_party_cookies=True)
        shot = label(demo, "cross-site-login-post-no-csrf")
        status, _ = post_alices_login_from_evil(context, demo, evil, shot)
        assert status == 303
        time.sleep(0.5)
        assert state(context, demo) == {"a": ALICE[0], "b": None, "c": None}
        screenshots(context, demo, shot)


# -- An <img> of a site whose own login cookie is SameSite=None -----------------------------


def test_an_image_of_a_site_whose_own_cookie_is_samesite_none_is_still_signed_out_with_the_others(
    open_browser: Callable[..., Any], evil: EvilSite, tmp_path: Path
) -> None:
    """Issue #20, finding 2. Frame mode, and site C's own login cookie made
    ``SameSite=None`` (``SESSIONSYNC_APP_SESSION_SAMESITE=none``, which the demo's C
    follows): an ``<img>`` of C from another site carries C's cookie but not the
    middleware's (emulated Lax). The middleware took C's answer for a new sign-in, kept on
    C: its cookie replaced the synced one, and the sign-out on A never reached C."""
    require_chromium()
    settings = {"SESSIONSYNC_APP_SESSION_SAMESITE": "none", "SESSIONSYNC_APP_SESSION_HTTPS_ONLY": "true"}
    with run_demo(tmp_path, mode="frame", settings=settings) as demo:
        demo.mode = "frame"  # type: ignore[attr-defined]
        context = open_browser(third_party_cookies=True)
        page = context.new_page()
        sign_in(page, demo, "c", *BOB)
        everyone_bob = dict.fromkeys("abc", BOB[0])
        assert settle(context, demo, everyone_bob) == everyone_bob
        [app_cookie] = [c for c in context.cookies(demo.url("c")) if c["name"] == "session"]
        assert app_cookie["sameSite"] == "None"

        evil.pages["/pictures"] = f'<h1>Pictures</h1><img src="{demo.url("c", "/")}" alt="">'
        page.goto(evil.url("/pictures"))
        page.wait_for_load_state("load")
        settled_page(page)
        assert who(context, demo, "c") == BOB[0]

        sign_out(page, demo, "a")
        assert settle(context, demo, EVERYONE_OUT, timeout=3) == EVERYONE_OUT
        screenshots(context, demo, "attack-subresource-app-cookie-samesite-none-frame")
