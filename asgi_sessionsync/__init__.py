"""asgi-sessionsync: shared login and logout across domains for any ASGI application.

The root exports what :class:`SessionSyncMiddleware` takes — its settings and their
types, the identity adapters and the types they are written in, the stores and their
factories, the mailers — plus :func:`sign_in`/:func:`sign_out`, :func:`record_failed_login`, the console's apps
(:class:`Console`, :class:`AccountPage`) and a user's own sessions (:func:`list_sessions`,
:func:`end_session`, :func:`end_other_sessions`),
:func:`exit_on_config_error` and every exception. Everything else has one home of its own
(``asgi_sessionsync.users`` for user sync's API, ``.keys``, ``.testing``, …).

The adapters of other frameworks and the Redis store need their extra
(``pip install 'asgi-sessionsync[django]'``, ``[quart]``, ``[litestar]``,
``[starlette-session]``, ``[redis]``): they are imported when first named
(``from asgi_sessionsync import DjangoIdentity``), so that the package imports without
them, and are left out of ``__all__`` (a ``*`` import would need every extra).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from asgi_sessionsync.client_ip import BindingMode
from asgi_sessionsync.exceptions import (
    ConfigError,
    ConfigErrors,
    EmailChangeRefused,
    EnvelopeError,
    InvalidEmail,
    MailError,
    MessageRefused,
    SessionSyncError,
    StartupRefused,
    StoreDamaged,
    StoreError,
    StoreUnavailable,
    UserDeleted,
    UserNotFound,
    WprusRefused,
)
from asgi_sessionsync.failed_logins import record_failed_login
from asgi_sessionsync.governance.policy import Policy
from asgi_sessionsync.hooks import Hooks
from asgi_sessionsync.identity import (
    Account,
    ActiveSession,
    AppLoginAdapter,
    IdentityAdapter,
    SessionIdentity,
    sign_in,
    sign_out,
)
from asgi_sessionsync.mail import Mailer, SMTPMailer
from asgi_sessionsync.middleware import SessionSyncMiddleware
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.settings import (
    MiddlewareOptions,
    Network,
    Peer,
    RequireVerified,
    Secret,
    Settings,
    SyncMode,
    exit_on_config_error,
)
from asgi_sessionsync.stores import Stores, memory_stores, open_stores, sqlite_stores
from asgi_sessionsync.users import mark_verified

# isort: split
# The console after the middleware: it builds on the site's parts, which load in that order.
from asgi_sessionsync.console import AccountPage, Console, OwnSession, end_other_sessions, end_session, list_sessions

if TYPE_CHECKING:
    from asgi_sessionsync.identity.django import DjangoIdentity as DjangoIdentity
    from asgi_sessionsync.identity.litestar import LitestarSessionIdentity as LitestarSessionIdentity
    from asgi_sessionsync.identity.quart import QuartSessionIdentity as QuartSessionIdentity
    from asgi_sessionsync.identity.starlette_session import StarletteSessionIdentity as StarletteSessionIdentity
    from asgi_sessionsync.stores.redis import redis_stores as redis_stores

__all__ = [
    "Account",
    "AccountPage",
    "ActiveSession",
    "AppLoginAdapter",
    "BindingMode",
    "ConfigError",
    "ConfigErrors",
    "Console",
    "EmailChangeRefused",
    "EnvelopeError",
    "Hooks",
    "IdentityAdapter",
    "InvalidEmail",
    "MailError",
    "Mailer",
    "MessageRefused",
    "MiddlewareOptions",
    "Network",
    "NetworkRules",
    "OwnSession",
    "Peer",
    "Policy",
    "RequireVerified",
    "SMTPMailer",
    "Secret",
    "SessionIdentity",
    "SessionSyncError",
    "SessionSyncMiddleware",
    "Settings",
    "StartupRefused",
    "StoreDamaged",
    "StoreError",
    "StoreUnavailable",
    "Stores",
    "SyncMode",
    "UserDeleted",
    "UserNotFound",
    "WprusRefused",
    "end_other_sessions",
    "end_session",
    "exit_on_config_error",
    "list_sessions",
    "mark_verified",
    "memory_stores",
    "open_stores",
    "record_failed_login",
    "sign_in",
    "sign_out",
    "sqlite_stores",
]
__version__ = "0.1.0"

#: Exported too, each from its module, imported when first named: each needs an extra.
OPTIONAL_EXPORTS = {
    "DjangoIdentity": "asgi_sessionsync.identity.django",
    "LitestarSessionIdentity": "asgi_sessionsync.identity.litestar",
    "QuartSessionIdentity": "asgi_sessionsync.identity.quart",
    "StarletteSessionIdentity": "asgi_sessionsync.identity.starlette_session",
    "redis_stores": "asgi_sessionsync.stores.redis",
}


def __getattr__(name: str) -> Any:
    module = OPTIONAL_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)  # ImportError names the extra
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *OPTIONAL_EXPORTS})
