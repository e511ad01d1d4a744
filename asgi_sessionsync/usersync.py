"""User sync: changes to users made here go to the peers; changes from peers apply here.

One :class:`UserSync` per site (``Site.users``). A change made here (the public API in
:mod:`asgi_sessionsync.users`, the Django signals) is stored with a new version, then
one ``user`` message per peer whose rules say ``send`` for that action is written to
the outbox and delivered like a sign-out (retried until the peer answers). A message
from a peer is checked against this site's rules for that peer (``accept``, roles,
metadata keys, hash formats) and applied by version (see ``stores/versions.py``).

Log lines name the user, the peer, the action and the outcome: never a hash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple

from asgi_sessionsync.exceptions import SessionSyncError
from asgi_sessionsync.logs import site_log
from asgi_sessionsync.network_rules import NetworkRules, PeerRules, hash_scheme
from asgi_sessionsync.peers import Courier, PeerEntry
from asgi_sessionsync.protocol import UserAction, UserActionPayload
from asgi_sessionsync.sessions import Sessions
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import OutboxMessage, Stores, User, new_id
from asgi_sessionsync.stores.versions import META_PREFIX, Applied, Outcome, UserChange
from asgi_sessionsync.validation import email_or_none

logger = logging.getLogger("asgi_sessionsync.users")


class UserNotFound(SessionSyncError):
    """The user to change does not exist on this site."""


class EmailChangeRefused(SessionSyncError):
    """The email of a synced user cannot change (``SESSIONSYNC_PREVENT_EMAIL_CHANGE``):
    it is the user's key across the network."""


class Received(NamedTuple):
    """What became of a peer's user message: ``outcome`` is ``applied``, ``stale``,
    ``deleted``, ``unknown user`` or ``refused: <why>``."""

    outcome: str
    applied: Applied | None = None

    @property
    def refused(self) -> bool:
        return self.outcome.startswith("refused")


# Called with (peer, action, outcome) after a peer's change was applied here (the Django
# adapter writes it to the app's own User model). Never called for this site's own changes.
AppliedHook = Callable[[str, UserAction, Applied], Awaitable[None]]


def now_ms() -> int:
    return int(time.time() * 1000)


class UserSync:
    """Users kept in step with the peers; see the module's doc."""

    def __init__(
        self,
        settings: Settings,
        stores: Stores,
        sessions: Sessions,
        courier: Courier,
        peers: Sequence[PeerEntry],
    ) -> None:
        self.settings = settings
        self.stores = stores
        self.sessions = sessions
        self.courier = courier
        self.peers = tuple(peers)
        self.origin = settings.origin
        self.rules: NetworkRules = settings.network_rules or NetworkRules()
        self.log = site_log(logger.name, settings.origin)
        self.on_applied: list[AppliedHook] = []

    # -- this site's own changes -------------------------------------------------------------

    async def change(
        self,
        action: UserAction,
        email: str,
        *,
        name: str | None = None,
        role: str | None = None,
        password_hash: str | None = None,
        meta: dict[str, str | None] | None = None,
        create: bool = False,
        wait: bool = True,
    ) -> Applied:
        """Store a change made on this site with a new version and queue it for the
        peers whose rules send that action. ``create``: make the user if it does not
        exist (otherwise :class:`UserNotFound`). ``wait``: wait up to
        ``SESSIONSYNC_LOGOUT_WAIT`` for the peers to confirm, as a sign-out does, so the
        next page on a peer shows the change (what is not confirmed stays queued)."""
        address = email_or_none(email)
        if address is None:
            raise ValueError("a user is named by a valid email address")
        now = time.time()
        applied = await self.stores.users.apply(
            UserChange(
                email=address,
                action=action,
                origin=self.origin,
                now_ms=now_ms(),
                name=name,
                role=role,
                password_hash=password_hash,
                meta=meta,
                may_create=create,
                new_role=self.settings.default_role,
                now=now,
            )
        )
        if applied.outcome is Outcome.UNKNOWN:
            raise UserNotFound(f"no user {address} on this site")
        if not applied.changed:
            return applied
        if action is UserAction.DELETE:
            await self.sessions.end_user(address, reason="user deleted", when=now)
        self.log.info("user %s: %s here (version %d)", address, action.value, applied.version[0])
        await self.send(action, address, applied, wait=wait)
        return applied

    async def announce(self, user: User) -> None:
        """At a sign-in of a user this site owns that was never versioned (made before
        user sync, or by the app's own code): stamp its fields with a version and send
        ``create`` to the peers that take it, so a peer provisions it with its
        password. Once per user: later sign-ins find it versioned."""
        if user.versions or user.provisioned_by is not None or not self._any_sends(UserAction.CREATE):
            return
        applied = await self.stores.users.apply(
            UserChange(
                email=user.email,
                action=UserAction.CREATE,
                origin=self.origin,
                now_ms=now_ms(),
                name=user.name,
                role=user.role,
                password_hash=user.password_hash,
                meta=dict(user.meta) or None,
                may_create=True,
                new_role=user.role,
                now=time.time(),
            )
        )
        if applied.changed:
            await self.send(UserAction.CREATE, user.email, applied, wait=False)

    def _any_sends(self, action: UserAction) -> bool:
        return any(self.rules.for_peer(peer.origin).sends(action) for _, peer in self.peers)

    async def send(self, action: UserAction, email: str, applied: Applied, *, wait: bool) -> int:
        """Queue ``action`` (as just applied here) for every peer whose rules send it;
        return how many messages were queued."""
        user = applied.user
        now = time.time()
        messages = []
        for network, peer in self.peers:
            rules = self.rules.for_peer(peer.origin)
            if not rules.sends(action):
                continue
            payload = self._payload_for(action, applied.version[0], user, rules, peer.origin, applied.groups)
            if payload is None:
                continue
            wire = payload.to_wire()
            wire.pop("k")  # the message's kind has its own column
            messages.append(
                OutboxMessage(
                    id=new_id(),
                    network=network.name,
                    peer=peer.origin,
                    url=peer.backchannel_url,
                    kind="user",
                    payload={"sub": email, **wire},
                    created_at=now,
                    next_attempt_at=now,
                )
            )
        if messages:
            await self.courier.dispatch(messages, wait=self.settings.logout_wait if wait else 0.0)
        return len(messages)

    def _payload_for(
        self,
        action: UserAction,
        version: int,
        user: User | None,
        rules: PeerRules,
        peer: str,
        groups: tuple[str, ...],
    ) -> UserActionPayload | None:
        if action is UserAction.DELETE:
            return UserActionPayload(action, version)
        if user is None:
            return None
        if action is UserAction.UPDATE:
            return UserActionPayload(action, version, name=user.name)
        if action is UserAction.PASSWORD:
            return self._password(action, version, user, rules, peer)
        if action is UserAction.ROLE:
            role = rules.role_sent(user.role)
            return UserActionPayload(action, version, role=role) if role else None
        if action is UserAction.META:
            changed = [g.removeprefix(META_PREFIX) for g in groups if g.startswith(META_PREFIX)]
            meta = {k: user.meta.get(k) for k in changed if k in rules.meta_keys}
            return UserActionPayload(action, version, meta=meta) if meta else None
        # create: the profile, and what else the peer is sent
        given_role = (rules.role_sent(user.role) or None) if rules.sends(UserAction.ROLE) else None
        hashed = None
        if rules.sends(UserAction.PASSWORD) and user.password_hash:
            hashed = user.password_hash if rules.allows_hash(user.password_hash) else None
        given_meta: dict[str, str | None] = {}
        if rules.sends(UserAction.META):
            given_meta = {k: user.meta[k] for k in rules.meta_keys if k in user.meta}
        return UserActionPayload(
            action, version, name=user.name, role=given_role, password_hash=hashed, meta=given_meta or None
        )

    def _password(
        self, action: UserAction, version: int, user: User, rules: PeerRules, peer: str
    ) -> UserActionPayload | None:
        if not user.password_hash:
            return None
        if not rules.allows_hash(user.password_hash):
            self.log.warning(
                "password of %s not sent to %s: its hash format %r is not in that peer's password_formats",
                user.email,
                peer,
                hash_scheme(user.password_hash) or "(none)",
            )
            return None
        return UserActionPayload(action, version, password_hash=user.password_hash)

    # -- changes from peers ----------------------------------------------------------------------

    async def receive(self, issuer: str, email: str, payload: UserActionPayload) -> Received:
        """Apply a peer's change here if this site's rules for that peer allow it."""
        rules = self.rules.for_peer(issuer)
        action = payload.action
        if not rules.accepts(action):
            return self._done(
                issuer, email, payload, Received(f"refused: {action.value} is not accepted from this peer")
            )
        change, why = await self._allowed(issuer, email, payload, rules)
        if change is None:
            return self._done(issuer, email, payload, Received(f"refused: {why}"))
        applied = await self.stores.users.apply(change)
        if applied.changed and action is UserAction.DELETE:
            ended = await self.sessions.end_user(email, reason=f"user deleted on {issuer}", when=time.time())
            self.log.info("user %s deleted by %s: %d session(s) ended here", email, issuer, ended)
        if applied.changed:
            for hook in self.on_applied:
                await hook(issuer, action, applied)
        return self._done(issuer, email, payload, Received(applied.outcome.value, applied), why)

    async def _allowed(
        self, issuer: str, email: str, payload: UserActionPayload, rules: PeerRules
    ) -> tuple[UserChange | None, str]:
        """The change to apply (what the rules let through), or None and why not."""
        action = payload.action
        privileged = self.settings.privileged_roles
        role, hashed, meta = payload.role, payload.password_hash, payload.meta
        dropped: list[str] = []
        if role is not None:
            why = rules.refuses_role(role, privileged) if action is UserAction.ROLE or rules.accepts("role") else "role"
            if why is None and not rules.accept_privileged_roles:
                current = await self.stores.users.get(email)
                if current is not None and current.role in privileged and current.role != role:
                    why = f"the user's role here ({current.role!r}) is privileged"
            if why is not None:
                if action is UserAction.ROLE:
                    return None, why
                dropped.append("role")
                role = None
        if hashed is not None:
            if action is UserAction.CREATE and not rules.accepts("password"):
                dropped.append("password")
                hashed = None
            elif not rules.allows_hash(hashed):
                if action is UserAction.PASSWORD:
                    return None, f"incompatible hash format {hash_scheme(hashed) or '(none)'!r}"
                dropped.append("password (incompatible hash format)")
                hashed = None
        if meta is not None:
            allowed = {k: v for k, v in meta.items() if k in rules.meta_keys}
            if action is UserAction.CREATE and not rules.accepts("meta"):
                allowed = {}
            if len(allowed) < len(meta):
                if action is UserAction.META and not allowed:
                    return None, f"metadata key(s) not allowed: {', '.join(sorted(meta))}"
                dropped.append("metadata " + ", ".join(sorted(set(meta) - set(allowed))))
            meta = allowed or None
        change = UserChange(
            email=email,
            action=action,
            origin=self.origin,
            now_ms=now_ms(),
            version=(payload.version, issuer),
            name=payload.name if action in (UserAction.CREATE, UserAction.UPDATE) else None,
            role=role,
            password_hash=hashed,
            meta=meta,
            may_create=rules.accepts("create") and self.settings.auto_provision,
            new_role=self.settings.default_role,
            provisioned_by=issuer,
            now=time.time(),
        )
        return change, ("left out: " + "; ".join(dropped)) if dropped else ""

    def _done(self, issuer: str, email: str, payload: UserActionPayload, result: Received, note: str = "") -> Received:
        log = self.log.warning if result.refused else self.log.info
        log(
            "user %s from %s: %s (version %d): %s%s",
            payload.action.value,
            issuer,
            email,
            payload.version,
            result.outcome,
            f" ({note})" if note else "",
        )
        return result
