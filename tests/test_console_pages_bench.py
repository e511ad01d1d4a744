"""``python -m benchmarks.console_pages`` runs end to end on a small store and each page it
times finds what it is meant to (the figures themselves are not asserted: a benchmark)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_console_pages_benchmark_times_every_page_on_a_small_store(tmp_path: Path) -> None:
    store = tmp_path / "small.sqlite3"
    command = [
        sys.executable,
        "-m",
        "benchmarks.console_pages",
        "--sessions",
        "30000",
        "--runs",
        "1",
        "--keep",
        str(store),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lines = {line.split(" median ")[0].strip(): line for line in done.stdout.splitlines() if " median " in line}
    assert len(lines) == 20
    assert lines["analytics: sessions only, last 30 days"].endswith(" logins")
    assert lines["analytics page: every figure, last 30 days"].endswith("logins, 50000 users")
    assert lines["sessions: first page, all"].endswith("50 sessions, next yes")
    assert "sessions, next yes" in lines["sessions: rare filter (bot in JP), budget spent"]  # the budget ran out
    assert lines["users: prefix 'user123'"].endswith("50 rows")
    assert lines["activity: a filter nothing matches (all read)"].endswith("0 rows")
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0 and "as it is" in again.stdout  # a kept store is used again
