"""Changing users so that the change reaches the peers: the public API of user sync.

For apps whose users live in the middleware's own user store (the default identity).
Each function takes what :func:`~asgi_sessionsync.sign_in` takes (a Starlette request,
a websocket or an ASGI scope that passed through the middleware), or the middleware
itself or its :class:`~asgi_sessionsync.site.Site` (for code outside a request: a
command, a task). Each stores the change here with a new version and queues one
message per peer whose network-file rules ``send`` that action (see
docs/users.md)::

    from asgi_sessionsync.users import set_password, update_user

    async def account(request):
        await update_user(request, request.user.email, name="Ann Smith")
        await set_password(request, request.user.email, hash_password(new_password))

Passwords travel as hashes only (``set_password`` takes the hash, never the password),
and only to peers whose ``password_formats`` include the hash's scheme.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from starlette.requests import HTTPConnection

from asgi_sessionsync.identity.session import sign_in
from asgi_sessionsync.logs import site_log
from asgi_sessionsync.protocol import UserAction
from asgi_sessionsync.settings.values import site_id_of
from asgi_sessionsync.stores import User
from asgi_sessionsync.stores.verified import VerifiedBy
from asgi_sessionsync.stores.versions import UserChange, synced
from asgi_sessionsync.usersync import EmailChangeRefused, UserDeleted, UserNotFound
from asgi_sessionsync.validation import email_or_none

if TYPE_CHECKING:
    from asgi_sessionsync.site import Site

#: The scope key under which the middleware leaves its site for these functions.
SITE_KEY = "sessionsync.site"


class HoldsSite(Protocol):
    """The middleware (:class:`~asgi_sessionsync.SessionSyncMiddleware`): typed by what is
    read of it, the site it serves, so that this module need not import it."""

    @property
    def site(self) -> Site: ...


#: What every function here takes to find the site: a request or websocket (a Starlette
#: :class:`~starlette.requests.HTTPConnection`) or an ASGI scope that went through the
#: middleware, the middleware itself, or its :class:`~asgi_sessionsync.site.Site`.
Target: TypeAlias = "HTTPConnection | Mapping[str, Any] | HoldsSite | Site"

__all__ = [
    "EmailChangeRefused",
    "HoldsSite",
    "Target",
    "UserDeleted",
    "UserNotFound",
    "create_user",
    "delete_user",
    "get_user",
    "lift_deletion",
    "mark_verified",
    "revoke_verified",
    "set_metadata",
    "set_password",
    "set_role",
    "update_user",
]


def site_of(target: Target) -> Site:
    """The site of a request, websocket, scope, middleware or site."""
    from asgi_sessionsync.site import Site

    if isinstance(target, Site):
        return target
    site = getattr(target, "site", None)
    if isinstance(site, Site):
        return site  # the middleware
    scope = target.scope if isinstance(target, HTTPConnection) else target
    found = scope.get(SITE_KEY) if isinstance(scope, Mapping) else None
    if isinstance(found, Site):
        return found
    raise TypeError(
        "pass a request, websocket or scope that went through SessionSyncMiddleware, the middleware, or its site"
    )


async def get_user(target: Target, email: str) -> User | None:
    """The stored user (with its metadata), or None."""
    return await site_of(target).stores.users.get(email)


async def create_user(
    target: Target,
    email: str,
    *,
    name: str = "",
    role: str | None = None,
    password_hash: str | None = None,
    meta: dict[str, str] | None = None,
) -> User:
    """Make a user here (or update the one there is) and send ``create`` to the peers
    that take it (with the role, hash and metadata each is sent)."""
    site = site_of(target)
    applied = await site.users.change(
        UserAction.CREATE,
        email,
        name=name,
        role=role if role is not None else site.settings.default_role,
        password_hash=password_hash,
        meta=dict(meta) if meta else None,
        create=True,
    )
    assert applied.user is not None
    return applied.user


async def update_user(target: Target, email: str, *, name: str | None = None, new_email: str | None = None) -> User:
    """Change a user's profile (its name) and send ``update``.

    ``new_email``: the email is the user's key across the network and never travels as
    a change. With ``SESSIONSYNC_PREVENT_EMAIL_CHANGE`` (default on) changing the email
    of a synced user (one with versions, or provisioned by a peer) raises
    :class:`EmailChangeRefused`; otherwise the user is moved to the new email here only.
    """
    site = site_of(target)
    user = await site.stores.users.get(email)
    if user is None:
        raise UserNotFound(f"no user {email.strip().lower()} on this site")
    if new_email is not None and email_or_none(new_email) != user.email:
        user = await _move(site, user, new_email)
    if name is not None and name != user.name:
        applied = await site.users.change(UserAction.UPDATE, user.email, name=name)
        if applied.user is not None:
            user = applied.user
    return user


async def _move(site: Site, user: User, new_email: str) -> User:
    address = email_or_none(new_email)
    if address is None:
        raise ValueError("new_email must be a valid email address")
    if synced(user) and site.settings.user_sync.prevent_email_change:
        raise EmailChangeRefused(
            f"the email of {user.email} cannot change: it is the user's key across the network "
            "(SESSIONSYNC_PREVENT_EMAIL_CHANGE=true)"
        )
    if await site.stores.users.get(address) is not None:
        raise EmailChangeRefused(f"there is a user {address} already")
    moved = await site.stores.users.create(
        User(email=address, role=user.role, name=user.name, password_hash=user.password_hash, meta=dict(user.meta))
    )
    # The old email ends here only (nothing is sent: it is the peers' key for the user).
    now = time.time()
    await site.endings.end_user(user.email, reason="email changed", when=now)
    await site.stores.users.apply(
        UserChange(email=user.email, action=UserAction.DELETE, origin=site.site_id, now_ms=int(now * 1000), now=now)
    )
    return moved


async def delete_user(target: Target, email: str, *, final: bool = False) -> bool:
    """Delete a user here (its sessions end) and send ``delete``. A tombstone keeps any
    change but a newer ``create`` from bringing it back. ``final``: nothing brings it back,
    a create included (here or from a peer), until an operator lifts it
    (:func:`lift_deletion`); a user deleted already can be made final too. False when
    there was no such user (nor, with ``final``, a deletion to make final)."""
    site = site_of(target)
    if await site.stores.users.get(email) is None:
        tomb = await site.stores.users.tombstone(email) if final else None
        if tomb is None or tomb.final:
            return False
    applied = await site.users.change(UserAction.DELETE, email, final=final)
    return applied.changed


async def lift_deletion(target: Target, email: str) -> bool:
    """An operator's: lift a final deletion here, so that a create (here, or from a peer
    whose creates this site accepts) can make the user again. Nothing is sent (a peer keeps
    its own deletions). False when there was no final deletion."""
    site = site_of(target)
    address = email_or_none(email)
    if address is None:
        raise ValueError("a user is named by a valid email address")
    now = time.time()
    lift = UserChange(
        email=address, action=UserAction.DELETE, origin=site.site_id, now_ms=int(now * 1000), now=now, lift=True
    )
    applied = await site.stores.users.apply(lift)
    if applied.changed:
        site_log("asgi_sessionsync.users", site.site_id).warning("user %s: the final deletion here was lifted", address)
    return applied.changed


async def set_password(
    target: Target, email: str, password_hash: str, *, wordpress_password: str | None = None
) -> None:
    """Store a new password **hash** (never the password) and send ``password`` to the
    peers whose ``password_formats`` include its scheme (the text before the first ``$``).
    ``wordpress_password``: the same password in plain text, sent only to the WordPress
    sites that take ``password`` (WP Remote Users Sync carries passwords in plain text;
    sealed for each at once, never stored here or logged: docs/wordpress.md).

    A new password ends every session of the user, here and on every peer (as
    ``sessions revoke --user``), and every sign-in of the user made before it is void
    everywhere (no catch-up brings one back). Called with the request of the user
    themselves (an account page), that browser is signed in again: a new session and
    sign-in chain, synced to the peers, as after a sign-in."""
    if not password_hash or "$" not in password_hash:
        raise ValueError("set_password takes a password hash in a 'scheme$…' format, never the password")
    site = site_of(target)
    applied = await site.users.change(
        UserAction.PASSWORD, email, password_hash=password_hash, plain_password=wordpress_password
    )
    if not applied.changed:
        return
    address = applied.user.email if applied.user is not None else email
    await site.sign_outs.everywhere(address, reason=PASSWORD_CHANGED)
    scope = getattr(target, "scope", target)
    current = scope.get("user") if isinstance(scope, dict) else None
    if getattr(current, "is_authenticated", False) and email_or_none(getattr(current, "email", "")) == address:
        sign_in(scope, address, name=getattr(current, "display_name", "") or "")


#: Why the sessions of a user whose password changed ended (in the registry and the log).
PASSWORD_CHANGED = "password changed"  # noqa: S105 - a reason, not a password


async def set_role(target: Target, email: str, role: str) -> None:
    """Change the user's role here and send ``role`` (to peers its rules reveal it to)."""
    await site_of(target).users.change(UserAction.ROLE, email, role=role)


async def set_metadata(target: Target, email: str, values: dict[str, str | None]) -> None:
    """Set (or, with None, delete) metadata keys and send the allow-listed ones."""
    await site_of(target).users.change(UserAction.META, email, meta=dict(values))


async def mark_verified(target: Target, email: str, *, verified: bool = True, issuer: str | None = None) -> None:
    """Say that this site's app verified ``email`` (a confirmation link at registration,
    a code of its own): this site then vouches for the address to its peers at the
    user's sign-ins here, for a year, without the app saying so at each sign-in.
    ``issuer``: a peer's origin instead, for sign-ins that peer carries (the mark is for
    the address and that issuer only). ``verified=False`` marks it *not* verified: the
    issuer's word (or this app's ``email_verified``) is then not taken. Recorded in the
    activity log; ``python -m asgi_sessionsync verified list`` shows it."""
    site = site_of(target)
    by = VerifiedBy.REGISTRATION if issuer is None and verified else VerifiedBy.APP
    await site.verified.mark(email, site_id_of(issuer) if issuer else site.site_id, verified=verified, by=by)


async def revoke_verified(target: Target, email: str, *, issuer: str | None = None) -> int:
    """Forget what this site knows of ``email``'s verification for ``issuer``'s sign-ins
    (every issuer when None): the next sign-in is judged on the issuer's word again.
    How many marks were revoked."""
    site = site_of(target)
    return await site.verified.revoke(email, site_id_of(issuer) if issuer else None)
