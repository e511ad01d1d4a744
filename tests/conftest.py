from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from demo.sites import Site
from tests.sites import Browser, InProcessNetwork, make_sites


@pytest.fixture(params=["sqlite", "memory"])
async def sites(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[InProcessNetwork, dict[str, Site]]]:
    network, built = await make_sites(tmp_path if request.param == "sqlite" else None)
    yield network, built
    for site in built.values():
        await site.app.aclose()


@pytest.fixture
async def browser(sites: tuple[InProcessNetwork, dict[str, Site]]) -> AsyncIterator[Browser]:
    client = Browser(sites[0])
    yield client
    await client.close()
