"""The injection checklist, through the real middleware on a sign-in response.

The app under test signs a user in and answers with the ASGI messages each test
gives; a real peer (B) answers the health check. The tests read the raw messages the
middleware sends on.
"""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.types import Message, Receive, Scope, Send

from asgi_sessionsync import sign_in
from asgi_sessionsync.injection import HTMLInjector
from asgi_sessionsync.testing import SiteNetwork

HOP = b"https://b.example/_sessionsync/pull?i="


def start(content_type: bytes = b"text/html; charset=utf-8", *extra: tuple[bytes, bytes]) -> Message:
    return {"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type), *extra]}


def body(data: bytes, more: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


async def respond(messages: list[Message], *, mode: str = "bounce") -> tuple[list[Message], list[list[Message]]]:
    """Run the messages through A's middleware; return what it sent, and what it had
    sent by the time the app handed over each message."""
    sent: list[Message] = []
    seen_at_each: list[list[Message]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        sign_in(scope, "x@example.com")
        for message in messages:
            await send(message)
            seen_at_each.append(list(sent))

    net = SiteNetwork({"a": app, "b": Starlette()}, settings={"sync_mode": mode})
    middleware = net.sites["a"]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/welcome",
        "raw_path": b"/welcome",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"a.example")],
        "client": ("203.0.113.7", 5000),
        "server": ("a.example", 443),
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    async with net:
        await middleware(scope, receive, send)
    return sent, seen_at_each


def full_body(sent: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def header(message: Message, name: bytes) -> list[bytes]:
    return [v for k, v in message["headers"] if k == name]


def pending_cookie_set(message: Message) -> bool:
    return any(c.startswith(b"__Host-sessionsync-sync=") for c in header(message, b"set-cookie"))


async def test_single_chunk_html_gets_the_chain_before_body_and_a_corrected_length() -> None:
    page = b"<html><body><h1>Welcome</h1></body></html>"
    sent, _ = await respond([start(b"text/html", (b"content-length", str(len(page)).encode())), body(page)])
    out = full_body(sent)
    assert out.startswith(b'<html><body><h1>Welcome</h1><meta http-equiv="refresh" content="0;url=' + HOP)
    assert out.endswith(b"</noscript></body></html>")
    assert header(sent[0], b"content-length") == [str(len(out)).encode()]
    assert not pending_cookie_set(sent[0])


async def test_streamed_html_is_injected_before_a_split_closing_tag_without_holding_the_body() -> None:
    chunks = [b"<html><body>" + b"x" * 5000, b"<p>more</p></bo", b"dY></html>"]
    sent, seen = await respond([start(), body(chunks[0], True), body(chunks[1], True), body(chunks[2])])
    out = full_body(sent)
    index = out.index(b"</bodY>")
    assert b'http-equiv="refresh"' in out[:index] and out[index:] == b"</bodY></html>"
    assert out.replace(out[out.index(b"<meta") : index], b"") == b"".join(chunks)
    # The first chunk was passed on before the app sent the second one.
    assert full_body(seen[1]).startswith(b"<html><body>xxxx")
    assert header(sent[0], b"content-length") == []


async def test_streamed_html_with_content_length_is_buffered_and_its_length_corrected() -> None:
    chunks = [b"<html><body>hello", b" world</body></html>"]
    length = str(sum(map(len, chunks))).encode()
    sent, _ = await respond([start(b"text/html", (b"content-length", length)), body(chunks[0], True), body(chunks[1])])
    out = full_body(sent)
    assert b'http-equiv="refresh"' in out
    assert header(sent[0], b"content-length") == [str(len(out)).encode()]


async def test_encoded_html_is_untouched_and_the_sync_waits_for_the_next_page() -> None:
    data = b"\x1f\x8b compressed </body> bytes"
    sent, _ = await respond([start(b"text/html", (b"content-encoding", b"gzip")), body(data)])
    assert full_body(sent) == data
    assert pending_cookie_set(sent[0])


async def test_non_html_response_is_untouched() -> None:
    data = b'{"html": "</body>"}'
    sent, _ = await respond([start(b"application/json"), body(data)])
    assert full_body(sent) == data
    assert pending_cookie_set(sent[0])


async def test_xhtml_is_injected() -> None:
    sent, _ = await respond([start(b"application/xhtml+xml"), body(b"<html><body>x</body></html>")])
    assert b'http-equiv="refresh"' in full_body(sent)


async def test_html_without_closing_body_is_untouched_and_keeps_its_length() -> None:
    page = b"<html><p>fragment</p>"
    sent, _ = await respond([start(b"text/html", (b"content-length", str(len(page)).encode())), body(page)])
    assert full_body(sent) == page
    assert header(sent[0], b"content-length") == [str(len(page)).encode()]


async def test_two_closing_body_tags_inject_before_the_last_only() -> None:
    page = b"<html><body><pre>&lt;/body&gt; </body></pre></body></html>"
    sent, _ = await respond([start(), body(page)])
    out = full_body(sent)
    assert out.count(b"<meta") == 1
    assert out.index(b"<meta") > out.index(b"</body></pre>")
    assert out.endswith(b"</noscript></body></html>")


@pytest.mark.parametrize("mode", ["frame", "auto"])
async def test_csp_nonce_of_the_response_is_used_for_the_injected_script(mode: str) -> None:
    csp = (b"content-security-policy", b"default-src 'self'; script-src 'self' 'nonce-r4nd0m+/='")
    sent, _ = await respond([start(b"text/html", csp), body(b"<html><body>x</body></html>")], mode=mode)
    out = full_body(sent)
    assert b'<iframe src="https://b.example/_sessionsync/pull?i=' in out
    if mode == "auto":
        assert b'<script nonce="r4nd0m+/=">' in out
    else:
        assert b"<script" not in out


async def test_pathsend_is_passed_through_untouched() -> None:
    messages = [start(), {"type": "http.response.pathsend", "path": "/srv/page.html"}]
    sent, _ = await respond(messages)
    assert sent[1] == messages[1]
    assert len(sent) == 2


async def test_event_stream_is_passed_through_chunk_by_chunk() -> None:
    events = [body(b"data: </body>\n\n", True), body(b"data: two\n\n", True), body(b"")]
    sent, seen = await respond([start(b"text/event-stream"), *events])
    assert sent[1:] == events
    assert len(seen[1]) == 2  # the first event went out before the second was sent


async def test_a_closing_tag_followed_by_a_long_tail_is_injected_without_waiting_for_the_end() -> None:
    out: list[Message] = []

    async def send(message: Message) -> None:
        out.append(message)

    injector = HTMLInjector(send, start(), b"<!--S-->")
    await injector(body(b"<body>a</body>", True))
    await injector(body(b"x" * (70 * 1024), True))
    assert injector.injected
    assert full_body(out).startswith(b"<body>a<!--S--></body>xx")
    await injector(body(b"tail"))
    assert full_body(out).endswith(b"xtail")


async def test_response_header_names_in_any_case_are_understood() -> None:
    # Django's ASGI handler sends "Content-Type" and "Content-Length" capitalised.
    page = b"<html><body>x</body></html>"
    start_message = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"Content-Type", b"text/html"), (b"Content-Length", str(len(page)).encode())],
    }
    sent, _ = await respond([start_message, body(page)])
    out = full_body(sent)
    assert b'http-equiv="refresh"' in out
    lengths = [v for k, v in sent[0]["headers"] if k.lower() == b"content-length"]
    assert lengths == [str(len(out)).encode()]
