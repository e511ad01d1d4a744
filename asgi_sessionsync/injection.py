"""Streaming-safe insertion of a snippet before the last ``</body>`` of an HTML response.

Only ``text/html`` and ``application/xhtml+xml`` bodies without a content encoding are
touched. ``Content-Length`` is corrected only when the body changed; a body without
``</body>`` passes through unchanged; ``http.response.pathsend`` passes untouched. A
streamed body is never held whole: at most the bytes from the last ``</body>`` seen
(bounded by ``HOLD_LIMIT``) wait for the next chunk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.types import Message, Send

HTML_TYPES = (b"text/html", b"application/xhtml+xml")
TAG = b"</body"
# A body with Content-Length is buffered (to fix the length) up to this size;
# larger ones pass through untouched.
MAX_BUFFER = 1 << 20
# Bytes allowed after a held </body> before we stop waiting for a later one.
HOLD_LIMIT = 64 * 1024
_NONCE = re.compile(r"'nonce-([A-Za-z0-9+/=_-]+)'")


def is_injectable(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """True for an HTML response whose body is not encoded."""
    html = False
    for key, value in headers:
        key = key.lower()  # apps may send any case (Django sends "Content-Type")
        if key == b"content-type":
            html = value.split(b";", 1)[0].strip().lower() in HTML_TYPES
        elif key == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
            return False
    return html


def csp_nonce(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The nonce a response's own Content-Security-Policy allows for scripts, if any."""
    for key, value in headers:
        if key.lower() != b"content-security-policy":
            continue
        directives: dict[str, str] = {}
        for directive in value.decode("latin-1").split(";"):
            name, _, rest = directive.strip().partition(" ")
            directives.setdefault(name.lower(), rest)
        source = directives.get("script-src-elem") or directives.get("script-src") or directives.get("default-src")
        if source is not None:
            match = _NONCE.search(source)
            if match:
                return match.group(1)
    return None


def _last_tag(data: bytes) -> int:
    return data.lower().rfind(TAG)


def insert_before_last_body(body: bytes, snippet: bytes) -> bytes | None:
    """``body`` with ``snippet`` before its last ``</body>``, or None when it has none."""
    index = _last_tag(body)
    if index < 0:
        return None
    return body[:index] + snippet + body[index:]


class HTMLInjector:
    """A ``send`` wrapper, started with the held ``http.response.start`` message.

    ``fallback`` headers are added to the start unless the snippet is known to be in the
    body by then (a whole body was injected into): the caller's plan B, for example a
    cookie that makes the next page do what the snippet would have done.
    """

    __slots__ = ("_buffer", "_fallback", "_held", "_mode", "_send", "_snippet", "_start", "injected")

    def __init__(
        self, send: Send, start: Message, snippet: bytes, fallback: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self._send = send
        self._start = {**start, "headers": [*start.get("headers", ()), *fallback]} if fallback else start
        self._fallback = len(fallback or ())
        self._snippet = snippet
        self._mode = "first"  # first | buffer | stream | pass
        self._buffer = bytearray()
        self._held = b""
        self.injected = False

    def _declared_length(self) -> bool:
        return any(k.lower() == b"content-length" for k, _ in self._start.get("headers", ()))

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if self._mode == "pass":
            await self._send(message)
            return
        if kind != "http.response.body":
            # pathsend, trailers, anything new: hand over untouched from here on.
            await self._flush_start_and_buffer(more=True)
            self._mode = "pass"
            await self._send(message)
            return
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        if self._mode == "first":
            if not more:
                await self._whole(body)
            elif self._declared_length():
                self._mode = "buffer"
                self._buffer += body
            else:
                self._mode = "stream"
                await self._send(self._start)
                await self._stream(body, more)
        elif self._mode == "buffer":
            self._buffer += body
            if not more:
                await self._whole(bytes(self._buffer))
            elif len(self._buffer) > MAX_BUFFER:
                await self._flush_start_and_buffer(more=True)
                self._mode = "pass"
        else:
            await self._stream(body, more)

    async def _flush_start_and_buffer(self, *, more: bool) -> None:
        if self._mode in ("first", "buffer"):
            await self._send(self._start)
            if self._buffer:
                await self._send({"type": "http.response.body", "body": bytes(self._buffer), "more_body": more})
                self._buffer.clear()
        elif self._mode == "stream" and self._held:
            await self._send({"type": "http.response.body", "body": self._held, "more_body": more})
            self._held = b""

    async def _whole(self, body: bytes) -> None:
        changed = insert_before_last_body(body, self._snippet)
        if changed is not None:
            body = changed
            self.injected = True
            headers = list(self._start["headers"])
            if self._fallback:
                del headers[-self._fallback :]  # the snippet made it: no plan B needed
            if self._declared_length():
                headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
            self._start = {**self._start, "headers": headers}
        await self._send(self._start)
        await self._send({"type": "http.response.body", "body": body, "more_body": False})
        self._mode = "pass"

    async def _stream(self, chunk: bytes, more: bool) -> None:
        data = self._held + chunk
        if not more:
            index = _last_tag(data)
            if index >= 0:
                data = data[:index] + self._snippet + data[index:]
                self.injected = True
            await self._send({"type": "http.response.body", "body": data, "more_body": False})
            self._held = b""
            self._mode = "pass"
            return
        index = _last_tag(data)
        if index < 0:
            # Keep a possible partial "</body" at the end for the next chunk.
            cut = max(len(data) - (len(TAG) - 1), 0)
            emit, self._held = data[:cut], data[cut:]
        elif len(data) - index > HOLD_LIMIT:
            # A </body> followed by a long tail: take it as the last one and stop holding.
            emit, self._held = data[:index] + self._snippet + data[index:], b""
            self.injected = True
            self._mode = "pass"
        else:
            emit, self._held = data[:index], data[index:]
        if emit:
            await self._send({"type": "http.response.body", "body": emit, "more_body": True})
