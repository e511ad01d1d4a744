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


def identity_from_settings(settings: Settings) -> IdentityAdapter:
    if settings.identity == "starlette-session":
        from asgi_sessionsync.identity.starlette_session import StarletteSessionIdentity

        assert settings.app_session_secret is not None  # checked by Settings.validate
        # The app's cookie is written the way the app's SessionMiddleware writes it, never
        # with the middleware's own policy (frame mode would make it SameSite=None).
        app_policy = CookiePolicy(
            path=settings.app_session_path,
            domain=settings.app_session_domain,
            secure=settings.app_session_https_only,
            samesite=settings.app_session_samesite,
        )
        return StarletteSessionIdentity(
            settings.app_session_secret.reveal(),
            session_cookie=settings.app_session_cookie,
            user_key=settings.app_session_user_key,
            max_age=int(settings.app_session_max_age) or None,
            cookie_policy=app_policy,
        )
    if settings.identity == "django":
        from asgi_sessionsync.identity.django import DjangoIdentity

        return DjangoIdentity()
    return SessionIdentity()
