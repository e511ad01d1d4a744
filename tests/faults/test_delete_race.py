"""A delete racing an update, with real servers (issue #23): A deletes a user (ending
their sessions) at the moment B changes the same user's name, twenty times over, three
sites under uvicorn with user sync on. Whichever change wins the merge on each site (the
update, where it is newer and arrived first; documented), nobody stays signed in anywhere:
the delete's sign-out reaches B and C, and no first-visit catch-up brings a session back.
Counted, never timed."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.faults.harness import Pair, browsers, close, page_view, until, who

RACES = 20
NETWORK = """\
[defaults]
create = "both"
update = "both"
delete = "both"
"""


def race(pair: Pair, email: str) -> tuple[int, int]:
    """A's delete and B's update of ``email``, let go at the same moment: their statuses."""
    start = threading.Barrier(2)
    statuses: dict[str, int] = {}

    def post(name: str, path: str, data: dict[str, str]) -> None:
        with httpx.Client(timeout=30) as client:
            start.wait()
            statuses[name] = client.post(f"{pair.sites[name].url}{path}", data=data).status_code

    threads = [
        threading.Thread(target=post, args=("a", "/_kit/delete", {"email": email})),
        threading.Thread(target=post, args=("b", "/_kit/rename", {"email": email, "name": "Renamed on B"})),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return statuses["a"], statuses["b"]


def test_a_delete_racing_an_update_leaves_the_user_signed_in_nowhere(
    tmp_path: Path, make_pair: Callable[..., Pair]
) -> None:
    network_file = tmp_path / "network.toml"
    network_file.write_text(NETWORK)
    pair = make_pair(
        {n: f"sqlite:///{tmp_path / f'{n}.sqlite3'}" for n in "abc"},
        names="abc",
        kit={"KIT_USER_API": "true", "SESSIONSYNC_NETWORK_FILE": str(network_file)},
        catchup="true",
    )
    for site in pair.sites.values():
        site.start()
    everyone = browsers(RACES)
    try:
        for browser in everyone:
            assert browser.sign_in(pair) == 200
            assert [who(browser.client, s.url) for s in (pair.b, pair.c)] == [browser.email] * 2
        answers = Counter(race(pair, browser.email) for browser in everyone)
        # Every answer is one of the two outcomes of a race: the update made on B before
        # the delete reached it (200), or after (404, "no such user"); never a 5xx.
        assert sum(answers.values()) == RACES and set(answers) <= {(200, 200), (200, 404)}, answers
        assert until(lambda: not any(s.outbox() for s in pair.sites.values()), 30)
        survived = {name: sum(1 for b in everyone if _exists(pair, name, b.email)) for name in "bc"}
        print(f"races: {dict(answers)}; the user exists afterwards on B {survived['b']}, C {survived['c']}")
        still = Counter(
            name
            for browser in everyone
            for name, site in pair.sites.items()
            if who(browser.client, site.url) is not None
        )
        assert still == Counter(), still
        # A page visit (a navigation: the first-visit catch-up asks the peers) brings none back.
        caught = Counter(
            name
            for browser in everyone
            for name, site in pair.sites.items()
            if _who_navigating(browser.client, site.url) is not None
        )
        assert caught == Counter(), caught
        assert pair.logs().count("Traceback") == 0
    finally:
        close(everyone)


def _exists(pair: Pair, name: str, email: str) -> bool:
    """Whether the user exists in the site's SQLite file (read only)."""
    path = pair.tmp / f"{name}.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return db.execute("SELECT 1 FROM users WHERE email = ?", (email,)).fetchone() is not None


def _who_navigating(client: httpx.Client, url: str) -> str | None:
    text = page_view(client, f"{url}/").text
    return text.split("Signed in as ", 1)[1].split("<", 1)[0] if "Signed in as " in text else None
