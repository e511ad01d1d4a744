"""Site A on SQLite whose disk fills while browsers use it, and a site that starts on a
read-only file (issue #23). The disk is made full for real: the server process may write
no file past one byte (``RLIMIT_FSIZE``, set from outside with ``prlimit``), so every
write SQLite makes fails as on a full disk, and reads go on. Its log is a pipe, so it is
not stopped by the limit."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from tests.faults.harness import (
    Pair,
    Traffic,
    applied_once,
    browsers,
    check_sign_outs,
    close,
    lines,
    prlimit_file_size,
    sign_in_all,
    store_lines,
    tracebacks,
    until,
    who,
)
from tests.readonly import read_only

FAULT_FOR = 4.0  # seconds the disk stays full (what is counted never depends on it)


def test_a_full_disk_during_traffic_answers_every_request_and_loses_no_sign_out(
    tmp_path: Path, make_pair: Callable[..., Pair]
) -> None:
    database = tmp_path / "a.sqlite3"
    pair = make_pair({"a": f"sqlite:///{database}", "b": f"sqlite:///{tmp_path / 'b.sqlite3'}"})
    pair.b.start()
    pair.a.start()
    readers, fresh = browsers(3), browsers(30, offset=3)
    sign_in_all(pair, readers)
    traffic = Traffic(pair, readers, fresh)
    traffic.start()
    time.sleep(1.0)
    prlimit_file_size(pair.a.pid, 1)  # no file of A's may grow past one byte: a full disk
    time.sleep(FAULT_FOR)
    prlimit_file_size(pair.a.pid, None)
    # Back once no write failed for a few seconds (SQLiteDatabase.SETTLE) and one works.
    assert until(lambda: bool(lines(pair.a, "asgi_sessionsync.stores", "available again")), timeout=30), pair.a.log()[
        -3000:
    ]
    time.sleep(1.0)
    traffic.stop()

    print(
        f"disk full: {dict(traffic.statuses)}; sign-outs refused {len(traffic.refused_sign_outs)},"
        f" not confirmed {len(traffic.unconfirmed_sign_outs)}"
    )
    assert traffic.server_errors() == {} and traffic.errors == [], (traffic.statuses, traffic.errors[:5])
    assert tracebacks(pair) == 0, pair.logs()[-3000:]
    said = store_lines(pair.a)
    assert [level for level, _ in said] == ["ERROR", "WARNING"], said  # one line when it goes, one when back
    print(said[1][1])
    assert traffic.count("sign-in", 503) > 0  # writes did fail ...
    assert traffic.count("page", 200) > 0 and traffic.count("page", 503) == 0  # ... and reads went on
    assert until(lambda: pair.a.outbox() == [], timeout=30), pair.a.outbox()
    check_sign_outs(traffic)
    received = applied_once(pair.b)
    assert all(outcomes["applied"] == 1 for outcomes in received.values()), received
    check = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    assert check.execute("PRAGMA quick_check").fetchall() == [("ok",)]  # nothing half-written
    check.close()
    close([*readers, *fresh])


def test_a_site_on_a_read_only_file_does_not_start_and_says_so_in_one_line(
    tmp_path: Path, make_pair: Callable[..., Pair]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pair = make_pair({"a": f"sqlite:///{data / 'a.sqlite3'}", "b": f"sqlite:///{tmp_path / 'b.sqlite3'}"})
    pair.a.start()  # makes the file
    pair.a.stop()
    with read_only(data):
        pair.a.start(wait=False)
        assert pair.a.process is not None
        assert pair.a.process.wait(60) != 0
    log = pair.a.log()
    refused = [line for line in log.splitlines() if "read-only" in line]
    assert len(refused) == 1 and str(data / "a.sqlite3") in refused[0], log[-2000:]
    assert "cannot create" not in log and "Traceback" not in log, log[-2000:]
    pair.a.start()  # writable again: it starts
    assert who(browsers(1)[0].client, pair.a.url) is None
