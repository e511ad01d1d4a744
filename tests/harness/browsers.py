"""Real browsers for tests and benchmarks, driven without anything downloaded at run time.

- Chromium (Debian's ``/usr/bin/chromium``) by Playwright: :data:`CHROMIUM`,
  :data:`CHROMIUM_ARGS`, and :class:`ChromiumTab`, a page with the same few steps as the
  others.
- Firefox ESR over Marionette (Mozilla's ``marionette-driver``; no geckodriver):
  :class:`Firefox`, :func:`firefox` (module :mod:`~.firefox`).
- WebKitGTK's MiniBrowser over ``WebKitWebDriver`` and Selenium, under Xvfb:
  :class:`WebKit`, :func:`webkit` (module :mod:`~.webkit`).
- :class:`Tls`: a certificate for ``*.localhost`` sites made per run by a throwaway CA
  (``trustme``), for WebKit, which keeps no ``Secure`` cookie over plain http.

Each tab has ``goto``, ``url``, ``text``, ``fill``, ``click``, ``wait_for_url`` and
``screenshot`` (:class:`Tab`). The drivers are imported when a browser starts: this
module imports none of them. ``missing(browser)`` says what is not installed.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tests.harness.firefox import (
    BASE_PREFS,
    FIREFOX,
    STRICT,
    Cookie,
    Firefox,
    fast_bounce_tracking_protection,
    firefox,
)
from tests.harness.webkit import MINIBROWSER, WEBKIT_DRIVER, XVFB, WebKit, webkit, xvfb

__all__ = [
    "BASE_PREFS",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "FIREFOX",
    "MINIBROWSER",
    "STRICT",
    "WEBKIT_DRIVER",
    "XVFB",
    "ChromiumTab",
    "Cookie",
    "Firefox",
    "Tab",
    "Tls",
    "WebKit",
    "fast_bounce_tracking_protection",
    "firefox",
    "missing",
    "webkit",
    "xvfb",
]

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
    installed anywhere. The certificate file holds the chain the server sends: the
    site's certificate, then the CA's (so that Chromium can be told to trust the CA by its
    key alone: :attr:`chromium_args`)."""

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
        paths.cert.write_bytes(issued.cert_chain_pems[0].bytes() + authority.cert_pem.bytes())
        issued.private_key_pem.write_to_path(str(paths.key))
        return paths

    @property
    def spki_hash(self) -> str:
        """The CA's public key as Chromium names it: base64 of the SHA-256 of its
        SubjectPublicKeyInfo."""
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        key = x509.load_pem_x509_certificate(self.ca.read_bytes()).public_key()
        info = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(info).digest()).decode("ascii")

    @property
    def chromium_args(self) -> list[str]:
        """Chromium flags that trust this CA, and only it: certificate errors are ignored for
        chains holding its key (``--ignore-certificate-errors-spki-list``; never
        ``--ignore-certificate-errors``, which would accept any certificate)."""
        return [f"--ignore-certificate-errors-spki-list={self.spki_hash}"]


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
