"""A peer frozen (SIGSTOP) while the sender retries: the copies it gets when it wakes are
applied once each, the rest answered "already applied" (issue #23: the message id used to
be checked and recorded in separate steps, so every copy was applied)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from tests.faults.harness import Pair, applied_once, browsers, close, sign_in_all, tracebacks, until, who

USERS = 5


def test_a_frozen_peer_applies_each_sign_out_once_however_many_copies_it_gets(
    tmp_path: Path, make_pair: Callable[..., Pair]
) -> None:
    pair = make_pair({n: f"sqlite:///{tmp_path / f'{n}.sqlite3'}" for n in "ab"}, logout_wait="0")
    pair.b.start()
    pair.a.start()
    everyone = browsers(USERS)
    sign_in_all(pair, everyone)
    pair.b.signal(signal.SIGSTOP)
    try:
        for browser in everyone:
            assert browser.sign_out(pair) == 200
            assert who(browser.client, pair.a.url) is None

        def retried() -> bool:  # every sign-out tried three times or more while B sleeps
            pending = pair.a.outbox()
            return len(pending) == USERS and all(m["attempts"] >= 3 for m in pending)

        assert until(retried, timeout=60, every=0.5), pair.a.outbox()
    finally:
        pair.b.signal(signal.SIGCONT)
    assert until(lambda: pair.a.outbox() == [], timeout=60, every=0.5), pair.a.outbox()
    for browser in everyone:
        assert who(browser.client, pair.b.url) is None
    received = applied_once(pair.b)
    copies = sum(sum(outcomes.values()) for outcomes in received.values())
    print(f"B received {copies} copies of {USERS} sign-outs: {received}")
    assert copies > USERS  # the retries did reach B
    assert len(received) == USERS, received
    assert all(outcomes["applied"] == 1 for outcomes in received.values()), received
    assert set().union(*received.values()) <= {"applied", "already applied"}, received
    assert tracebacks(pair) == 0, pair.logs()[-3000:]
    close(everyone)
