"""What an endpoint answers: status, body, its declared content type, extra headers."""

from __future__ import annotations

from typing import NamedTuple

from starlette.types import Send

from asgi_sessionsync.pages import error_page

Headers = list[tuple[bytes, bytes]]

HTML = b"text/html; charset=utf-8"
TEXT = b"text/plain; charset=utf-8"
# Every answer of these endpoints may carry a token or set a cookie: never cached, and
# its URL (which may hold a token) never leaks through Referer.
NO_STORE: Headers = [(b"cache-control", b"no-store"), (b"referrer-policy", b"no-referrer")]
# The HTML pages are in the language Accept-Language chose (asgi_sessionsync.i18n).
LANGUAGE_VARIES: Headers = [(b"vary", b"accept-language")]


class Reply(NamedTuple):
    status: int
    body: bytes = b""
    content_type: bytes = TEXT
    headers: Headers = []

    async def send(self, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [
                    (b"content-type", self.content_type),
                    (b"content-length", str(len(self.body)).encode()),
                    *NO_STORE,
                    *(LANGUAGE_VARIES if self.content_type == HTML else ()),
                    *self.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": self.body})


def text(status: int, body: str, headers: Headers | None = None) -> Reply:
    return Reply(status, body.encode(), TEXT, headers or [])


def html(status: int, body: bytes, headers: Headers | None = None) -> Reply:
    return Reply(status, body, HTML, headers or [])


def page(status: int, title: str, message: str, *, link: str | None = None) -> Reply:
    """A short human page: what happened, in plain words, and where to go on."""
    return html(status, error_page(title, message, link=link))


def redirect(location: str, headers: Headers | None = None) -> Reply:
    return Reply(303, b"", TEXT, [(b"location", location.encode("latin-1")), *(headers or [])])


def empty(status: int = 204) -> Reply:
    return Reply(status, b"", TEXT, [])
