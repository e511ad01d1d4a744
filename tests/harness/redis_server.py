"""A real, throwaway ``redis-server`` on loopback, for tests and benchmarks.

``start_redis_server(directory)`` runs Debian's ``redis-server`` (or the one on ``PATH``)
on a free port, without persistence, and yields its ``redis://`` URL once it answers
PING; it stops the server on exit. Never a shared server: each caller gets its own.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.harness.processes import free_ports

STARTUP_TIMEOUT = 10.0


def redis_binary() -> str | None:
    """The ``redis-server`` binary, or None when it is not installed."""
    return shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def start_redis_server(directory: Path, *, binary: str | None = None) -> Iterator[str]:
    """Run ``redis-server`` on a free loopback port, without persistence, with its
    files in ``directory``; yield its URL once it answers PING; stop it on exit.
    Raises RuntimeError when no binary is installed or it will not start."""
    binary = binary or redis_binary()
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    directory.mkdir(parents=True, exist_ok=True)
    for _ in range(3):  # a free port can be taken between the probe and the bind
        (port,) = free_ports(1)
        log = directory / f"redis-{port}.log"
        process = subprocess.Popen(
            [
                *(binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                *("--dir", str(directory), "--logfile", str(log)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while process.poll() is None and not _answers_ping(port):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer PING within {STARTUP_TIMEOUT:g} s")
                time.sleep(0.02)
            if process.poll() is None:
                yield f"redis://127.0.0.1:{port}/0"
                return
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    raise RuntimeError(f"redis-server would not start; see {directory}")
