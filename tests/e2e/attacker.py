"""The attacker's tools for the browser suite: a site on another origin, and a proxy
that lets the attacker's own browser capture sign-in URLs instead of using them.

Both run in threads of the test process, on loopback only, and stop when their
``with`` block ends.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.harness.browsers import Tls

PREFIX = "/_sessionsync/"


def _loopback_socket() -> socket.socket:
    """A listening port chosen by the kernel: free, and never raced for."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class EvilSite:
    """``http://evil.localhost:<port>`` (or another host, over https): serves the HTML the
    test puts in ``pages``, with the ``Set-Cookie`` values it puts in ``cookies`` (by path)."""

    def __init__(self, port: int, host: str = "evil.localhost", scheme: str = "http") -> None:
        self.origin = f"{scheme}://{host}:{port}"
        self.pages: dict[str, str] = {}
        self.cookies: dict[str, list[str]] = {}

    def url(self, path: str) -> str:
        return self.origin + path

    async def answer(self, request: Request) -> Response:
        body = self.pages.get(request.url.path)
        if body is None:
            return PlainTextResponse("not found", status_code=404)
        response = HTMLResponse(f'<!doctype html><html lang="en"><head><title>Evil</title></head><body>{body}</body>')
        for cookie in self.cookies.get(request.url.path, ()):
            response.headers.append("set-cookie", cookie)
        return response


@contextmanager
def evil_site(host: str = "evil.localhost", tls: Tls | None = None) -> Iterator[EvilSite]:
    """The attacker's site, a Starlette app served by uvicorn in a thread (over https with
    ``tls``, whose certificate must name ``host``)."""
    sock = _loopback_socket()
    site = EvilSite(sock.getsockname()[1], host, "https" if tls else "http")
    app = Starlette(routes=[Route("/{path:path}", site.answer)])
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            ssl_certfile=str(tls.cert) if tls else None,
            ssl_keyfile=str(tls.key) if tls else None,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the attacker's site did not start")
            time.sleep(0.02)
        yield site
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


_HOP_BY_HOP = frozenset(
    {
        "connection",
        "proxy-connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-authenticate",
        "content-length",
    }
)


class CapturingProxy:
    """An HTTP proxy for the attacker's own browser (Chromium's ``--proxy-server``).

    Forwards every request to its loopback site unchanged, records every URL under the
    middleware's prefix, and answers the first request for ``stop_origin``'s sign-in step
    (its ``hop``; v1 also had ``frame``) with a 502 of its own instead of forwarding it:
    that step stays unused, in the attacker's hands.
    """

    STEPS = ("hop", "frame")

    def __init__(self, stop_origin: str) -> None:
        self.stop_origin = stop_origin
        self.captured: list[str] = []
        self.stopped: str | None = None
        self._lock = threading.Lock()
        self.server: str = ""

    def _stop(self, url: str) -> bool:
        with self._lock:
            path = urlsplit(url).path
            if "/_sessionsync/" in path and not path.endswith("/ping"):  # a catch-up page's probes: no step
                self.captured.append(url)
            step = url.removeprefix(self.stop_origin + PREFIX).partition("?")[0]
            if self.stopped is None and url.startswith(self.stop_origin + PREFIX) and step in self.STEPS:
                self.stopped = url
                return True
            return False

    def wait_for_capture(self, timeout: float = 15.0, quiet: float = 1.0) -> list[str]:
        """Every URL captured once the stop happened and nothing new came for ``quiet`` s."""
        deadline = time.monotonic() + timeout
        while self.stopped is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the attacker's chain never reached {self.stop_origin}: {self.captured}")
            time.sleep(0.05)
        seen, since = len(self.captured), time.monotonic()
        while time.monotonic() - since < quiet and time.monotonic() < deadline:
            time.sleep(0.05)
            if len(self.captured) != seen:
                seen, since = len(self.captured), time.monotonic()
        with self._lock:
            return list(self.captured)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _forward(self) -> None:
                target = urlsplit(self.path)
                host = target.hostname or ""
                if target.scheme != "http" or not (host == "127.0.0.1" or host.endswith(".localhost")):
                    self._answer(403, "loopback only")  # this proxy never leaves the machine
                    return
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy._stop(self.path):
                    self._answer(502, "captured by the attacker")
                    return
                path = target.path + (f"?{target.query}" if target.query else "")
                upstream = http.client.HTTPConnection("127.0.0.1", target.port or 80, timeout=30)
                try:
                    upstream.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
                    for name, value in self.headers.items():
                        if name.lower() not in _HOP_BY_HOP:
                            upstream.putheader(name, value)
                    if body is not None:
                        upstream.putheader("Content-Length", str(len(body)))
                    upstream.endheaders(body)
                    response = upstream.getresponse()
                    data = response.read()
                    self.send_response_only(response.status, response.reason)
                    for name, value in response.getheaders():
                        if name.lower() not in _HOP_BY_HOP:
                            self.send_header(name, value)
                finally:
                    upstream.close()
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _answer(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response_only(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_HEAD = _forward

        return Handler


@contextmanager
def capturing_proxy(stop_origin: str) -> Iterator[CapturingProxy]:
    proxy = CapturingProxy(stop_origin)
    server = ThreadingHTTPServer(("127.0.0.1", 0), proxy.handler())
    server.daemon_threads = True
    proxy.server = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
