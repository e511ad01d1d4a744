"""``python -m benchmarks.load_signin`` counts what it measured even when its deadline
runs out (issue #23: the deadline crashed it with a ``NameError``)."""

from __future__ import annotations

import anyio
import pytest

from benchmarks import load_signin


@pytest.mark.asyncio_only("the benchmark runs on asyncio (asyncio.timeout)")
async def test_a_burst_past_its_deadline_counts_the_browsers_that_did_not_finish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def never_done(index: int, urls: dict[str, str]) -> load_signin.Outcome:
        if index == 0:
            return load_signin.Outcome(True, 0, 0, 0.01)
        await anyio.sleep_forever()
        raise AssertionError

    monkeypatch.setattr(load_signin, "DEADLINE", 0.2)
    monkeypatch.setattr(load_signin, "one_browser", never_done)
    result = await load_signin.burst(3, {})
    assert (result.synced, result.times) == (1, [0.01])
