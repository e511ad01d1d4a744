"""Devices from user agents with ua-parser: class, browser, OS and client type (issue #13)."""

from __future__ import annotations

import pytest

from asgi_sessionsync.governance.devices import CLIENT_TYPES, LIBRARY_FAMILIES, UNKNOWN, Device, Devices
from tests.governance.test_limits import DESKTOP, FIREFOX_WINDOWS, PHONE

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HEADLESS = DESKTOP.replace("Chrome/", "HeadlessChrome/")


@pytest.fixture(scope="module")
def devices() -> Devices:
    made = Devices()
    if not made.enabled:
        pytest.skip("ua-parser is not installed (the governance extra)")
    made.warm()
    return made


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (DESKTOP, "browser"),
        (PHONE, "browser"),
        (FIREFOX_WINDOWS, "browser"),
        (HEADLESS, "browser"),  # what Playwright's Chromium sends: still a browser
        ("curl/8.5.0", "library"),
        ("python-requests/2.31.0", "library"),
        ("okhttp/4.12.0", "library"),
        ("Go-http-client/1.1", "library"),
        ("Apache-HttpClient/4.5.13 (Java/17.0.1)", "library"),
        ("Python-urllib/3.11", "library"),  # ua-parser's device rules call it a spider: a program all the same
        (GOOGLEBOT, "bot"),
        ("Scrapy/2.11 (+https://scrapy.org)", "bot"),
        ("Mozilla/5.0", "other"),
        ("made-up-client", "other"),
    ],
)
def test_client_type_comes_from_ua_parsers_results(devices: Devices, user_agent: str, expected: str) -> None:
    device = devices.device_now(user_agent)
    assert device.client_type == expected
    assert Device.parse(str(device)) == device  # stored as class/browser/os/client type, read back


def test_every_library_family_is_a_family_ua_parser_reports(devices: Devices) -> None:
    """The list holds names, not patterns: each is what ua-parser itself reports for that
    library's user agent, so the list cannot drift into a hand-written matcher."""
    from ua_parser import parse

    for family in sorted(LIBRARY_FAMILIES):
        candidates = (f"{family}/1.2.3", f"{family} 1.2.3", family.replace(" ", "-").lower() + "/1.2.3")
        matching = [ua for ua in candidates if (found := parse(ua).user_agent) is not None and found.family == family]
        assert matching, f"ua-parser reports no family {family!r}"
        assert devices.device_now(matching[0]).client_type == "library"


def test_a_device_recorded_before_client_types_reads_back_without_one() -> None:
    assert Device.parse("mobile/Mobile Safari/iOS") == Device("mobile", "Mobile Safari", "iOS", "")
    assert str(Device("mobile", "Mobile Safari", "iOS")) == "mobile/Mobile Safari/iOS"
    assert Device.parse("desktop/Chrome/Linux/browser").described == "desktop/Chrome/Linux"
    assert Device.parse("") == Device("", "", "") and Device.parse("").described == ""
    assert UNKNOWN.client_type == "other" and set(CLIENT_TYPES) == {"browser", "library", "bot", "other"}
