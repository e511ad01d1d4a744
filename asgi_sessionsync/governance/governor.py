"""The governor: the session policy applied when a session starts, and idle sessions ended.

``Site`` builds one :class:`Governor`; it is asked in exactly two places, the two ways a
session starts on a site:

- a login here (``response.IdentityChange``: the app signed someone in, or its own
  login was adopted): a refusal turns the response into the block page (or the
  redirect) and undoes the app's login; no session, no cookie;
- a sign-in arriving from a peer (``endpoints.steps``' hop): a refusal signs nobody in
  here, and the chain goes on to the next site.

Counting is by **sign-in, not by row**: one sign-in synced to five sites is one chain
(five rows with one chain id, one per site), and limits count the distinct chains of
the user's active sessions in this site's registry. Every shared sign-in reaches every
live site of the network during its chain (or at the browser's first visit, catch-up),
so each site counts the sign-ins of the whole network; what it cannot see is a login
kept on one other site (adopted, or made cross-site) and a sign-in that has not reached
it yet (it was down). Each site applies its own policy with its own roles (roles never
come from a peer), so with one policy file everywhere, every site decides alike.

Nothing here runs on the per-request path: ``Sessions.resolve`` compares one time
(``last_seen_at`` against the role's idle limit, precomputed).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

import anyio
import anyio.to_thread
from starlette.types import Scope

from asgi_sessionsync.client_ip import ClientAddress
from asgi_sessionsync.exceptions import ConfigError, SessionSyncError
from asgi_sessionsync.governance.devices import Device, Devices
from asgi_sessionsync.governance.devices import available as devices_available
from asgi_sessionsync.governance.geo import Countries
from asgi_sessionsync.governance.policy import VARIABLE, Dimension, OnLimit, Policy, RolePolicy, limit_name
from asgi_sessionsync.peers import Courier
from asgi_sessionsync.sessions import TOUCH_EVERY, ActiveSession
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import SessionRecord, Stores, User, new_id
from asgi_sessionsync.stores.stats import BLOCKED
from asgi_sessionsync.urls import header

logger = logging.getLogger("asgi_sessionsync.governance")

IDLE_PASS_EVERY = 300.0  # seconds between two passes over sessions that never came back
PAGE = 500
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


def check_requirements(settings: Settings) -> None:
    """Refuse (ConfigError) a policy whose rules this installation cannot apply."""
    policy = settings.policy
    if policy is None:
        return
    device_rules = (Dimension.DEVICE_CLASS, Dimension.CLIENT_TYPE, Dimension.BROWSER, Dimension.OS)
    if policy.uses(*device_rules) and not devices_available():
        raise ConfigError(
            VARIABLE, f"{policy.source}: device rules need ua-parser: pip install 'asgi-sessionsync[governance]'"
        )
    if policy.uses(Dimension.COUNTRY) and not (
        settings.geoip_database or (settings.country_header and settings.trusted_proxies)
    ):
        raise ConfigError(
            VARIABLE,
            f"{policy.source}: country rules need SESSIONSYNC_GEOIP_DATABASE, or SESSIONSYNC_COUNTRY_HEADER"
            " with SESSIONSYNC_TRUSTED_PROXIES",
        )


class Governor:
    """Applies the policy of one site; see the module docstring."""

    def __init__(self, settings: Settings, stores: Stores, address: ClientAddress, courier: Courier) -> None:
        self.settings = settings
        self.policy: Policy | None = settings.policy
        self.stores = stores
        self.address = address
        self.courier = courier
        self.origin = settings.origin
        self.devices = Devices()
        self.countries = Countries(settings.geoip_database, settings.country_header, address.trusted)
        check_requirements(settings)
        policy = self.policy
        # Idle limits as the request path compares them: widened by the granularity of
        # last_seen_at (written at most once a minute), so no session ends early.
        self.idle_after: dict[str, float] = {}
        self.idle_default = math.inf
        if policy is not None:
            if policy.defaults.idle_timeout > 0:
                self.idle_default = policy.defaults.idle_timeout + TOUCH_EVERY
            for role, rules in policy.sections:
                self.idle_after[role] = rules.idle_timeout + TOUCH_EVERY if rules.idle_timeout > 0 else math.inf

    # -- start-up --------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the user-agent rules off the event loop (about a second, once)."""
        if self.devices.enabled and not self.devices.warmed:
            await anyio.to_thread.run_sync(self.devices.warm)

    def idle_limit(self, role: str) -> float:
        return self.idle_after.get(role, self.idle_default)

    # -- a session starts -----------------------------------------------------------------

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

    # -- a session ends ----------------------------------------------------------------------

    async def end_chain(
        self, email: str, chain: str, *, reason: str, seen_before: float | None = None, wait: bool = True
    ) -> int:
        """End a sign-in everywhere its chain lives: here now, on the peers through the
        back-channel (with the reason, so their history says why)."""
        now = time.time()
        ended = await self.stores.sessions.end_user(email, reason=reason, when=now, chain=chain)
        await self.courier.broadcast_logout(
            email, chain=chain, when=now, wait=wait, reason=reason, seen_before=seen_before
        )
        return ended

    async def session_idle(self, session: ActiveSession, record: SessionRecord) -> None:
        """A request found its session idle (``Sessions.resolve``): end it everywhere its
        chain has not been used since (waiting at most ``logout_wait`` for the peers, as a
        sign-out does, so the next page elsewhere already knows)."""
        logger.info("session of %s ended: idle since %s", record.user, time.ctime(record.last_seen_at))
        await self.end_chain(record.user, record.chain, reason="idle", seen_before=record.last_seen_at)

    async def end_idle(self, now: float) -> int:
        """One pass over sessions that never came back: end those idle past their role's
        timeout, everywhere. Pages through the candidates; returns how many ended."""
        if self.idle_default == math.inf and all(v == math.inf for v in self.idle_after.values()):
            return 0
        shortest = min([self.idle_default, *self.idle_after.values()])
        roles: dict[str, str] = {}
        ended = 0
        after: tuple[float, str] | None = None
        while True:
            page = await self.stores.sessions.idle(now - shortest, PAGE, after=after)
            for r in page:
                role = roles.get(r.user)
                if role is None:
                    user = await self.stores.users.get(r.user)
                    role = roles[r.user] = user.role if user is not None else self.settings.default_role
                if now - r.last_seen_at > self.idle_limit(role):
                    ended += await self.end_chain(r.user, r.chain, reason="idle", seen_before=r.last_seen_at)
            if len(page) < PAGE:
                return ended
            after = (page[-1].last_seen_at, page[-1].sid)

    async def run(self) -> None:
        """In the lifespan worker: mark sessions past their lifetime ended ("expired") and
        end idle ones, every few minutes (requests find them first: this is for the ones
        that never come back)."""
        while True:
            now = time.time()
            try:
                expired = await self.stores.sessions.expire(now)
                idle = await self.end_idle(now)
                if expired or idle:
                    logger.info("sessions ended: %d expired, %d idle", expired, idle)
            except SessionSyncError as error:
                logger.error("idle and expiry pass failed (%s); trying again later", error)
            except Exception:  # the worker must outlive anything; a bug deserves its traceback
                logger.exception("idle and expiry pass failed; trying again later")
            await anyio.sleep(IDLE_PASS_EVERY)

    def close(self) -> None:
        self.countries.close()
