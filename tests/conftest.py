from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.sites import Browser, Sites, site_pair, three_sites


@pytest.fixture(params=["sqlite", "memory"])
async def sites(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Sites]:
    async with three_sites(tmp_path if request.param == "sqlite" else None) as net:
        yield site_pair(net)


@pytest.fixture
async def browser(sites: Sites) -> AsyncIterator[Browser]:
    client = Browser(sites[0])
    yield client
    await client.close()
