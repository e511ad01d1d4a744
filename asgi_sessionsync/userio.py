"""Files for ``users export|import``: an owner-only output file, and input read a batch of
lines at a time, both in a worker thread (one thread hop per batch, not per line)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

import anyio.to_thread

MAX_LINE = 64 * 1024  # bytes of one line; a longer one is reported as such


class PrivateFile:
    """A file created 0600 (never readable by others, not even for a moment), written in
    a worker thread; with ``force`` an existing file is replaced when the export ends
    (a new 0600 file renamed over it), so a failed export leaves the old one."""

    def __init__(self, path: Path, *, force: bool) -> None:
        self.path = path
        self._target: Path | None = None
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            if not force:
                raise FileExistsError(f"{path} exists: give --force to replace it") from None
            if path.is_dir() or path.is_symlink():
                raise FileExistsError(f"{path} is a directory or a symbolic link: not replaced") from None
            self._target = path
            self.path = path.with_name(f".{path.name}.{os.getpid()}.partial")
            self.path.unlink(missing_ok=True)
            fd = os.open(self.path, flags, 0o600)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # an odd umask cannot have narrowed it oddly
        self._file: IO[str] = os.fdopen(fd, "w", encoding="utf-8", newline="\n")

    async def write(self, text: str) -> None:
        await anyio.to_thread.run_sync(self._file.write, text)

    async def close(self, *, keep: bool = True) -> None:
        def finish() -> None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            if not keep:
                self.path.unlink(missing_ok=True)
            elif self._target is not None:
                os.replace(self.path, self._target)

        await anyio.to_thread.run_sync(finish)


class LineReader:
    """Lines of a file (or stdin), read a batch at a time in a worker thread, with the
    number of bytes read so far (for a progress bar)."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.number = 0
        self.bytes_read = 0

    def _read(self, count: int) -> list[tuple[int, bytes]]:
        lines = []
        for _ in range(count):
            raw = self.source.readline(MAX_LINE + 2)
            if not raw:
                break
            self.bytes_read += len(raw)
            self.number += 1
            if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
                # Too long: skip to the end of this line, report it as one.
                while raw and not raw.endswith(b"\n"):
                    raw = self.source.readline(MAX_LINE)
                    self.bytes_read += len(raw)
                lines.append((self.number, b"\xff too long"))
                continue
            lines.append((self.number, raw))
        return lines

    async def batch(self, count: int) -> list[tuple[int, bytes]]:
        return await anyio.to_thread.run_sync(self._read, count)


def decode(raw: bytes) -> str:
    if raw == b"\xff too long":
        raise ValueError(f"longer than {MAX_LINE} characters")
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None


def open_input(name: str) -> IO[bytes]:
    """The file to import (``-``: standard input)."""
    if name == "-":
        return sys.stdin.buffer
    return open(name, "rb")  # closed by the caller, after the import


def input_size(source: IO[bytes]) -> int | None:
    try:
        return os.fstat(source.fileno()).st_size or None
    except (OSError, ValueError):
        return None
