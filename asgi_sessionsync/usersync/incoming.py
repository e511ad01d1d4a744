"""What this site takes of a peer's change: its rules for that peer, applied to the message."""

from __future__ import annotations

import time

from asgi_sessionsync.network_rules import PeerRules, hash_scheme
from asgi_sessionsync.protocol import UserAction, UserActionPayload
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import UserStore
from asgi_sessionsync.stores.versions import UserChange

# A peer's version may run ahead of the wall clock (a hybrid clock moves past what it has
# seen), but not by this much: a version far in the future would outrank every change for
# as long, so it is refused (a broken clock, or a broken peer).
FUTURE_MARGIN_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


async def allowed_change(
    settings: Settings, users: UserStore, issuer: str, email: str, payload: UserActionPayload, rules: PeerRules
) -> tuple[UserChange | None, str]:
    """The change to apply (what the rules let through), or None and why not."""
    if payload.version > now_ms() + settings.clock_skew * 1000 + FUTURE_MARGIN_MS:
        return None, "its version is more than a day ahead of this site's clock"
    action = payload.action
    privileged = settings.privileged_roles
    role, hashed, meta = payload.role, payload.password_hash, payload.meta
    dropped: list[str] = []
    if role is not None:
        why = rules.refuses_role(role, privileged) if action is UserAction.ROLE or rules.accepts("role") else "role"
        if why is None and not rules.accept_privileged_roles:
            current = await users.get(email)
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
        origin=settings.origin,
        now_ms=now_ms(),
        version=(payload.version, issuer),
        name=payload.name if action in (UserAction.CREATE, UserAction.UPDATE) else None,
        role=role,
        password_hash=hashed,
        meta=meta,
        may_create=rules.accepts("create") and settings.auto_provision,
        new_role=settings.default_role,
        provisioned_by=issuer,
        now=time.time(),
    )
    return change, ("left out: " + "; ".join(dropped)) if dropped else ""
