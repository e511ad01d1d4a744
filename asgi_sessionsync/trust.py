"""What a peer may do to an account here: the one place that decides.

Every path where a peer acts on this site asks :class:`PeerTrust`: a sign-in the peer
vouches for (a hop of a chain or of a catch-up, a held sign-in completed by code), a
sign-out from the back-channel, a user change (user sync). No other module reads the
network file's accept rules, ``SESSIONSYNC_PRIVILEGED_ROLES`` or
``SESSIONSYNC_TRUSTED_FOR_PRIVILEGED`` to decide what a peer may do (``config check``
prints :meth:`PeerTrust.table`).

The rules, in order:

1. **Per action.** The network file says, per peer, which actions this site accepts
   from it (``login``, ``logout``, ``create``, ``update``, ``delete``, ``password``,
   ``role``, ``meta``, and the app's own kinds, ``app.<name>``, each declared there);
   anything else is refused.
2. **Privileged accounts.** An account is privileged here when its role here is one of
   ``SESSIONSYNC_PRIVILEGED_ROLES`` (compared case-folded) or the identity adapter says so
   (Django: ``is_staff`` or ``is_superuser``). A peer that is not listed in
   ``SESSIONSYNC_TRUSTED_FOR_PRIVILEGED`` may not sign such an account in, change any of
   its fields (password, profile, role, metadata), delete it, or end all of its sessions
   at once; whatever the network file accepts. It may still end the sessions of a chain
   it took part in (a sign-out only takes access away, and a chain id is known only to the
   sites the browser went through). Giving an account a privileged role makes it
   privileged: that needs the peer trusted for privileged accounts *and*
   ``accept_privileged_roles`` for it in the network file.
3. **Per field.** A message changes only the field group of its own action (``update``
   the profile, ``password`` the hash, ``role`` the role, ``meta`` the metadata); a
   ``create`` carries the profile and, each only when its own action is accepted from that
   peer, the role, the hash and the metadata. Any other field a message carries is
   dropped and logged; a message whose own field is refused is refused.
4. **Values.** A role is a name as ``users import`` takes them (1-64 of ``A-Z a-z 0-9 _ .
   : -``); a hash is in one of the peer's ``password_formats`` and costs no more to verify
   than :mod:`asgi_sessionsync.hash_costs` allows; metadata keys are in ``meta_keys``; a
   version is no more than a day ahead of this site's clock (a delete: five minutes, since
   a tombstone dated in the future would refuse every later create).

Nothing here runs per request: only where a peer acts.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from asgi_sessionsync.hash_costs import cost_problem
from asgi_sessionsync.network_rules import ACTIONS, NetworkRules, PeerRules, hash_scheme
from asgi_sessionsync.protocol import UserAction, UserActionPayload
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import User
from asgi_sessionsync.stores.versions import UserChange
from asgi_sessionsync.userfile import ROLE

# A peer's version may run ahead of the wall clock (a hybrid clock moves past what it has
# seen), but not by this much: a version far in the future would outrank every change for
# as long, so it is refused (a broken clock, or a broken peer).
FUTURE_MARGIN_MS = 86_400_000
# A delete leaves a tombstone that only a newer create passes: one dated ahead would keep
# the user from being made again for as long.
DELETE_FUTURE_MARGIN_MS = 300_000

PRIVILEGED_REFUSAL = "privileged account, peer not trusted for it"
PRIVILEGED_COLUMNS = ("privileged-accounts", "privileged-roles")  # what table() adds to the actions
LOGIN_REFUSAL = "login not accepted from that peer"

# Which action each field group of a user message belongs to.
_FIELD_ACTION = {
    "name": UserAction.UPDATE,
    "role": UserAction.ROLE,
    "password": UserAction.PASSWORD,
    "metadata": UserAction.META,
}


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What this site makes of a peer's user message: the change to apply (``None``:
    refused, and ``refusal`` says why), and what was left out of it."""

    change: UserChange | None
    refusal: str = ""
    dropped: tuple[str, ...] = ()

    @property
    def note(self) -> str:
        return "left out: " + "; ".join(self.dropped) if self.dropped else ""


class PeerTrust:
    """Answers "may this peer do this to this account here" (see the module's doc).

    ``is_privileged``: the identity adapter's own rule (Django's flags); the roles of
    ``SESSIONSYNC_PRIVILEGED_ROLES`` count whatever it says."""

    def __init__(
        self,
        settings: Settings,
        rules: NetworkRules,
        is_privileged: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self.rules = rules
        self.privileged_roles = frozenset(role.casefold() for role in settings.privileged_roles)
        self.trusted = frozenset(settings.trusted_for_privileged)
        self.clock_skew_ms = int(settings.clock_skew * 1000)
        self.default_role = settings.default_role
        self.auto_provision = settings.auto_provision
        self.origin = settings.site_id
        self._adapter_privileged = is_privileged

    # -- the parts of every decision -------------------------------------------------------

    def accepts(self, issuer: str, action: str) -> bool:
        """Whether the network file accepts ``action`` from ``issuer``."""
        return self.rules.for_peer(issuer).accepts(action)

    def is_privileged_role(self, role: str) -> bool:
        return role.casefold() in self.privileged_roles

    def trusted_for_privileged(self, issuer: str) -> bool:
        return issuer in self.trusted

    async def is_privileged(self, email: str, user: User | None) -> bool:
        """Whether the account is privileged here: its role here (the default role for a
        user this site does not have yet), or the identity adapter's rule."""
        role = user.role if user is not None else self.default_role
        if self.is_privileged_role(role):
            return True
        return self._adapter_privileged is not None and await self._adapter_privileged(email)

    # -- sign-in, sign-out ------------------------------------------------------------------

    async def sign_in(self, issuer: str, email: str, user: User | None) -> str | None:
        """Why ``issuer`` may not sign ``email`` in here (a few words), or None."""
        if not self.accepts(issuer, "login"):
            return LOGIN_REFUSAL
        if not self.trusted_for_privileged(issuer) and await self.is_privileged(email, user):
            return PRIVILEGED_REFUSAL
        return None

    async def sign_out(self, issuer: str, email: str, user: User | None, *, whole_user: bool) -> str | None:
        """Why ``issuer`` may not end sessions of ``email`` here, or None. ``whole_user``:
        every session of the user (no chain): for a privileged account, only a peer
        trusted for privileged accounts may."""
        if not self.accepts(issuer, "logout"):
            return "logout is not accepted from that peer"
        if whole_user and not self.trusted_for_privileged(issuer) and await self.is_privileged(email, user):
            return f"{PRIVILEGED_REFUSAL}: only the sessions of a chain it took part in"
        return None

    # -- user changes -------------------------------------------------------------------------

    async def user_change(self, issuer: str, email: str, payload: UserActionPayload, user: User | None) -> Verdict:
        """The change this site takes of ``issuer``'s message about ``email`` (held here
        as ``user``), field by field."""
        rules = self.rules.for_peer(issuer)
        action = payload.action
        if not rules.accepts(action):
            return Verdict(None, f"{action.value} is not accepted from this peer")
        margin = DELETE_FUTURE_MARGIN_MS if action is UserAction.DELETE else FUTURE_MARGIN_MS
        if payload.version > now_ms() + self.clock_skew_ms + margin:
            ahead = "five minutes" if action is UserAction.DELETE else "a day"
            return Verdict(None, f"its version is more than {ahead} ahead of this site's clock")
        trusted = self.trusted_for_privileged(issuer)
        privileged = await self.is_privileged(email, user)
        if privileged and not trusted:
            return Verdict(None, f"{PRIVILEGED_REFUSAL} (SESSIONSYNC_TRUSTED_FOR_PRIVILEGED)")

        dropped = [f"unknown field(s) {', '.join(payload.unknown)}"] if payload.unknown else []
        taken: dict[str, object] = {}
        carried = {"name": payload.name, "role": payload.role, "password": payload.password_hash}
        carried_meta = {"metadata": payload.meta}
        for field, value in (*carried.items(), *carried_meta.items()):
            if value is None:
                continue
            own = _FIELD_ACTION[field]
            if action is not UserAction.CREATE and action is not own:
                dropped.append(f"{field} (not part of a {action.value} message)")
                continue
            if action is UserAction.CREATE and field != "name" and not rules.accepts(own):
                dropped.append(f"{field} ({own.value} is not accepted from this peer)")
                continue
            kept, why = _field(rules, field == "role" and self.is_privileged_role(str(value)), field, value)
            if why is None and field == "role":
                why = self._role_trust(rules, trusted, privileged, str(value))
            if why is not None:
                if action is own:
                    return Verdict(None, why)
                dropped.append(f"{field} ({why})")
                continue
            taken[field] = kept

        name, role, hashed, meta = taken.get("name"), taken.get("role"), taken.get("password"), taken.get("metadata")
        change = UserChange(
            email=email,
            action=action,
            origin=self.origin,
            now_ms=now_ms(),
            version=(payload.version, issuer),
            name=name if isinstance(name, str) else None,
            role=role if isinstance(role, str) else None,
            password_hash=hashed if isinstance(hashed, str) else None,
            meta=meta if isinstance(meta, dict) else None,
            may_create=rules.accepts("create") and self.auto_provision,
            new_role=self.default_role,
            provisioned_by=issuer,
            now=time.time(),
        )
        return Verdict(change, "", tuple(dropped))

    def _role_trust(self, rules: PeerRules, trusted: bool, privileged: bool, role: str) -> str | None:
        """Why a valid role is not taken from this peer for trust: giving a privileged
        role needs the peer trusted for privileged accounts; changing a privileged
        account's role needs ``accept_privileged_roles``."""
        if self.is_privileged_role(role) and not trusted:
            return f"privileged role {role!r} from a peer not in SESSIONSYNC_TRUSTED_FOR_PRIVILEGED"
        if privileged and not rules.accept_privileged_roles:
            return "the account's role here is privileged (accept_privileged_roles is off)"
        return None

    # -- what config check prints ---------------------------------------------------------------

    def table(self, origins: Iterable[str]) -> list[dict[str, str]]:
        """One row per peer: each action's direction, and what it may do to privileged
        accounts here (``privileged-accounts``: ``yes`` when trusted for them, so it may
        sign them in and change them; ``privileged-roles``: whether it may give one)."""
        rows = []
        for origin in origins:
            rules = self.rules.for_peer(origin)
            trusted = self.trusted_for_privileged(origin)
            rows.append(
                {
                    "peer": origin,
                    **{a: rules.direction(a).value for a in ACTIONS},
                    PRIVILEGED_COLUMNS[0]: "yes" if trusted else "no",
                    PRIVILEGED_COLUMNS[1]: "yes" if trusted and rules.accept_privileged_roles else "no",
                }
            )
        return rows


def app_message_refusal(rules: NetworkRules, issuer: str, kind: str) -> str | None:
    """Why a message of the app's own ``kind`` (``app.<name>``) from ``issuer`` is not
    taken (a few words), or None: the kind must be declared and accepted from that peer."""
    if kind not in rules.app_kinds():
        return f"{kind} is not declared in the network file"
    if not rules.for_peer(issuer).accepts(kind):
        return f"{kind} is not accepted from that peer (network file)"
    return None


def peer_matrix(settings: Settings) -> list[dict[str, str]]:
    """Peer by action → both/send/accept/off, what the peer may do to privileged accounts
    here (:meth:`PeerTrust.table`) and where its back-channel messages may come from: one
    row per configured peer."""
    rules = settings.user_sync.network_rules or NetworkRules()
    names = [*(peer.site_id for _, peer in settings.peers()), *(origin for origin, _ in rules.wprus)]
    rows = PeerTrust(settings, rules).table(dict.fromkeys(names))  # WordPress sites too
    return [
        {
            **row,
            "sources": rules.for_peer(row["peer"]).sources_described,
            "app-kinds": rules.for_peer(row["peer"]).app_kinds_described,
        }
        for row in rows
    ]


def _field(rules: PeerRules, privileged: bool, field: str, value: object) -> tuple[object, str | None]:
    """One field group's value as taken, or why it is not. ``privileged``: the role is
    one of this site's privileged roles (and the caller checked the peer is trusted)."""
    if field == "role":
        assert isinstance(value, str)
        return value, _role_problem(rules, privileged, value)
    if field == "password":
        assert isinstance(value, str)
        if not rules.allows_hash(value):
            return None, f"incompatible hash format {hash_scheme(value) or '(none)'!r}"
        return value, cost_problem(value)
    if field == "metadata":
        assert isinstance(value, dict)
        allowed = {k: v for k, v in value.items() if k in rules.meta_keys}
        if not allowed:
            return None, f"metadata key(s) not allowed: {', '.join(sorted(value))}"
        # Keys outside the allow-list are left out quietly: the sender may hold more.
        return allowed, None
    return value, None


def _role_problem(rules: PeerRules, privileged: bool, role: str) -> str | None:
    if not ROLE.fullmatch(role):
        return "the role is not a valid role name (1-64 of A-Z a-z 0-9 _ . : -)"
    if privileged and not rules.accept_privileged_roles:
        return f"privileged role {role!r} (accept_privileged_roles is off)"
    if rules.roles_accepted is not None and role not in rules.roles_accepted:
        return f"role {role!r} is not in roles_accepted"
    return None
