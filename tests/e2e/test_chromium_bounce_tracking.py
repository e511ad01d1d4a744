"""Chromium's bounce tracking mitigations (BTM, the feature called ``DIPS`` in Chromium's
source) really deleting what B and C got during the sign-in, and what the design does
about it: the next visit catches up; sessions orphaned by a purged cookie are ended; a
peer that was down during the sign-in is signed in when it is back.

Chromium deletes a bounced-through site's state only when third-party cookies are
blocked, after a grace period (1 h) and on a timer (1 h); both are feature params, cut
here to two seconds: ``--enable-features=DIPS:grace_period/2s/timer_delay/2s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.constants import ALICE
from tests.e2e.browser import screenshots, settle, sign_in, sign_out, who
from tests.e2e.harness import CHROMIUM, CHROMIUM_ARGS, Demo, profile_dir, require_chromium, run_demo

FAST_BTM = "--enable-features=DIPS:grace_period/2s/timer_delay/2s"
EVERYONE_IN = dict.fromkeys("abc", ALICE[0])
EVERYONE_OUT = dict.fromkeys("abc")
REPLACED = "replaced: this browser synced the same sign-in again"


@pytest.fixture
def open_chromium(playwright: Any, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Chromium on a fresh profile with bounce tracking mitigations purging within seconds."""
    contexts: list[Any] = []

    def start(*, third_party_cookies: bool) -> Any:
        context = playwright.chromium.launch_persistent_context(
            str(profile_dir(tmp_path, third_party_cookies=third_party_cookies)),
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, FAST_BTM],
            headless=True,
        )
        context.set_default_timeout(15000)
        contexts.append(context)
        return context

    yield start
    for context in contexts:
        context.close()


def first_party(context: Any, site: str) -> list[str]:
    return sorted(c["name"] for c in context.cookies() if c["domain"] == f"{site}.localhost")


def wait_for_purge(context: Any, sites: str, timeout: float = 30.0) -> float:
    """Seconds until none of ``sites`` has a cookie left; fails at the timeout."""
    start = time.monotonic()
    while any(first_party(context, s) for s in sites):
        assert time.monotonic() - start < timeout, f"not purged after {timeout} s: {context.cookies()}"
        time.sleep(0.25)
    return time.monotonic() - start


def orphans_are_ended(demo: Demo, site: str) -> None:
    """``site`` has one active session of the user; the others of its chain were ended as orphans."""
    sessions = demo.sessions(site, ALICE[0])
    active = [s for s in sessions if s.ended_at is None]
    assert len(active) == 1, sessions
    others = [s for s in sessions if s.chain == active[0].chain and s is not active[0]]
    assert others, f"no orphan on {site}: {sessions}"
    assert {s.end_reason for s in others} == {REPLACED}, sessions


@pytest.mark.parametrize("mode", ["bounce", "auto"])
def test_purged_peers_catch_up_at_the_next_visit_orphans_end_and_sign_out_reaches_all(
    mode: str, open_chromium: Callable[..., Any], tmp_path: Path
) -> None:
    """Third-party cookies blocked: the sign-in bounces through B and C (auto mode too:
    its frames fail first). BTM deletes their cookies; A keeps its own (the user typed
    and clicked there). Opening B asks A again (catch-up) and ends B's orphaned session."""
    require_chromium()
    with run_demo(tmp_path, mode=mode) as demo:
        context = open_chromium(third_party_cookies=False)
        page = context.new_page()
        sign_in(page, demo, "a", *ALICE)
        assert first_party(context, "b") == ["sessionsync"]
        wait_for_purge(context, "bc")
        assert "sessionsync" in first_party(context, "a")
        assert who(context, demo, "b") == ALICE[0]
        orphans_are_ended(demo, "b")
        assert settle(context, demo, EVERYONE_IN) == EVERYONE_IN
        orphans_are_ended(demo, "c")
        sign_out(page, demo, "b")
        assert settle(context, demo, EVERYONE_OUT, timeout=3) == EVERYONE_OUT
        screenshots(context, demo, f"btm-purged-{mode}")


def test_frame_mode_with_third_party_cookies_blocked_leaves_nothing_to_purge(
    open_chromium: Callable[..., Any], tmp_path: Path
) -> None:
    """Frame mode never bounces: the frames fail, B and C get no cookie at all, and their
    first visit catches up (a top-level pull; A, the only site bounced through, is exempt)."""
    require_chromium()
    with run_demo(tmp_path, mode="frame") as demo:
        context = open_chromium(third_party_cookies=False)
        page = context.new_page()
        sign_in(page, demo, "a", *ALICE)
        assert first_party(context, "b") == []
        assert settle(context, demo, EVERYONE_IN) == EVERYONE_IN
        time.sleep(6)  # three grace periods and timer runs: a purge would have happened
        assert "sessionsync" in first_party(context, "b")
        assert "sessionsync" in first_party(context, "a")
        sign_out(page, demo, "b")
        assert settle(context, demo, EVERYONE_OUT, timeout=3) == EVERYONE_OUT


def test_third_party_cookies_allowed_the_mitigation_deletes_nothing(
    open_chromium: Callable[..., Any], tmp_path: Path
) -> None:
    require_chromium()
    with run_demo(tmp_path, mode="bounce") as demo:
        context = open_chromium(third_party_cookies=True)
        page = context.new_page()
        sign_in(page, demo, "a", *ALICE)
        time.sleep(6)  # three grace periods and timer runs: a purge would have happened
        assert first_party(context, "b") == ["sessionsync"]
        assert first_party(context, "c") == ["session", "sessionsync"]


def test_peer_down_during_sign_in_is_signed_in_when_it_is_back(
    open_chromium: Callable[..., Any], tmp_path: Path
) -> None:
    """B is down while the user signs in on A (left out of the chain, never shown an
    error); B comes back (the same network, store and secret); opening B catches up."""
    require_chromium()
    with run_demo(tmp_path, mode="bounce", only="a,c") as demo:
        context = open_chromium(third_party_cookies=False)
        page = context.new_page()
        sign_in(page, demo, "a", *ALICE)
        assert page.url == demo.url("a", "/account")
        assert settle(context, demo, {"a": ALICE[0], "c": ALICE[0]}) == {"a": ALICE[0], "c": ALICE[0]}
        with run_demo(tmp_path, mode="bounce", only="b", ports=list(demo.ports.values())):
            assert demo.sessions("b", ALICE[0]) == []
            assert who(context, demo, "b") == ALICE[0]
            [session] = demo.sessions("b", ALICE[0])
            assert session.via.startswith("hop from ")
            sign_out(page, demo, "b")
            assert settle(context, demo, EVERYONE_OUT, timeout=3) == EVERYONE_OUT
