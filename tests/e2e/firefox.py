"""Debian's Firefox ESR, driven over Marionette: the driver is the repository's harness
(``tests.harness.browsers``, shared with ``benchmarks/``); here, what a test
does when it is not installed.

No geckodriver (Debian ships none): Firefox is started with ``--marionette`` on a fresh
profile whose ``user.js`` holds the prefs of the scenario, and the client talks to the
port Firefox writes into the profile (``marionette.port`` 0: a free one, no race).
``-remote-allow-system-access`` lets the tests read the cookie jar and the prefs from
the chrome context, as ``about:config`` and the storage inspector would show them.
"""

from __future__ import annotations

from tests.harness.browsers import (
    BASE_PREFS,
    FIREFOX,
    STRICT,
    Cookie,
    Firefox,
    fast_bounce_tracking_protection,
    firefox,
    missing,
)
from tests.requirements import skip_or_fail

__all__ = [
    "BASE_PREFS",
    "FIREFOX",
    "STRICT",
    "Cookie",
    "Firefox",
    "fast_bounce_tracking_protection",
    "firefox",
    "require_firefox",
]


def require_firefox() -> None:
    """Skip without Firefox ESR on a developer machine; fail in CI, where it must be there."""
    message = missing("firefox")
    if message is None:
        return
    skip_or_fail(message)
