"""A real, throwaway ``redis-server`` on loopback, for tests and benchmarks.

``start_redis_server(directory)`` runs Debian's ``redis-server`` (or the one on ``PATH``)
on a free port, without persistence, and yields its ``redis://`` URL once it answers
PING; it stops the server on exit. Never a shared server: each caller gets its own.

:class:`RedisServer` is the same server under a test's control, for fault tests: it can
be killed (``SIGKILL``), paused (``SIGSTOP``) and resumed, and started again on the same
port, with its data (``persistent=True``: an append-only file written at every command,
so a killed server comes back with everything) or empty.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
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


class RedisServer:
    """One ``redis-server`` on ``127.0.0.1:port``, files in ``directory``; see the module
    docstring. :meth:`start` raises RuntimeError when it will not start."""

    def __init__(self, directory: Path, port: int, *, binary: str | None = None, persistent: bool = False) -> None:
        found = binary or redis_binary()
        if found is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
        self.binary = found
        self.directory = directory
        self.port = port
        self.persistent = persistent
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, *, empty: bool = False) -> None:
        """Start the server (again); ``empty``: without the data a persistent one kept."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if empty:
            for kept in [*self.directory.glob("appendonly*"), *self.directory.glob("*.rdb")]:
                if kept.is_dir():
                    shutil.rmtree(kept)
                else:
                    kept.unlink()
        self.starts += 1
        persistence = ("--appendonly", "yes", "--appendfsync", "always") if self.persistent else ("--appendonly", "no")
        self.process = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *persistence,
                *("--dir", str(self.directory), "--logfile", str(self.directory / f"redis-{self.starts}.log")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while self.process.poll() is None and not _answers_ping(self.port):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING within {STARTUP_TIMEOUT:g} s")
            time.sleep(0.02)
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server would not start on port {self.port}; see {self.directory}")

    def kill(self) -> None:
        """Kill it (``SIGKILL``): no goodbye to its clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused process must be able to die
            self.process.kill()
            self.process.wait(10)

    def pause(self) -> None:
        """Freeze it (``SIGSTOP``): connections stay open, nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def start_redis_server(directory: Path, *, binary: str | None = None) -> Iterator[str]:
    """Run ``redis-server`` on a free loopback port, without persistence, with its
    files in ``directory``; yield its URL once it answers PING; stop it on exit.
    Raises RuntimeError when no binary is installed or it will not start."""
    for attempt in range(3):  # a free port can be taken between the probe and the bind
        (port,) = free_ports(1)
        server = RedisServer(directory, port, binary=binary)
        try:
            server.start()
        except RuntimeError:
            if attempt == 2:
                raise RuntimeError(f"redis-server would not start; see {directory}") from None
            continue
        try:
            yield server.url
            return
        finally:
            server.stop()
