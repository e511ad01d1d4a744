"""The trivial app and its wrapped variants, as uvicorn factories (``--factory``)."""

from __future__ import annotations

from typing import Any

from starlette.middleware.sessions import SessionMiddleware
from starlette.types import Message, Receive, Scope, Send

from asgi_sessionsync import SessionSyncMiddleware, sign_in

HTML = b"<!doctype html><html><head><title>t</title></head><body><h1>Hello</h1></body></html>"
CHUNK = b"<p>" + b"x" * (64 * 1024 - 7) + b"</p>"
CHUNKS = (10 * 1024 * 1024) // len(CHUNK)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/login":
        if "session" in scope:  # under Starlette's SessionMiddleware: its own login
            scope["session"]["user"] = "alice@example.com"
        else:
            sign_in(scope, "alice@example.com")
    if path == "/big":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<html><body>", "more_body": True})
        for _ in range(CHUNKS):
            await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
        await send({"type": "http.response.body", "body": b"</body></html>"})
        return
    headers = [(b"content-type", b"text/html"), (b"content-length", str(len(HTML)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": HTML})


def bare() -> Any:
    return app


def send_wrapper_floor() -> Any:
    """The least any middleware that must see the response can do: wrap ``send``."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                scope.get("sessionsync.intent")
            await send(message)

        await app(scope, receive, watch)

    return middleware


def starlette_session() -> Any:
    return SessionMiddleware(app, secret_key="benchmark-secret-key-of-enough-length")


def sessionsync() -> Any:
    # Settings from SESSIONSYNC_* variables, as a deployment would give them.
    return SessionSyncMiddleware(app, env_file=None)


FACTORIES = {
    "bare": "bare",
    "send-wrapper floor": "send_wrapper_floor",
    "starlette-session": "starlette_session",
    "sessionsync": "sessionsync",
}
