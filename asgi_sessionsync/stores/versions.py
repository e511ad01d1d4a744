"""User sync's ordering rules, as pure functions: versions per field group, tombstones.

Every user carries one version per field group (``profile``, ``password``, ``role``,
``meta:<key>``) and a deleted user leaves a tombstone with the version of its delete.
A version is ``(clock, origin)``: ``clock`` is a hybrid logical clock in milliseconds,
``max(now, highest version held for the groups changed + 1)``, so a site's later change
always outranks what it has seen whatever the clocks say; ``origin`` (the site that made
the change) breaks ties, so every site orders the same two changes the same way.

:func:`merge` decides what one change does to the stored user and tombstone; each store
runs it inside its own atomic step (see ``UserStore.apply``). Nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field

from asgi_sessionsync.protocol import UserAction
from asgi_sessionsync.stores.records import User, normalize_email

Version = tuple[int, str]
ZERO: Version = (0, "")

PROFILE = "profile"
PASSWORD = "password"  # noqa: S105 - a field group's name
ROLE = "role"
META_PREFIX = "meta:"
# Not a field group: every session of the user signed in before this time (ms, this
# site's clock) is void, on this site and wherever it came from. Set by a sign-out
# everywhere made here (a password change, a revocation) or received from a peer (a
# chainless sign-out, dated by its age: no other site's clock); never carried by a
# message; only ever raised.
VOID = "sessions-void-before"


def meta_group(key: str) -> str:
    return META_PREFIX + key


class Outcome(enum.StrEnum):
    APPLIED = "applied"  # at least one field group changed
    STALE = "stale"  # every group it carries is held at a version as new or newer
    DELETED = "deleted"  # the user was deleted by a newer (or equal) delete: nothing comes back
    UNKNOWN = "unknown user"  # the user does not exist here and the change may not make it


@dataclass(frozen=True, slots=True)
class Tombstone:
    """A deleted user: its email, the delete's version and when it was deleted here.
    ``final``: deleted for good here; nothing makes the user again (no create, from a
    peer or from this site) until an operator lifts it, and it is never purged."""

    email: str
    version: Version
    deleted_at: float
    final: bool = False


@dataclass(frozen=True, slots=True)
class UserChange:
    """One change to one user. ``version`` None: a change made on this site, given the
    next version of this site's clock (``now_ms`` and ``origin``) inside the store's
    atomic step. Fields left ``None`` are not part of the change; ``meta`` values of
    ``None`` delete the key.

    ``may_create``: the change may make the user when it does not exist (a peer whose
    ``create`` is accepted, or this site's own create); ``new_role`` is the role such
    a user gets when the change carries none; ``provisioned_by`` the peer, if any.

    ``final`` (a delete made here): the tombstone is final. ``lift`` (an operator's, here
    only): a final tombstone becomes an ordinary one; nothing else changes."""

    email: str
    action: UserAction
    origin: str
    now_ms: int
    version: Version | None = None
    name: str | None = None
    role: str | None = None
    password_hash: str | None = field(default=None, repr=False)
    meta: dict[str, str | None] | None = None
    may_create: bool = False
    new_role: str = ""
    provisioned_by: str | None = None
    now: float = 0.0  # epoch seconds: a new user's created_at, a tombstone's deleted_at
    final: bool = False
    lift: bool = False
    # A sign-out everywhere at this time (ms, this site's clock): the user's sessions
    # signed in before it are void (:data:`VOID`). Such a change carries nothing else.
    void_before_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    """What :func:`merge` decided: the outcome, the user and tombstone to store, the
    version the change had (resolved for a change of this site's own) and the groups
    it changed."""

    outcome: Outcome
    user: User | None
    tombstone: Tombstone | None
    version: Version
    groups: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.outcome is Outcome.APPLIED


def groups_of(change: UserChange) -> list[str]:
    """The field groups a change carries."""
    groups: list[str] = []
    if change.name is not None:
        groups.append(PROFILE)
    if change.password_hash is not None:
        groups.append(PASSWORD)
    if change.role is not None:
        groups.append(ROLE)
    groups.extend(meta_group(key) for key in sorted(change.meta or {}))
    return groups


def highest(user: User | None, tombstone: Tombstone | None, groups: list[str] | None = None) -> Version:
    """The highest version held for ``groups`` (all of the user's when None), the
    tombstone included."""
    held = [tombstone.version] if tombstone is not None else []
    if user is not None:
        held.extend(v for g, v in user.versions.items() if g != VOID and (groups is None or g in groups))
    return max(held, default=ZERO)


def void_before(user: User | None) -> float | None:
    """When the user's sessions last ended everywhere (epoch seconds): a sign-in made
    before it is void. None: never."""
    version = user.versions.get(VOID) if user is not None else None
    return version[0] / 1000 if version is not None else None


def synced(user: User) -> bool:
    """Whether the user was ever changed through user sync, or came from a peer."""
    return any(group != VOID for group in user.versions) or user.provisioned_by is not None


def next_version(now_ms: int, seen: Version, origin: str) -> Version:
    """The hybrid logical clock: now, or one past the highest version seen."""
    return (max(now_ms, seen[0] + 1), origin)


def merge(user: User | None, tombstone: Tombstone | None, change: UserChange) -> Applied:
    """What ``change`` does to the stored ``user`` and ``tombstone`` of its email.

    A tombstone is passed only by an explicit ``create`` newer than the delete (and never
    a final one): an update, a password or any other change of a deleted user is
    answered :attr:`Outcome.DELETED`, however new, so a change made on a site that did not
    take the delete cannot bring the user back here."""
    if change.lift:
        if tombstone is not None and tombstone.final:
            lifted = dataclasses.replace(tombstone, final=False)
            return Applied(Outcome.APPLIED, user, lifted, tombstone.version, ("lifted",))
        return Applied(Outcome.STALE, user, tombstone, tombstone.version if tombstone else ZERO)
    if change.void_before_ms is not None:
        return _void(user, tombstone, change.void_before_ms, change.origin)
    groups = groups_of(change)
    if change.version is not None:
        version = change.version
    elif change.action is UserAction.DELETE:
        version = next_version(change.now_ms, highest(user, tombstone), change.origin)
    else:
        version = next_version(change.now_ms, highest(user, tombstone, groups), change.origin)

    if change.action is UserAction.DELETE:
        if tombstone is not None and tombstone.version >= version:
            return Applied(Outcome.DELETED, None, tombstone, version)
        if user is not None and highest(user, None) >= version:
            # Changed here after the delete was made (or at once elsewhere, losing the tie):
            # the user stays, and the newer change reaches the deleting site in its turn.
            return Applied(Outcome.STALE, user, tombstone, version)
        email = normalize_email(change.email)
        final = change.final or (tombstone is not None and tombstone.final)
        return Applied(Outcome.APPLIED, None, Tombstone(email, version, change.now, final), version, ("deleted",))

    made = user is None
    if user is None:
        if tombstone is not None and (
            tombstone.final or change.action is not UserAction.CREATE or tombstone.version >= version
        ):
            return Applied(Outcome.DELETED, None, tombstone, version)
        if not change.may_create:
            return Applied(Outcome.UNKNOWN, None, tombstone, version)
        user = User(
            email=normalize_email(change.email),
            role=change.new_role,
            created_at=change.now,
            provisioned_by=change.provisioned_by,
        )

    versions = dict(user.versions)
    meta = dict(user.meta)
    name, role, password_hash = user.name, user.role, user.password_hash
    applied: list[str] = []
    for group in groups:
        if versions.get(group, ZERO) >= version:
            continue
        versions[group] = version
        applied.append(group)
        if group == PROFILE:
            name = change.name or ""
        elif group == PASSWORD:
            password_hash = change.password_hash
        elif group == ROLE:
            role = change.role or ""
        else:
            key = group.removeprefix(META_PREFIX)
            value = (change.meta or {}).get(key)
            if value is None:
                meta.pop(key, None)
            else:
                meta[key] = value
    if not applied and not made:
        return Applied(Outcome.STALE, user, tombstone, version)
    stored = dataclasses.replace(user, name=name, role=role, password_hash=password_hash, meta=meta, versions=versions)
    # A user made (again) by a change newer than its tombstone: the tombstone goes.
    return Applied(Outcome.APPLIED, stored, None, version, tuple(applied))


def _void(user: User | None, tombstone: Tombstone | None, when_ms: int, origin: str) -> Applied:
    """A sign-out everywhere of ``user`` at ``when_ms``: :data:`VOID` raised to it."""
    version = (when_ms, origin)
    if user is None or user.versions.get(VOID, ZERO) >= version:
        return Applied(Outcome.STALE if user else Outcome.UNKNOWN, user, tombstone, version)
    stored = dataclasses.replace(user, versions={**user.versions, VOID: version})
    return Applied(Outcome.APPLIED, stored, tombstone, version, (VOID,))
