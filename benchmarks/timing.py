"""Timing helpers shared by the benchmarks: median of rounds, garbage collection accounted for."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import date


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
