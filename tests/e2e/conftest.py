from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import CHROMIUM, CHROMIUM_ARGS, Demo, profile_dir, require_chromium, run_demo


@pytest.fixture(scope="module", params=["bounce", "frame", "auto"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    require_chromium()
    with run_demo(tmp_path_factory.mktemp("demo"), mode=request.param) as running:
        running.mode = request.param  # type: ignore[attr-defined]
        yield running


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def open_browser(playwright: Any, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start Chromium with a fresh persistent profile; third-party cookies allowed or blocked;
    ``proxy``: an HTTP proxy for all its traffic, loopback included (Playwright makes
    Chromium send loopback through it too); ``args``: more Chromium flags."""
    contexts: list[Any] = []

    def start(
        *, third_party_cookies: bool, javascript: bool = True, proxy: str | None = None, args: Sequence[str] = ()
    ) -> Any:
        context = playwright.chromium.launch_persistent_context(
            str(profile_dir(tmp_path, third_party_cookies=third_party_cookies)),
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, *args],
            headless=True,
            java_script_enabled=javascript,
            **({"proxy": {"server": proxy}} if proxy else {}),
        )
        context.set_default_timeout(15000)
        contexts.append(context)
        return context

    yield start
    for context in contexts:
        context.close()
