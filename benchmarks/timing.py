"""Timing helpers shared by the benchmarks: median of rounds, garbage collection accounted for."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import date


async def per_call_interleaved(
    fns: Sequence[Callable[[], Awaitable[object]] | None], *, number: int = 20000, rounds: int = 7
) -> list[float | None]:
    """Median seconds per call of each of ``fns`` (None: not measured), measured side by
    side: each round runs every one of them in turn, so a machine that gets busier or
    quieter during the run weighs on all alike. The clock is the process's CPU time (every
    thread of it), not the wall: what a call costs the server, which holds on a machine
    shared with other work, where the wall clock also counts the time other processes
    held the CPU. (A call that waits on I/O is measured with :func:`per_call_async`.)"""
    for fn in fns:
        if fn is not None:
            for _ in range(min(number, 2000)):
                await fn()
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for index, fn in enumerate(fns):
            if fn is None:
                continue
            gc.collect()
            start = time.process_time()
            for _ in range(number):
                await fn()
            samples[index].append((time.process_time() - start) / number)
    return [statistics.median(s) if s else None for s in samples]


def per_call(fn: Callable[[], object], *, number: int = 20000, rounds: int = 7) -> float:
    """Median seconds per call over ``rounds`` rounds of ``number`` calls. The collector
    runs before each round and stays enabled inside it, so its cost is counted as the
    app would pay it."""
    for _ in range(min(number, 2000)):
        fn()
    samples = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


async def per_call_async(fn: Callable[[], Awaitable[object]], *, number: int = 20000, rounds: int = 7) -> float:
    for _ in range(min(number, 2000)):
        await fn()
    samples = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        for _ in range(number):
            await fn()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def machine() -> str:
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load {load} (1/5/15 min), {date.today()}"
    )


def us(seconds: float) -> str:
    return f"{seconds * 1e6:8.2f} µs"
