"""A chain slowed past the hop lifetime, with real servers (issue #23): three sites under
uvicorn with ``SESSIONSYNC_HOP_LIFETIME=1`` (a clock skew of 0.2 s tolerated), and
browsers that wait between two steps of their sign-in chain longer than that.

A chain whose note and request reach A late goes on (both peers signed in by it). A hop
that reaches its peer late leaves that peer out (a WARNING, the activity log), the chain
goes on to the next, and the peer's first-visit catch-up signs the browser in at its next
page view. Counted, never timed: no 500, no sign-in lost, every peer synced or caught up."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.faults.harness import Browser, Pair, browsers, close, lines, page_view, who

WAIT = 1.6  # seconds a slow browser waits before one step: past the hop lifetime (1 s)
EACH = 8  # browsers per kind of slowness


def sign_in_slowly(pair: Pair, browser: Browser, slow_before: str | None, statuses: Counter[int]) -> None:
    """Sign in on A and follow the chain by hand, waiting before the first request whose
    URL starts with ``slow_before``."""
    answer = browser.client.post(
        f"{pair.a.url}/login",
        data={"email": browser.email, "password": browser.password, "next": "/"},
        follow_redirects=False,
    )
    waited = False
    for _ in range(20):
        statuses[answer.status_code] += 1
        if answer.status_code not in (302, 303):
            return
        url = str(answer.url.join(answer.headers["location"]))
        if slow_before is not None and not waited and url.startswith(slow_before):
            waited = True
            time.sleep(WAIT)
        answer = browser.client.get(url, follow_redirects=False)


def test_a_chain_slower_than_the_hop_lifetime_syncs_every_peer_or_catches_it_up(
    tmp_path: Path, make_pair: Callable[..., Pair]
) -> None:
    pair = make_pair(
        {n: f"sqlite:///{tmp_path / f'{n}.sqlite3'}" for n in "abc"},
        names="abc",
        catchup="true",
        hop_lifetime="1",
        clock_skew="0.2",
    )
    for site in pair.sites.values():
        site.start()
    late_at_a, late_at_b = browsers(EACH), browsers(EACH, offset=EACH)
    statuses: Counter[int] = Counter()
    slow = [(b, f"{pair.a.url}/_sessionsync/authorize") for b in late_at_a]
    slow += [(b, f"{pair.b.url}/_sessionsync/hop") for b in late_at_b]
    threads = [threading.Thread(target=sign_in_slowly, args=(pair, b, where, statuses)) for b, where in slow]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert set(statuses) <= {200, 303}, statuses
        assert statuses[200] == 2 * EACH  # every browser ended on its page

        def synced(group: list[Browser], site: str) -> int:
            return sum(1 for b in group if who(b.client, pair.sites[site].url) == b.email)

        # Late at A (its chain note and B's request, past their 1 s): the chain went on.
        assert (synced(late_at_a, "b"), synced(late_at_a, "c")) == (EACH, EACH)
        # Late at B's hop: B left out, the chain went on to C.
        assert (synced(late_at_b, "b"), synced(late_at_b, "c")) == (0, EACH)
        left_out = lines(pair.b, "asgi_sessionsync.endpoints", "left out here")
        assert left_out and all(r["level"] == "WARNING" for r in left_out)
        recorded = pair.b.cli("log", "--outcome", "left out", "--limit", "1000")
        assert len(recorded) == EACH, recorded
        # Their next page view of B (a navigation: the first-visit catch-up) signs them in.
        caught = 0
        for b in late_at_b:
            page = page_view(b.client, f"{pair.b.url}/")
            caught += f"Signed in as {b.email}<" in page.text
        assert caught == EACH
        assert pair.logs().count("Traceback") == 0
    finally:
        close(late_at_a + late_at_b)
