"""A real, throwaway ``redis-server`` for tests (and benchmarks) on loopback.

``start_redis_server(directory)`` is a plain context manager yielding a ``redis://``
URL; ``redis_server`` is the session-wide pytest fixture around it. Import either
from other test folders: ``from tests.stores.redis_server import redis_server``.

Without the binary a test is skipped on a developer machine and fails in CI
(``CI=true``), where it must be installed (Debian: ``apt-get install redis-server``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

STARTUP_TIMEOUT = 10.0


def redis_binary() -> str | None:
    return shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)


def require_redis_server() -> str:
    """The redis-server binary; skip without it, or fail when CI=true."""
    binary = redis_binary()
    if binary is not None:
        return binary
    message = "redis-server is not installed: apt-get install redis-server (the Redis store tests need a real one)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
    files in ``directory``; yield its URL once it answers PING; stop it on exit."""
    binary = binary or require_redis_server()
    directory.mkdir(parents=True, exist_ok=True)
    for _ in range(3):  # a free port can be taken between the probe and the bind
        port = _free_port()
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


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a redis-server that lives as long as the test session."""
    with start_redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url
