"""WebKitGTK (Debian's ``webkit2gtk-driver``): its WebDriver and MiniBrowser, under Xvfb.

Selenium speaks W3C WebDriver to ``/usr/bin/WebKitWebDriver``, which starts MiniBrowser
in automation mode on an X display of its own (``Xvfb -displayfd``: a free display
number, no lock race). The path of the driver is given, so Selenium never runs its
driver manager (nothing is downloaded). WebKit keeps no ``Secure`` cookie over plain
http on ``*.localhost``: serve the sites over https (:class:`~.browsers.Tls`); the
session accepts that certificate (``acceptInsecureCerts``).
"""

from __future__ import annotations

import os
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.harness.webdriver import DrivenTab

WEBKIT_DRIVER = "/usr/bin/WebKitWebDriver"
MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
XVFB = "/usr/bin/Xvfb"


@contextmanager
def xvfb() -> Iterator[str]:
    """An X server on a free display; its ``DISPLAY`` value."""
    read, write = os.pipe()
    process = subprocess.Popen(
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


class WebKit(DrivenTab):
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
        self.past_catchup_page()

    @property
    def url(self) -> str:
        return str(self.driver.current_url)

    @property
    def title(self) -> str:
        return str(self.driver.title)

    def _find(self, selector: str) -> Any:
        return self.driver.find_element("css selector", selector)

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
