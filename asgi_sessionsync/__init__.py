"""asgi-sessionsync: shared login and logout across domains for any ASGI application."""

from __future__ import annotations

from asgi_sessionsync.exceptions import (
    ConfigError,
    EnvelopeError,
    EnvelopeFailure,
    SessionSyncError,
    StoreError,
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
from asgi_sessionsync.settings import Network, Peer, Settings, SyncMode, exit_on_config_error

__all__ = [
    "Account",
    "ActiveSession",
    "AppLoginAdapter",
    "ConfigError",
    "EnvelopeError",
    "EnvelopeFailure",
    "IdentityAdapter",
    "Network",
    "Peer",
    "Purpose",
    "SessionIdentity",
    "SessionSyncError",
    "SessionSyncMiddleware",
    "Settings",
    "StoreError",
    "SyncMode",
    "SyncUser",
    "exit_on_config_error",
    "generate_secret",
    "sign_in",
    "sign_out",
]
__version__ = "0.1.0"
