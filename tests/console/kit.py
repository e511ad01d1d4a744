"""Three in-process sites with the console, for the console's tests: A and B as
``login_app`` sites (alice on A), C the ``request.session`` site (bob); each app also
mounts ``Console(admit=...)`` at ``/admin`` (the app's own check: a set of emails) and
a ``/my-sessions`` page drawn with the ``list_sessions`` API."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from asgi_sessionsync import Console, end_session, list_sessions
from asgi_sessionsync.stores import User
from asgi_sessionsync.testing import Browser, SiteNetwork
from asgi_sessionsync.testing_apps import login_app, session_login_app
from asgi_sessionsync.users import set_role
from tests.constants import ALICE, BOB
from tests.sites import BACKCHANNEL, C_SESSION_SECRET, NAMES, URLS

CONSOLE = "/_sessionsync/console/"
ADMIN = ("root@example.com", "r00t-pass")  # a second account on A, made an administrator by the tests
ACCOUNT = "/_sessionsync/account"


def with_console(inner: Any, admitted: set[str]) -> Starlette:
    async def admit(request: HTTPConnection, user: User | None) -> bool:
        return user is not None and user.email in admitted

    async def mine(request: Request) -> Response:
        found = await list_sessions(request)
        return JSONResponse([{"id": s.id, "current": s.current, "device": s.device} for s in found])

    async def end(request: Request) -> Response:
        return JSONResponse({"ended": await end_session(request, request.query_params["id"])})

    return Starlette(
        routes=[
            Mount("/admin", Console(admit=admit)),
            Route("/my-sessions", mine),
            Route("/my-sessions/end", end, methods=["POST"]),
            Mount("/", inner),
        ]
    )


@asynccontextmanager
async def console_sites(
    data_dir: Path | None, admitted: Mapping[str, set[str]] | None = None, **settings: Any
) -> AsyncIterator[SiteNetwork]:
    def others(name: str) -> dict[str, str]:
        return {n: URLS[n] for n in NAMES if n != name}

    admitted = admitted or {}
    apps = {
        "a": with_console(
            login_app("a", dict([ALICE, ADMIN]), others("a"), csrf_check=False), admitted.get("a", set())
        ),
        "b": with_console(login_app("b", {}, others("b"), csrf_check=False), admitted.get("b", set())),
        "c": with_console(
            session_login_app("c", dict([BOB]), others("c"), secret_key=C_SESSION_SECRET, csrf_check=False),
            admitted.get("c", set()),
        ),
    }
    net = SiteNetwork(
        apps,
        urls=URLS,
        backchannel_urls=BACKCHANNEL,
        data_dir=data_dir,
        settings={"sync_mode": "bounce", **settings},
        site_settings={"c": {"identity": "starlette-session", "app_session_secret": C_SESSION_SECRET}},
    )
    async with net:
        yield net


async def make_admin(net: SiteNetwork, name: str, email: str) -> None:
    await set_role(net.sites[name].site, email, "admin")


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:2000]
    return found.group(1)


def sids_on(page: httpx.Response) -> list[str]:
    return re.findall(r'name="sid" value="([^"]+)"', page.text)


async def my_sessions(browser: Browser, site: str) -> list[dict[str, Any]]:
    answer = await browser.get(f"{URLS[site]}/my-sessions")
    value: list[dict[str, Any]] = json.loads(answer.text)
    return value
