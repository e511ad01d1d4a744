"""Logging (#16): every line names its site; a JSON format on request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import asgi_sessionsync
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.logs import JSONFormatter, site_log, use_json_logs
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.site import Site
from tests.constants import ALICE
from tests.sites import URLS, Browser, Sites


async def test_every_line_of_the_package_names_its_site(sites: Sites, caplog: pytest.LogCaptureFixture) -> None:
    network, _ = sites
    caplog.set_level(logging.DEBUG, logger="asgi_sessionsync")
    browser = Browser(network)
    await browser.sign_in("a", *ALICE)
    await browser.sign_out("b")
    await browser.get(f"{URLS['b']}/_sessionsync/hop?e=junk")
    records = [r for r in caplog.records if r.name.startswith("asgi_sessionsync")]
    assert len({r.name for r in records}) >= 3
    for record in records:
        site = getattr(record, "site", None)
        assert site in URLS.values(), record.getMessage()
        assert record.getMessage().startswith(f"[{site}] ")
    said = {getattr(r, "site", None) for r in records}
    assert said == set(URLS.values())


def test_the_json_formatter_writes_one_object_a_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("asgi_sessionsync.test-json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        site_log("asgi_sessionsync.test-json", "https://a.example").warning("peer %s is down", "https://b.example")
        logger.error("no site here")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["site"] == "https://a.example" and first["message"] == "peer https://b.example is down"
    assert first["level"] == "WARNING" and first["logger"] == "asgi_sessionsync.test-json"
    assert "site" not in second and second["message"] == "no site here"


@pytest.fixture
def package_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("asgi_sessionsync")
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
    yield logger
    logger.handlers[:] = handlers
    logger.propagate, logger.level = propagate, level


async def test_log_format_json_gives_the_package_loggers_a_json_handler(package_logger: logging.Logger) -> None:
    env = {"SESSIONSYNC_SITE_URL": "https://a.example", "SESSIONSYNC_SECRET_KEYS": generate_secret()}
    site = Site(Settings.from_env({**env, "SESSIONSYNC_LOG_FORMAT": "json"}, env_file=None))
    await site.aclose()
    (handler,) = [h for h in package_logger.handlers if isinstance(h.formatter, JSONFormatter)]
    assert package_logger.propagate is False
    use_json_logs()  # again: still one handler
    assert [h for h in package_logger.handlers if isinstance(h.formatter, JSONFormatter)] == [handler]


FORGED = "https://evil.example\nWARNING asgi_sessionsync [https://a.example] admin signed in\x1b[2J"


async def test_a_value_from_a_request_cannot_forge_a_log_line(sites: Sites, caplog: pytest.LogCaptureFixture) -> None:
    """Red-team #20: ``pull?i=%0a…`` wrote the raw issuer into a warning. Every value of a
    request reaches a log line escaped (one point: the package's log adapter), on every
    step that logs one."""
    network, _ = sites
    caplog.set_level(logging.DEBUG, logger="asgi_sessionsync")
    browser = Browser(network)
    b = URLS["b"]
    await browser.get(f"{b}/_sessionsync/pull", params={"i": FORGED, "k": "x"})
    for path, name in (("authorize", "q"), ("hop", "e"), ("bounce", "t")):
        await browser.get(f"{b}/_sessionsync/{path}", params={name: FORGED})
    await browser.get(f"{b}/_sessionsync/bounce", params={"t": "x", "peers": FORGED})
    await browser.get(f"{b}/_sessionsync/verify", params={"r": FORGED})
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("asgi_sessionsync")]
    assert any("evil.example\\nWARNING" in m for m in messages), messages
    for message in messages:
        assert "\n" not in message and "\x1b" not in message, message


def test_the_package_log_escapes_its_arguments_and_messages(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="asgi_sessionsync")
    log = site_log("asgi_sessionsync.test-escape", "https://a.example")
    log.warning("peer %s said %r", "x\ny", ValueError("a\rb"))
    log.info(f"built by hand: {FORGED}")
    first, second = (r.getMessage() for r in caplog.records if r.name == "asgi_sessionsync.test-escape")
    assert first == "[https://a.example] peer x\\ny said ValueError('a\\rb')"
    assert "\n" not in second and "\\n" in second and "\\x1b" in second


def test_every_module_of_the_package_logs_through_the_escaping_log() -> None:
    """The one escaping point holds only if no module writes to a logger directly."""
    package = Path(asgi_sessionsync.__file__).resolve().parent
    allowed = {package / "logs.py", package / "logfilter.py"}  # the adapter itself; the access-log filter
    direct = [
        str(path.relative_to(package))
        for path in sorted(package.rglob("*.py"))
        if path not in allowed and "logging.getLogger(" in path.read_text(encoding="utf-8")
    ]
    assert direct == [], "log through asgi_sessionsync.logs.package_log or site_log"
