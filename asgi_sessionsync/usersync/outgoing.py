"""What a peer is sent of a change made here: one payload per peer, by its rules."""

from __future__ import annotations

import time
from collections.abc import Sequence

from asgi_sessionsync.logs import SiteLog
from asgi_sessionsync.network_rules import NetworkRules, PeerRules, hash_scheme
from asgi_sessionsync.peers import PeerEntry
from asgi_sessionsync.peers.delivery import queued
from asgi_sessionsync.protocol import UserAction, UserActionPayload
from asgi_sessionsync.stores import OutboxMessage, User
from asgi_sessionsync.stores.versions import META_PREFIX, Applied


def user_messages(
    log: SiteLog,
    rules: NetworkRules,
    peers: Sequence[PeerEntry],
    action: UserAction,
    email: str,
    applied: Applied,
) -> list[OutboxMessage]:
    """One outbox message per peer whose rules send ``action`` (as just applied here)."""
    now = time.time()
    messages = []
    for network, peer in peers:
        peer_rules = rules.for_peer(peer.site_id)
        if not peer_rules.sends(action):
            continue
        payload = payload_for(log, action, applied.version[0], applied.user, peer_rules, peer.site_id, applied.groups)
        if payload is None:
            continue
        messages.append(queued((network, peer), email, payload.to_wire(), now))
    return messages


def payload_for(
    log: SiteLog,
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
        return _password(log, action, version, user, rules, peer)
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
    log: SiteLog, action: UserAction, version: int, user: User, rules: PeerRules, peer: str
) -> UserActionPayload | None:
    if not user.password_hash:
        return None
    if not rules.allows_hash(user.password_hash):
        log.warning(
            "password of %s not sent to %s: its hash format %r is not in that peer's password_formats",
            user.email,
            peer,
            hash_scheme(user.password_hash) or "(none)",
        )
        return None
    return UserActionPayload(action, version, password_hash=user.password_hash)
