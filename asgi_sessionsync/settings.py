"""Settings: every option from ``SESSIONSYNC_*`` variables, a ``.env`` file, or code.

Code wins over the environment, the environment over the ``.env`` file, the file
over the defaults. Every invalid value stops start-up with a :class:`ConfigError`
naming the variable, the problem and a valid example; secrets never appear in a
repr, an error or a log line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import enum
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlsplit

from asgi_sessionsync.client_ip import BindingMode, TrustedProxies
from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.governance.policy import Policy
from asgi_sessionsync.keys import GENERATE_HINT, key_id, parse_secret
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.stores.registry import check_store_url

PREFIX = "SESSIONSYNC_"
logger = logging.getLogger("asgi_sessionsync")


class SyncMode(enum.StrEnum):
    BOUNCE = "bounce"  # top-level redirect chain: works in every browser
    FRAME = "frame"  # hidden iframes: needs third-party cookies
    AUTO = "auto"  # frames first, then bounce through the peers whose frame failed


class Secret:
    """Secret bytes that never show themselves in a repr, a str or a log."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    @property
    def key_id(self) -> str:
        return key_id(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class Peer:
    """Another site of a network: where browsers reach it, and where servers do."""

    url: str
    backchannel_url: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", _normalize_url(self.url, "SESSIONSYNC_PEERS"))
        back = self.backchannel_url or self.url
        object.__setattr__(self, "backchannel_url", _normalize_url(back, "SESSIONSYNC_PEERS"))

    @property
    def origin(self) -> str:
        return origin_of(self.url)

    @classmethod
    def parse(cls, text: str, variable: str = "SESSIONSYNC_PEERS") -> Peer:
        url, _, back = text.strip().partition("|")
        try:
            return cls(url.strip(), back.strip())
        except ConfigError as error:
            raise ConfigError(variable, error.problem, _PEERS_EXAMPLE) from None


@dataclass(frozen=True, slots=True)
class Network:
    """A group of sites sharing login: its own secret keys (first seals) and peers."""

    name: str
    secret_keys: tuple[Secret, ...]
    peers: tuple[Peer, ...] = ()


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


_PEERS_EXAMPLE = "SESSIONSYNC_PEERS=https://b.example.com,https://c.example.com|http://10.0.0.3:8000"


def _normalize_url(text: str, variable: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(variable, f"{text!r} is not an http(s) URL", "https://a.example.com")
    if parts.query or parts.fragment:
        raise ConfigError(variable, f"{text!r} must not have a query or fragment", "https://a.example.com")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(variable, f"{text!r} has an invalid port", "https://a.example.com:8443") from None
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


# --- parsers: (variable, text) -> value -------------------------------------------------


def _str(variable: str, text: str) -> str:
    return text.strip()


def _url(variable: str, text: str) -> str:
    return _normalize_url(text, variable)


def _bool(variable: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(variable, f"{text!r} is not a boolean", f"{variable}=true")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def _duration(variable: str, text: str) -> float:
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(variable, f"{text!r} is not a duration", f"{variable}=30s (or 30, 5m, 2h, 14d)")
    return float(match.group(1)) * _UNIT[match.group(2)]


def _positive_duration(variable: str, text: str) -> float:
    value = _duration(variable, text)
    if value <= 0:
        raise ConfigError(variable, "must be greater than zero", f"{variable}=30s")
    return value


def _prefix_len(limit: int) -> Callable[[str, str], int]:
    def parse(variable: str, text: str) -> int:
        if not text.strip().isdigit() or not 0 < int(text) <= limit:
            raise ConfigError(variable, f"{text!r} is not a prefix length 1-{limit}", f"{variable}={limit // 2}")
        return int(text)

    return parse


def _choice(enum_type: type[enum.StrEnum]) -> Callable[[str, str], Any]:
    def parse(variable: str, text: str) -> Any:
        try:
            return enum_type(text.strip().lower())
        except ValueError:
            allowed = ", ".join(m.value for m in enum_type)
            first = next(iter(enum_type)).value
            raise ConfigError(variable, f"{text!r} is not one of {allowed}", f"{variable}={first}") from None

    return parse


def _one_of(*allowed: str) -> Callable[[str, str], str]:
    def parse(variable: str, text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ConfigError(variable, f"{text!r} is not one of {', '.join(allowed)}", f"{variable}={allowed[0]}")
        return value

    return parse


def _list(variable: str, text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _origins(variable: str, text: str) -> tuple[str, ...]:
    return tuple(origin_of(_normalize_url(item, variable)) for item in _list(variable, text))


def _trusted_proxies(variable: str, text: str) -> tuple[str, ...]:
    entries = _list(variable, text)
    TrustedProxies(entries, variable=variable)  # validates
    return entries


def _path_prefix(variable: str, text: str) -> str:
    value = text.strip()
    if not re.fullmatch(r"/([A-Za-z0-9._~-]+/)+", value):
        raise ConfigError(
            variable, f"{text!r} must start and end with '/' and be a plain path", f"{variable}=/_sessionsync/"
        )
    return value


def _cookie_name(variable: str, text: str) -> str:
    value = text.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
        raise ConfigError(variable, f"{text!r} is not a valid cookie name", f"{variable}=sessionsync")
    return value


def _optional_str(variable: str, text: str) -> str | None:
    return text.strip() or None


def _app_secret(variable: str, text: str) -> Secret | None:
    # The app's own SessionMiddleware secret, used as the app uses it: any string.
    return Secret(text.encode("utf-8")) if text else None


def _store(variable: str, text: str) -> str:
    value = text.strip()
    check_store_url(value, variable=variable)  # the same check as start-up's open_stores
    return value


def _policy(variable: str, text: str) -> Policy | None:
    return Policy.load(text.strip(), variable=variable) if text.strip() else None


def _network_rules(variable: str, text: str) -> NetworkRules | None:
    return NetworkRules.load(text.strip(), variable=variable) if text.strip() else None


def _field(env: str, parse: Callable[[str, str], Any], default: Any, doc: str, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"env": PREFIX + env, "parse": parse, "doc": doc, "secret": secret})


@dataclass(frozen=True)
class Settings:
    """All options of one site. Build with :meth:`from_env` (code values win)."""

    site_url: str = _field("SITE_URL", _url, "", "This site's public base URL, as browsers reach it.")
    networks: tuple[Network, ...] = field(default=(), metadata={"doc": "Networks this site belongs to."})
    trusted_proxies: tuple[str, ...] = _field(
        "TRUSTED_PROXIES", _trusted_proxies, (), "Proxy addresses/CIDRs whose X-Forwarded-For is believed; * for all."
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
    cookie_name: str = _field("COOKIE_NAME", _cookie_name, "sessionsync", "Name of the session cookie.")
    cookie_domain: str | None = _field(
        "COOKIE_DOMAIN", _optional_str, None, "Domain attribute of the cookie (default: host only)."
    )
    cookie_path: str = _field("COOKIE_PATH", _str, "/", "Path attribute of the cookie.")
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
        _one_of("session", "starlette-session", "django"),
        "session",
        "How the site's login is read and made: session (the middleware's), "
        "starlette-session (the app's request.session), django (django.contrib.auth).",
    )
    app_session_secret: Secret | None = _field(
        "APP_SESSION_SECRET",
        _app_secret,
        None,
        "starlette-session identity: the app's SessionMiddleware secret_key.",
        secret=True,
    )
    app_session_cookie: str = _field(
        "APP_SESSION_COOKIE", _cookie_name, "session", "starlette-session identity: the app's cookie name."
    )
    app_session_user_key: str = _field(
        "APP_SESSION_USER_KEY", _str, "user", "starlette-session identity: the request.session key holding the email."
    )
    app_session_max_age: float = _field(
        "APP_SESSION_MAX_AGE",
        _duration,
        14 * 86400.0,
        "starlette-session identity: the app's SessionMiddleware max_age (0 = a browser-session cookie).",
    )
    app_session_samesite: str = _field(
        "APP_SESSION_SAMESITE",
        _one_of("lax", "strict", "none"),
        "lax",
        "starlette-session identity: the app's SessionMiddleware same_site.",
    )
    app_session_https_only: bool = _field(
        "APP_SESSION_HTTPS_ONLY", _bool, False, "starlette-session identity: the app's SessionMiddleware https_only."
    )
    app_session_path: str = _field(
        "APP_SESSION_PATH", _str, "/", "starlette-session identity: the app's SessionMiddleware path."
    )
    app_session_domain: str | None = _field(
        "APP_SESSION_DOMAIN", _optional_str, None, "starlette-session identity: the app's SessionMiddleware domain."
    )
    auto_provision: bool = _field(
        "AUTO_PROVISION", _bool, True, "Create a user that a peer vouches for but this site lacks."
    )
    default_role: str = _field(
        "DEFAULT_ROLE", _str, "member", "Role given to auto-provisioned users (never taken from a peer)."
    )
    peer_timeout: float = _field(
        "PEER_TIMEOUT", _positive_duration, 1.0, "Timeout of back-channel requests and peer checks."
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
        "Roles of this site that a peer may never sign in (unless trusted for it).",
    )
    trusted_for_privileged: tuple[str, ...] = _field(
        "TRUSTED_FOR_PRIVILEGED",
        _origins,
        (),
        "Peer origins allowed to sign in privileged accounts here (default: none).",
    )
    retention: float = _field(
        "RETENTION",
        _positive_duration,
        30 * 86400.0,
        "How long ended sessions, used ids and finished back-channel messages are kept as history.",
    )
    log_format: str = _field(
        "LOG_FORMAT",
        _one_of("plain", "json"),
        "plain",
        "plain: the package configures no logging (your server's does); json: the asgi_sessionsync loggers "
        "write one JSON object a line to stderr (see docs/operations.md).",
    )
    # Code only (no variable): where this site reads the time. Tests give a clock that is
    # off to play a site whose clock is wrong; everything sealed or opened here uses it.
    clock: Callable[[], float] = field(
        default=time.time, compare=False, repr=False, metadata={"doc": "This site's clock (code only)."}
    )
    # -- governance (asgi_sessionsync.governance) --------------------------------------
    policy: Policy | None = _field(
        "POLICY_FILE",
        _policy,
        None,
        "Session policy (TOML): limits, IP ranges and idle timeouts, per role; see docs/governance.md.",
    )
    geoip_database: str | None = _field(
        "GEOIP_DATABASE", _optional_str, None, "MaxMind-format database giving a session's country (needs maxminddb)."
    )
    country_header: str | None = _field(
        "COUNTRY_HEADER",
        _optional_str,
        None,
        "Header giving the country (e.g. CF-IPCountry), believed only from SESSIONSYNC_TRUSTED_PROXIES.",
    )

    # -- user sync (docs/users.md) ---------------------------------------------------------
    network_rules: NetworkRules | None = _field(
        "NETWORK_FILE",
        _network_rules,
        None,
        "Network file (TOML): per peer and per action (login, logout, create, update, delete, password, role, "
        "meta) both/send/accept/off, role and metadata allow-lists, hash formats; see docs/users.md.",
    )
    prevent_email_change: bool = _field(
        "PREVENT_EMAIL_CHANGE", _bool, True, "Refuse to change the email of a synced user (its key across the network)."
    )
    sign_out_everywhere: bool = _field(
        "SIGN_OUT_EVERYWHERE",
        _bool,
        False,
        "Every sign-out ends every session of the user (all browsers) here and on every peer.",
    )

    # -- derived views -------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return origin_of(self.site_url)

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
        env_file: str | Path | None = ".env",
        **overrides: Any,
    ) -> Settings:
        """Read settings from the environment (and ``env_file``); ``overrides`` win.

        Besides the fields, ``secret_keys`` and ``peers`` may be given in code for the
        default network (strings, bytes, :class:`Secret` or :class:`Peer`).
        """
        env = dict(read_env_file(env_file) if env_file else {})
        env.update(os.environ if environ is None else environ)
        if environ is None:
            # A server started with a misspelled variable runs on the default: say so.
            for name, close in unknown_variables(env):
                logger.warning(
                    "%s is not a setting and is ignored%s", name, f": did you mean {close}?" if close else ""
                )
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "networks":
                continue
            if "env" not in f.metadata:  # code only
                if f.name in overrides:
                    values[f.name] = overrides.pop(f.name)
                continue
            variable = f.metadata["env"]
            if f.name in overrides:
                value = overrides.pop(f.name)
                if isinstance(value, str):
                    value = f.metadata["parse"](variable, value)
                values[f.name] = tuple(value) if isinstance(value, list) else value
            elif variable in env:
                values[f.name] = f.metadata["parse"](variable, env[variable])
        values["networks"] = _networks(env, overrides)
        if overrides:
            raise TypeError(f"unknown settings: {', '.join(sorted(overrides))}")
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not self.site_url:
            raise ConfigError(PREFIX + "SITE_URL", "is required", f"{PREFIX}SITE_URL=https://a.example.com")
        if not self.networks:
            raise ConfigError(PREFIX + "SECRET_KEYS", f"no network is configured; {GENERATE_HINT}")
        seen: dict[str, str] = {}
        for network in self.networks:
            for peer in network.peers:
                if peer.origin == self.origin:
                    raise ConfigError(_peers_var(network.name), f"{peer.url} is this site itself", _PEERS_EXAMPLE)
            for secret in network.secret_keys:
                if secret.key_id in seen:
                    raise ConfigError(
                        _keys_var(network.name),
                        f"networks {seen[secret.key_id]!r} and {network.name!r} share a secret key",
                    )
                seen[secret.key_id] = network.name
        if self.network_rules is not None:
            known = {peer.origin for _, peer in self.peers()}
            strangers = sorted(origin for origin, _ in self.network_rules.peers if origin not in known)
            if strangers:
                raise ConfigError(
                    PREFIX + "NETWORK_FILE",
                    f"{self.network_rules.source}: [peers] names {', '.join(strangers)}, not a peer of this site "
                    "(SESSIONSYNC_PEERS)",
                    '[peers."https://b.example.com"]',
                )
        if self.identity == "starlette-session" and self.app_session_secret is None:
            raise ConfigError(
                PREFIX + "APP_SESSION_SECRET",
                "the starlette-session identity needs the secret_key of the app's SessionMiddleware",
            )
        if self.samesite == "none" and not self.secure:
            raise ConfigError(
                PREFIX + "COOKIE_SAMESITE",
                "SameSite=None needs Secure cookies: serve the site over https (or *.localhost), "
                "or use sync mode bounce",
                f"{PREFIX}SYNC_MODE=bounce",
            )

    def describe(self) -> list[tuple[str, str]]:
        """(variable, effective value) pairs with secrets masked, for ``config check``."""
        rows: list[tuple[str, str]] = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "networks":
                for network in value:
                    keys = ", ".join(f"key id {s.key_id}" for s in network.secret_keys)
                    rows.append((_keys_var(network.name), f"[{len(network.secret_keys)} secret(s): {keys}]"))
                    peers = ", ".join(
                        p.url + (f" | {p.backchannel_url}" if p.backchannel_url != p.url else "") for p in network.peers
                    )
                    rows.append((_peers_var(network.name), peers or "(none)"))
                continue
            if "env" not in f.metadata:
                continue
            if f.metadata.get("secret"):
                shown = "(not set)" if value is None else "********"
            elif isinstance(value, enum.Enum):
                shown = value.value
            elif isinstance(value, tuple):
                shown = ",".join(value) or "(none)"
            elif isinstance(value, NetworkRules):
                shown = value.source
            else:
                shown = "(not set)" if value is None else str(value)
            rows.append((f.metadata["env"], shown))
        return rows


def _keys_var(network: str) -> str:
    return PREFIX + "SECRET_KEYS" if network == "default" else f"{PREFIX}NETWORK_{network.upper()}_SECRET_KEYS"


def _peers_var(network: str) -> str:
    return PREFIX + "PEERS" if network == "default" else f"{PREFIX}NETWORK_{network.upper()}_PEERS"


def _as_secret(value: str | bytes | Secret, variable: str) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, bytes):
        return Secret(parse_secret(value.decode("ascii", "replace"), variable=variable))
    return Secret(parse_secret(value, variable=variable))


def _as_peer(value: str | Peer, variable: str) -> Peer:
    return value if isinstance(value, Peer) else Peer.parse(value, variable)


def _network(name: str, keys: Sequence[Any] | str, peers: Sequence[Any] | str) -> Network:
    keys_var, peers_var = _keys_var(name), _peers_var(name)
    if isinstance(keys, str):
        keys = _list(keys_var, keys)
    if isinstance(peers, str):
        peers = _list(peers_var, peers)
    if not keys:
        raise ConfigError(keys_var, f"network {name!r} has no secret key; {GENERATE_HINT}")
    return Network(
        name=name,
        secret_keys=tuple(_as_secret(k, keys_var) for k in keys),
        peers=tuple(_as_peer(p, peers_var) for p in peers),
    )


def _networks(env: Mapping[str, str], overrides: dict[str, Any]) -> tuple[Network, ...]:
    if "networks" in overrides:
        networks = tuple(overrides.pop("networks"))
        if "secret_keys" in overrides or "peers" in overrides:
            raise TypeError("give either networks=... or secret_keys=/peers=, not both")
        return networks
    result: list[Network] = []
    keys = overrides.pop("secret_keys", env.get(PREFIX + "SECRET_KEYS", ""))
    peers = overrides.pop("peers", env.get(PREFIX + "PEERS", ""))
    if keys or peers:
        result.append(_network("default", keys, peers))
    for name in _list(PREFIX + "NETWORKS", env.get(PREFIX + "NETWORKS", "")):
        if not re.fullmatch(r"[A-Za-z0-9_]+", name) or name.lower() == "default":
            raise ConfigError(
                PREFIX + "NETWORKS", f"{name!r} is not a valid network name", f"{PREFIX}NETWORKS=partners"
            )
        result.append(_network(name.lower(), env.get(_keys_var(name), ""), env.get(_peers_var(name), "")))
    return tuple(result)


def read_env_file(path: str | Path) -> dict[str, str]:
    """Parse a ``.env`` file: ``KEY=value`` lines, ``#`` comments, optional quotes."""
    file = Path(path)
    if not file.is_file():
        return {}
    values: dict[str, str] = {}
    for line in file.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def documented_variables() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting, for the docs table."""
    rows: list[tuple[str, str, str]] = []
    for f in dataclasses.fields(Settings):
        if "env" not in f.metadata:
            continue
        default = f.default
        shown = default.value if isinstance(default, enum.Enum) else default
        rows.append((f.metadata["env"], "" if shown in (None, "", ()) else str(shown), f.metadata["doc"]))
    return rows


# Variables read by the parts around the middleware (the demo), not by :class:`Settings`.
OTHER_VARIABLES = frozenset({PREFIX + "DEMO_LOG"})
_NETWORK_VARIABLE = re.compile(rf"^{PREFIX}NETWORK_([A-Za-z0-9_]+?)_(SECRET_KEYS|PEERS)$")


def known_variables(env: Mapping[str, str] | None = None) -> set[str]:
    """Every ``SESSIONSYNC_*`` name that means something (with ``env``: the variables of
    the networks it names, too)."""
    names = {f.metadata["env"] for f in dataclasses.fields(Settings) if "env" in f.metadata}
    names |= {PREFIX + "SECRET_KEYS", PREFIX + "PEERS", PREFIX + "NETWORKS"} | OTHER_VARIABLES
    for network in _list(PREFIX + "NETWORKS", (env or {}).get(PREFIX + "NETWORKS", "")):
        names |= {_keys_var(network), _peers_var(network)}
    return names


def unknown_variables(env: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """``SESSIONSYNC_*`` names in ``env`` that no setting reads, each with the closest
    known name (a likely misspelling) or None; sorted by name."""
    known = known_variables(env)
    found: list[tuple[str, str | None]] = []
    for name in sorted(n for n in env if n.startswith(PREFIX) and n not in known):
        candidates = sorted(known)
        if _NETWORK_VARIABLE.match(name):
            candidates = [*candidates, PREFIX + "NETWORKS"]
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.8)
        found.append((name, close[0] if close else None))
    return found


@contextlib.contextmanager
def exit_on_config_error() -> Iterator[None]:
    """Turn a :class:`ConfigError` raised inside into ``SystemExit`` with one line.

    For the code that builds the app, at import or in an app factory: a server such
    as uvicorn prints an exception from there with its whole traceback, but prints a
    ``SystemExit`` message as it is, and stops::

        with exit_on_config_error():
            app = SessionSyncMiddleware(app)
    """
    try:
        yield
    except ConfigError as error:
        raise SystemExit(f"asgi-sessionsync: configuration error: {error}") from None


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
    app_session_cookie: str
    app_session_user_key: str
    app_session_max_age: float | str
    app_session_samesite: str
    app_session_https_only: bool | str
    app_session_path: str
    app_session_domain: str | None
    auto_provision: bool | str
    default_role: str
    peer_timeout: float | str
    logout_wait: float | str
    catchup: bool | str
    catchup_interval: float | str
    privileged_roles: Sequence[str] | str
    trusted_for_privileged: Sequence[str] | str
    retention: float | str
    log_format: str
    clock: Callable[[], float]
    policy: Policy | str | None
    geoip_database: str | None
    country_header: str | None
    network_rules: NetworkRules | str | None
    prevent_email_change: bool | str
    sign_out_everywhere: bool | str
    secret_keys: Sequence[str | bytes | Secret] | str
    peers: Sequence[str | Peer] | str


class SettingsOptions(MiddlewareOptions, total=False):
    """The keyword options of :meth:`Settings.from_env`: the middleware's, and ``identity``."""

    identity: str
