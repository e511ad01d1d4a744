"""Every coroutine test and async fixture runs on each async backend (anyio's plugin).

``pytest_pycollect_makeitem`` below marks every ``async def`` test, wherever it lives
under ``tests/`` (new modules included, no edits needed), with ``anyio`` and the
``anyio_backend`` fixture, parametrized here over asyncio and trio: a test runs once per
backend (``test_x[asyncio]``, ``test_x[trio]``). Async fixtures requested by such a test
run on the same backend.

A test that truly needs asyncio (a client library that only speaks asyncio) says so
with ``@pytest.mark.asyncio_only("why")`` (also as a module's ``pytestmark``): its trio
run is skipped with that reason, so the report shows what is not covered and why.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.sites import Browser, Sites, site_pair, three_sites

BACKENDS = ("asyncio", "trio")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "asyncio_only(reason): the test needs asyncio; its run on other backends is skipped"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Module | pytest.Class, name: str, obj: object) -> None:
    if not collector.istestfunction(obj, name):
        return
    hypothesis = getattr(obj, "hypothesis", None)
    inner = hypothesis.inner_test if hypothesis is not None else obj
    if inspect.iscoroutinefunction(inner):
        pytest.mark.anyio(obj)
        pytest.mark.usefixtures("anyio_backend")(obj)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("anyio_backend") if callspec is not None else None
        marker = item.get_closest_marker("asyncio_only")
        if marker is not None and backend not in (None, "asyncio"):
            reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "asyncio only")
            item.add_marker(pytest.mark.skip(reason=f"asyncio only: {reason}"))


@pytest.fixture(scope="module", params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["sqlite", "memory"])
async def sites(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Sites]:
    async with three_sites(tmp_path if request.param == "sqlite" else None) as net:
        yield site_pair(net)


@pytest.fixture
async def browser(sites: Sites) -> AsyncIterator[Browser]:
    client = Browser(sites[0])
    yield client
    await client.close()
