"""``SessionSyncMiddleware``: shared login and logout across sites, for any ASGI app.

Pure ASGI. Per request it reads the session cookie (only when the request carries
one), shows the session to the app, and watches who is signed in before and after
the app runs. A change is a sign-in or a sign-out: sign-in starts the sync to every
peer (a redirect chain, or frames injected into the HTML answer); sign-out ends this
browser's sessions here and, through the back-channel, on every peer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Unpack

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asgi_sessionsync.catchup import CatchUp
from asgi_sessionsync.console import AccountPage, Admit, Console
from asgi_sessionsync.detours import Detours
from asgi_sessionsync.endpoints.routes import Endpoints
from asgi_sessionsync.exceptions import StoreUnavailable
from asgi_sessionsync.hooks import Hooks
from asgi_sessionsync.identity import IdentityAdapter, app_login_of, identity_from_settings
from asgi_sessionsync.lifecycle import Worker
from asgi_sessionsync.logs import ensure_handler, package_log
from asgi_sessionsync.mail import Mailer
from asgi_sessionsync.outage import OutageReplies, Situation
from asgi_sessionsync.pages import read_page_file
from asgi_sessionsync.request_context import RequestContext
from asgi_sessionsync.request_identity import RequestIdentity
from asgi_sessionsync.request_path import RequestPath
from asgi_sessionsync.response import IdentityChange, RequestState
from asgi_sessionsync.settings import MiddlewareOptions, Settings
from asgi_sessionsync.site import Site
from asgi_sessionsync.site_path import SitePath
from asgi_sessionsync.stores import Stores
from asgi_sessionsync.templates import require as require_templates
from asgi_sessionsync.users import SITE_KEY
from asgi_sessionsync.websocket import serve_websocket

logger = package_log("asgi_sessionsync")


class SessionSyncMiddleware:
    """Wrap an ASGI app: ``SessionSyncMiddleware(app)`` reads settings from the
    environment; any setting can be passed as a keyword (code wins)."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings | None = None,
        *,
        identity: IdentityAdapter | None = None,
        stores: Stores | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        mailer: Mailer | None = None,
        hooks: Hooks | None = None,
        env_file: str | None = None,
        console_admit: Admit | None = None,
        **overrides: Unpack[MiddlewareOptions],
    ) -> None:
        """``console_admit``: who may open the console besides the privileged roles (the
        app's own check, given the request and the user; docs/console.md)."""
        # Lines seen under any server: a handler where nobody configured logging.
        ensure_handler()
        if settings is None:
            settings = Settings.from_env(env_file=env_file, **overrides)
        elif overrides:
            raise TypeError("pass settings=... or keyword settings, not both")
        self.app = app
        self.settings = settings
        self.identity = identity or identity_from_settings(settings, app)
        # Decided once (and the adapter's contract checked): does the app keep a login of
        # its own to reconcile with ours? Ending a session here then ends it too.
        self.app_login = app_login_of(self.identity)
        self.site = Site(
            settings,
            stores=stores,
            transport=transport,
            mailer=mailer,
            hooks=hooks,
            is_privileged=self.identity.is_privileged,
            end_app_login=self.app_login.end_app_login if self.app_login is not None else None,
        )
        self.identity.attach_site(self.site)  # an adapter whose app owns its users (Django): user sync
        # What a request gets while the store is down: a 503, never a 500 (outage.py).
        page = read_page_file(settings.unavailable_page) if settings.unavailable_page else None
        _check_templates(settings)
        # What every part that answers a request uses of this site, built once.
        self.context = context = RequestContext.build(
            self.site, self.identity, self.app_login, OutageReplies(self.site, page)
        )
        self.outage = context.outage
        self.endpoints = Endpoints(context, _own_pages(settings, console_admit))
        self.worker = Worker(self.site)
        self.catchup = CatchUp(self.site)
        self.prefix = settings.path_prefix
        self.cookie_names = context.names
        # What an anonymous request shows the app, computed once.
        probe: Scope = {"headers": []}
        self.identity.expose(probe, None)
        self._anonymous = {k: v for k, v in probe.items() if k != "headers"}
        self._own_path = SitePath.of(settings, dict(self._anonymous), self.identity.intent_key)  # None: the origin
        self._anonymous[SITE_KEY] = self.site  # for asgi_sessionsync.users
        # An adapter whose sign-in is only ever an explicit call marks the scope with
        # this key: without it, nothing can have changed.
        self._intent_key: str | None = self.identity.intent_key
        # Identity before the app; the full request path (identity after the app too).
        self.request_identity = RequestIdentity(context)
        self.request_path = RequestPath(
            context,
            app,
            endpoints=self.endpoints,
            worker=self.worker,
            catchup=self.catchup,
            before=self.request_identity,
            detours=Detours(self.site, self.endpoints.codes),
        )
        # Bound once: no extra hop per request.
        self._http = self.request_path.handle
        self._identify = self.request_identity.identify
        self._email = self.request_identity.email

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if self._own_path is not None and kind != "lifespan" and not self._own_path.covers(scope):
            await self._own_path.pass_by(self.app, scope, receive, send)
            return
        if kind == "http":
            cookies: bytes | None = None
            navigate = False
            for key, value in scope["headers"]:
                if key == b"cookie":
                    cookies = value if cookies is None else cookies + b"; " + value
                elif key == b"sec-fetch-mode":
                    navigate = value == b"navigate"
            if cookies is not None or not self.worker.started or self.prefix in scope["path"]:
                scope[SITE_KEY] = self.site  # for asgi_sessionsync.users
                await self._http(scope, receive, send, cookies)
                return
            if navigate and self.catchup.wanted(scope, None):
                scope[SITE_KEY] = self.site
                if await self.catchup.start(scope, send, None):
                    return
            # Hot path: no cookie at all, so nobody is signed in; only a sign-in made
            # by the app during this request needs the middleware. (The site too.)
            scope.update(self._anonymous)
            forward = send
            intent_key = self._intent_key

            async def watch_anonymous(message: Message) -> None:
                nonlocal forward
                if message["type"] == "http.response.start" and (intent_key is None or intent_key in scope):
                    after, name = await self.identity.signed_in_after(scope, None, message.get("headers", []))
                    after = self._email(after)
                    if after is not None:
                        try:
                            forward = await IdentityChange(self.context, scope, send, RequestState()).changed(
                                message, None, after, name
                            )
                        except StoreUnavailable as error:  # nobody signed in: a 503, not the app's answer
                            forward = await self.outage.instead(scope, send, error, Situation.SIGN_IN)
                        return
                await forward(message)

            await self.app(scope, receive, watch_anonymous)
        elif kind == "websocket":
            await serve_websocket(self.request_identity, self.app, scope, receive, send)
        elif kind == "lifespan":
            await self.worker.lifespan(self.app, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def aclose(self) -> None:
        """Stop the outbox worker and close the stores and the HTTP client (also done at
        lifespan shutdown)."""
        await self.worker.aclose()


def _check_templates(settings: Settings) -> None:
    """The app's templates for the middleware's own pages, where it gives some: checked now."""
    if settings.template_dir:
        require_templates(Path(settings.template_dir))


def _own_pages(settings: Settings, console_admit: Admit | None) -> dict[str, ASGIApp]:
    """The operator's console and each user's own page, below the prefix (SESSIONSYNC_CONSOLE)."""
    if not settings.console.serve_console:
        return {}
    return {"console": Console(console_admit), "account": AccountPage()}
