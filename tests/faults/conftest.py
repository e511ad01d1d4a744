"""The fault suite (issue #23): real uvicorn sites, a real redis-server, each fault made for
real (a server killed, paused or started again empty; a file size limit; a read-only
file; a peer frozen with SIGSTOP) while browsers use the sites. Each test counts what the
browsers got and what the logs say (no 500, no traceback, nothing lost, every sign-out
applied once), never how long anything took. Run by the normal ``pytest``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.harness import Pair


@pytest.fixture
def make_pair(tmp_path: Path) -> Iterator[Callable[..., Pair]]:
    """Build sites A and B, or A, B and C (not started); every one built is stopped at the end."""
    made: list[Pair] = []

    def make(stores: dict[str, str], *, names: str = "ab", kit: dict[str, str] | None = None, **settings: str) -> Pair:
        pair = Pair(tmp_path, stores, names=names, kit=kit, **settings)
        made.append(pair)
        return pair

    yield make
    for pair in made:
        pair.stop()
