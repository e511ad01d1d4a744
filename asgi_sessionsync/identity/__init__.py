"""Identity adapters: how a site's own login is read and made."""

from __future__ import annotations

from asgi_sessionsync.identity.base import Account, AppCookieLogin, AppLoginAdapter, IdentityAdapter, app_login_of
from asgi_sessionsync.identity.registry import identity_from_settings
from asgi_sessionsync.identity.session import SessionIdentity, SyncUser, sign_in, sign_out
from asgi_sessionsync.sessions import ActiveSession

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
