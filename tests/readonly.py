"""Making a directory read-only for a test, as a read-only disk or a file the server may not
write would be.

Root ignores file modes (a 0444 file is still written by root), so as root the directory
gets a read-only bind mount of itself (``mount --bind`` then ``remount,ro``), which stops
root too; as anyone else its mode and its files' modes are taken away. Without the right
to mount, a root test is skipped (or fails in CI, ``tests.requirements.skip_or_fail``); a
test that needs an open file made read-only is skipped when not run as root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.requirements import skip_or_fail


def _mount(*args: str) -> bool:
    mount = shutil.which("mount")
    if mount is None:
        return False
    done = subprocess.run([mount, *args], capture_output=True, check=False)
    return done.returncode == 0


def _umount(directory: Path) -> None:
    umount = shutil.which("umount") or "umount"
    subprocess.run([umount, str(directory)], capture_output=True, check=False)


@contextlib.contextmanager
def bind_mounted(directory: Path) -> Iterator[Path]:
    """``directory`` as a bind mount of itself (root only), so that it can be made
    read-only and writable again while files in it stay open (:func:`remount`)."""
    if os.geteuid() != 0:
        pytest.skip("making an open file read-only needs root (a read-only remount)")
    if not _mount("--bind", str(directory), str(directory)):
        skip_or_fail("mount --bind is not allowed here (needs CAP_SYS_ADMIN)")
    try:
        yield directory
    finally:
        _umount(directory)


def remount(directory: Path, *, read_only: bool) -> None:
    """Make a :func:`bind_mounted` directory read-only, or writable again."""
    option = "remount,bind,ro" if read_only else "remount,bind,rw"
    if not _mount("-o", option, str(directory)):
        raise RuntimeError(f"mount -o {option} {directory} failed")


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """``directory`` and the files in it read-only for this process and its children."""
    if os.geteuid() == 0:
        with bind_mounted(directory):
            remount(directory, read_only=True)
            yield
        return
    modes = {path: path.stat().st_mode & 0o777 for path in [directory, *directory.iterdir()]}
    for path in modes:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
