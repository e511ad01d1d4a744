"""The full request path: every HTTP request the middleware's hot path does not take (it
carries a cookie, is below the path prefix, or comes before the site started). The
middleware's endpoints; the detours; identity before the app (:mod:`.request_identity`);
and identity after the app: who the response says is signed in, and a change handed to
:class:`~asgi_sessionsync.response.IdentityChange`.

A request whose cookies of the middleware are not read is *blind*: a cross-site request
a ``Lax`` cookie would not have come with (frame mode emulates ``Lax``), or one carrying
two cookies of one of the middleware's names (another host under a parent domain set
one; which is this site's cannot be told). Nothing is concluded from it: no session, no
adoption, no sign-out; only a sign-in the app makes during it counts, kept on this site.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asgi_sessionsync.catchup import CatchUp
from asgi_sessionsync.cookies import CookieNames
from asgi_sessionsync.detours import Detours
from asgi_sessionsync.endpoints.routes import Endpoints
from asgi_sessionsync.exceptions import StoreUnavailable
from asgi_sessionsync.fetch_metadata import fetch_metadata
from asgi_sessionsync.lifecycle import Worker
from asgi_sessionsync.logs import RateLimit, SiteLog, package_log, site_log
from asgi_sessionsync.outage import Situation, situation_of
from asgi_sessionsync.request_context import RequestContext
from asgi_sessionsync.request_identity import RequestIdentity
from asgi_sessionsync.response import IdentityChange, RequestState
from asgi_sessionsync.settings import SyncMode

logger = package_log("asgi_sessionsync")


class RequestPath:
    """Serves the requests the hot path does not (one per middleware), from the parts it
    is given: the site as a request sees it, the app, the endpoints, the worker (started
    on the first request without lifespan), catch-up, identity before the app and the
    detours. Bound methods are taken once, at construction: no extra hop per request."""

    def __init__(
        self,
        context: RequestContext,
        app: ASGIApp,
        *,
        endpoints: Endpoints,
        worker: Worker,
        catchup: CatchUp,
        before: RequestIdentity,
        detours: Detours,
    ) -> None:
        site = context.site
        self.context = context  # handed to IdentityChange
        self.app = app
        self.settings = site.settings
        self.identity = context.identity
        self.app_login = context.app_login
        self.endpoints = endpoints
        self.worker = worker
        self.catchup = catchup
        self.prefix, self._site_path = site.prefix, site.settings.site_path
        self.outage = context.outage  # a 503 while the store is down, never a 500
        # Frame mode needs SameSite=None session cookies; Lax is then emulated here.
        self._emulate_lax = site.cookies.samesite == "none"
        self._names = context.names
        self._needle = self._names.session.encode("latin-1")  # every name of ours starts with it
        self.log = site_log(logger.name, site.site_id)
        self._say_twice = RateLimit()
        # A peer's sign-in held for a code (REQUIRE_VERIFIED_EMAIL=self): the next page
        # this browser opens here shows the code page first.
        self._held_needle = endpoints.codes.holds.needle
        # An adapter whose sign-in is only ever an explicit call marks the scope with
        # this key: without it, nothing can have changed.
        self._intent_key: str | None = context.identity.intent_key
        self._identify = before.identify
        self._identify_now = before.identify_now
        self._identify_blind = before.identify_blind
        self._email = before.email
        self._show_code_page = detours.show_code_page
        self._bounce_now = detours.bounce_now

    async def handle(self, scope: Scope, receive: Receive, send: Send, cookies: bytes | None) -> None:
        if not self.worker.started:
            await self.worker.ensure_started()
        path: str = scope["path"]
        if self.prefix in path:
            root: str = scope.get("root_path", "") or self._site_path  # none: below the site's own path
            local = path[len(root) :] if root and path.startswith(root) else path
            if local.startswith(self.prefix):
                await self.endpoints(scope, receive, send, local[len(self.prefix) :], cookies)
                return

        # How many of the middleware's cookies came (every name starts with the session
        # cookie's). (``bytes.find``/``count`` rather than ``in``: half the cost on bytes.)
        ours = cookies.count(self._needle) if cookies is not None else 0
        if cookies is not None and (
            # Two at least: are two of them of one name? Or a cross-site subresource or POST
            # in frame mode, which a Lax cookie would not have come with.
            (ours > 1 and _twice(cookies, self._names, self._say_twice, self.log))
            or (self._emulate_lax and not fetch_metadata(scope).is_lax_visible(scope["method"]))
        ):
            try:
                state = await self._identify_blind(scope, cookies)
            except StoreUnavailable as error:
                await self.outage.answer(scope, send, error, Situation.PAGE)
                return
        else:
            if (
                ours
                and cookies is not None
                and cookies.find(self._held_needle) >= 0
                and fetch_metadata(scope).is_navigation(scope["method"])
                and await self._show_code_page(scope, send, cookies)
            ):
                return
            if cookies is None or (self.app_login is None and not ours):
                state = RequestState()
                self.identity.expose(scope, None)  # anonymous (maybe with other cookies): no work
            else:
                read = self._identify_now(scope, cookies)
                if isinstance(read, RequestState):
                    state = read
                else:
                    try:
                        state = await self._identify(scope, cookies, read)
                    except StoreUnavailable as error:
                        await self.outage.answer(scope, send, error, Situation.PAGE)
                        return
            if (
                state.session is None
                and state.adopted is None
                and self.catchup.wanted(scope, cookies)
                and await self.catchup.start(scope, send, cookies)
            ):
                return
            if state.session is not None and (
                state.pending is not None
                and self.settings.sync_mode is SyncMode.BOUNCE
                and fetch_metadata(scope).is_navigation(scope["method"])
                and await self._bounce_now(scope, send, state.session, state.pending)
            ):
                return

        forward: Send | None = None

        async def watch(message: Message) -> None:
            nonlocal forward
            if forward is not None:
                await forward(message)
                return
            if message["type"] != "http.response.start":
                await send(message)
                return
            before = state.session.user if state.session is not None else None
            # What the app believed when the request came in: an unchanged answer means that.
            believed = state.adopted or state.standing or before
            blind = state.blind
            intent_key = self._intent_key
            identity = self.identity
            renewed = False
            if intent_key is not None and intent_key not in scope:
                after, name = believed, ""  # no sign_in()/sign_out() call: nothing changed
            else:
                after, name = await identity.signed_in_after(scope, believed, message.get("headers", []))
                if after is None and state.app_blind:
                    after = before
                if after != believed:
                    after = self._email(after)
                renewed = after is not None and after == before and identity.signed_in_again(scope)
            if blind and (after is None or after == believed):
                forward = send  # nothing is concluded from a blind request
                await send(message)
                return
            if after == before and not renewed and state.quiet:
                forward = send  # nothing happened: the common case
                await send(_vary_cookie(message) if before is not None else message)
                return
            change = IdentityChange(self.context, scope, send, state)
            try:
                forward = await change.changed(message, before, after, name, renewed=renewed)
            except StoreUnavailable as error:  # nothing was sent: a 503 instead of the app's answer
                forward = await self.outage.instead(scope, send, error, situation_of(before, after, renewed))

        await self.app(scope, receive, watch)


def _twice(cookies: bytes, names: CookieNames, say: RateLimit, log: SiteLog) -> bool:
    """Whether the request carries two cookies of one of the middleware's names; says
    so in the log (the name, never a value), at most once a minute per name."""
    twice = names.duplicated(cookies)
    if twice is None:
        return False
    if say(twice):
        log.warning(
            "a request carried two cookies named %s (another host may have set one for a parent domain): "
            "neither was trusted, the page was served as anonymous and nothing was concluded; repeats are "
            "not logged for a minute",
            twice,
        )
    return True


_VARY = (b"vary", b"Cookie")


def _vary_cookie(message: Message) -> Message:
    """The response start, saying that its content depends on the Cookie header (it was
    made for a signed-in user), as Starlette's and Django's session middlewares do. A
    copy: the app's own message and header list are never changed."""
    headers = message.get("headers", ())
    for key, _ in headers:
        if len(key) == 4 and key.lower() == b"vary":
            return _vary_joined(message, headers)
    changed = dict(message)
    changed["headers"] = [*headers, _VARY]
    return changed


def _vary_joined(message: Message, headers: Sequence[tuple[bytes, bytes]]) -> Message:
    """The response start with ``Cookie`` added to the app's own ``Vary`` (unless there)."""
    for index, (key, value) in enumerate(headers):
        if len(key) == 4 and key.lower() == b"vary":
            if b"cookie" in value.lower() or value.strip() == b"*":
                return message
            changed = list(headers)
            changed[index] = (key, value + b", Cookie")
            return {**message, "headers": changed}
    return message
