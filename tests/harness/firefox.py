"""Firefox ESR over Marionette (Mozilla's ``marionette-driver``; no geckodriver, which
Debian does not ship): a fresh profile whose ``user.js`` holds the prefs of the
scenario, started with ``--marionette``; the client talks to the port Firefox writes
into the profile (``marionette.port`` 0: a free one, no race).
``-remote-allow-system-access`` lets a test read the cookie jar and the prefs from the
chrome context, as ``about:config`` and the storage inspector would show them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from tests.harness.webdriver import DrivenTab

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


class Firefox(DrivenTab):
    """One Firefox process on one fresh profile, and its Marionette session."""

    def __init__(self, profile: Path, prefs: Mapping[str, object]) -> None:
        profile.mkdir(parents=True)
        (profile / "user.js").write_text("".join(_pref_line(k, v) for k, v in {**BASE_PREFS, **prefs}.items()))
        self.profile = profile
        self.log = (profile.parent / f"{profile.name}.log").open("wb")
        self.process = subprocess.Popen(
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
        self.past_catchup_page()

    @property
    def url(self) -> str:
        return str(self.client.get_url())

    @property
    def title(self) -> str:
        return str(self.client.title)

    def _find(self, selector: str) -> Any:
        return self.client.find_element("css selector", selector)

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
