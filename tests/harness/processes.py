"""Helpers for tests that run real servers: free ports, and waiting for a server to answer."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from typing import Any

import httpx


def free_ports(count: int) -> list[int]:
    """``count`` TCP ports on 127.0.0.1 that were free a moment ago."""
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [int(s.getsockname()[1]) for s in sockets]
    for s in sockets:
        s.close()
    return ports


def wait_until_answering(
    url: str,
    process: subprocess.Popen[Any] | None = None,
    timeout: float = 30.0,
    *,
    verify: ssl.SSLContext | bool = True,
) -> None:
    """Poll ``url`` until the server behind it answers (any status); give up when
    ``process`` exits or after ``timeout`` seconds. ``verify``: the CAs an https URL's
    certificate is checked against. Blocking: for synchronous test code."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1, verify=verify)
            return
        except httpx.HTTPError:
            if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(0.1)
