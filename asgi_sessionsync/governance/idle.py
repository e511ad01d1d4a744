"""Idle sessions: the idle limit per role (compared on the request path by
``Sessions.resolve``), a sign-in ended everywhere its chain lives, and the worker's pass
over sessions that never came back (and those past their lifetime)."""

from __future__ import annotations

import math
import time

import anyio

from asgi_sessionsync.exceptions import SessionSyncError, StoreUnavailable
from asgi_sessionsync.governance.policy import Policy
from asgi_sessionsync.hooks import Hooks, SignedOut
from asgi_sessionsync.logs import package_log
from asgi_sessionsync.peers import Courier
from asgi_sessionsync.sessions import TOUCH_EVERY, ActiveSession
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import SessionRecord, Stores, normalize_email

logger = package_log("asgi_sessionsync.governance")

IDLE_PASS_EVERY = 300.0  # seconds between two passes over sessions that never came back
PAGE = 500


class IdleSessions:
    """Ends idle sessions of one site (and sign-ins the policy ends), here and on the peers."""

    def __init__(self, settings: Settings, stores: Stores, courier: Courier, hooks: Hooks | None = None) -> None:
        self.settings = settings
        self.stores = stores
        self.courier = courier
        self.hooks = hooks if hooks is not None else Hooks()
        policy: Policy | None = settings.governance.policy
        # Idle limits as the request path compares them: widened by the granularity of
        # last_seen_at (written at most once a minute), so no session ends early.
        self.idle_after: dict[str, float] = {}
        self.idle_default = math.inf
        if policy is not None:
            if policy.defaults.idle_timeout > 0:
                self.idle_default = policy.defaults.idle_timeout + TOUCH_EVERY
            for role, rules in policy.sections:
                self.idle_after[role] = rules.idle_timeout + TOUCH_EVERY if rules.idle_timeout > 0 else math.inf

    def idle_limit(self, role: str) -> float:
        return self.idle_after.get(role, self.idle_default)

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
        if ended:
            await self.hooks.emit(SignedOut(self.settings.site_id, normalize_email(email), reason, ended))
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
            except StoreUnavailable:
                pass  # said once by the store's availability; the next pass finds them
            except SessionSyncError as error:
                logger.error("idle and expiry pass failed (%s); trying again later", error)
            except Exception:  # the worker must outlive anything; a bug deserves its traceback
                logger.exception("idle and expiry pass failed; trying again later")
            await anyio.sleep(IDLE_PASS_EVERY)
