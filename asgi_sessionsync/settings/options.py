"""The keyword options of the middleware and of :meth:`Settings.from_env`, for type checkers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypedDict

from asgi_sessionsync.client_ip import BindingMode
from asgi_sessionsync.governance.policy import Policy
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.settings.values import Network, Peer, RequireVerified, Secret, SyncMode


class MiddlewareOptions(TypedDict, total=False):
    """The keyword options of :class:`~asgi_sessionsync.SessionSyncMiddleware`: every
    setting by its field name (text is parsed as the variable's value would be), plus
    ``secret_keys`` and ``peers`` of the default network; all but ``identity``, which
    there is the adapter object (the identity setting is ``SESSIONSYNC_IDENTITY``, or
    :meth:`Settings.from_env`'s ``identity=``). A misspelled option is a type error."""

    site_url: str
    networks: Sequence[Network]
    trusted_proxies: Sequence[str] | str
    ip_binding: BindingMode | str
    ip_prefix_v4: int | str
    ip_prefix_v6: int | str
    sync_mode: SyncMode | str
    path_prefix: str
    cookie_name: str
    cookie_domain: str | None
    cookie_path: str
    cookie_secure: str
    cookie_samesite: str
    session_lifetime: float | str
    hop_lifetime: float | str
    backchannel_lifetime: float | str
    clock_skew: float | str
    store: str
    app_session_secret: Secret | str | None
    app_session_cookie: str | None
    app_session_user_key: str
    app_session_name_key: str | None
    app_session_max_age: float | str | None
    app_session_samesite: str | None
    app_session_https_only: bool | str | None
    app_session_path: str | None
    app_session_domain: str | None
    auto_provision: bool | str
    default_role: str
    peer_timeout: float | str
    peer_ca_file: str | None
    logout_wait: float | str
    catchup: bool | str
    catchup_interval: float | str
    privileged_roles: Sequence[str] | str
    trusted_for_privileged: Sequence[str] | str
    retention: float | str
    activity_log: bool | str
    activity_retention: float | str
    activity_max_rows: int | str
    unavailable_page: str | None
    template_dir: str | None
    log_format: str
    redact_access_log: bool | str
    clock: Callable[[], float]
    policy: Policy | str | None
    geoip_database: str | None
    country_header: str | None
    require_verified_email: RequireVerified | str
    smtp_url: Secret | str | None
    smtp_starttls: str
    smtp_timeout: float | str
    mail_from: str | None
    new_sign_in_notice: bool | str
    serve_console: bool | str
    network_rules: NetworkRules | str | None
    prevent_email_change: bool | str
    sign_out_everywhere: bool | str
    secret_keys: Sequence[str | bytes | Secret] | str
    peers: Sequence[str | Peer] | str


class SettingsOptions(MiddlewareOptions, total=False):
    """The keyword options of :meth:`Settings.from_env`: the middleware's, and ``identity``."""

    identity: str
