"""User sync for Django sites: Django's ``User`` model is the user store.

Connected by :class:`~asgi_sessionsync.identity.django.DjangoIdentity` when the
middleware is built, so a Django project changes no code:

- **Outgoing**: Django's own signals. ``pre_save`` notes the row as it is in the
  database (to see a password change: the hash differs; and an email change),
  ``post_save`` sends ``create`` for a new user, and for an existing one ``update``
  (the name changed), ``password`` (the hash changed) and ``role`` (staff or superuser
  changed); ``post_delete`` sends ``delete``. Whatever saves the user (the admin, a
  form, the ORM in a shell) is seen. What each peer is sent follows the network file.
- **Incoming**: a peer's change applied by user sync is written to the model: the name
  to ``first_name``/``last_name`` (split at the first space), the hash to ``password``
  (as Django stores it: ``algorithm$…``), the role to the flags (below), ``delete``
  deletes the Django user. A flag keeps these saves from being sent back.
- **Roles**: a Django user's role is ``superuser`` (``is_superuser``), ``staff``
  (``is_staff``), or the site's default role (``SESSIONSYNC_DEFAULT_ROLE``). Both
  ``staff`` and ``superuser`` are privileged (in ``SESSIONSYNC_PRIVILEGED_ROLES`` by
  default): a peer never grants them unless it is in ``SESSIONSYNC_TRUSTED_FOR_PRIVILEGED``
  and the network file says ``accept_privileged_roles = true`` for it, and never changes
  anything of a staff or superuser account (password, name, role, deletion) unless it is
  trusted for privileged accounts (:class:`~asgi_sessionsync.trust.PeerTrust` decides; the
  writer checks the flags again as it writes). A role other than these sets neither flag.
- **Emails**: with ``SESSIONSYNC_PREVENT_EMAIL_CHANGE`` (default on) a save that changes
  the email of a synced user raises :class:`~asgi_sessionsync.users.EmailChangeRefused`.

Signal handlers run in Django's sync code; they hand the work to the site's event loop
with ``asgiref``'s ``async_to_sync`` (under ASGI the loop that serves the request). In a
process without the server (``manage.py shell``, a management command, a worker), the
handlers of :mod:`asgi_sessionsync.djangoapp` do the same work on a loop of their own,
writing to the outbox of the shared store (:mod:`.django_outside`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save, pre_save

from asgi_sessionsync.logs import package_log
from asgi_sessionsync.protocol import UserAction
from asgi_sessionsync.stores.versions import Applied, synced
from asgi_sessionsync.users import PASSWORD_CHANGED
from asgi_sessionsync.usersync import EmailChangeRefused
from asgi_sessionsync.validation import email_or_none

if TYPE_CHECKING:
    from asgi_sessionsync.site import Site

logger = package_log("asgi_sessionsync.users")

SUPERUSER = "superuser"
STAFF = "staff"
# How a signal handler runs an async function from Django's sync code (async_to_sync's shape).
Runner = Callable[[Callable[..., Awaitable[Any]]], Callable[..., Any]]
_applying: contextvars.ContextVar[bool] = contextvars.ContextVar("sessionsync_applying", default=False)


class applying:
    """Saves made inside are not sent to the peers (a peer's change, a peer's sign-in)."""

    def __enter__(self) -> None:
        self._token = _applying.set(True)

    def __exit__(self, *exc: object) -> None:
        _applying.reset(self._token)


def full_name(user: Any) -> str:
    return " ".join(p for p in (getattr(user, "first_name", ""), getattr(user, "last_name", "")) if p)


def split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().partition(" ")
    return first, last.strip()


def role_of(user: Any, default: str) -> str:
    if getattr(user, "is_superuser", False):
        return SUPERUSER
    if getattr(user, "is_staff", False):
        return STAFF
    return default


class DjangoUserSync:
    """Connects one site's user sync to Django's user model (see the module's doc)."""

    #: Origins whose middleware runs in this process (the server): their signal handlers
    #: send; the handlers for processes without a server (djangoapp) then stay quiet.
    served: ClassVar[set[str]] = set()

    def __init__(self, site: Site, *, run: Runner = async_to_sync, connect: bool = True) -> None:
        """``run``: how the signal handlers (Django's sync code) run the site's async work:
        on the server's event loop (asgiref's ``async_to_sync``), or, outside a server, on
        a loop of their own (:mod:`.django_outside`). ``connect`` False: the caller
        forwards the signals."""
        self.site = site
        self.model = get_user_model()
        self.uid = f"asgi_sessionsync:{site.site_id}"
        self._run = run
        self._before: dict[int, tuple[str, str | None]] = {}
        if connect:
            self.disconnect()  # a site of the same origin built before (tests): this one now
            pre_save.connect(self._pre_save, sender=self.model, weak=False, dispatch_uid=self.uid)
            post_save.connect(self._post_save, sender=self.model, weak=False, dispatch_uid=self.uid)
            post_delete.connect(self._post_delete, sender=self.model, weak=False, dispatch_uid=self.uid)
            DjangoUserSync.served.add(site.site_id)
        site.users.on_applied.append(self.apply)
        site.users.app_owns_users = True  # Django's signals send
        site.users.announce_app_user = self.announce  # a user from before, at its first sign-in

    def disconnect(self) -> None:
        for signal in (pre_save, post_save, post_delete):
            signal.disconnect(sender=self.model, dispatch_uid=self.uid)

    def _email(self, user: Any) -> str | None:
        return email_or_none(getattr(user, self.model.get_email_field_name(), None) or "")

    # -- outgoing: Django's signals ------------------------------------------------------------

    def _pre_save(self, sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
        if raw or _applying.get() or instance.pk is None:
            return
        row = (
            self.model._default_manager.filter(pk=instance.pk)
            .values_list(self.model.get_email_field_name(), "password")
            .first()
        )
        if row is None:
            return
        old_email = email_or_none(row[0] or "")
        new_email = self._email(instance)
        if old_email is not None and new_email != old_email and self.site.settings.user_sync.prevent_email_change:
            stored = self._run(self.site.stores.users.get)(old_email)
            if stored is not None and synced(stored):
                raise EmailChangeRefused(
                    f"the email of {old_email} cannot change: it is the user's key across the network "
                    "(SESSIONSYNC_PREVENT_EMAIL_CHANGE=true)"
                )
        self._before[id(instance)] = (old_email or "", row[1])

    def _post_save(self, sender: Any, instance: Any, created: bool = False, raw: bool = False, **kwargs: Any) -> None:
        if raw or _applying.get() or set(kwargs.get("update_fields") or ()) == {"last_login"}:
            self._before.pop(id(instance), None)
            return  # a peer's change being written, or a login stamping last_login
        before = self._before.pop(id(instance), None)
        email = self._email(instance)
        if email is None:
            return
        password_changed = before is not None and before[1] != instance.password
        self._run(self._send_saved)(email, instance, created, password_changed)

    async def _send_saved(self, email: str, instance: Any, created: bool, password_changed: bool) -> None:
        users = self.site.users
        name = full_name(instance)
        role = role_of(instance, self.site.settings.default_role)
        hashed = instance.password if instance.has_usable_password() else None
        stored = await self.site.stores.users.get(email)
        if stored is None or created:
            await users.change(UserAction.CREATE, email, name=name, role=role, password_hash=hashed, create=True)
            return
        if stored.name != name:
            await users.change(UserAction.UPDATE, email, name=name)
        if stored.role != role:
            await users.change(UserAction.ROLE, email, role=role)
        if (password_changed or stored.password_hash != hashed) and hashed is not None:
            await users.change(UserAction.PASSWORD, email, password_hash=hashed)
        if password_changed:
            # A new password (set, reset, or made unusable): every session of the user ends,
            # here and on every peer, and no earlier sign-in comes back by a catch-up. The
            # browser that changed it, if Django keeps it signed in, is signed in again.
            await self.site.sign_outs.everywhere(email, reason=PASSWORD_CHANGED)

    def _post_delete(self, sender: Any, instance: Any, **kwargs: Any) -> None:
        if _applying.get():
            return
        email = self._email(instance)
        if (
            email is not None
            and not self.model._default_manager.filter(
                **{f"{self.model.get_email_field_name()}__iexact": email}
            ).exists()
        ):
            self._run(self._send_deleted)(email)

    async def announce(self, email: str) -> None:
        """A Django user this site never sent (made before the middleware, or by a raw
        update), at its first sign-in: sent as ``create`` with its name, role and hash
        (as far as each peer's rules take them), once."""
        found = await sync_to_async(self._django_user)(email)
        if found is None:
            return
        name, role, hashed = found
        users = self.site.users
        await users.change(
            UserAction.CREATE, email, name=name, role=role, password_hash=hashed, create=True, wait=False
        )

    def _django_user(self, email: str) -> tuple[str, str, str | None] | None:
        lookup = {f"{self.model.get_email_field_name()}__iexact": email}
        found = list(self.model._default_manager.filter(**lookup)[:2])
        if len(found) != 1:
            return None
        user = found[0]
        hashed = user.password if user.has_usable_password() else None
        return full_name(user), role_of(user, self.site.settings.default_role), hashed

    async def _send_deleted(self, email: str) -> None:
        if await self.site.stores.users.get(email) is not None:
            await self.site.users.change(UserAction.DELETE, email)

    # -- incoming: a peer's change, written to the model ----------------------------------------

    async def apply(self, issuer: str, action: UserAction, applied: Applied) -> None:
        email = applied.user.email if applied.user is not None else applied.tombstone.email if applied.tombstone else ""
        if not email:
            return
        trust = self.site.trust
        trusted = trust.trusted_for_privileged(issuer)
        grants = trusted and trust.rules.for_peer(issuer).accept_privileged_roles
        await sync_to_async(write_change)(self.model, email, action, applied, trusted, grants)


def write_change(model: Any, email: str, action: UserAction, applied: Applied, trusted: bool, grants: bool) -> None:
    """Write a peer's change (already let through by ``PeerTrust``) to Django's model.
    A second line, in the same thread as the write: a Django user who is staff or a
    superuser *now* is never changed or deleted for a peer that is not ``trusted``
    for privileged accounts; ``grants``: it may give or take the staff and superuser
    flags."""
    with applying():
        lookup = {f"{model.get_email_field_name()}__iexact": email}
        found = list(model._default_manager.filter(**lookup)[:2])
        if len(found) > 1:
            logger.warning("user %s from a peer not written to Django: several Django users have that email", email)
            return
        if found and not trusted and (found[0].is_staff or found[0].is_superuser):
            logger.warning(
                "user %s from a peer not written to Django: a staff or superuser account, and that peer is "
                "not trusted for privileged accounts (SESSIONSYNC_TRUSTED_FOR_PRIVILEGED)",
                email,
            )
            return
        if action is UserAction.DELETE:
            if found:
                found[0].delete()
            return
        user = applied.user
        if user is None:
            return
        django_user = found[0] if found else new_user(model, email)
        groups = set(applied.groups)
        if "profile" in groups:
            django_user.first_name, django_user.last_name = split_name(user.name)
        if "password" in groups and user.password_hash:
            django_user.password = user.password_hash
        if "role" in groups and (grants or not (django_user.is_staff or django_user.is_superuser)):
            django_user.is_superuser = user.role.casefold() == SUPERUSER and grants
            django_user.is_staff = user.role.casefold() in (STAFF, SUPERUSER) and grants
        django_user.save()


def new_user(model: Any, email: str) -> Any:
    fields = {model.USERNAME_FIELD: email}
    if model.get_email_field_name() != model.USERNAME_FIELD:
        fields[model.get_email_field_name()] = email
    user = model(**fields)
    user.set_unusable_password()
    return user
