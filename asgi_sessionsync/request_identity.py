"""Who a request comes in as (identity before the app): the session cookie resolved, the
app's own login reconciled with it (the registry being the authority), the result shown
to the app; or, for a request whose cookies of the middleware are not read (emulated Lax,
two cookies of one name), the app's standing login as the baseline of its answer. Also
what counts as a user an identity adapter reports (an email)."""

from __future__ import annotations

from typing import NamedTuple

from starlette.types import Scope

from asgi_sessionsync.cookies import find_cookie
from asgi_sessionsync.fetch_metadata import fetch_metadata
from asgi_sessionsync.identity.base import APP_LOGIN_UNREADABLE as UNREADABLE
from asgi_sessionsync.identity.base import AppLoginAdapter
from asgi_sessionsync.logs import package_log
from asgi_sessionsync.request_context import RequestContext
from asgi_sessionsync.response import RequestState
from asgi_sessionsync.sessions.resolve import LATER
from asgi_sessionsync.validation import email_or_none

logger = package_log("asgi_sessionsync")


class Unfinished(NamedTuple):
    """What :meth:`RequestIdentity.identify_now` read before it had to stop: the state so
    far and the session token still to resolve (None: resolved already)."""

    state: RequestState
    later: str | None


class RequestIdentity:
    """Resolves and reconciles the identity a request comes in with (one per middleware)."""

    def __init__(self, context: RequestContext) -> None:
        self.site = context.site
        self.identity = context.identity
        self.app_login = context.app_login
        self.names = names = context.names
        self._pending_name = names.pending
        self._needle = names.session.encode("latin-1")
        self._pending_needle = self._pending_name.encode("latin-1")
        self._cookie_key = self._needle + b"="
        self._said_not_an_email = False

    def identify_now(self, scope: Scope, cookies: bytes | None) -> RequestState | Unfinished:
        """:meth:`identify` without awaiting, when nothing needs it (no app login to
        reconcile, the session told from memory): the common signed-in request. Else what
        was read so far, for :meth:`identify` to finish."""
        state, later = self._read(scope, cookies)
        if later is None and self.app_login is None:
            self.identity.expose(scope, state.session)
            return state
        return Unfinished(state, later)

    async def identify(self, scope: Scope, cookies: bytes | None, unfinished: Unfinished | None = None) -> RequestState:
        """Resolve the session cookie, reconcile it with the app's own login, and show
        the result to the app (``unfinished``: from :meth:`identify_now`)."""
        state, later = unfinished if unfinished is not None else self._read(scope, cookies)
        site = self.site
        if later is not None:
            state.session = await site.resolver.resolve_later(later, site.address.bind_value(scope))
            state.stale = state.session is None
        app_login = self.app_login
        if app_login is not None and cookies is not None:
            app_user = await app_login.app_user(scope, cookies)
            session = state.session
            if app_user is not None and (session is None or app_user != session.user):
                app_user = self.email(app_user)  # (a session's user is an email already)
            if app_user is not None and (state.stale or (session is not None and session.user != app_user)):
                # The registry ended this login (signed out elsewhere), or the two disagree:
                # the app must not see it; the registry is the authority.
                state.forgotten = await self._forget(scope, app_login, cookies)
                if session is not None:
                    await site.endings.end(session.sid, "app login disagreed with the session")
                    state.session, state.stale = None, True
            elif app_user is not None and session is None:
                # A cross-site request may carry one of the two cookies and not the other
                # only because their SameSite differ: nothing is concluded from it.
                cross_site = self._cross_site(scope)
                ref = app_login.app_ref(cookies)
                if ref is not None and await site.endings.app_login_ended(ref):
                    # It came alone, but went with a session that ended (signed out,
                    # revoked, expired): it is dead, never adopted again. Across sites it
                    # is only hidden: a reference may name the user rather than one login
                    # (docs/identity.md), and ours may have stayed home.
                    if cross_site:
                        app_login.forget(scope)
                    else:
                        state.forgotten = await self._forget(scope, app_login, cookies, ref)
                elif not cross_site:
                    state.adopted = app_user
            elif app_user is None and session is not None and (scope.get(UNREADABLE) or self._cross_site(scope)):
                # Unknown, not nobody: the app's cookie was there but could not be read
                # (another secret), or kept home by its SameSite on a cross-site request.
                state.app_blind = True
            elif app_user is None and session is not None:
                # The app's own login ended (expired, cleared by the app): end ours here
                # too, quietly; that is not a sign-out to tell the peers about.
                await site.endings.end(session.sid, "app login ended")
                state.session, state.stale = None, True
        self.identity.expose(scope, state.session)
        return state

    async def identify_blind(self, scope: Scope, cookies: bytes | None) -> RequestState:
        """A request whose cookies of the middleware are not read: they would not have come
        (Lax emulated, frame mode) or cannot be trusted (two of one name). Shown to the app
        as anonymous. The app reads its own login anyway: that standing login is the
        baseline its answer is compared with, so the request adopts, signs in and signs out
        nothing of it; a login the registry knows ended is hidden (not cleared: nothing is
        concluded here)."""
        state = RequestState(cookies=cookies, blind=True)
        app_login = self.app_login
        if app_login is not None and cookies is not None:
            app_user = await app_login.app_user(scope, cookies)
            if app_user is not None:
                ref = app_login.app_ref(cookies)
                if ref is not None and await self.site.endings.app_login_ended(ref):
                    app_login.forget(scope)
                else:
                    state.standing = self.email(app_user)
        self.identity.expose(scope, None)
        return state

    def _read(self, scope: Scope, cookies: bytes | None) -> tuple[RequestState, str | None]:
        """The middleware's cookies read: the session resolved now if the resolver can
        tell from memory, else the token still to resolve (awaited by :meth:`identify`)."""
        state = RequestState(cookies=cookies)
        later: str | None = None
        if cookies is not None and cookies.find(self._needle) >= 0:  # (find: cheaper than `in` on bytes)
            token = find_cookie(cookies, self._cookie_key)
            if token:
                site = self.site
                session = site.resolver.resolve_now(token, site.address.bind_value(scope))
                if session is LATER:
                    later = token
                else:
                    state.session = session
                    state.stale = session is None
            if cookies.find(self._pending_needle) >= 0:
                state.pending = find_cookie(cookies, self._pending_name)
        return state, later

    def _cross_site(self, scope: Scope) -> bool:
        return fetch_metadata(scope).is_cross_site(self.site.origin)

    def email(self, value: str | None) -> str | None:
        """An email the identity adapter reported, validated: anything else is nobody,
        never a sign-in (said once)."""
        if value is None:
            return None
        email = email_or_none(value)
        if email is None and not self._said_not_an_email:
            self._said_not_an_email = True
            logger.warning(
                "the identity adapter %s reported a user that is not an email address: ignored, never synced "
                "(said once)",
                type(self.identity).__name__,
            )
        return email

    async def _forget(
        self, scope: Scope, app_login: AppLoginAdapter, cookies: bytes, ref: str | None = None
    ) -> list[bytes]:
        """Hide the app login from this request and end it in the app; the ``Set-Cookie``
        values that clear it in the browser."""
        ref = ref if ref is not None else app_login.app_ref(cookies)
        forgotten = app_login.forget(scope)
        if ref is not None:
            await self.site.endings.end_app_logins([ref])
        return forgotten
