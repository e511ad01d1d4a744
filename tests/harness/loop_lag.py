"""How late a server's event loop runs, and what it was doing meanwhile: for benchmarks.

:func:`watch` (``KIT_LOOP_LAG=PREFIX`` in :mod:`tests.harness.env_site`) starts, in the
serving process, a task that wakes every :data:`TICK` seconds and notes how late it woke
(the loop's lag: how long some callback kept it), and a thread that, while the loop has
not ticked for :data:`STALL` seconds, samples the loop thread's stack: a sampling
profiler of the stalls only. Every second it writes one JSON line to ``PREFIX.<pid>``: the
worst lag of that second, and (at the end of each second) the stacks seen stalled, by
count, innermost frames of the stack first.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import threading
import time
import traceback
from pathlib import Path

TICK = 0.005  # seconds between two wake-ups of the watching task
STALL = 0.05  # seconds without a tick after which the loop thread's stack is sampled
SAMPLE_EVERY = 0.005


class LoopWatch:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.last_tick = time.perf_counter()
        self.worst = 0.0
        self.ticks = 0
        self.stalls: collections.Counter[str] = collections.Counter()
        self.loop_thread = threading.get_ident()
        self._lock = threading.Lock()

    async def ticking(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            with self._lock:
                self.worst = max(self.worst, now - before - TICK)
                self.ticks += 1
                self.last_tick = now

    def sampling(self) -> None:
        last_write = time.monotonic()
        while True:
            time.sleep(SAMPLE_EVERY)
            if time.perf_counter() - self.last_tick > STALL:
                frame = sys._current_frames().get(self.loop_thread)
                if frame is not None:
                    stack = traceback.extract_stack(frame)[-14:]
                    key = " < ".join(
                        f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(stack) if f.filename
                    )
                    self.stalls[key] += 1
            if time.monotonic() - last_write >= 1.0:
                last_write = time.monotonic()
                with self._lock:
                    worst, self.worst = self.worst, 0.0
                    stalls, self.stalls = self.stalls, collections.Counter()
                line = {"t": time.time(), "worst_lag_ms": round(worst * 1000, 1), "stalls": stalls.most_common(5)}
                with self.path.open("a") as out:
                    out.write(json.dumps(line) + "\n")


_started: set[int] = set()


def watch(prefix: str) -> None:
    """Start watching the running loop (once per process)."""
    import os

    if os.getpid() in _started:
        return
    _started.add(os.getpid())
    watcher = LoopWatch(Path(f"{prefix}.{os.getpid()}"))
    asyncio.get_running_loop().create_task(watcher.ticking())
    threading.Thread(target=watcher.sampling, daemon=True).start()
