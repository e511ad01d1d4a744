"""Identity adapters: how a site's own login is read and made."""

from __future__ import annotations

from typing import TYPE_CHECKING

from asgi_sessionsync.cookies import CookiePolicy
from asgi_sessionsync.identity.base import Account, AppCookieLogin, AppLoginAdapter, IdentityAdapter, app_login_of
from asgi_sessionsync.identity.session import SessionIdentity, SyncUser, sign_in, sign_out
from asgi_sessionsync.sessions import ActiveSession

if TYPE_CHECKING:
    from asgi_sessionsync.settings import Settings

__all__ = [
    "Account",
    "ActiveSession",
    "AppCookieLogin",
    "AppLoginAdapter",
    "IdentityAdapter",
    "SessionIdentity",
    "SyncUser",
    "app_login_of",
    "identity_from_settings",
    "sign_in",
    "sign_out",
]


def identity_from_settings(settings: Settings, app: object | None = None) -> IdentityAdapter:
    """The adapter ``SESSIONSYNC_IDENTITY`` names. ``app``: the app the middleware wraps,
    whose Starlette ``SessionMiddleware`` gives the starlette-session identity the
    options no setting gives (see :mod:`.app_session`)."""
    if settings.identity == "starlette-session":
        from asgi_sessionsync.identity.app_session import app_session_options
        from asgi_sessionsync.identity.starlette_session import StarletteSessionIdentity

        options = app_session_options(settings, app)
        # The app's cookie is written the way the app's SessionMiddleware writes it, never
        # with the middleware's own policy (frame mode would make it SameSite=None).
        app_policy = CookiePolicy(
            path=options.path,
            domain=options.domain,
            secure=options.https_only,
            samesite=options.same_site,
        )
        return StarletteSessionIdentity(
            options.secret_key,
            session_cookie=options.session_cookie,
            user_key=settings.app_session_user_key,
            name_key=settings.app_session_name_key,
            max_age=options.max_age,
            cookie_policy=app_policy,
        )
    if settings.identity == "django":
        from asgi_sessionsync.identity.django import DjangoIdentity

        return DjangoIdentity()
    return SessionIdentity()
