"""The starlette-session identity's section of the settings (``SESSIONSYNC_APP_SESSION_*``):
declared here, beside the adapter, and composed into :class:`~asgi_sessionsync.settings.Settings`.

A leaf module: it imports only the settings' parsers, so that the settings can compose it.
"""

from __future__ import annotations

from dataclasses import dataclass

from asgi_sessionsync.settings.parsers import (
    _app_secret,
    _bool,
    _cookie_name,
    _duration,
    _field,
    _one_of,
    _optional_str,
    _str,
)
from asgi_sessionsync.settings.values import Secret


@dataclass(frozen=True)
class AppSessionSettings:
    """How the app's own ``request.session`` login is read and made (identity
    ``starlette-session``)."""

    # The starlette-session identity: each left unset is read from the app's own
    # SessionMiddleware when the wrapped app has one (identity/app_session.py), else the
    # SessionMiddleware default shown in the docs; a value set here always wins.
    app_session_secret: Secret | None = _field(
        "APP_SESSION_SECRET",
        _app_secret,
        None,
        "starlette-session identity: the app's SessionMiddleware secret_key (default: read from the app).",
        secret=True,
    )
    app_session_cookie: str | None = _field(
        "APP_SESSION_COOKIE", _cookie_name, None, "starlette-session identity: the app's cookie name (session)."
    )
    app_session_user_key: str = _field(
        "APP_SESSION_USER_KEY", _str, "user", "starlette-session identity: the request.session key holding the email."
    )
    app_session_name_key: str | None = _field(
        "APP_SESSION_NAME_KEY",
        _optional_str,
        None,
        "starlette-session identity: the request.session key holding the user's display name (none: no name).",
    )
    app_session_max_age: float | None = _field(
        "APP_SESSION_MAX_AGE",
        _duration,
        None,
        "starlette-session identity: the app's SessionMiddleware max_age (14d; 0 = a browser-session cookie).",
    )
    app_session_samesite: str | None = _field(
        "APP_SESSION_SAMESITE",
        _one_of("lax", "strict", "none"),
        None,
        "starlette-session identity: the app's SessionMiddleware same_site (lax).",
    )
    app_session_https_only: bool | None = _field(
        "APP_SESSION_HTTPS_ONLY", _bool, None, "starlette-session identity: the app's SessionMiddleware https_only."
    )
    app_session_path: str | None = _field(
        "APP_SESSION_PATH", _str, None, "starlette-session identity: the app's SessionMiddleware path (/)."
    )
    app_session_domain: str | None = _field(
        "APP_SESSION_DOMAIN", _optional_str, None, "starlette-session identity: the app's SessionMiddleware domain."
    )
