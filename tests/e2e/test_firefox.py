"""Shared login in Firefox ESR: bounce, frame and auto mode, in the default (standard)
Enhanced Tracking Protection and in strict, where bounce tracking protection purges
the peers' cookies (its timers cut from an hour to seconds).

What Firefox does differently from Chromium: it never blocks a third-party frame's
cookies outright, it partitions them (Total Cookie Protection, in standard and strict).
A cookie a peer's frame sets under A lands in the jar keyed by A, which the peer's own
(top-level) pages never see. The frame's first page therefore asks
``document.hasStorageAccess()`` (false there, true in Chromium with third-party cookies
allowed) and reports failure at once, setting nothing: frame mode leaves B to its first
visit's catch-up (a pull from A), auto mode bounces through B and C instead. No session
is made in the partition, so none is orphaned there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.constants import ALICE
from tests.e2e.firefox import STRICT, Firefox, fast_bounce_tracking_protection, firefox, require_firefox
from tests.e2e.harness import Demo, run_demo
from tests.e2e.scenario import screenshots, settle, sign_in, sign_out, who

EVERYONE_IN = dict.fromkeys("abc", ALICE[0])
EVERYONE_OUT = dict.fromkeys("abc")
REPLACED = "replaced: this browser synced the same sign-in again"


@pytest.fixture(scope="module", params=["bounce", "frame", "auto"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    require_firefox()
    with run_demo(tmp_path_factory.mktemp("demo"), mode=request.param) as running:
        running.mode = request.param  # type: ignore[attr-defined]
        yield running


def first_party(browser: Firefox, site: str) -> list[str]:
    """Names of the cookies ``site`` has in its own (unpartitioned) jar."""
    return [c.name for c in browser.cookies() if c.host == f"{site}.localhost" and not c.partition]


def partitioned(browser: Firefox, site: str) -> list[str]:
    """Names of the cookies ``site`` has in jars keyed by another top-level site (frames)."""
    return [c.name for c in browser.cookies() if c.host == f"{site}.localhost" and c.partition]


def bounced(browser: Firefox, demo: Demo, timeout: float = 15.0) -> list[str]:
    """B's own cookies once auto mode's bounce (started by the page's script when the
    frames report failure, maybe after the landing counted as loaded) has signed B in
    and is back on A."""
    deadline = time.monotonic() + timeout
    while first_party(browser, "b") != ["sessionsync"] and time.monotonic() < deadline:
        time.sleep(0.05)  # (its bind cookie alone: the bounce is between B's pull and its hop)
    browser.wait_for_url(demo.url("a", "/account"), timeout=max(deadline - time.monotonic(), 1.0))
    return first_party(browser, "b")


def sessions_before(demo: Demo, site: str) -> set[str]:
    """The ids of the user's sessions on ``site`` so far (the demo serves both tests of a mode)."""
    return {s.sid for s in demo.sessions(site, ALICE[0])}


def the_session_of_this_browser_is_the_only_active_one(demo: Demo, site: str, before: set[str]) -> None:
    """Of the sessions made on ``site`` since ``before``: one active; any other of its
    chain ended as an orphan (one whose cookie was purged); none made by a frame.

    Only this test's sessions count: the two tests of a mode share one demo, and a
    failure of the first (before its sign-out) must not fail the second."""
    sessions = [s for s in demo.sessions(site, ALICE[0]) if s.sid not in before]
    active = [s for s in sessions if s.ended_at is None]
    assert len(active) == 1, sessions
    chain = [s for s in sessions if s.chain == active[0].chain]
    assert all(s.end_reason == REPLACED for s in chain if s is not active[0]), chain
    assert not [s for s in sessions if s.via.startswith("frame from ")], sessions


def test_standard_protection_sign_in_on_a_signs_in_b_and_c_and_sign_out_on_b_signs_out_all(
    demo: Demo, tmp_path: Path
) -> None:
    mode = demo.mode  # type: ignore[attr-defined]
    with firefox(tmp_path) as browser:
        assert browser.pref("browser.contentblocking.category") == "standard"
        assert browser.pref("network.cookie.cookieBehavior") == 5  # third-party cookies partitioned
        before = sessions_before(demo, "b")
        sign_in(browser, demo, "a", *ALICE)
        assert browser.text("h1") == f"Account of {ALICE[0]}"
        # Nothing in A's partition: the frames' storage check stopped them before any cookie.
        assert partitioned(browser, "b") == []
        if mode == "frame":
            assert first_party(browser, "b") == []  # the frames failed; nothing bounced
        elif mode == "auto":
            assert bounced(browser, demo) == ["sessionsync"]  # the frames failed: the sign-in bounced
        else:
            assert first_party(browser, "b") == ["sessionsync"]
        assert settle(browser, demo, EVERYONE_IN) == EVERYONE_IN
        the_session_of_this_browser_is_the_only_active_one(demo, "b", before)
        if mode == "frame":
            assert "sessionsync-seen" in first_party(browser, "b")  # B was caught up at the first visit
        sign_out(browser, demo, "b")
        assert settle(browser, demo, EVERYONE_OUT, timeout=3) == EVERYONE_OUT
        screenshots(browser, demo, f"firefox-standard-{mode}")


def test_strict_protection_purges_b_and_c_and_the_next_visit_catches_up(demo: Demo, tmp_path: Path) -> None:
    """Strict ETP with bounce tracking protection purging within seconds: the cookies
    B and C got during the sign-in bounce are deleted (A, where the user typed and
    clicked, is exempt); opening B signs it in again by a pull from A; sign-out on B
    reaches A and C."""
    mode = demo.mode  # type: ignore[attr-defined]
    with firefox(tmp_path, {**STRICT, **fast_bounce_tracking_protection()}) as browser:
        assert browser.pref("browser.contentblocking.category") == "strict"
        assert browser.pref("privacy.bounceTrackingProtection.mode") == 1
        before = sessions_before(demo, "b")
        sign_in(browser, demo, "a", *ALICE)
        assert partitioned(browser, "b") == []
        if mode != "frame":  # auto: the frames failed, the sign-in bounced
            # B's registry shows the bounce signed B in; B's cookie from it may be purged
            # already when the sign-in took longer than the grace period (a loaded machine).
            assert bounced(browser, demo) in (["sessionsync"], [])
            assert sessions_before(demo, "b") - before, "the bounce did not sign B in"
            deadline = time.monotonic() + 20
            while first_party(browser, "b") or first_party(browser, "c"):
                assert time.monotonic() < deadline, f"bounce tracking protection did not purge: {browser.cookies()}"
                time.sleep(0.25)
        else:
            assert first_party(browser, "b") == []  # nothing to purge: the frames set nothing
        assert first_party(browser, "a"), "A must keep its cookies: the user interacted with it"
        assert who(browser, demo, "b") == ALICE[0]
        the_session_of_this_browser_is_the_only_active_one(demo, "b", before)
        assert settle(browser, demo, EVERYONE_IN) == EVERYONE_IN
        sign_out(browser, demo, "b")
        assert settle(browser, demo, EVERYONE_OUT, timeout=3) == EVERYONE_OUT
        screenshots(browser, demo, f"firefox-strict-{mode}")


def test_strict_protection_a_peer_down_during_sign_in_is_signed_in_when_it_is_back(tmp_path: Path) -> None:
    """Strict ETP with bounce tracking protection purging within seconds, and B down
    while the user signs in on A: B is left out of the chain (no error page); when B is
    back (same network, store and secret), opening it catches up by a pull from A; a
    sign-out on B reaches A and C."""
    require_firefox()
    with (
        run_demo(tmp_path, mode="bounce", only="a,c") as demo,
        firefox(tmp_path / "profile", {**STRICT, **fast_bounce_tracking_protection()}) as browser,
    ):
        assert browser.pref("privacy.bounceTrackingProtection.mode") == 1
        sign_in(browser, demo, "a", *ALICE)
        assert browser.text("h1") == f"Account of {ALICE[0]}"
        with run_demo(tmp_path, mode="bounce", only="b", ports=list(demo.ports.values())):
            assert demo.sessions("b", ALICE[0]) == []
            assert who(browser, demo, "b") == ALICE[0]
            [session] = demo.sessions("b", ALICE[0])
            assert session.via.startswith("hop from ")
            assert settle(browser, demo, EVERYONE_IN) == EVERYONE_IN
            sign_out(browser, demo, "b")
            assert settle(browser, demo, EVERYONE_OUT, timeout=3) == EVERYONE_OUT
