"""How late a server's event loop runs, and what it was doing meanwhile: for benchmarks.

:func:`watch` (``KIT_LOOP_LAG=PREFIX`` in :mod:`tests.harness.env_site`) starts, in the
serving process, a task that wakes every :data:`TICK` seconds and notes how late it woke
(the loop's lag: how long some callback kept it), and a thread that, while the loop has
not ticked for :data:`STALL` seconds, samples the loop thread's stack: a sampling
profiler of the stalls only. Every second it writes one JSON line to ``PREFIX.<pid>``: the
worst lag of that second and how much of it the loop thread ran (its CPU time: the rest
it waited for a CPU, or in a system call), the most CPU time the loop ran between two
ticks (code on the loop), and the stacks seen stalled, by count (innermost frames first,
then the innermost of this project's).
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
        self.worst_ran = 0.0  # of the worst lag, the time the loop thread ran
        self.busiest = 0.0  # the most CPU time the loop thread ran between two ticks
        self.ticks = 0
        self.stalls: collections.Counter[str] = collections.Counter()
        self.loop_thread = threading.get_ident()
        self._lock = threading.Lock()

    async def ticking(self) -> None:
        """Each tick: how late it woke (wall time), and how much of that the loop thread
        ran (its CPU time: code on the loop); the rest it waited (for a CPU, or a syscall)."""
        while True:
            before, ran_before = time.perf_counter(), time.thread_time()
            await asyncio.sleep(TICK)
            now, ran = time.perf_counter(), time.thread_time() - ran_before
            with self._lock:
                lag = now - before - TICK
                if lag > self.worst:
                    self.worst, self.worst_ran = lag, ran
                self.busiest = max(self.busiest, ran)
                self.ticks += 1
                self.last_tick = now

    def sampling(self) -> None:
        last_write = time.monotonic()
        while True:
            time.sleep(SAMPLE_EVERY)
            if time.perf_counter() - self.last_tick > STALL:
                frame = sys._current_frames().get(self.loop_thread)
                if frame is not None:
                    stack = list(reversed(traceback.extract_stack(frame)))
                    # The innermost frames, then the innermost of this project's (what led there).
                    ours = next((f for f in stack if "asgi_sessionsync" in f.filename or "harness" in f.filename), None)
                    shown = stack[:3] + ([ours] if ours is not None and ours not in stack[:3] else [])
                    key = " < ".join(f"{'/'.join(Path(f.filename).parts[-2:])}:{f.lineno} {f.name}" for f in shown)
                    self.stalls[key] += 1
            if time.monotonic() - last_write >= 1.0:
                last_write = time.monotonic()
                with self._lock:
                    worst, ran, busiest = self.worst, self.worst_ran, self.busiest
                    self.worst = self.worst_ran = self.busiest = 0.0
                    stalls, self.stalls = self.stalls, collections.Counter()
                line = {
                    "t": time.time(),
                    "worst_lag_ms": round(worst * 1000, 1),
                    "worst_lag_ran_ms": round(ran * 1000, 1),
                    "busiest_ms": round(busiest * 1000, 1),
                    "stalls": stalls.most_common(5),
                }
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
