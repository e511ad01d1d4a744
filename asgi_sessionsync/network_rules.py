"""The network file: what this site sends to and accepts from each peer, per action.

A TOML file (``SESSIONSYNC_NETWORK_FILE``) or the same mapping in code
(``NetworkRules.from_mapping({...})``, or ``SessionSyncMiddleware(app, network_rules=...)``)::

    [defaults]                     # every peer, unless its own table says otherwise
    login = "both"                 # both | send | accept | off
    logout = "both"
    create = "off"                 # user actions: off unless turned on
    update = "off"
    delete = "off"
    password = "off"
    role = "off"
    meta = "off"
    roles_sent = ["member", "editor"]   # roles revealed to the peer (others go as no role); absent: all
    roles_accepted = ["member"]         # roles taken from the peer (others leave the role); absent: all
    accept_privileged_roles = false     # SESSIONSYNC_PRIVILEGED_ROLES are never taken unless true
    meta_keys = ["locale", "team"]      # metadata keys sent and accepted
    password_formats = ["scrypt"]       # hash schemes (text before the first $) sent and accepted

    [peers."https://b.example.com"]  # a peer's table overrides the defaults key by key
    update = "both"
    password = "accept"
    sources = ["203.0.113.7", "10.1.0.0/16"]  # its back-channel messages come from there only

``send``: this site sends that action to the peer; ``accept``: it applies that action
from the peer; ``both``; ``off``. For ``login``: sending off leaves the peer out of this
site's sign-in chains and refuses the peer's requests (pulls) for this site's sign-ins;
accepting off refuses the peer's hops and leaves it out of this site's catch-up. For
``logout``: sending off sends it no sign-outs; accepting off refuses its sign-outs.

``app.<name>``: a message kind of the app's own (``send_message``, received by the
``app_message`` hook; docs/hooks.md), declared with its direction like any action, in
``[defaults]`` for every peer or in a peer's table (``"app.notes" = "both"``; a name is
1-40 of ``a-z 0-9 _ -``, starting with a letter or digit). A kind declared nowhere is
neither sent nor accepted.

``sources``: the addresses and CIDR networks a peer's back-channel messages must come
from (absent: anywhere; the key holds the trust). The address is the client address the
trusted-proxy rules give (``SESSIONSYNC_TRUSTED_PROXIES``), so a proxy in front does not
make every message come from the proxy. A sealed message from elsewhere is refused
before it is claimed as applied (a captured message replayed from elsewhere cannot use
up its id), with a WARNING line and an activity entry.

Only the standard library is needed (``tomllib``). Nothing here runs per request.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.protocol import APP_PREFIX
from asgi_sessionsync.settings.parsers import _bool, _field
from asgi_sessionsync.tomlfile import read_toml
from asgi_sessionsync.wprus.site_config import CONNECTION_KEYS, WprusSite, wprus_site

VARIABLE = "SESSIONSYNC_NETWORK_FILE"
EXAMPLE = f"{VARIABLE}=/etc/myapp/network.toml"


class Direction(enum.StrEnum):
    BOTH = "both"
    SEND = "send"
    ACCEPT = "accept"
    OFF = "off"

    @property
    def sends(self) -> bool:
        return self in (Direction.BOTH, Direction.SEND)

    @property
    def accepts(self) -> bool:
        return self in (Direction.BOTH, Direction.ACCEPT)


ACTIONS = ("login", "logout", "create", "update", "delete", "password", "role", "meta")
_DEFAULT_DIRECTIONS = {a: Direction.BOTH if a in ("login", "logout") else Direction.OFF for a in ACTIONS}
_LIST_KEYS = ("roles_sent", "roles_accepted", "meta_keys", "password_formats")
_KEYS = frozenset({*ACTIONS, *_LIST_KEYS, "accept_privileged_roles", "sources"})
APP_KIND = re.compile(r"app\.[a-z0-9][a-z0-9_-]{0,39}", re.ASCII)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def hash_scheme(password_hash: str) -> str:
    """A hash's format: the text before its first ``$`` (``scrypt``, ``pbkdf2_sha256``,
    ``argon2``, …); ``""`` for a hash without one."""
    scheme, sep, _ = password_hash.partition("$")
    return scheme if sep else ""


@dataclass(frozen=True, slots=True)
class PeerRules:
    """What this site sends to and accepts from one peer. ``roles_sent`` and
    ``roles_accepted`` None: every role (privileged ones still need
    ``accept_privileged_roles`` to be taken)."""

    directions: tuple[tuple[str, Direction], ...] = tuple(_DEFAULT_DIRECTIONS.items())
    roles_sent: tuple[str, ...] | None = None
    roles_accepted: tuple[str, ...] | None = None
    accept_privileged_roles: bool = False
    meta_keys: tuple[str, ...] = ()
    password_formats: tuple[str, ...] = ()
    sources: tuple[Network, ...] | None = None  # None: back-channel messages from anywhere
    app_kinds: tuple[tuple[str, Direction], ...] = ()  # the app's own message kinds (``app.<name>``)

    def direction(self, action: str) -> Direction:
        """An action's direction; an app kind's (``off`` when it is not declared)."""
        if action.startswith(APP_PREFIX):
            return dict(self.app_kinds).get(action, Direction.OFF)
        return dict(self.directions)[action]

    @property
    def app_kinds_described(self) -> str:
        return ", ".join(f"{kind}={direction.value}" for kind, direction in self.app_kinds) or "none"

    def sends(self, action: str) -> bool:
        return self.direction(action).sends

    def accepts(self, action: str) -> bool:
        return self.direction(action).accepts

    def role_sent(self, role: str) -> str:
        """The role the peer is told (``""``: a role this site does not reveal to it)."""
        return role if self.roles_sent is None or role in self.roles_sent else ""

    def refuses_role(self, role: str, privileged: Iterable[str]) -> str | None:
        """Why a role from the peer is not taken, or None when it is."""
        if role in privileged and not self.accept_privileged_roles:
            return f"privileged role {role!r} (accept_privileged_roles is off)"
        if self.roles_accepted is not None and role not in self.roles_accepted:
            return f"role {role!r} is not in roles_accepted"
        return None

    def allows_hash(self, password_hash: str) -> bool:
        return hash_scheme(password_hash) in self.password_formats

    def admits_source(self, host: str | None) -> bool:
        """Whether a back-channel message may come from ``host`` (the client address; None
        or not an address, such as a unix socket's peer: only when any source is)."""
        if self.sources is None:
            return True
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.sources)

    @property
    def sources_described(self) -> str:
        return "any" if self.sources is None else ", ".join(str(n) for n in self.sources)


@dataclass(frozen=True, slots=True)
class NetworkRules:
    """The defaults and each peer's rules (by origin); ``source`` names the file."""

    defaults: PeerRules = field(default_factory=PeerRules)
    peers: tuple[tuple[str, PeerRules], ...] = ()
    source: str = "defaults"
    # WordPress sites running WP Remote Users Sync ([wprus."<url>"]), by origin; their
    # rules are in ``peers`` like any peer's.
    wprus: tuple[tuple[str, WprusSite], ...] = ()

    def wprus_site(self, origin: str) -> WprusSite | None:
        return dict(self.wprus).get(origin)

    def for_peer(self, origin: str) -> PeerRules:
        return dict(self.peers).get(origin, self.defaults)

    def app_kinds(self) -> frozenset[str]:
        """Every app kind declared, for any peer."""
        tables = (self.defaults, *(rules for _, rules in self.peers))
        return frozenset(kind for rules in tables for kind, _ in rules.app_kinds)

    def matrix(self, origins: Iterable[str]) -> list[dict[str, str]]:
        """One row per peer: its origin and each action's direction, for ``config check``."""
        rows = []
        for origin in origins:
            rules = self.for_peer(origin)
            rows.append({"peer": origin, **{a: rules.direction(a).value for a in ACTIONS}})
        return rows

    @classmethod
    def load(cls, path: str | Path, *, variable: str = VARIABLE) -> NetworkRules:
        data = read_toml(path, variable=variable, what="network file", example=EXAMPLE)
        return cls.from_mapping(data, source=str(Path(path)), variable=variable)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "code", variable: str = VARIABLE) -> NetworkRules:
        """Rules from the TOML structure (a ``defaults`` table and ``peers."<origin>"`` tables)."""
        unknown = sorted(set(data) - {"defaults", "peers", "wprus"})
        if unknown:
            raise ConfigError(
                variable,
                f'{source}: unknown section(s) {", ".join(unknown)} (use [defaults], [peers."https://b.example.com"])',
                EXAMPLE,
            )
        defaults = _rules(
            PeerRules(), _table(data.get("defaults", {}), "defaults", source, variable), "defaults", source, variable
        )
        peers: dict[str, PeerRules] = {}
        for key, section in _table(data.get("peers", {}), "peers", source, variable).items():
            name = _site_id(str(key), source, variable)
            where = f'peers."{key}"'
            if name in peers:
                raise ConfigError(variable, f"{source}: {name} is declared twice", f"[{where}]")
            peers[name] = _rules(defaults, _table(section, where, source, variable), where, source, variable)
        sites: dict[str, WprusSite] = {}
        for key, section in _table(data.get("wprus", {}), "wprus", source, variable).items():
            where = f'wprus."{key}"'
            table = _table(section, where, source, variable)
            site = wprus_site(str(key), table, source, variable)
            if site.origin in peers or site.origin in sites:
                raise ConfigError(variable, f"{source}: {site.origin} is declared twice", f"[{where}]")
            rules = {k: v for k, v in table.items() if k not in CONNECTION_KEYS}
            # Passwords arrive in plain text and are hashed here (scrypt): that is the format.
            rules.setdefault("password_formats", ["scrypt"])
            peers[site.origin] = _rules(defaults, rules, where, source, variable)
            sites[site.origin] = site
        return cls(defaults, tuple(sorted(peers.items())), source, tuple(sorted(sites.items())))


def _site_id(text: str, source: str, variable: str) -> str:
    """A peer's name: its origin, and its path for a sub-folder site (``https://example.com/blog``)."""
    parts = urlsplit(text.strip())
    path = parts.path.rstrip("/")
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or (path and not re.fullmatch(r"(/[A-Za-z0-9._~%-]+)+", path))
    ):
        raise ConfigError(
            variable,
            f'{source}: [peers."{text}"] must name a peer by its origin (and its path, for a sub-folder site)',
            '[peers."https://b.example.com"]',
        )
    return f"{parts.scheme}://{parts.netloc}".lower() + path


def _table(value: object, where: str, source: str, variable: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(variable, f"{source}: [{where}] must be a table", EXAMPLE)
    return value


def _sources(value: object, where: str, source: str, variable: str) -> tuple[Network, ...]:
    example = 'sources = ["203.0.113.7", "10.1.0.0/16", "2001:db8::/32"]'
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(variable, f"{source}: [{where}] sources must be a list of addresses or networks", example)
    networks = []
    for text in value:
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                variable, f"{source}: [{where}] sources: {text!r} is not an IP address or CIDR network", example
            ) from None
    return tuple(networks)


def _rules(base: PeerRules, table: Mapping[str, Any], where: str, source: str, variable: str) -> PeerRules:
    unknown = sorted(k for k in set(table) - _KEYS if not k.startswith(APP_PREFIX))
    if unknown:
        raise ConfigError(
            variable,
            f"{source}: [{where}] has unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})",
            'update = "both"',
        )
    directions = dict(base.directions)
    for action in ACTIONS:
        if action not in table:
            continue
        value = table[action]
        try:
            directions[action] = Direction(value)
        except ValueError:
            raise ConfigError(
                variable,
                f"{source}: [{where}] {action} = {value!r} is not one of both, send, accept, off",
                f'{action} = "accept"',
            ) from None
    apps = dict(base.app_kinds)
    for key in sorted(k for k in table if k.startswith(APP_PREFIX)):
        value = table[key]
        if not APP_KIND.fullmatch(key) or value not in Direction.__members__.values():
            raise ConfigError(
                variable,
                f"{source}: [{where}] {key} = {value!r}: an app kind is app.<name> (1-40 of a-z 0-9 _ -) "
                "with one of both, send, accept, off",
                '"app.notes" = "both"',
            )
        apps[key] = Direction(value)
    lists: dict[str, tuple[str, ...]] = {}
    for key in _LIST_KEYS:
        if key in table:
            value = table[key]
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise ConfigError(
                    variable, f"{source}: [{where}] {key} must be a list of names", f'{key} = ["member", "editor"]'
                )
            lists[key] = tuple(v.strip() for v in value)
    privileged = table.get("accept_privileged_roles", base.accept_privileged_roles)
    if not isinstance(privileged, bool):
        raise ConfigError(
            variable,
            f"{source}: [{where}] accept_privileged_roles must be true or false",
            "accept_privileged_roles = false",
        )
    rules = replace(
        base,
        sources=_sources(table["sources"], where, source, variable) if "sources" in table else base.sources,
        directions=tuple(directions.items()),
        app_kinds=tuple(sorted(apps.items())),
        accept_privileged_roles=privileged,
        roles_sent=lists.get("roles_sent", base.roles_sent),
        roles_accepted=lists.get("roles_accepted", base.roles_accepted),
        meta_keys=lists.get("meta_keys", base.meta_keys),
        password_formats=lists.get("password_formats", base.password_formats),
    )
    if rules.direction("password") is not Direction.OFF and not rules.password_formats:
        raise ConfigError(
            variable,
            f"{source}: [{where}] password = {rules.direction('password').value!r} needs password_formats: "
            "the hash schemes both sites can verify",
            'password_formats = ["scrypt"]',
        )
    return rules


# -- user sync's section of the settings (composed into Settings) ------------------------


def _network_rules(variable: str, text: str) -> NetworkRules | None:
    return NetworkRules.load(text.strip(), variable=variable) if text.strip() else None


@dataclass(frozen=True)
class UserSyncSettings:
    """The network file and what user sync keeps (docs/users.md)."""

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
