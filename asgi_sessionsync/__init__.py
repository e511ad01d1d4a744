"""asgi-sessionsync: shared login and logout across domains for any ASGI application."""

from __future__ import annotations

from asgi_sessionsync.exceptions import (
    ConfigError,
    EnvelopeError,
    EnvelopeFailure,
    SessionSyncError,
    StoreError,
    StoreUnavailable,
)
from asgi_sessionsync.identity import (
    Account,
    ActiveSession,
    AppLoginAdapter,
    IdentityAdapter,
    SessionIdentity,
    SyncUser,
    sign_in,
    sign_out,
)
from asgi_sessionsync.keys import Purpose, generate_secret
from asgi_sessionsync.middleware import SessionSyncMiddleware
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.settings import Network, Peer, Settings, SyncMode, exit_on_config_error
from asgi_sessionsync.users import (
    EmailChangeRefused,
    UserNotFound,
    create_user,
    delete_user,
    get_user,
    set_metadata,
    set_password,
    set_role,
    update_user,
)

__all__ = [
    "Account",
    "ActiveSession",
    "AppLoginAdapter",
    "ConfigError",
    "EmailChangeRefused",
    "EnvelopeError",
    "EnvelopeFailure",
    "IdentityAdapter",
    "Network",
    "NetworkRules",
    "Peer",
    "Purpose",
    "SessionIdentity",
    "SessionSyncError",
    "SessionSyncMiddleware",
    "Settings",
    "StoreError",
    "StoreUnavailable",
    "SyncMode",
    "SyncUser",
    "UserNotFound",
    "create_user",
    "delete_user",
    "exit_on_config_error",
    "generate_secret",
    "get_user",
    "set_metadata",
    "set_password",
    "set_role",
    "sign_in",
    "sign_out",
    "update_user",
]
__version__ = "0.1.0"
