"""The session policy at a session's start: address ranges, then counts (sessions per
user, per address, country, kind of device, browser, system; addresses used recently),
refusing or ending the oldest sign-ins. See :mod:`asgi_sessionsync.governance`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import anyio.to_thread
from starlette.types import Scope

from asgi_sessionsync.client_ip import ClientAddress
from asgi_sessionsync.exceptions import ConfigError, SessionSyncError
from asgi_sessionsync.governance.devices import Device, Devices
from asgi_sessionsync.governance.devices import available as devices_available
from asgi_sessionsync.governance.geo import Countries
from asgi_sessionsync.governance.policy import VARIABLE, Dimension, OnLimit, Policy, RolePolicy, limit_name
from asgi_sessionsync.logs import package_log
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import SessionRecord, Stores, User, new_id
from asgi_sessionsync.stores.stats import BLOCKED
from asgi_sessionsync.urls import header

logger = package_log("asgi_sessionsync.governance")

COUNT_AT_MOST = 1000  # a user's sessions looked at when counting (newest first)

MESSAGES = {
    "max_sessions": "This account is signed in on too many devices at once.",
    "max_sessions_per_ip": "This account has too many sessions from this network address.",
    "max_sessions_per_country": "This account has too many sessions from this country.",
    "max_sessions_per_device_class": "This account has too many sessions on this kind of device.",
    "max_sessions_per_client_type": "This account has too many sessions from this kind of client.",
    "max_sessions_per_browser": "This account has too many sessions in this browser.",
    "max_sessions_per_os": "This account has too many sessions on this operating system.",
    "max_ips": "This account was used from too many network addresses recently.",
    "ip_not_allowed": "Signing in to this account is not allowed from this network address.",
    "ip_blocked": "Signing in to this account is not allowed from this network address.",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """A sign-in the policy refuses: which rule, and block or redirect."""

    rule: str
    action: OnLimit  # BLOCK or REDIRECT
    redirect_to: str | None = None

    @property
    def message(self) -> str:
        return MESSAGES.get(self.rule, "This sign-in is not allowed.")


@dataclass(frozen=True, slots=True)
class Admission:
    """What the governor found about a new session, and its verdict."""

    country: str = ""
    device: str = ""
    refusal: Refusal | None = None
    ended: tuple[str, ...] = ()  # chains ended to make room (end-oldest)


def _key(dimension: Dimension, ip: str, country: str, device: Device) -> str:
    if dimension is Dimension.IP:
        return ip
    if dimension is Dimension.COUNTRY:
        return country
    if dimension is Dimension.DEVICE_CLASS:
        return device.device_class
    if dimension is Dimension.CLIENT_TYPE:
        return device.client_type
    if dimension is Dimension.BROWSER:
        return device.browser
    if dimension is Dimension.OS:
        return device.os
    return ""


class Admissions:
    """Judges each new session of one site against its policy; finds its country and
    device on the way (recorded with the session)."""

    def __init__(
        self,
        settings: Settings,
        stores: Stores,
        address: ClientAddress,
        end_chain: Callable[..., Awaitable[int]],
    ) -> None:
        self.policy: Policy | None = settings.governance.policy
        self.stores = stores
        self.address = address
        self.origin = settings.site_id
        # Ends a sign-in everywhere (end-oldest): ``IdleSessions.end_chain``.
        self.end_chain = end_chain
        self.devices = Devices()
        self.countries = Countries(
            settings.governance.geoip_database, settings.governance.country_header, address.trusted
        )

    async def start(self) -> None:
        """Load the user-agent rules off the event loop (about a second, once)."""
        if self.devices.enabled and not self.devices.warmed:
            await anyio.to_thread.run_sync(self.devices.warm)

    async def admit(
        self, user: User, *, scope: Scope, via: str, chain: str | None = None, replacing: Iterable[str] = ()
    ) -> Admission:
        """Judge a new session of ``user`` (``chain``: the sign-in a peer's hop carries;
        None for a login here; ``replacing``: chains this sign-in replaces in this
        browser). Ends the oldest sign-ins first when the policy says so; records a
        refused sign-in in the history (an ended row, reason ``blocked: RULE``)."""
        now = time.time()
        host = self.address.host(scope) or ""
        user_agent = header(scope, b"user-agent")[:300]
        device = await self.devices.device(user_agent)
        country = self.countries.of(scope, host) if self.countries.enabled else ""
        found = Admission(country, str(device) if self.devices.enabled else "")
        if self.policy is None:
            return found
        rules = self.policy.for_role(user.role)
        refusal = self._ranges(rules, host)
        to_end: dict[str, str] = {}
        if refusal is None and rules.counts:
            refusal, to_end = await self._count(
                rules, user.email, host, country, device, {c for c in (chain, *replacing) if c}, now
            )
        if refusal is not None:
            logger.warning("sign-in of %s refused by the session policy (%s) %s", user.email, refusal.rule, via)
            await self._record_refusal(user.email, chain, host, user_agent, via, found, refusal, now)
            return Admission(found.country, found.device, refusal)
        for old, rule in to_end.items():
            logger.info("ending the oldest sign-in of %s to make room (session policy, %s)", user.email, rule)
            await self.end_chain(user.email, old, reason=f"limit: {rule}")
        return Admission(found.country, found.device, None, tuple(to_end))

    def _ranges(self, rules: RolePolicy, host: str) -> Refusal | None:
        action = OnLimit.REDIRECT if rules.on_limit is OnLimit.REDIRECT else OnLimit.BLOCK
        if rules.allow_ips and host not in rules.allow_ips:
            return Refusal("ip_not_allowed", action, rules.redirect_to)
        if rules.block_ips and host in rules.block_ips:
            return Refusal("ip_blocked", action, rules.redirect_to)
        return None

    async def _count(
        self,
        rules: RolePolicy,
        email: str,
        host: str,
        country: str,
        device: Device,
        incoming: set[str],
        now: float,
    ) -> tuple[Refusal | None, dict[str, str]]:
        active = await self.stores.sessions.search(user=email, active=True, limit=COUNT_AT_MOST)
        chains: dict[str, SessionRecord] = {}  # each other sign-in: its oldest live row here
        for r in active:
            if r.chain in incoming or not r.live(now):
                continue
            held = chains.get(r.chain)
            if held is None or r.created_at < held.created_at:
                chains[r.chain] = r
        action = OnLimit.REDIRECT if rules.on_limit is OnLimit.REDIRECT else OnLimit.BLOCK
        if rules.max_ips:
            cutoff = now - rules.ip_window
            recent = await self.stores.sessions.search(user=email, since=cutoff, limit=COUNT_AT_MOST)
            used = {r.ip for r in recent if not (r.end_reason or "").startswith(BLOCKED)}
            used |= {r.ip for r in chains.values() if r.last_seen_at >= cutoff}
            used.discard("")
            if host not in used and len(used) >= rules.max_ips:
                # Ending sessions cannot undo the addresses already used: never end-oldest.
                return Refusal("max_ips", action, rules.redirect_to), {}
        to_end: dict[str, str] = {}  # chain → the rule that ends it
        for dimension, limit in rules.limits:
            mine = _key(dimension, host, country, device)
            bucket = sorted(
                (
                    r
                    for r in chains.values()
                    if r.chain not in to_end and _key(dimension, r.ip, r.country, Device.parse(r.device)) == mine
                ),
                key=lambda r: (r.created_at, r.sid),
            )
            if len(bucket) < limit:
                continue
            if rules.on_limit is not OnLimit.END_OLDEST:
                return Refusal(limit_name(dimension), action, rules.redirect_to), {}
            for r in bucket[: len(bucket) - limit + 1]:
                to_end[r.chain] = limit_name(dimension)
        return None, to_end

    async def _record_refusal(
        self,
        email: str,
        chain: str | None,
        host: str,
        user_agent: str,
        via: str,
        found: Admission,
        refusal: Refusal,
        now: float,
    ) -> None:
        try:
            await self.stores.sessions.create(
                SessionRecord(
                    sid=new_id(),
                    user=email,
                    chain=chain or new_id(),
                    site=self.origin,
                    ip=host,
                    user_agent=user_agent,
                    created_at=now,
                    last_seen_at=now,
                    via=via,
                    ended_at=now,
                    end_reason=f"{BLOCKED}: {refusal.rule}",
                    country=found.country,
                    device=found.device,
                )
            )
        except SessionSyncError as error:  # the refusal stands; only its history is missing
            logger.error("could not record a refused sign-in of %s: %s", email, error)

    def close(self) -> None:
        self.countries.close()


def check_requirements(settings: Settings) -> None:
    """Refuse (ConfigError) a policy whose rules this installation cannot apply."""
    policy = settings.governance.policy
    if policy is None:
        return
    device_rules = (Dimension.DEVICE_CLASS, Dimension.CLIENT_TYPE, Dimension.BROWSER, Dimension.OS)
    if policy.uses(*device_rules) and not devices_available():
        raise ConfigError(
            VARIABLE, f"{policy.source}: device rules need ua-parser: pip install 'asgi-sessionsync[governance]'"
        )
    if policy.uses(Dimension.COUNTRY) and not (
        settings.governance.geoip_database or (settings.governance.country_header and settings.trusted_proxies)
    ):
        raise ConfigError(
            VARIABLE,
            f"{policy.source}: country rules need SESSIONSYNC_GEOIP_DATABASE, or SESSIONSYNC_COUNTRY_HEADER"
            " with SESSIONSYNC_TRUSTED_PROXIES",
        )
