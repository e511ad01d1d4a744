"""A peer's sign-in arriving here: every rule that decides whether it signs someone in."""

from __future__ import annotations

import time

from starlette.types import Scope

from asgi_sessionsync.endpoints.held import Arrival
from asgi_sessionsync.endpoints.reply import Headers
from asgi_sessionsync.endpoints.step_kit import StepKit
from asgi_sessionsync.sessions import ActiveSession
from asgi_sessionsync.sessions.opening import NotOpened, SessionRequest
from asgi_sessionsync.settings import RequireVerified
from asgi_sessionsync.stores import User
from asgi_sessionsync.stores.versions import void_before
from asgi_sessionsync.trust import LOGIN_REFUSAL, PRIVILEGED_REFUSAL

DECLINED = "the user went on without signing in here lately"
VOID_REFUSAL = "signed in before the user's sessions ended everywhere"

# The log's longer word for what the activity log records in a few.
_EXPLAINED = {
    LOGIN_REFUSAL: "login is not accepted from that peer (network file)",
    PRIVILEGED_REFUSAL: "a privileged account here, and that peer is not trusted for it "
    "(SESSIONSYNC_TRUSTED_FOR_PRIVILEGED)",
    VOID_REFUSAL: "that sign-in was made before the user's sessions ended everywhere (a password change, a "
    "revocation, a sign-out everywhere): the user signs in again",
}


def void_refusal(signed_in_at: float | None, void: float | None, lifetime: float, now: float) -> str | None:
    """Why a sign-in made at ``signed_in_at`` (None: unknown) is void, the user's sessions
    having all ended at ``void`` (a password change, a sign-out everywhere); None when it
    is not. An unknown time is void while a session from before ``void`` could live."""
    if void is None:
        return None
    if signed_in_at is None:
        return VOID_REFUSAL if now - void < lifetime else None
    # Both are this site's times, each from an age another site told (each late by its
    # own transit). The browser that changed the password is signed in again after the
    # sign-out's delivery was waited for (SESSIONSYNC_LOGOUT_WAIT), so its new sign-in
    # comes out later here than the sign-out, and passes.
    return VOID_REFUSAL if signed_in_at < void else None


class Arrivals:
    """Signs in the user a peer vouches for, if every rule allows (from a hop, or after a code)."""

    def __init__(self, kit: StepKit) -> None:
        self.kit = kit
        self.site = kit.site
        self.log = kit.log

    async def arrive(
        self, scope: Scope, cookies: bytes | None, arrival: Arrival, *, code_checked: bool = False
    ) -> tuple[ActiveSession | None, Headers, bool]:
        """Sign in the user of ``arrival`` here, if every rule allows: the session and its
        cookies; or nobody (chain goes on); or (third value) hold it for a code first.
        ``code_checked``: this site has just verified the address by code. The one place
        an arriving sign-in's outcome goes to the activity log."""
        session, headers, hold, why = await self._arrive(scope, cookies, arrival, code_checked=code_checked)
        await self.site.activity.arrived(arrival.issuer, arrival.email, arrival.via, why, held=hold, code=code_checked)
        return session, headers, hold

    def _void(self, arrival: Arrival, known: User | None) -> str | None:
        lifetime = self.site.settings.session_lifetime
        return void_refusal(arrival.signed_in_at, void_before(known), lifetime, time.time())

    async def _arrive(
        self, scope: Scope, cookies: bytes | None, arrival: Arrival, *, code_checked: bool
    ) -> tuple[ActiveSession | None, Headers, bool, str]:
        """:meth:`arrive`, with why nobody was signed in (a few words; "" when signed in or held)."""
        site = self.site
        email, issuer = arrival.email, arrival.issuer
        known = await site.stores.users.get(email)
        refusal = await site.trust.sign_in(issuer, email, known) or self._void(arrival, known)
        if refusal is not None:
            self.log.warning("sign-in of %s from %s refused: %s", email, issuer, _EXPLAINED.get(refusal, refusal))
            return None, [], False, refusal
        requirement = site.settings.require_verified_email
        # A mark here (a code typed, an operator's) outranks the issuer's word either way.
        verdict = await site.verified.verdict(email, issuer)
        verified = code_checked or (arrival.email_verified if verdict is None else verdict)
        if requirement is RequireVerified.ISSUER and not verified:
            self.log.warning(
                "sign-in of %s from %s refused: that site did not say the address is verified "
                "(SESSIONSYNC_REQUIRE_VERIFIED_EMAIL=issuer)",
                email,
                issuer,
            )
            return None, [], False, "address not verified by the issuer"
        if known is None and not site.settings.auto_provision:
            self.log.info("sign-in from %s skipped: the user is unknown here and auto-provisioning is off", issuer)
            return None, [], False, "unknown user, auto-provisioning off"
        current = await self.kit.current(scope, cookies)
        if current is not None:
            if current.user == email and current.chain == arrival.chain:
                return current, [], False, ""
            if current.user != email:
                self.log.warning(
                    "sign-in of %s from %s skipped: this browser is signed in here as another user", email, issuer
                )
                return None, [], False, "browser signed in here as another user"
        if requirement is RequireVerified.SELF and not verified:
            if current is not None:
                # The same user is signed in here already (by this site's own login):
                # nothing to verify for, nothing replaced.
                return current, [], False, ""
            if self.kit.declines.covers(scope, cookies, arrival):
                self.log.info(
                    "sign-in of %s from %s not held: this browser went on without signing in here lately "
                    "(the code page's choice, remembered for the catch-up interval)",
                    email,
                    issuer,
                )
                return None, [], False, DECLINED
            self.log.info(
                "sign-in of %s from %s held: the address is to be verified here by a mailed code", email, issuer
            )
            return None, [], True, ""
        wanted = SessionRequest(
            email,
            arrival.via,
            name=arrival.name,
            vouched_by=issuer,
            chain=arrival.chain,
            network=arrival.network,
            email_verified=verified,
            replacing=current,
            signed_in_at=arrival.signed_in_at,
            catch_up=arrival.catch_up,
        )
        opened = await self.kit.opening.open(scope, wanted)
        if isinstance(opened, NotOpened):
            if opened.refusal is None and opened.reason.startswith("unknown user"):
                self.log.info("sign-in from %s skipped: the user is unknown here and auto-provisioning is off", issuer)
            return None, [], False, opened.reason  # the session policy refused: the chain goes on
        return opened.session, [(b"set-cookie", c) for c in opened.cookies], False, ""
