"""A small progress bar on stderr, for long runs; silent when stderr is not a terminal.

Hand-written (a line redrawn with ``\\r``, at most ten times a second) because no
progress library is a dependency of the package.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30
EVERY = 0.1  # seconds between two redraws


class Progress:
    """``update(done)`` with how far it is (of ``total``, when known); ``close()`` at the end."""

    def __init__(self, label: str, total: int | None = None, *, unit: str = "", stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.shown = self.stream.isatty()
        self.label = label
        self.total = total
        self.unit = unit
        self.started = time.monotonic()
        self._drawn_at = float("-inf")
        self._done = 0
        self._width = 0

    def update(self, done: int) -> None:
        self._done = done
        now = time.monotonic()
        if self.shown and now - self._drawn_at >= EVERY:
            self._drawn_at = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-9)
        if self.total:
            share = min(self._done / self.total, 1.0)
            filled = int(share * WIDTH)
            text = f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {share:4.0%}"
        else:
            text = f"{self.label} {self._done:,}{self.unit}"
        text += f"  {elapsed:.1f} s"
        self.stream.write("\r" + text.ljust(self._width))
        self._width = len(text)
        self.stream.flush()

    def close(self) -> None:
        if self.shown and self._width:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()
