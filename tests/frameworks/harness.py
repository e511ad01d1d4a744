"""A framework's own app, wrapped unchanged, joined to the demo's sites A and C.

The framework site ("f") follows the demo's page contract: ``/`` shows "Signed in as
EMAIL" or "Not signed in", ``/login`` takes ``email`` and ``password``, ``/logout`` is a
POST. Its one account is frank@example.com / fr4nk.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from asgi_sessionsync import Peer, SessionSyncMiddleware, Settings
from asgi_sessionsync.identity import IdentityAdapter
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.passwords import hash_password
from asgi_sessionsync.stores import User, memory_stores
from demo.sites import native_app, session_app
from tests.sites import Browser, InProcessNetwork

FRANK = ("frank@example.com", "fr4nk")
ALICE = ("alice@example.com", "wonderland")
URLS = {"a": "https://a.example", "c": "https://c.example", "f": "https://f.example"}


class FrameworkNetwork:
    def __init__(self, network: InProcessNetwork, apps: dict[str, SessionSyncMiddleware], urls: dict[str, str]) -> None:
        self.network = network
        self.apps = apps
        self.urls = urls

    def browser(self) -> Browser:
        return Browser(self.network, urls=self.urls)

    async def close(self) -> None:
        for app in self.apps.values():
            await app.aclose()


async def join(
    framework_app: Any,
    *,
    identity: IdentityAdapter | None = None,
    identity_name: str = "session",
    mount: str = "",
    **options: Any,
) -> FrameworkNetwork:
    """Sites a (demo, alice), c (demo, request.session, bob) and f (the framework app)."""
    secret = generate_secret()
    network = InProcessNetwork()
    members = {"a": URLS["a"], "c": URLS["c"], "f": URLS["f"] + mount}

    def settings(name: str, **extra: Any) -> Settings:
        peers = [Peer(url) for other, url in members.items() if other != name]
        return Settings.from_env(
            {}, env_file=None, site_url=members[name], secret_keys=[secret], peers=peers, store="memory://", **extra
        )

    apps: dict[str, SessionSyncMiddleware] = {}
    stores_a = memory_stores()
    await stores_a.users.create(User(ALICE[0], "member", password_hash=hash_password(ALICE[1])))
    others = {n: u for n, u in members.items()}
    apps["a"] = SessionSyncMiddleware(
        native_app("a", stores_a, others), settings("a"), stores=stores_a, transport=network
    )
    app_c = session_app("c", {}, "site-c-secret", others)
    apps["c"] = SessionSyncMiddleware(
        app_c,
        settings("c", identity="starlette-session", app_session_secret="site-c-secret"),
        stores=memory_stores(),
        transport=network,
    )
    apps["f"] = SessionSyncMiddleware(
        framework_app,
        settings("f", identity=identity_name, **options),
        identity=identity,
        stores=memory_stores(),
        transport=network,
    )
    for name, app in apps.items():
        # A site under a sub-path: the wrapped app is mounted there, as a host app would.
        served: Any = Starlette(routes=[Mount(mount, app=app)]) if name == "f" and mount else app
        network.add([f"{name}.example"], served)
    return FrameworkNetwork(network, apps, members)
