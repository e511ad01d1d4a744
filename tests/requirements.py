"""What a test does when something it needs (a browser, a server) is not installed."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def skip_or_fail(message: str) -> NoReturn:
    """Skip on a developer machine; fail in CI (``CI=true``), where it must be installed."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
