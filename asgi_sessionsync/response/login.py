"""A sign-in a response shows (the app signed someone in, or its own login is adopted):
the session policy asked, the session started, the sync to the peers begun; or, refused,
the response replaced by the block page and the app's login undone."""

from __future__ import annotations

import time
from typing import NamedTuple

from starlette.types import Message, Scope, Send

from asgi_sessionsync.cookies import find_cookie
from asgi_sessionsync.endpoints.asking import returned_speaking
from asgi_sessionsync.endpoints.reply import HTML, Reply, redirect
from asgi_sessionsync.fetch_metadata import fetch_metadata
from asgi_sessionsync.governance.admission import Refusal
from asgi_sessionsync.governance.policy import OnLimit
from asgi_sessionsync.i18n import for_request
from asgi_sessionsync.identity.session import intended_role
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.pages import refused_page
from asgi_sessionsync.request_context import RequestContext
from asgi_sessionsync.response.state import Headers, RequestState
from asgi_sessionsync.response.sync import SyncStart
from asgi_sessionsync.sessions.opening import NotOpened, SessionRequest
from asgi_sessionsync.urls import local_url, request_url

logger = package_log("asgi_sessionsync")


class SignedIn(NamedTuple):
    """A sign-in made: the response's headers, the snippet to inject (or None), and the
    pending cookie (a Set-Cookie value) when the next navigation is to start the sync."""

    headers: Headers
    snippet: bytes | None
    pending: bytes | None


class LoginHere:
    """Signs in the user a response shows: one per such response."""

    __slots__ = ("context", "raw_send", "scope", "state")

    def __init__(self, context: RequestContext, scope: Scope, send: Send, state: RequestState) -> None:
        self.context = context
        self.scope = scope
        self.raw_send = send
        self.state = state

    async def sign_in(
        self, message: Message, headers: Headers, cookies: Headers, after: str, name: str
    ) -> SignedIn | Send:
        """Start a session of ``after`` (its cookie goes into ``cookies``) and the sync;
        or, when the session policy refuses it, send the refusal and return the ``send``
        that discards the app's own answer."""
        context, site, scope, state = self.context, self.context.site, self.scope, self.state
        via = self._via(after)
        # An app login the middleware did not see being made (from before it was
        # installed, or a stolen app cookie), or one another site's page made, is
        # recorded here but never synced: one site's cookie must not become a login everywhere.
        local = via != "login"
        app_login, app_ref = context.app_login, None
        if app_login is not None:  # the app's own login that goes with the new session
            app_ref = app_login.response_app_ref(headers) or app_login.app_ref(state.cookies)
        wanted = SessionRequest(after, via, name=name, shared=not local, role=intended_role(scope), app_ref=app_ref)
        opened = await context.opening.open(scope, wanted)
        if isinstance(opened, NotOpened):
            if opened.refusal is not None:
                return await self._refuse(opened.refusal, cookies, app_ref)
            site.log.warning("sign-in of %s not recorded: %s", after, opened.reason)
            return SignedIn(headers, None, None)
        cookies.extend((b"set-cookie", c) for c in opened.cookies)
        if local:
            return SignedIn(headers, None, None)
        # A user of this site's own never sent to the peers: they get it (with
        # its password where their rules take it) once, at its first sign-in.
        await site.users.announce(opened.user)
        sync = SyncStart(context, scope)
        headers, snippet, wait = await sync.start(message, headers, opened.session)
        # The WordPress sites that take logins from this one (asgi_sessionsync/wprus/outgoing.py).
        status = int(message["status"])
        headers, snippet = await context.wordpress.after(scope, status, headers, snippet, "login", opened.user.email)
        return SignedIn(headers, snippet, sync.pending_cookie(opened.session) if wait else None)

    def _via(self, after: str) -> str:
        """How this sign-in was made; anything but ``login`` stays on this site (never
        synced): an adopted app login, or one a request made that does not speak for this
        site (another site's or a sibling subdomain's page: login CSRF on one site must not
        become a login everywhere), or one made beside conflicting cookies."""
        site, state = self.context.site, self.state
        if after == state.adopted:
            return "adopted from the app's own login"
        meta = fetch_metadata(self.scope)
        # The return of a first-visit catch-up is judged as the navigation that started it
        # (it comes by a peer's redirect, or from this site's own catch-up page).
        mark = find_cookie(state.cookies, site.cookie_names.returned)
        returned = returned_speaking(mark, request_url(site.origin, self.scope))
        if (meta.is_same_origin(site.origin) if returned is None else returned) and not state.blind:
            return "login"
        if returned is False or meta.is_cross_site(site.origin):
            via, why = "cross-site login", "came from another site's page"
        elif not meta.is_same_origin(site.origin):
            via, why = "same-site login", "came from another page of this site's domain (a sibling subdomain)"
        else:
            via, why = "login beside conflicting cookies", "was made by a request with two cookies of one name"
        site_log(logger.name, site.site_id).warning("sign-in of %s %s: kept on this site", after, why)
        return via

    async def _refuse(self, refusal: Refusal, cookies: Headers, app_ref: str | None) -> Send:
        """The session policy refused this sign-in: the response becomes the block page
        (or a redirect to the site's page for it) and the app's login is undone: none of
        the app's headers or body go out, its login cookie is cleared, no session, and the
        login the app made on its side (``app_ref``: Django's saved session) is ended
        there too, unless a live session of the registry holds that reference."""
        site, scope = self.context.site, self.scope
        if app_ref is not None:
            holder = await site.stores.sessions.find_by_app_ref(app_ref)
            if holder is None or not holder.live(time.time()):
                await site.endings.end_app_logins([app_ref])
        gone = site.cookies.delete(self.context.names.session)  # whatever session cookie this browser had
        app_login = self.context.app_login
        undone = app_login.logout_cookies() if app_login is not None else []
        headers = [*(c for c in cookies if c[1] != gone), (b"set-cookie", gone), *((b"set-cookie", c) for c in undone)]
        if refusal.action is OnLimit.REDIRECT and refusal.redirect_to is not None:
            target = local_url(site.origin, scope.get("root_path", "") + refusal.redirect_to)
            reply = redirect(target, headers)
        else:
            for_request(scope, site.settings.template_dir)
            reply = Reply(403, refused_page(refusal.message), HTML, headers)
        await reply.send(self.raw_send)

        async def discard(message: Message) -> None:
            return None  # the app's own answer: never sent

        return discard
