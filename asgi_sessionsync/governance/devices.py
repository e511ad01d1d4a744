"""What device a session comes from: class, browser and OS, from the user agent.

Read with the maintained ``ua-parser`` rules (``pip install 'asgi-sessionsync[governance]'``,
which brings the compiled ``ua-parser-rs`` matcher: tens of microseconds a user agent).
Its first use loads and compiles the rules (about a second): :meth:`Devices.warm` does it
in a worker thread when the site starts, and until then a user agent is read in a thread
too, so the event loop never waits for it. Results are cached by user agent.

Without ``ua-parser`` every device is unknown (``Device.UNKNOWN``), and a policy with
device rules is refused at start-up.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

import anyio.to_thread

_MOBILE_OS = frozenset(
    {"iOS", "Android", "Windows Phone", "BlackBerry OS", "Symbian OS", "KaiOS", "Firefox OS", "Tizen", "HarmonyOS"}
)
_DESKTOP_OS = frozenset(
    {"Windows", "Mac OS X", "macOS", "Linux", "Ubuntu", "Chrome OS", "ChromeOS", "Fedora", "Debian", "FreeBSD",
     "OpenBSD", "NetBSD", "Red Hat", "SUSE", "Mint", "Arch Linux"}
)  # fmt: skip


class Device(NamedTuple):
    """``device_class`` is one of desktop, mobile, tablet, bot, other; the others are
    the parser's family names ("Chrome", "Mobile Safari", "iOS"), or "Other"."""

    device_class: str
    browser: str
    os: str

    def __str__(self) -> str:
        return f"{self.device_class}/{self.browser}/{self.os}"

    @classmethod
    def parse(cls, text: str) -> Device:
        """The stored form (``class/browser/os``) back; unknown for anything else."""
        parts = text.split("/")
        return cls(parts[0], parts[1], parts[2]) if len(parts) == 3 else cls("", "", "")


UNKNOWN = Device("other", "Other", "Other")


def available() -> bool:
    return importlib.util.find_spec("ua_parser") is not None


def _classify(parsed: Any) -> Device:
    browser = parsed.user_agent.family if parsed.user_agent else "Other"
    os = parsed.os.family if parsed.os else "Other"
    device = parsed.device
    family = device.family if device else ""
    brand = (device.brand or "") if device else ""
    if family == "Spider" or brand == "Spider":
        kind = "bot"
    elif family.startswith("iPad") or "Tablet" in brand or "Tablet" in family or family == "Kindle":
        kind = "tablet"
    elif os in _MOBILE_OS or "Mobile" in browser:
        kind = "mobile"
    elif os in _DESKTOP_OS:
        kind = "desktop"
    else:
        kind = "other"
    return Device(kind, browser.replace("/", " "), os.replace("/", " "))


class Devices:
    """Reads devices from user agents, cached; see the module docstring."""

    def __init__(self, cache_size: int = 4096) -> None:
        self.enabled = available()
        self.warmed = False
        self._parse: Callable[[str], Device] = lru_cache(maxsize=cache_size)(self._read)

    @staticmethod
    def _read(user_agent: str) -> Device:
        from ua_parser import parse  # loads (once) and compiles the rules

        return _classify(parse(user_agent))

    def warm(self) -> None:
        """Load the parser's rules (blocking: call in a thread)."""
        if self.enabled and not self.warmed:
            self._read("Mozilla/5.0")
            self.warmed = True

    async def device(self, user_agent: str) -> Device:
        if not self.enabled or not user_agent:
            return UNKNOWN
        if not self.warmed:
            found = await anyio.to_thread.run_sync(self._parse, user_agent)
            self.warmed = True
            return found
        return self._parse(user_agent)

    def device_now(self, user_agent: str) -> Device:
        """Blocking form, for the command line and reports."""
        if not self.enabled or not user_agent:
            return UNKNOWN
        return self._parse(user_agent)
