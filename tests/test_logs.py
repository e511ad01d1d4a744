"""Logging (#16): every line names its site; a JSON format on request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

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
