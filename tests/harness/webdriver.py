"""What the Firefox (Marionette) and WebKit (WebDriver) drivers share: finding an
element by CSS selector, typing, clicking, waiting for a URL."""

from __future__ import annotations

import time
from typing import Any

# The title of the first-visit catch-up's page (``asgi_sessionsync.pages.catchup_page``).
CATCHUP_TITLE = "One moment"


class DrivenTab:
    """A browser tab driven through an object with ``find_element(by, selector)``; a
    subclass gives :attr:`url`, :attr:`title` and :meth:`_find`."""

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def title(self) -> str:
        raise NotImplementedError

    def past_catchup_page(self, timeout: float = 15.0) -> None:
        """A navigation loaded the catch-up's page, whose script goes on by itself: wait
        until it has (the drivers' navigations return at the first page's load)."""
        deadline = time.monotonic() + timeout
        while self.title == CATCHUP_TITLE:
            if time.monotonic() > deadline:
                raise AssertionError(f"still on the catch-up's page at {self.url}")
            time.sleep(0.02)

    def _find(self, selector: str) -> Any:
        raise NotImplementedError

    def text(self, selector: str) -> str:
        return str(self._find(selector).text)

    def fill(self, selector: str, value: str) -> None:
        element = self._find(selector)
        element.clear()
        element.send_keys(value)

    def click(self, selector: str) -> None:
        self._find(selector).click()

    def wait_for_url(self, url: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.url != url:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected to land on {url}, still on {self.url}")
            time.sleep(0.01)  # (each look is a round trip to the driver already)
