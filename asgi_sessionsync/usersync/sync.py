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

import time
from collections.abc import Awaitable, Callable, Sequence

from asgi_sessionsync.hooks import UserChangeReceived
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.peers import Courier, PeerEntry
from asgi_sessionsync.protocol import UserAction, UserActionPayload
from asgi_sessionsync.sessions import SessionEnder
from asgi_sessionsync.sessions.signout import SignOuts
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.site_counts import count
from asgi_sessionsync.stores import Stores, User
from asgi_sessionsync.stores.event_counts import HERE, PEER, USER
from asgi_sessionsync.stores.versions import Applied, Outcome, UserChange, synced
from asgi_sessionsync.trust import PeerTrust, now_ms
from asgi_sessionsync.usersync.outcomes import AppliedHook, Received, UserDeleted, UserNotFound
from asgi_sessionsync.usersync.outgoing import user_messages
from asgi_sessionsync.validation import email_or_none
from asgi_sessionsync.wprus.outbox import wordpress_messages

logger = package_log("asgi_sessionsync.users")

#: Why the sessions of a deleted user ended (in the registry, the log and the peers' history).
USER_DELETED = "user deleted"


class UserSync:
    """Users kept in step with the peers; see the module's doc."""

    def __init__(
        self,
        settings: Settings,
        stores: Stores,
        endings: SessionEnder,
        courier: Courier,
        peers: Sequence[PeerEntry],
        trust: PeerTrust,
        sign_outs: SignOuts,
    ) -> None:
        self.settings = settings
        self.stores = stores
        self.endings = endings
        self.courier = courier
        self.peers = tuple(peers)
        self.origin = settings.site_id
        self.rules: NetworkRules = trust.rules
        self.trust = trust
        self.sign_outs = sign_outs  # a delete made here signs the user out everywhere
        self._sent = _actions_sent(self.rules, peers)  # asked at every sign-in; rules and peers never change
        self.log = site_log(logger.name, settings.site_id)
        self.on_applied: list[AppliedHook] = []
        # True where the app owns its users and sends their changes itself (Django's signals);
        # then a user of the app's never sent is announced at its first sign-in by this.
        self.app_owns_users = False
        self.announce_app_user: Callable[[str], Awaitable[None]] | None = None

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
        final: bool = False,
        plain_password: str | None = None,
    ) -> Applied:
        """Store a change made on this site with a new version and queue it for the
        peers whose rules send that action. ``create``: make the user if it does not
        exist (otherwise :class:`UserNotFound`; :class:`UserDeleted` after a final
        deletion). ``final`` (a delete): the deletion is final here. ``wait``: wait up to
        ``SESSIONSYNC_LOGOUT_WAIT`` for the peers to confirm, as a sign-out does, so the
        next page on a peer shows the change (what is not confirmed stays queued).
        ``plain_password``: the new password in plain text, for the WordPress sites only
        (their plugin takes no hash: wprus/outbox.py); sealed for each, never stored."""
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
                final=final,
            )
        )
        if applied.outcome is Outcome.DELETED and applied.tombstone is not None and applied.tombstone.final:
            raise UserDeleted(
                f"{address} was deleted for good on this site: lift it first "
                f"(python -m asgi_sessionsync users undelete {address})"
            )
        if applied.outcome in (Outcome.UNKNOWN, Outcome.DELETED) and action is not UserAction.DELETE:
            raise UserNotFound(f"no user {address} on this site")
        if not applied.changed:
            return applied
        self.log.info("user %s: %s here (version %d)", address, action.value, applied.version[0])
        await count(self.stores, self.log, USER + action.value, HERE)
        if action is UserAction.DELETE:
            # Also a sign-out everywhere (#23): the sessions end on every peer whatever its
            # merge decides (docs/users.md, "A delete signs the user out everywhere").
            await self.sign_outs.everywhere(address, reason=USER_DELETED, wait=wait)
        await self.send(action, address, applied, wait=wait, plain_password=plain_password)
        return applied

    async def announce(self, user: User) -> None:
        """At a sign-in of a user this site owns that was never versioned (made before
        user sync, or by the app's own code; an app's, through ``announce_app_user``):
        stamp its fields with a version and send ``create`` to the peers that take it,
        so a peer provisions it with its name and password. Once per user."""
        if synced(user) or UserAction.CREATE not in self._sent:
            return
        if self.app_owns_users:
            if self.announce_app_user is not None:
                await self.announce_app_user(user.email)
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

    async def send(
        self, action: UserAction, email: str, applied: Applied, *, wait: bool, plain_password: str | None = None
    ) -> int:
        """Queue ``action`` (as just applied here) for every peer whose rules send it, and
        every WordPress site whose rules do; return how many messages were queued."""
        messages = user_messages(self.log, self.rules, self.peers, action, email, applied)
        messages += wordpress_messages(self.log, self.rules, self.settings, action, email, applied, plain_password)
        if messages:
            await self.courier.dispatch(messages, wait=self.settings.logout_wait if wait else 0.0)
        return len(messages)

    # -- changes from peers ----------------------------------------------------------------------

    async def receive(self, issuer: str, email: str, payload: UserActionPayload) -> Received:
        """Apply a peer's change here, as far as this site trusts that peer with it
        (:meth:`PeerTrust.user_change`: per action, per field, privileged accounts)."""
        action = payload.action
        verdict = await self.trust.user_change(issuer, email, payload, await self.stores.users.get(email))
        if verdict.change is None:
            return await _done(self, issuer, email, payload, Received(f"refused: {verdict.refusal}"))
        applied = await self.stores.users.apply(verdict.change)
        if applied.changed and action is UserAction.DELETE:
            ended = await self.endings.end_user(email, reason=f"user deleted on {issuer}", when=time.time())
            self.log.info("user %s deleted by %s: %d session(s) ended here", email, issuer, ended)
        if applied.changed:
            await count(self.stores, self.log, USER + action.value, PEER)
            for hook in self.on_applied:
                await hook(issuer, action, applied)
        return await _done(self, issuer, email, payload, Received(applied.outcome.value, applied), verdict.note)


def _actions_sent(rules: NetworkRules, peers: Sequence[PeerEntry]) -> frozenset[UserAction]:
    """The actions the rules send to some peer or WordPress site."""
    names = [p.site_id for _, p in peers] + [origin for origin, _ in rules.wprus]
    return frozenset(a for a in UserAction if any(rules.for_peer(n).sends(a) for n in names))


async def _done(
    sync: UserSync, issuer: str, email: str, payload: UserActionPayload, result: Received, note: str = ""
) -> Received:
    """What became of a peer's change: logged, and told to the app's hooks."""
    log = sync.log.warning if result.refused or note else sync.log.info
    action, version, aside = payload.action.value, payload.version, f" ({note})" if note else ""
    log("user %s from %s: %s (version %d): %s%s", action, issuer, email, version, result.outcome, aside)
    await sync.endings.hooks.emit(
        UserChangeReceived(sync.origin, email, action, issuer, result.outcome, result.refused)
    )
    return result
