"""Where every session of a site starts: one owner for the steps a sign-in takes here.

There are two ways a session starts on a site: a login here (the app signed someone in,
or its own login is adopted: :mod:`asgi_sessionsync.response.login`) and a peer's
sign-in arriving (a hop, or a held sign-in completed by code:
:mod:`asgi_sessionsync.endpoints.arrival`). Each decides first what is its own (who the
user is, whether a peer may vouch for them at all); then both come here, and the same
steps run in the same order:

1. the user, stored or provisioned (a peer's only with ``SESSIONSYNC_AUTO_PROVISION``);
2. the session policy's admission (limits, IP ranges, countries, devices);
3. whether the address is known to be verified (this site's app now or before, by the
   verification marks, when the caller has not decided it);
4. the session this browser had here ended, when the new one replaces it;
5. the app's own login, for a peer's sign-in into an app with a login of its own;
6. the registry row (a peer's sign-in first ends the other sessions of its chain here:
   orphans of a lost cookie) and the session cookie.

The result is typed: :class:`Opened` (the session and its ``Set-Cookie`` values) or
:class:`NotOpened` (why, in a few words, and the session policy's refusal with its page
when the policy refused).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import NamedTuple

from starlette.types import Scope

from asgi_sessionsync.governance.admission import Refusal
from asgi_sessionsync.hooks import SignedIn, SignInBlocked
from asgi_sessionsync.identity.base import Account, AppLoginAdapter, IdentityAdapter
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.notices import SignInNotices
from asgi_sessionsync.sessions.active import ActiveSession
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores import User
from asgi_sessionsync.stores.verified import VerifiedBy
from asgi_sessionsync.validation import email_or_none

logger = package_log("asgi_sessionsync")


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """A session asked for: who, how, and what the caller decided already.

    ``vouched_by``: the peer whose sign-in this is (None: this site's app). ``chain`` and
    ``network``: the peer's sign-in's (None for a login here: a new chain). ``shared``
    False keeps the session on this site. ``email_verified`` None: the marks and the
    app decide (a login here); a peer's sign-in says. ``role``: this session's role,
    given by the app (a login here). ``app_ref``: the app's own login made already (a
    login here). ``replacing``: this browser's session here, ended by the new one.
    ``signed_in_at``: when a peer's sign-in was made (None: now, a login here)."""

    email: str
    via: str
    name: str = ""
    vouched_by: str | None = None
    chain: str | None = None
    network: str | None = None
    shared: bool = True
    email_verified: bool | None = None
    role: str | None = None
    app_ref: str | None = None
    replacing: ActiveSession | None = None
    signed_in_at: float | None = None
    catch_up: bool = False  # a peer's answer to this site's first-visit catch-up

    @property
    def how(self) -> str:
        """How, in one word, for the app's hooks: ``login``, ``adopted``, ``hop``,
        ``frame``, ``catch-up`` or ``code``."""
        if self.vouched_by is None:
            return "adopted" if self.via.startswith("adopted") else "login"
        if self.via.startswith("frame"):
            return "frame"
        if self.via.endswith("verified here"):
            return "code"
        return "catch-up" if self.catch_up else "hop"


class Opened(NamedTuple):
    """A session started: it, its ``Set-Cookie`` values (ours first, then the app's own
    login's), and the user as stored."""

    session: ActiveSession
    cookies: list[bytes]
    user: User


class NotOpened(NamedTuple):
    """No session: why (a few words, as the activity log records it), and the session
    policy's refusal when it refused (its page, its redirect)."""

    reason: str
    refusal: Refusal | None = None


class SessionOpening:
    """Starts the sessions of one site (see the module's doc). Takes the site (its parts
    are read at each call: a reopened site has new stores), the identity adapter and the
    app's own login, if any."""

    def __init__(self, site: Site, identity: IdentityAdapter, app_login: AppLoginAdapter | None) -> None:
        self.site = site
        self.identity = identity
        self.app_login = app_login
        self.log = site_log(logger.name, site.site_id)
        self.cookie_name = site.cookie_names.session
        if site.settings.mail.new_sign_in_notice:  # mailed in the background, as the hooks are called
            site.hooks.on("signed_in", SignInNotices(site))

    async def open(self, scope: Scope, wanted: SessionRequest) -> Opened | NotOpened:
        site = self.site
        stored = await self._user(wanted)
        if stored is None:
            return NotOpened("unknown user, auto-provisioning off")
        user = stored
        if wanted.role is not None and wanted.role != user.role:
            user = dataclasses.replace(user, role=wanted.role)
        replacing = (wanted.replacing.chain,) if wanted.replacing is not None else ()
        admission = await site.admissions.admit(
            user, scope=scope, via=wanted.via, chain=wanted.chain, replacing=replacing
        )
        if admission.refusal is not None:
            blocked = SignInBlocked(site.site_id, user.email, admission.refusal.rule, wanted.how, wanted.vouched_by)
            await site.hooks.emit(blocked)
            return NotOpened(f"session policy ({admission.refusal.rule})", admission.refusal)
        verified = wanted.email_verified
        if verified is None:
            verified = await self._verified_here(scope, user.email)
        if wanted.replacing is not None:
            await site.endings.end(wanted.replacing.sid, f"replaced by sign-in {wanted.via}")
        app_cookies: list[bytes] = []
        app_ref = wanted.app_ref
        if wanted.vouched_by is not None and self.app_login is not None:
            made = await self.app_login.login_cookies(scope, Account(user.email, user.name, user.role))
            if made is None:
                self.log.warning(
                    "sign-in of %s from %s skipped: the app cannot sign this account in", user.email, wanted.vouched_by
                )
                return NotOpened("the app cannot sign this account in")
            app_cookies = made
            app_ref = self.app_login.response_app_ref([(b"set-cookie", c) for c in made])
        if wanted.chain is not None:
            # A chain is one browser: other sessions of it here are orphans (their cookie
            # was lost, for example purged by the browser's bounce-tracking protection).
            await site.endings.end_sessions(
                user.email,
                reason="replaced: this browser synced the same sign-in again",
                when=time.time(),
                chain=wanted.chain,
            )
        session, token = await site.starter.start(
            user,
            chain=wanted.chain,
            scope=scope,
            via=wanted.via,
            shared=wanted.shared,
            network=wanted.network,
            app_ref=app_ref,
            country=admission.country,
            device=admission.device,
            email_verified=verified,
            signed_in_at=wanted.signed_in_at,
        )
        cookie = site.cookies.set(self.cookie_name, token, int(site.settings.session_lifetime))
        signed_in = SignedIn(
            site.site_id, user.email, wanted.how, wanted.vouched_by, wanted.via, admission.device, admission.country
        )
        await site.hooks.emit(signed_in)
        return Opened(session, [cookie, *app_cookies], stored)

    async def _user(self, wanted: SessionRequest) -> User | None:
        """The stored user; provisioned (the default role, never a peer's) when allowed.
        None for anything that is not a valid email: such a user is never made."""
        site = self.site
        email = email_or_none(wanted.email)
        if email is None:
            return None
        user = await site.stores.users.get(email)
        if user is not None:
            return user
        if wanted.vouched_by is not None and not site.settings.auto_provision:
            return None
        self.log.info("provisioning user %s (vouched for by %s)", email, wanted.vouched_by or "this site's app")
        return await site.stores.users.create(
            User(
                email=email,
                role=site.settings.default_role,
                name=wanted.name,
                created_at=time.time(),
                provisioned_by=wanted.vouched_by,
            )
        )

    async def _verified_here(self, scope: Scope, email: str) -> bool:
        """A login here: verified when this site's app says so, now or at an earlier login
        here (remembered for this site as the issuer: a peer's sign-in of the address
        still needs its own proof), or an operator marked it so; not verified, whatever
        the app says, when an operator marked it not verified."""
        verified = self.site.verified
        verdict = await verified.verdict(email, self.site.site_id)
        if verdict is not None:
            return verdict  # a mark, made here or by an operator, outranks the app's word
        if await self.identity.email_verified(scope, email):
            await verified.remember(email, self.site.site_id, VerifiedBy.APP)
            return True
        return False
