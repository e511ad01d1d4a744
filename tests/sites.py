"""The three in-process sites most tests run, built with the package's test kit.

Like the demo: A (``login_app``, the middleware's own session; alice), B (the same kind
of app with no accounts: users arrive from peers) and C (``session_login_app``, an
ordinary ``request.session`` login that knows nothing of the middleware; bob), joined by
an in-process network. Back-channel requests go to ``http://{name}.internal``. Like the
demo's, their forms carry a CSRF field but do not insist on it: some tests post a login
the way an attacker's page or a script would, to see what the middleware makes of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asgi_sessionsync import SessionSyncMiddleware
from asgi_sessionsync.stores import Stores
from asgi_sessionsync.testing import Browser, InProcessNetwork, SiteNetwork, hidden_fields
from asgi_sessionsync.testing_apps import login_app, session_login_app
from tests.constants import ALICE, BOB

__all__ = [
    "BACKCHANNEL",
    "NAMES",
    "URLS",
    "Browser",
    "InProcessNetwork",
    "Site",
    "Sites",
    "hidden_fields",
    "make_sites",
    "site_pair",
    "three_sites",
]

NAMES = ("a", "b", "c")
URLS = {n: f"https://{n}.example" for n in NAMES}
BACKCHANNEL = {n: f"http://{n}.internal" for n in NAMES}
C_SESSION_SECRET = "site-c-own-session-secret"


@dataclass
class Site:
    """One site of the three: its name, URL and middleware."""

    name: str
    url: str
    app: SessionSyncMiddleware

    @property
    def stores(self) -> Stores:
        return self.app.site.stores


Sites = tuple[InProcessNetwork, dict[str, Site]]


def three_sites(data_dir: Path | None = None, *, sync_mode: str = "bounce", **settings: Any) -> SiteNetwork:
    """Sites A, B and C; SQLite files in ``data_dir``, or memory stores."""

    def others(name: str) -> dict[str, str]:
        return {n: URLS[n] for n in NAMES if n != name}

    apps = {
        "a": login_app("a", dict([ALICE]), others("a"), csrf_check=False),
        "b": login_app("b", {}, others("b"), csrf_check=False),
        "c": session_login_app("c", dict([BOB]), others("c"), secret_key=C_SESSION_SECRET, csrf_check=False),
    }
    return SiteNetwork(
        apps,
        urls=URLS,
        backchannel_urls=BACKCHANNEL,
        data_dir=data_dir,
        settings={"sync_mode": sync_mode, **settings},
        site_settings={"c": {"identity": "starlette-session", "app_session_secret": C_SESSION_SECRET}},
    )


def site_pair(net: SiteNetwork) -> Sites:
    """The network and its sites by name, the shape the ``sites`` fixture gives."""
    return net.network, {name: Site(name, net.urls[name], app) for name, app in net.sites.items()}


async def make_sites(data_dir: Path | None, *, sync_mode: str = "bounce", **settings: Any) -> Sites:
    """:func:`three_sites` as (network, sites); close each ``site.app`` when done."""
    return site_pair(three_sites(data_dir, sync_mode=sync_mode, **settings))
