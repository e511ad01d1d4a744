"""What device a session comes from: class, browser, OS and client type, from the user agent.

Read with the maintained ``ua-parser`` rules (``pip install 'asgi-sessionsync[governance]'``,
which brings the compiled ``ua-parser-rs`` matcher: tens of microseconds a user agent).
Its first use loads and compiles the rules (about a second): :meth:`Devices.warm` does it
in a worker thread when the site starts, and until then a user agent is read in a thread
too, so the event loop never waits for it. Results are cached by user agent.

Without ``ua-parser`` every device is unknown (``Device.UNKNOWN``), and a policy with
device rules is refused at start-up.

Client types are named as WordPress's Device Detector names them, limited to what
``ua-parser``'s results can tell honestly (no user-agent pattern of our own):

- ``library``: the user-agent family is one of the HTTP client libraries and tools that
  ``ua-parser``'s rules name (curl, Python Requests, okhttp, Go-http-client, ...:
  :data:`LIBRARY_FAMILIES`, taken from those rules), even where its device rules class the
  request as a spider (Python-urllib, Java): a program made the request;
- ``bot``: otherwise, ``ua-parser``'s device family is ``Spider`` (crawlers, link
  previewers, monitors);
- ``browser``: otherwise, ``ua-parser`` recognised a user-agent family. It does not tell
  a browser from an app that identifies as one (Device Detector's mobile app, feed reader,
  media player, PIM): those are counted as browsers here rather than guessed at;
- ``other``: nothing recognised (an empty or made-up user agent).
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


# The HTTP client libraries and tools ua-parser's user-agent rules name (ua-parser's
# regexes.yaml: the rules for Python Requests, for Java, and the two lists of libraries and
# download tools), as the families it reports. A family, not a pattern: ua-parser matches.
LIBRARY_FAMILIES = frozenset(
    {"Python Requests", "Python-urllib", "curl", "libcurl-agent", "PycURL", "Wget", "wget2", "aria2", "Axel",
     "HTTPie", "insomnia", "PostmanRuntime", "okhttp", "Apache-HttpClient", "Google-HTTP-Java-Client",
     "Go-http-client", "go-resty", "Go-CF-client", "scalaj-http", "http%20client", "WinHTTP", "JNLP", "Java",
     "Java-EurekaClient", "Java-EurekaClient-Replication", "HTTPClient", "lua-resty-http", "aihttp", "reqwest",
     "axios", "got", "libwww-perl", "urlgrabber", "lftp", "OpenBSD ftp", "fetch libfetch", "akka-http",
     "ReactorNetty", "Jersey", "Vert.x-WebClient", "Apache-CXF", "AHC", "WindowsPowerShell", "Boto", "Boto3",
     "JetS3t", "aws-cli", "s3fs", "unirest-java", "unirest-python", "unirest-ruby", "unirest-nodejs",
     "unirest-php", "unirest-net"}
)  # fmt: skip
_LIBRARY_PREFIXES = ("aws-sdk-",)  # aws-sdk-go, aws-sdk-java, ... (one ua-parser rule)
CLIENT_TYPES = ("browser", "library", "bot", "other")


class Device(NamedTuple):
    """``device_class`` is one of desktop, mobile, tablet, bot, other; ``browser`` and
    ``os`` are the parser's family names ("Chrome", "Mobile Safari", "iOS"), or "Other";
    ``client_type`` is one of browser, library, bot, other (see the module docstring), or
    "" for a session recorded before client types were."""

    device_class: str
    browser: str
    os: str
    client_type: str = ""

    def __str__(self) -> str:
        """The stored form: ``class/browser/os/client type``."""
        base = f"{self.device_class}/{self.browser}/{self.os}"
        return f"{base}/{self.client_type}" if self.client_type else base

    @property
    def described(self) -> str:
        """``class/browser/os``, for people (the client type is shown on its own)."""
        return f"{self.device_class}/{self.browser}/{self.os}" if self.device_class else ""

    @classmethod
    def parse(cls, text: str) -> Device:
        """The stored form back (``class/browser/os/client type``, or ``class/browser/os``
        as recorded before client types); unknown for anything else."""
        parts = text.split("/")
        if len(parts) == 4:
            return cls(parts[0], parts[1], parts[2], parts[3])
        return cls(parts[0], parts[1], parts[2]) if len(parts) == 3 else cls("", "", "")


UNKNOWN = Device("other", "Other", "Other", "other")


def client_type(browser: str, device_family: str, device_brand: str = "") -> str:
    """The client type from ua-parser's user-agent family and device family and brand."""
    if browser in LIBRARY_FAMILIES or browser.startswith(_LIBRARY_PREFIXES):
        return "library"
    if device_family == "Spider" or device_brand == "Spider":
        return "bot"
    return "browser" if browser and browser != "Other" else "other"


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
    return Device(kind, browser.replace("/", " "), os.replace("/", " "), client_type(browser, family, brand))


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
