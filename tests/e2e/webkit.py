"""WebKitGTK (Debian's ``webkit2gtk-driver``): its WebDriver and MiniBrowser, under Xvfb.
The driver is the repository's harness (``tests.harness.browsers``, shared with
``benchmarks/``); here, what a test does when it is not installed.

WebKit keeps no ``Secure`` cookie from ``http://*.localhost`` (Chromium and Firefox treat
those hosts as secure contexts; WebKit does not), and the middleware's cookies are
``Secure`` there: WebKit is tested against the demo served over https with a
certificate made for the run (``Tls``). The driver session accepts that certificate
(``acceptInsecureCerts``); the sites themselves check each other's.
"""

from __future__ import annotations

from tests.harness.browsers import MINIBROWSER, WEBKIT_DRIVER, XVFB, WebKit, missing, webkit, xvfb
from tests.requirements import skip_or_fail

__all__ = ["MINIBROWSER", "WEBKIT_DRIVER", "XVFB", "WebKit", "require_webkit", "webkit", "xvfb"]


def require_webkit() -> None:
    """Skip without WebKitGTK's driver on a developer machine; fail in CI."""
    message = missing("webkit")
    if message is None:
        return
    skip_or_fail(message)
