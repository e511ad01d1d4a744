"""A framework's own app, wrapped unchanged, joined to two sites like the demo's A and C.

The framework site ("f") follows the kit's page contract: ``/`` shows "Signed in as
EMAIL" or "Not signed in", ``/login`` takes ``email`` and ``password``, ``/logout`` is a
POST. Its one account is frank@example.com / fr4nk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asgi_sessionsync import SessionSyncMiddleware
from asgi_sessionsync.identity import IdentityAdapter
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app, session_login_app
from tests.constants import ALICE, FRANK

__all__ = ["ALICE", "FRANK", "HOP_SCOPE", "URLS", "FrameworkNetwork", "join"]

URLS = {"a": "https://a.example", "c": "https://c.example", "f": "https://f.example"}
C_SESSION_SECRET = "site-c-secret"
# The scope of a request that brings a peer's sign-in to site f, for calling an adapter directly.
HOP_SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "GET",
    "path": "/_sessionsync/hop",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"f.example"), (b"user-agent", b"tests")],
    "client": ("203.0.113.9", 50000),
}


class FrameworkNetwork(SiteNetwork):
    """The kit's :class:`SiteNetwork`, with the names these tests use."""

    @property
    def apps(self) -> dict[str, SessionSyncMiddleware]:
        return self.sites

    async def close(self) -> None:
        await self.aclose()


async def join(
    framework_app: Any,
    *,
    identity: IdentityAdapter | None = None,
    identity_name: str = "session",
    mount: str = "",
    a_accounts: Mapping[str, str] | None = None,
    every_site: Mapping[str, Any] | None = None,
    **options: Any,
) -> FrameworkNetwork:
    """Sites a (``login_app``, alice and ``a_accounts``), c (``session_login_app``,
    request.session) and f (the framework app, under ``mount`` when given).
    ``every_site``: settings for all three; ``options``: for f."""
    members = {"a": URLS["a"], "c": URLS["c"], "f": URLS["f"] + mount}
    apps = {
        "a": login_app("a", {**dict([ALICE]), **(a_accounts or {})}, members),
        "c": session_login_app("c", {}, members, secret_key=C_SESSION_SECRET),
        "f": framework_app,
    }
    return FrameworkNetwork(
        apps,
        urls=members,
        settings=every_site,
        site_settings={
            "c": {"identity": "starlette-session", "app_session_secret": C_SESSION_SECRET},
            "f": {"identity": identity_name, **options},
        },
        identities={"f": identity} if identity is not None else None,
    )
