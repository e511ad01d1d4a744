"""What the Firefox (Marionette) and WebKit (WebDriver) drivers share: finding an
element by CSS selector, typing, clicking, waiting for a URL."""

from __future__ import annotations

import time
from typing import Any


class DrivenTab:
    """A browser tab driven through an object with ``find_element(by, selector)``; a
    subclass gives :attr:`url` and :meth:`_find`."""

    @property
    def url(self) -> str:
        raise NotImplementedError

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
