"""Real browsers for tests and benchmarks, driven without anything downloaded at run time.

- Chromium (Debian's ``/usr/bin/chromium``) by Playwright: :data:`CHROMIUM`,
  :data:`CHROMIUM_ARGS`, and :class:`ChromiumTab`, a page with the same few steps as the
  others.
- Firefox ESR over Marionette (Mozilla's ``marionette-driver``; no geckodriver):
  :class:`Firefox`, :func:`firefox`.
- WebKitGTK's MiniBrowser over ``WebKitWebDriver`` and Selenium, under Xvfb:
  :class:`WebKit`, :func:`webkit`.
- :class:`Tls`: a certificate for ``*.localhost`` sites made per run by a throwaway CA
  (``trustme``), for WebKit, which keeps no ``Secure`` cookie over plain http.

Each tab has ``goto``, ``url``, ``text``, ``fill``, ``click``, ``wait_for_url`` and
``screenshot`` (:class:`Tab`). The drivers are imported when a browser starts: this
module imports none of them. ``missing(browser)`` says what is not installed.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Tab(Protocol):
    """One browser tab, as the scenarios and benchmarks drive it: top-level navigations."""

    def goto(self, url: str) -> None: ...
    @property
    def url(self) -> str: ...
    def text(self, selector: str) -> str: ...
    def fill(self, selector: str, value: str) -> None: ...
    def click(self, selector: str) -> None: ...
    def wait_for_url(self, url: str, timeout: float = 15.0) -> None: ...
    def screenshot(self, path: Path) -> None: ...


def missing(browser: str) -> str | None:
    """What is not installed to drive ``browser`` (chromium, firefox, webkit), or None."""
    needs: dict[str, list[tuple[str, str]]] = {
        "chromium": [(CHROMIUM, "apt-get install chromium"), ("playwright", "pip install -e '.[test]'")],
        "firefox": [(FIREFOX, "apt-get install firefox-esr"), ("marionette_driver", "pip install -e '.[test]'")],
        "webkit": [
            (WEBKIT_DRIVER, "apt-get install webkit2gtk-driver"),
            (MINIBROWSER, "apt-get install webkit2gtk-driver"),
            (XVFB, "apt-get install xvfb"),
            ("selenium", "pip install -e '.[test]'"),
        ],
    }
    absent = [
        (what, how)
        for what, how in needs[browser]
        if not (Path(what).exists() if what.startswith("/") else importlib.util.find_spec(what) is not None)
    ]
    if not absent:
        return None
    return "; ".join(f"{what} is not installed ({how})" for what, how in absent)


# -- certificates ------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    """A certificate for ``hosts`` (by default the demo's three and 127.0.0.1, the
    back-channel), made for one run by a throwaway CA (``trustme``); nothing is
    installed anywhere."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def make(cls, tmp: Path, hosts: Sequence[str] = ("a.localhost", "b.localhost", "c.localhost")) -> Tls:
        import trustme

        authority = trustme.CA()
        issued = authority.issue_cert(*hosts, "127.0.0.1")
        paths = cls(tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem")
        authority.cert_pem.write_to_path(str(paths.ca))
        issued.cert_chain_pems[0].write_to_path(str(paths.cert))
        issued.private_key_pem.write_to_path(str(paths.key))
        return paths


# -- Chromium ----------------------------------------------------------------------------


class ChromiumTab:
    """A Playwright page with the :class:`Tab` steps."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def goto(self, url: str) -> None:
        self.page.goto(url)

    @property
    def url(self) -> str:
        return str(self.page.url)

    def text(self, selector: str) -> str:
        return str(self.page.locator(selector).first.inner_text())

    def fill(self, selector: str, value: str) -> None:
        self.page.fill(selector, value)

    def click(self, selector: str) -> None:
        self.page.click(selector)

    def wait_for_url(self, url: str, timeout: float = 15.0) -> None:
        self.page.wait_for_url(url, timeout=timeout * 1000)

    def screenshot(self, path: Path) -> None:
        self.page.screenshot(path=str(path))


# -- Firefox -----------------------------------------------------------------------------

FIREFOX = "/usr/bin/firefox-esr"
FLAGS = ("--headless", "--marionette", "-remote-allow-system-access", "--no-remote")

# Quiet, deterministic start-up. Marionette's own "recommended" prefs are turned off:
# one of them (private-browsing tracking protection off) makes Firefox report its
# protection category as "custom" instead of "standard", and the scenario is about the
# protection as a user has it.
BASE_PREFS: dict[str, object] = {
    "marionette.port": 0,
    "remote.prefs.recommended": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.page": 0,
    "browser.startup.homepage_override.mstone": "ignore",
    "startup.homepage_welcome_url": "about:blank",
    "browser.aboutwelcome.enabled": False,
    "browser.tabs.warnOnClose": False,
    "browser.warnOnQuit": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
    "app.normandy.enabled": False,
    "messaging-system.rsexperimentloader.enabled": False,
    "services.settings.server": "http://127.0.0.1:9/",
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "extensions.update.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.http.speculative-parallel-limit": 0,
}

# Enhanced Tracking Protection, strict: Firefox applies the whole strict set at start-up
# (browser.contentblocking.features.strict, which includes "btp": bounce tracking
# protection mode 1, enabled).
STRICT = {"browser.contentblocking.category": "strict"}


def fast_bounce_tracking_protection(grace_seconds: int = 1, purge_seconds: int = 2) -> dict[str, object]:
    """Bounce tracking protection on, with its timers cut from an hour to seconds.

    Names from Firefox's StaticPrefList.yaml (privacy.bounceTrackingProtection.*);
    modes from nsIBounceTrackingProtection: 0 disabled, 1 enabled, 2 standby (user
    activation is collected, nothing is classified), 3 dry run (classified, not purged).
    """
    return {
        "privacy.bounceTrackingProtection.mode": 1,
        "privacy.bounceTrackingProtection.bounceTrackingGracePeriodSec": grace_seconds,
        "privacy.bounceTrackingProtection.bounceTrackingPurgeTimerPeriodSec": purge_seconds,
        "privacy.bounceTrackingProtection.clientBounceDetectionTimerPeriodMS": 1000,
    }


class Cookie(NamedTuple):
    host: str
    name: str
    partition: str  # "" for a first-party (unpartitioned) cookie, else the top-level site it is keyed by


def _pref_line(name: str, value: object) -> str:
    return f"user_pref({json.dumps(name)}, {json.dumps(value)});\n"


class Firefox:
    """One Firefox process on one fresh profile, and its Marionette session."""

    def __init__(self, profile: Path, prefs: Mapping[str, object]) -> None:
        profile.mkdir(parents=True)
        (profile / "user.js").write_text("".join(_pref_line(k, v) for k, v in {**BASE_PREFS, **prefs}.items()))
        self.profile = profile
        self.log = (profile.parent / f"{profile.name}.log").open("wb")
        self.process = subprocess.Popen(  # noqa: S603 (a fixed executable, our own arguments)
            [FIREFOX, *FLAGS, "--profile", str(profile)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MOZ_HEADLESS": "1", "MOZ_CRASHREPORTER_DISABLE": "1"},
        )
        self.client: Any = None
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    def _connect(self) -> None:
        with warnings.catch_warnings():
            # mozinfo and mozrunner, imported by the client, use deprecated distro/telnetlib calls.
            warnings.simplefilter("ignore", DeprecationWarning)
            from marionette_driver.marionette import Marionette

        active = self.profile / "MarionetteActivePort"
        deadline = time.monotonic() + 60
        while not (active.exists() and active.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Firefox did not start Marionette:\n{Path(self.log.name).read_text()[-4000:]}")
            time.sleep(0.1)
        self.client = Marionette(host="127.0.0.1", port=int(active.read_text()))
        self.client.start_session()
        self.client.timeout.page_load = 30
        self.client.timeout.implicit = 0

    def close(self) -> None:
        if self.client is not None:
            # The session may already be gone with the process.
            with contextlib.suppress(Exception):
                self.client.delete_session()
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    # -- a page ------------------------------------------------------------------------

    def goto(self, url: str) -> None:
        self.client.navigate(url)

    @property
    def url(self) -> str:
        return str(self.client.get_url())

    def text(self, selector: str) -> str:
        return str(self.client.find_element("css selector", selector).text)

    def fill(self, selector: str, value: str) -> None:
        element = self.client.find_element("css selector", selector)
        element.clear()
        element.send_keys(value)

    def click(self, selector: str) -> None:
        self.client.find_element("css selector", selector).click()

    def wait_for_url(self, url: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.url != url:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected to land on {url}, still on {self.url}")
            time.sleep(0.01)  # (each look is a round trip to the driver already)

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.client.screenshot()))

    # -- the browser's own state (chrome context) ---------------------------------------

    def chrome(self, script: str, args: list[Any] | None = None) -> Any:
        with self.client.using_context("chrome"):
            return self.client.execute_script(script, script_args=args or [])

    def pref(self, name: str) -> object:
        return self.chrome(
            """const [n] = arguments; const t = Services.prefs.getPrefType(n);
            return t == 64 ? Services.prefs.getIntPref(n) : t == 128 ? Services.prefs.getBoolPref(n)
                 : t == 32 ? Services.prefs.getStringPref(n) : null;""",
            [name],
        )

    def cookies(self) -> list[Cookie]:
        # Firefox lists a cookie deleted by ``Max-Age=0`` until its next purge when the
        # deletion fell within the millisecond the cookie was stored: it has expired
        # (never sent again) but is still in ``Services.cookies.cookies``. Not a cookie.
        rows = self.chrome(
            "const now = Date.now(); return Services.cookies.cookies.filter(c => c.isSession || c.expiry > now)"
            ".map(c => [c.host, c.name, c.originAttributes.partitionKey || '']);"
        )
        return sorted(Cookie(*row) for row in rows)


@contextmanager
def firefox(tmp: Path, prefs: Mapping[str, object] | None = None) -> Iterator[Firefox]:
    """A Firefox on a fresh profile under ``tmp``; stopped (and the profile removed) on exit."""
    browser = Firefox(tmp / f"firefox-profile-{time.monotonic_ns()}", prefs or {})
    try:
        yield browser
    finally:
        browser.close()


# -- WebKitGTK ---------------------------------------------------------------------------

WEBKIT_DRIVER = "/usr/bin/WebKitWebDriver"
MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
XVFB = "/usr/bin/Xvfb"


@contextmanager
def xvfb() -> Iterator[str]:
    """An X server on a free display; its ``DISPLAY`` value."""
    read, write = os.pipe()
    process = subprocess.Popen(  # noqa: S603 (a fixed executable, our own arguments)
        [XVFB, "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        yield f":{number}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class WebKit:
    """One MiniBrowser in automation mode, driven by Selenium."""

    def __init__(self, display: str, log: Path, *, itp: bool) -> None:
        from selenium import webdriver
        from selenium.webdriver.webkitgtk.options import Options
        from selenium.webdriver.webkitgtk.service import Service

        options = Options()
        options.binary_location = MINIBROWSER
        options.add_argument("--automation")
        if itp:
            options.add_argument("--enable-itp")
        options.set_capability("acceptInsecureCerts", True)
        env = {**os.environ, "DISPLAY": display}
        service = Service(executable_path=WEBKIT_DRIVER, port=0, log_output=str(log), env=env)
        with warnings.catch_warnings():
            # Selenium's own WebKitGTK driver still passes remote_server_addr the deprecated way.
            warnings.filterwarnings("ignore", "setting remote_server_addr", DeprecationWarning)
            self.driver: Any = webdriver.WebKitGTK(options=options, service=service)
        self.driver.set_page_load_timeout(30)

    def close(self) -> None:
        self.driver.quit()

    def goto(self, url: str) -> None:
        self.driver.get(url)

    @property
    def url(self) -> str:
        return str(self.driver.current_url)

    def text(self, selector: str) -> str:
        return str(self.driver.find_element("css selector", selector).text)

    def fill(self, selector: str, value: str) -> None:
        element = self.driver.find_element("css selector", selector)
        element.clear()
        element.send_keys(value)

    def click(self, selector: str) -> None:
        self.driver.find_element("css selector", selector).click()

    def wait_for_url(self, url: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.url != url:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected to land on {url}, still on {self.url}")
            time.sleep(0.01)  # (each look is a round trip to the driver already)

    def cookie_names(self) -> list[str]:
        """The cookies WebDriver shows for the current page's site."""
        return sorted(str(c["name"]) for c in self.driver.get_cookies())

    def delete_cookies(self) -> None:
        """Delete every cookie of the current page's site (what a purge of its website data does)."""
        for cookie in self.driver.get_cookies():
            self.driver.delete_cookie(cookie["name"])

    def screenshot(self, path: Path) -> None:
        self.driver.save_screenshot(str(path))


@contextmanager
def webkit(tmp: Path, *, itp: bool = False) -> Iterator[WebKit]:
    """MiniBrowser on its own Xvfb display; both stopped on exit."""
    with xvfb() as display:
        browser = WebKit(display, tmp / f"webkit-{time.monotonic_ns()}.log", itp=itp)
        try:
            yield browser
        finally:
            browser.close()
