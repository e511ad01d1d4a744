"""Site A on a real Redis that is killed, paused (SIGSTOP) or started again empty while
browsers use it (issue #23): no 500 and no traceback, ever; one line when the store goes
and one when it is back; signed-in pages served from what the process knew or a 503; a
sign-in or sign-out during the outage a 503, or done; every sign-out the browser saw
reaches B, applied once; the outbox queue of a Redis that lost its data queued again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.harness import (
    Pair,
    Traffic,
    applied_once,
    browsers,
    check_sign_outs,
    close,
    lines,
    sign_in_all,
    store_lines,
    tracebacks,
    until,
    who,
)
from tests.harness.redis_server import RedisServer
from tests.stores.redis_server import controlled_redis_server

FAULT_FOR = 4.0  # seconds the store is gone (what is counted never depends on it)
STORES = "asgi_sessionsync.stores"
BACKCHANNEL = "asgi_sessionsync.backchannel"


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with controlled_redis_server(tmp_path / "redis", persistent=True) as server:
        yield server


def start(pair: Pair) -> None:
    pair.b.start()
    pair.a.start()


@pytest.mark.parametrize("fault", ["killed", "paused"])
def test_redis_killed_or_paused_during_traffic_answers_every_request_and_loses_no_sign_out(
    tmp_path: Path, redis: RedisServer, make_pair: Callable[..., Pair], fault: str
) -> None:
    # A second's socket timeout: a pause longer than it is an outage (a shorter one only a wait).
    pair = make_pair({"a": f"{redis.url}?prefix=site-a&socket_timeout=1", "b": f"sqlite:///{tmp_path / 'b.sqlite3'}"})
    start(pair)
    readers, fresh = browsers(3), browsers(30, offset=3)
    sign_in_all(pair, readers)
    traffic = Traffic(pair, readers, fresh)
    traffic.start()
    time.sleep(1.0)
    if fault == "killed":
        redis.kill()
    else:
        redis.pause()
    time.sleep(FAULT_FOR)
    if fault == "killed":
        redis.start()  # with its data (append-only file)
    else:
        redis.resume()
    assert until(lambda: len(lines(pair.a, STORES, "available again")) >= 1, timeout=30), pair.a.log()[-3000:]
    time.sleep(1.0)
    traffic.stop()

    print(
        f"redis {fault}: {dict(traffic.statuses)}; sign-outs refused {len(traffic.refused_sign_outs)},"
        f" not confirmed {len(traffic.unconfirmed_sign_outs)}"
    )
    assert traffic.server_errors() == {} and traffic.errors == [], (traffic.statuses, traffic.errors[:5])
    assert tracebacks(pair) == 0, pair.logs()[-3000:]
    said = store_lines(pair.a)
    assert [level for level, _ in said] == ["ERROR", "WARNING"], said  # one line when it goes, one when back
    print(said[1][1])
    assert traffic.count("page", 200) > 0 and traffic.count("sign-out", 200) > 0
    # Every sign-out the browser saw reaches B, applied once; a refused one changed nothing.
    assert until(lambda: pair.a.outbox() == [], timeout=30), pair.a.outbox()
    check_sign_outs(traffic)
    received = applied_once(pair.b)
    assert len(received) >= len(traffic.signed_out)
    assert all(outcomes["applied"] == 1 for outcomes in received.values()), received
    close([*readers, *fresh])


def test_redis_started_again_empty_queues_again_what_this_process_had_queued(
    tmp_path: Path, make_pair: Callable[..., Pair]
) -> None:
    with controlled_redis_server(tmp_path / "redis") as redis:  # no persistence: comes back empty
        pair = make_pair({"a": f"{redis.url}?prefix=site-a", "b": f"sqlite:///{tmp_path / 'b.sqlite3'}"})
        start(pair)
        everyone = browsers(4)
        sign_in_all(pair, everyone)
        pair.b.kill()  # B keeps its sessions (SQLite) and hears nothing for now
        for browser in everyone:
            assert browser.sign_out(pair) == 200
        assert until(lambda: len(pair.a.outbox()) == len(everyone), timeout=30)
        redis.kill()
        redis.start(empty=True)
        lost = "outbox lost its data"
        assert until(lambda: bool(lines(pair.a, BACKCHANNEL, lost)), timeout=30), pair.a.log()[-3000:]
        pair.b.start()
        for browser in everyone:  # queued again and delivered: signed out on B too
            assert until(lambda b=browser: who(b.client, pair.b.url) is None, timeout=60), browser.email  # type: ignore[misc]
        (said,) = lines(pair.a, BACKCHANNEL, lost)
        assert said["level"] == "ERROR" and f"the {len(everyone)} this process queued" in said["message"], said
        received = applied_once(pair.b)
        assert len(received) == len(everyone) and all(o["applied"] == 1 for o in received.values()), received
        assert tracebacks(pair) == 0, pair.logs()[-3000:]
        close(everyone)
