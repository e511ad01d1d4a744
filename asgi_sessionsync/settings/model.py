"""The :class:`Settings` of one site, and which variables it reads."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from asgi_sessionsync.client_ip import BindingMode
from asgi_sessionsync.console_settings import ConsoleSettings
from asgi_sessionsync.cookies import DEFAULT_COOKIE_NAME, subfolder_cookie_name
from asgi_sessionsync.exceptions import ConfigError, config_error_of
from asgi_sessionsync.governance.settings import GovernanceSettings
from asgi_sessionsync.identity.app_session_settings import AppSessionSettings
from asgi_sessionsync.logs import package_log
from asgi_sessionsync.mail_settings import MailSettings
from asgi_sessionsync.network_rules import UserSyncSettings
from asgi_sessionsync.settings.checks import describe_settings, settings_problems, validate_settings
from asgi_sessionsync.settings.environment import read_env_file, unread_env_file
from asgi_sessionsync.settings.networks import _networks
from asgi_sessionsync.settings.parsers import (
    _bool,
    _ca_file,
    _choice,
    _cookie_path,
    _duration,
    _field,
    _list,
    _one_of,
    _optional_str,
    _own_cookie_name,
    _page_file,
    _path_prefix,
    _positive_duration,
    _positive_int,
    _prefix_len,
    _site_ids,
    _store,
    _str,
    _trusted_proxies,
    _url,
    field_values,
    section,
    setting_fields,
)
from asgi_sessionsync.settings.values import (
    IDENTITY_NAMES,
    PREFIX,
    Network,
    Peer,
    RequireVerified,
    SyncMode,
    origin_of,
    site_id_of,
    site_path_of,
)

logger = package_log("asgi_sessionsync")
# A wrong value of one of these makes the whole-settings checks meaningless (they would
# say the site or its networks are missing): those checks then wait for the next run.
_NEEDED = frozenset({PREFIX + "SITE_URL"})


@dataclass(frozen=True)
class Settings:
    """All options of one site. Build with :meth:`from_env` (code values win)."""

    site_url: str = _field("SITE_URL", _url, "", "This site's public base URL, as browsers reach it.")
    networks: tuple[Network, ...] = field(default=(), metadata={"doc": "Networks this site belongs to."})
    trusted_proxies: tuple[str, ...] = _field(
        "TRUSTED_PROXIES",
        _trusted_proxies,
        (),
        "Proxy addresses/CIDRs whose X-Forwarded-For is believed; unix for a unix socket's peer; "
        "* trusts every peer and every hop.",
    )
    ip_binding: BindingMode = _field(
        "IP_BINDING",
        _choice(BindingMode),
        BindingMode.PREFIX,
        "How envelopes bind to the client IP: exact, prefix, off.",
    )
    ip_prefix_v4: int = _field("IP_PREFIX_V4", _prefix_len(32), 24, "IPv4 prefix length in prefix mode.")
    ip_prefix_v6: int = _field("IP_PREFIX_V6", _prefix_len(128), 64, "IPv6 prefix length in prefix mode.")
    sync_mode: SyncMode = _field(
        "SYNC_MODE", _choice(SyncMode), SyncMode.BOUNCE, "How sign-in reaches peers: bounce, frame, auto."
    )
    path_prefix: str = _field("PATH_PREFIX", _path_prefix, "/_sessionsync/", "Where the middleware's endpoints live.")
    cookie_name: str = _field(
        "COOKIE_NAME",
        _own_cookie_name,
        DEFAULT_COOKIE_NAME,
        "Name of the session cookie (others add -sync, -seen, -bind, -held); __Host- is put before each on "
        "https, __Secure- with a Domain or another Path. A sub-folder site with a peer on its origin makes the "
        "default its own: sessionsync_shop for /shop.",
    )
    cookie_domain: str | None = _field(
        "COOKIE_DOMAIN", _optional_str, None, "Domain attribute of the cookie (default: host only)."
    )
    cookie_path: str = _field(
        "COOKIE_PATH",
        _cookie_path,
        "",
        "Path attribute of the cookies (default: the path of SESSIONSYNC_SITE_URL, / for a site at the root).",
    )
    cookie_secure: str = _field(
        "COOKIE_SECURE", _one_of("auto", "true", "false"), "auto", "Secure attribute: auto = on https and *.localhost."
    )
    cookie_samesite: str = _field(
        "COOKIE_SAMESITE",
        _one_of("auto", "lax", "strict", "none"),
        "auto",
        "SameSite attribute: auto = Lax in bounce mode, None in frame and auto mode.",
    )
    session_lifetime: float = _field("SESSION_LIFETIME", _positive_duration, 14 * 86400.0, "Longest life of a session.")
    hop_lifetime: float = _field("HOP_LIFETIME", _positive_duration, 30.0, "Life of a sign-in hop or frame envelope.")
    backchannel_lifetime: float = _field(
        "BACKCHANNEL_LIFETIME", _positive_duration, 60.0, "Life of one back-channel message envelope."
    )
    clock_skew: float = _field("CLOCK_SKEW", _duration, 5.0, "Clock difference tolerated between sites.")
    store: str = _field(
        "STORE", _store, "sqlite:///sessionsync.sqlite3", "Where users, sessions, used ids and the outbox live."
    )
    identity: str = _field(
        "IDENTITY",
        _one_of(*IDENTITY_NAMES),
        "session",
        "How the site's login is read and made: session (the middleware's), "
        "starlette-session (the app's request.session), django (django.contrib.auth).",
    )
    # -- feature sections, each declared beside its feature's code ---------------------
    app_session: AppSessionSettings = section(
        AppSessionSettings, "The starlette-session identity's options (identity/app_session_settings.py)."
    )
    mail: MailSettings = section(MailSettings, "Mailing verification codes (mail_settings.py).")
    governance: GovernanceSettings = section(GovernanceSettings, "The session policy (governance/settings.py).")
    user_sync: UserSyncSettings = section(UserSyncSettings, "The network file and user sync (network_rules.py).")
    console: ConsoleSettings = section(ConsoleSettings, "The operator's console (console_settings.py).")
    auto_provision: bool = _field(
        "AUTO_PROVISION", _bool, True, "Create a user that a peer vouches for but this site lacks."
    )
    default_role: str = _field(
        "DEFAULT_ROLE", _str, "member", "Role given to auto-provisioned users (never taken from a peer)."
    )
    peer_timeout: float = _field(
        "PEER_TIMEOUT", _positive_duration, 1.0, "Timeout of back-channel requests and peer checks."
    )
    peer_ca_file: str | None = _field(
        "PEER_CA_FILE", _ca_file, None, "PEM file of CAs trusted for requests to peers, beside the default ones."
    )
    logout_wait: float = _field(
        "LOGOUT_WAIT", _duration, 1.0, "How long a sign-out response waits for peers to confirm before replying."
    )
    catchup: bool = _field(
        "CATCHUP",
        _bool,
        True,
        "First-visit catch-up: a browser with no session here is asked about at the peers, by a top-level "
        "round trip, at most once per interval.",
    )
    catchup_interval: float = _field(
        "CATCHUP_INTERVAL", _positive_duration, 600.0, "How often one browser may be caught up (seconds)."
    )
    privileged_roles: tuple[str, ...] = _field(
        "PRIVILEGED_ROLES",
        _list,
        ("admin", "administrator", "owner", "staff", "superuser"),
        "Roles (case-folded) that make an account privileged: no peer acts on it unless trusted for it.",
    )
    trusted_for_privileged: tuple[str, ...] = _field(
        "TRUSTED_FOR_PRIVILEGED",
        _site_ids,
        (),
        "Peers (origins; a sub-folder site with its path) trusted for privileged accounts here: sign-ins and "
        "user changes (default: none).",
    )
    retention: float = _field(
        "RETENTION",
        _positive_duration,
        30 * 86400.0,
        "How long ended sessions, used ids and finished back-channel messages are kept as history.",
    )
    activity_log: bool = _field(
        "ACTIVITY_LOG",
        _bool,
        True,
        "The activity log: every cross-site message sent and received, with its outcome, recorded in the store "
        "(read it with python -m asgi_sessionsync log).",
    )
    activity_retention: float = _field(
        "ACTIVITY_RETENTION", _positive_duration, 30 * 86400.0, "How long activity log entries are kept."
    )
    activity_max_rows: int = _field(
        "ACTIVITY_MAX_ROWS",
        _positive_int,
        200_000,
        "Most activity log entries kept: beyond it the oldest go, on insert and by the hourly housekeeping.",
    )
    unavailable_page: str | None = _field(
        "UNAVAILABLE_PAGE",
        _page_file,
        None,
        "An HTML file served (status 503, Retry-After) to browsers while the store is down, instead of the "
        'middleware\'s own page (see docs/operations.md, "When a store is down").',
    )
    template_dir: str | None = _field(
        "TEMPLATE_DIR",
        _optional_str,
        None,
        "A directory of templates replacing the middleware's own pages (error.html, code.html, catchup.html; "
        "string.Template, values escaped; see docs/pages.md). Files it lacks are the middleware's.",
    )
    log_format: str = _field(
        "LOG_FORMAT",
        _one_of("plain", "json"),
        "plain",
        "plain: your logging configuration (where there is none, one stderr handler at INFO); json: the "
        "asgi_sessionsync loggers write one JSON object a line to stderr (see docs/operations.md).",
    )
    redact_access_log: bool = _field(
        "REDACT_ACCESS_LOG",
        _bool,
        True,
        "Keep envelopes and the e, t, q and k query values out of uvicorn's and Hypercorn's access logs: the "
        "middleware adds asgi_sessionsync.logfilter.RedactTokens to uvicorn.access and hypercorn.access at "
        "start-up (lifespan, or the first request without it). false: the access logs are left as they are.",
    )
    # -- verified emails (asgi_sessionsync.verification) ---------------------------------
    require_verified_email: RequireVerified = _field(
        "REQUIRE_VERIFIED_EMAIL",
        _choice(RequireVerified),
        RequireVerified.OFF,
        "Peer sign-ins of unverified addresses: off (accepted), issuer (refused unless the peer verified the "
        "address), self (this site verifies it with a mailed code).",
    )
    # Code only (no variable): where this site reads the time. Tests give a clock that is
    # off to play a site whose clock is wrong; everything sealed or opened here uses it.
    clock: Callable[[], float] = field(
        default=time.time, compare=False, repr=False, metadata={"doc": "This site's clock (code only)."}
    )
    sign_out_everywhere: bool = _field(
        "SIGN_OUT_EVERYWHERE",
        _bool,
        False,
        "Every sign-out ends every session of the user (all browsers) here and on every peer.",
    )

    def __post_init__(self) -> None:
        # A site's cookies are scoped by its path; one that shares its origin with a peer
        # gets names of its own (docs/deployment.md, "Sub-folder sites on one domain").
        if not self.cookie_path:
            object.__setattr__(self, "cookie_path", self.site_path or "/")
        if self.cookie_name == DEFAULT_COOKIE_NAME and self.site_path and self.same_origin_peers():
            object.__setattr__(self, "cookie_name", subfolder_cookie_name(self.site_path))

    # -- derived views -------------------------------------------------------------------

    @property
    def origin(self) -> str:
        """The origin of this site's URL (what browsers compare: ``Origin``, ``Sec-Fetch-Site``)."""
        return origin_of(self.site_url)

    @property
    def site_id(self) -> str:
        """What names this site to its peers: its origin, and its path when it has one."""
        return site_id_of(self.site_url)

    @property
    def site_path(self) -> str:
        """The path of this site's URL (``/shop``), ``""`` at the root of its origin."""
        return site_path_of(self.site_url)

    def same_origin_peers(self) -> list[Peer]:
        """The peers on this site's own origin (sub-folder sites of one domain), if any."""
        return [peer for _, peer in self.peers() if peer.origin == self.origin]

    @property
    def samesite(self) -> str:
        if self.cookie_samesite != "auto":
            return self.cookie_samesite
        return "lax" if self.sync_mode is SyncMode.BOUNCE else "none"

    @property
    def secure(self) -> bool:
        if self.cookie_secure != "auto":
            return self.cookie_secure == "true"
        parts = urlsplit(self.site_url)
        host = parts.hostname or ""
        return parts.scheme == "https" or host == "localhost" or host.endswith(".localhost")

    def peers(self) -> Iterable[tuple[Network, Peer]]:
        for network in self.networks:
            for peer in network.peers:
                yield network, peer

    # -- construction --------------------------------------------------------------------

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        env_file: str | Path | None = None,
        **overrides: Any,
    ) -> Settings:
        """Read settings from the environment (and ``env_file``, read only when given);
        ``overrides`` win. A ``.env`` file in the working directory that is not read is
        said in a warning when it holds ``SESSIONSYNC_*`` lines.

        Besides the fields, ``secret_keys`` and ``peers`` may be given in code for the
        default network (strings, bytes, :class:`Secret` or :class:`Peer`).
        """
        env = dict(read_env_file(env_file) if env_file else {})
        env.update(os.environ if environ is None else environ)
        if environ is None and env_file is None and (unread := unread_env_file()) is not None:
            logger.warning(
                "%s holds SESSIONSYNC_ settings and is not read: pass env_file=%r (the command line: --env-file %s)",
                os.path.abspath(unread),
                str(unread),
                unread,
            )
        if environ is None:
            from asgi_sessionsync.settings.variables import unknown_variables_of

            # A server started with a misspelled variable runs on the default: say so.
            for name, close in unknown_variables_of(setting_fields(cls), env):
                logger.warning(
                    "%s is not a setting and is ignored%s", name, f": did you mean {close}?" if close else ""
                )
        errors: list[ConfigError] = []  # every wrong setting, reported together
        values = field_values(dataclasses.fields(cls), env, overrides, errors)
        try:
            values["networks"] = _networks(env, overrides)
        except ConfigError as error:
            errors.append(error)
        if overrides:
            raise TypeError(f"unknown settings: {', '.join(sorted(overrides))}")
        settings = cls(**values)
        wrong = {error.variable for error in errors}
        errors += [e for e in settings_problems(settings) if e.variable not in wrong and not wrong & _NEEDED]
        if errors:
            raise config_error_of(errors)
        return settings

    def validate(self) -> None:
        """Raise :class:`ConfigError` for settings that cannot work together."""
        validate_settings(self)

    def describe(self) -> list[tuple[str, str]]:
        """(variable, effective value) pairs with secrets masked, for ``config check``."""
        return describe_settings(self)
