"""The progress bar of long commands: drawn on a terminal, silent otherwise."""

from __future__ import annotations

import io

from asgi_sessionsync.cli import progress
from asgi_sessionsync.cli.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_it_draws_a_bar_and_ends_the_line() -> None:
    out = Terminal()
    bar = Progress("importing", 200, stream=out)
    bar.update(50)
    bar.update(100)  # within a tenth of a second: not drawn again
    bar.close()
    text = out.getvalue()
    assert text.startswith("\rimporting [") and text.endswith("\n")
    assert text.count("\r") == 2 and " 50%" in text
    assert "#" * (progress.WIDTH // 2) in text


def test_without_a_total_it_counts() -> None:
    out = Terminal()
    bar = Progress("exporting", None, unit=" users", stream=out)
    bar.update(12345)
    bar.close()
    assert "exporting 12,345 users" in out.getvalue()


def test_not_a_terminal_it_writes_nothing() -> None:
    out = io.StringIO()
    bar = Progress("importing", 10, stream=out)
    bar.update(5)
    bar.close()
    assert out.getvalue() == ""
