"""The who-am-I endpoint (#26) in Chromium: a page on site B calls site A's
``/_sessionsync/whoami`` with ``fetch(..., {credentials: "include"})`` and reads the
shared login; a page on an origin outside the network gets no readable answer (the
browser's CORS check fails the fetch). Auto mode (the session cookie is
``SameSite=None``: sent cross-site where third-party cookies are allowed) and bounce
mode (``SameSite=Lax``: never sent by a cross-site fetch, and the answer says so
rather than "signed out")."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.constants import ALICE
from tests.e2e.browser import sign_in
from tests.e2e.harness import Demo, require_chromium, run_demo

FETCH = """async (url) => {
  try {
    const answer = await fetch(url, {credentials: "include"});
    return {status: answer.status, body: await answer.json()};
  } catch (error) {
    return {error: String(error)};
  }
}"""


@pytest.fixture(scope="module", params=["auto", "bounce"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    require_chromium()
    with run_demo(tmp_path_factory.mktemp("demo"), mode=request.param) as running:
        running.mode = request.param  # type: ignore[attr-defined]
        yield running


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>elsewhere</title><h1>Not one of the network's sites</h1>"
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[str]:
    """An origin outside the network: a plain page on 127.0.0.1 at a free port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def ask(page: Any, demo: Demo) -> dict[str, Any]:
    return dict(page.evaluate(FETCH, demo.url("a", "/_sessionsync/whoami")))


@pytest.mark.parametrize("third_party", [True, False], ids=["3p-allowed", "3p-blocked"])
def test_a_page_on_b_reads_the_shared_login_from_a(
    demo: Demo, open_browser: Callable[..., Any], third_party: bool
) -> None:
    context = open_browser(third_party_cookies=third_party)
    page = context.new_page()
    sign_in(page, demo, "a", *ALICE)
    page.goto(demo.url("b"))
    answer = ask(page, demo)
    assert answer.get("status") == 200, answer
    body = answer["body"]
    assert body["site"] == demo.url("a").rstrip("/")
    if demo.mode == "auto" and third_party:  # type: ignore[attr-defined]
        # SameSite=None and third-party cookies allowed: the cookie goes with the fetch.
        assert body == {**body, "signed_in": True, "email": ALICE[0]}, body
    else:
        # Lax (bounce mode) or third-party cookies blocked: A cannot see its cookie and
        # says so; it never answers "signed out".
        assert body["signed_in"] is None and body["why"], body


def test_a_page_outside_the_network_gets_no_readable_answer(
    demo: Demo, open_browser: Callable[..., Any], elsewhere: str
) -> None:
    context = open_browser(third_party_cookies=True)
    page = context.new_page()
    sign_in(page, demo, "a", *ALICE)
    page.goto(elsewhere)
    answer = ask(page, demo)
    assert "error" in answer and "status" not in answer, answer  # TypeError: Failed to fetch
    assert ALICE[0] not in str(answer)
