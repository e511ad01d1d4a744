"""The session policy: limits, IP ranges and idle timeouts, with defaults and per-role sections.

A TOML file (``SESSIONSYNC_POLICY_FILE``) or the same mapping in code
(``Policy.from_mapping({...})``, or ``SessionSyncMiddleware(app, policy=...)``)::

    [defaults]
    max_sessions = 3                 # sign-ins of one user at once (a sign-in = one chain)
    max_sessions_per_ip = 2          # ... from one IP address
    max_sessions_per_country = 0     # ... from one country (0 or absent: no limit)
    max_sessions_per_device_class = 0  # desktop, mobile, tablet, bot, other
    max_sessions_per_client_type = 0   # browser, library, bot, other
    max_sessions_per_browser = 0
    max_sessions_per_os = 0
    max_ips = 5                      # distinct IPs one user signed in from ...
    ip_window = "24h"                # ... over this window (credential sharing)
    on_limit = "block"               # block | end-oldest | redirect
    redirect_to = "/too-many-sessions"  # with on_limit = "redirect": a path of this site
    allow_ips = []                   # CIDRs, or "private" / "public"; empty: any
    block_ips = []
    idle_timeout = "30m"             # no request for this long ends the session; 0: never

    [roles.admin]                    # a role's section overrides the defaults key by key
    max_sessions = 1
    allow_ips = ["private"]

Only the standard library is needed to read a policy (``tomllib``, ``ipaddress``): the
device and country rules need the ``governance`` extra at run time (checked when the
site starts). Nothing here runs per request.
"""

from __future__ import annotations

import enum
import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.tomlfile import read_toml

VARIABLE = "SESSIONSYNC_POLICY_FILE"
EXAMPLE = f"{VARIABLE}=/etc/myapp/sessions.toml"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class OnLimit(enum.StrEnum):
    BLOCK = "block"  # refuse the new sign-in: a clear page; the app's login is undone
    END_OLDEST = "end-oldest"  # end the oldest sign-in(s) everywhere, then let this one in
    REDIRECT = "redirect"  # refuse the new sign-in and send the browser to a page of this site


class Dimension(enum.StrEnum):
    """What a concurrent-session limit groups a user's sign-ins by."""

    USER = "user"
    IP = "ip"
    COUNTRY = "country"
    DEVICE_CLASS = "device_class"
    CLIENT_TYPE = "client_type"
    BROWSER = "browser"
    OS = "os"


_LIMIT_KEYS = {
    "max_sessions": Dimension.USER,
    "max_sessions_per_ip": Dimension.IP,
    "max_sessions_per_country": Dimension.COUNTRY,
    "max_sessions_per_device_class": Dimension.DEVICE_CLASS,
    "max_sessions_per_client_type": Dimension.CLIENT_TYPE,
    "max_sessions_per_browser": Dimension.BROWSER,
    "max_sessions_per_os": Dimension.OS,
}
_RANGE_WORDS = ("private", "public")
_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True, slots=True)
class IPRanges:
    """CIDR networks and the words ``private`` (not globally routable: RFC 1918, ULA,
    loopback, link-local, ...) and ``public`` (globally routable)."""

    networks: tuple[IPNetwork, ...] = ()
    private: bool = False
    public: bool = False

    def __bool__(self) -> bool:
        return bool(self.networks) or self.private or self.public

    def __contains__(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if self.private and not address.is_global:
            return True
        if self.public and address.is_global:
            return True
        return any(address in network for network in self.networks)

    def describe(self) -> str:
        words = [w for w in _RANGE_WORDS if getattr(self, w)]
        return ", ".join([*words, *(str(n) for n in self.networks)]) or "(any)"


@dataclass(frozen=True, slots=True)
class RolePolicy:
    """The effective rules for one role (the defaults with the role's section over them).
    A limit of 0 means no limit; an idle timeout of 0 means none."""

    limits: tuple[tuple[Dimension, int], ...] = ()
    max_ips: int = 0
    ip_window: float = 86400.0
    on_limit: OnLimit = OnLimit.BLOCK
    redirect_to: str | None = None
    allow_ips: IPRanges = field(default_factory=IPRanges)
    block_ips: IPRanges = field(default_factory=IPRanges)
    idle_timeout: float = 0.0

    @property
    def counts(self) -> bool:
        """Whether a sign-in needs the user's other sessions to be judged."""
        return bool(self.limits) or self.max_ips > 0

    def dimensions(self) -> set[Dimension]:
        return {d for d, _ in self.limits}

    def describe(self) -> list[tuple[str, str]]:
        rows = [(limit_name(d), str(n)) for d, n in self.limits]
        if self.max_ips:
            rows.append(("max_ips", f"{self.max_ips} over {_show_duration(self.ip_window)}"))
        rows.append(("on_limit", self.on_limit.value + (f" → {self.redirect_to}" if self.redirect_to else "")))
        rows.append(("allow_ips", self.allow_ips.describe()))
        rows.append(("block_ips", self.block_ips.describe() if self.block_ips else "(none)"))
        rows.append(("idle_timeout", _show_duration(self.idle_timeout) if self.idle_timeout else "(none)"))
        return rows


@dataclass(frozen=True, slots=True)
class Policy:
    """Defaults and per-role sections. :meth:`for_role` gives the effective rules."""

    defaults: RolePolicy = field(default_factory=RolePolicy)
    sections: tuple[tuple[str, RolePolicy], ...] = ()  # (role, rules), sorted by role
    source: str = "code"

    @property
    def roles(self) -> dict[str, RolePolicy]:
        return dict(self.sections)

    def for_role(self, role: str) -> RolePolicy:
        for name, rules in self.sections:
            if name == role:
                return rules
        return self.defaults

    def all(self) -> list[tuple[str, RolePolicy]]:
        return [("defaults", self.defaults), *self.sections]

    def uses(self, *dimensions: Dimension) -> bool:
        return any(d in p.dimensions() for _, p in self.all() for d in dimensions)

    def __str__(self) -> str:
        roles = ", ".join(sorted(self.roles)) or "none"
        return f"{self.source} (defaults; roles: {roles})"

    @classmethod
    def load(cls, path: str | Path, *, variable: str = VARIABLE) -> Policy:
        data = read_toml(path, variable=variable, what="policy file", example=EXAMPLE)
        return cls.from_mapping(data, source=str(Path(path)), variable=variable)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "code", variable: str = VARIABLE) -> Policy:
        """A policy from the TOML structure (``defaults`` and ``roles.<name>`` tables)."""
        unknown = sorted(set(data) - {"defaults", "roles"})
        if unknown:
            raise ConfigError(
                variable, f"{source}: unknown section(s) {', '.join(unknown)} (use [defaults], [roles.NAME])"
            )
        defaults = _role(
            RolePolicy(), _table(data.get("defaults", {}), "defaults", source, variable), "defaults", source, variable
        )
        roles_table = _table(data.get("roles", {}), "roles", source, variable)
        roles = {
            str(name): _role(
                defaults, _table(section, f"roles.{name}", source, variable), f"roles.{name}", source, variable
            )
            for name, section in roles_table.items()
        }
        return cls(defaults, tuple(sorted(roles.items())), source)


def limit_name(dimension: Dimension) -> str:
    return next(k for k, d in _LIMIT_KEYS.items() if d is dimension)


def _table(value: Any, where: str, source: str, variable: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(variable, f"{source}: [{where}] must be a table")
    return value


def _show_duration(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _role(base: RolePolicy, table: Mapping[str, Any], where: str, source: str, variable: str) -> RolePolicy:
    def bad(key: str, problem: str) -> ConfigError:
        return ConfigError(variable, f"{source}: [{where}] {key}: {problem}", EXAMPLE)

    known = {*_LIMIT_KEYS, *(f.name for f in fields(RolePolicy) if f.name != "limits")}
    for key in table:
        if key not in known:
            raise bad(key, f"unknown key (known: {', '.join(sorted(known))})")
    limits = dict(base.limits)
    for key, dimension in _LIMIT_KEYS.items():
        if key in table:
            count = _count(table[key], lambda problem, key=key: bad(key, problem))
            if count:
                limits[dimension] = count
            else:
                limits.pop(dimension, None)
    changes: dict[str, Any] = {"limits": tuple(sorted(limits.items(), key=lambda item: list(Dimension).index(item[0])))}
    if "max_ips" in table:
        changes["max_ips"] = _count(table["max_ips"], lambda problem: bad("max_ips", problem))
    for key in ("ip_window", "idle_timeout"):
        if key in table:
            changes[key] = _duration(table[key], lambda problem, key=key: bad(key, problem))
    if "on_limit" in table:
        try:
            changes["on_limit"] = OnLimit(str(table["on_limit"]).strip().lower())
        except ValueError:
            raise bad("on_limit", f"{table['on_limit']!r} is not one of block, end-oldest, redirect") from None
    if "redirect_to" in table:
        target = table["redirect_to"]
        if not isinstance(target, str) or not target.startswith("/") or target.startswith("//") or "\\" in target:
            raise bad("redirect_to", "a path of this site, starting with one '/' (the redirect never leaves the site)")
        if any(ord(c) < 32 or ord(c) == 127 for c in target):
            raise bad("redirect_to", "control characters are not allowed")
        changes["redirect_to"] = target
    for key in ("allow_ips", "block_ips"):
        if key in table:
            changes[key] = _ranges(table[key], lambda problem, key=key: bad(key, problem))
    policy = replace(base, **changes)
    if policy.on_limit is OnLimit.REDIRECT and policy.redirect_to is None:
        raise bad("on_limit", 'redirect needs redirect_to = "/a/path/of/this/site"')
    return policy


def _count(value: Any, bad: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad(f"{value!r} is not a whole number >= 0 (0: no limit)")
    return value


def _duration(value: Any, bad: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower()
        unit = _DURATION_UNITS.get(text[-1])
        number = text[:-1] if unit is not None else text
        try:
            seconds = float(number) * (unit or 1.0)
        except ValueError:
            raise bad(f"{value!r} is not a duration (seconds, or 30m, 2h, 7d)") from None
    else:
        raise bad(f"{value!r} is not a duration (seconds, or 30m, 2h, 7d)")
    if not math.isfinite(seconds) or seconds < 0:
        raise bad(f"{value!r} must be 0 or more")
    return seconds


def _ranges(value: Any, bad: Any) -> IPRanges:
    if not isinstance(value, list):
        raise bad('a list, like ["private", "203.0.113.0/24"]')
    networks: list[IPNetwork] = []
    words: set[str] = set()
    for item in value:
        if not isinstance(item, str):
            raise bad(f"{item!r} is not a CIDR network or private/public")
        text = item.strip().lower()
        if text in _RANGE_WORDS:
            words.add(text)
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise bad(f"{item!r} is not a CIDR network or private/public") from None
    return IPRanges(tuple(networks), "private" in words, "public" in words)
