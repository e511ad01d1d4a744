"""The sign-in steps a browser takes through a site (protocol v2): pull, authorize, hop,
and auto mode's bounce. See :mod:`asgi_sessionsync.signin` and docs/design.md."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.types import Scope

from asgi_sessionsync.cookies import CookiePolicy, find_cookie
from asgi_sessionsync.endpoints.frames import check_reply, result_reply
from asgi_sessionsync.endpoints.held import Arrival, HeldCookies
from asgi_sessionsync.endpoints.reply import Headers, Reply, page, redirect, text
from asgi_sessionsync.envelope import Claims
from asgi_sessionsync.exceptions import EnvelopeError, EnvelopeFailure
from asgi_sessionsync.fetch_metadata import fetch_metadata
from asgi_sessionsync.identity.base import Account, IdentityAdapter, app_login_of
from asgi_sessionsync.keys import Purpose
from asgi_sessionsync.logs import site_log
from asgi_sessionsync.protocol import BouncePayload, ChainPayload, Endpoint, HopPayload, Mode, RequestPayload
from asgi_sessionsync.sessions import ActiveSession
from asgi_sessionsync.settings import RequireVerified
from asgi_sessionsync.signin import BIND_LIFETIME, bind_hash, new_bind, take_bind
from asgi_sessionsync.site import Site
from asgi_sessionsync.urls import endpoint_url, local_url, origin_of, safe_return
from asgi_sessionsync.validation import email_or_none

logger = logging.getLogger("asgi_sessionsync.endpoints")

# Authentic envelopes refused for these reasons are skipped: the chain goes on.
SKIPPABLE = frozenset({EnvelopeFailure.EXPIRED, EnvelopeFailure.NOT_YET_VALID, EnvelopeFailure.IP_MISMATCH})
NOT_VALID = (
    "This sign-in link is not valid",
    "It may have been changed, cut short or used already. Nobody was signed in.",
)
# A configuration mismatch between two sites (another key, a site not listed as a peer),
# not something the user did: said as such.
NOT_SET_UP = (
    "These sites do not share sign-in",
    "The site that sent you here is not set up to share sign-in with this one. Nobody was signed in; "
    "you can sign in on this site directly.",
)
MISMATCH = frozenset({EnvelopeFailure.UNKNOWN_KEY, EnvelopeFailure.WRONG_ISSUER, EnvelopeFailure.WRONG_AUDIENCE})


def refused(reason: EnvelopeFailure | None) -> Reply:
    """The page for a refused sign-in step, in words that fit why."""
    return page(400, *(NOT_SET_UP if reason in MISMATCH else NOT_VALID))


class SignInSteps:
    def __init__(self, site: Site, identity: IdentityAdapter) -> None:
        self.site = site
        self.identity = identity
        self.app_login = app_login_of(identity)
        self.log = site_log(logger.name, site.origin)
        self.cookie_name = site.settings.cookie_name
        self.bind_name = site.settings.cookie_name + "-bind"
        self.pending_name = site.settings.cookie_name + "-sync"
        self.members = site.tokens.all_members()
        self.frame_ancestors = ("frame-ancestors " + " ".join(self.members)).encode()
        self.holds = HeldCookies(site)
        self.home = local_url(site.origin, "/")
        self.verify_url = endpoint_url(site.settings.site_url, site.prefix, Endpoint.VERIFY)
        policy = site.cookies
        self._bind_policy = {
            Mode.PAGE: CookiePolicy(path=policy.path, domain=policy.domain, secure=policy.secure, samesite="lax"),
            Mode.FRAME: CookiePolicy(path=policy.path, domain=policy.domain, secure=True, samesite="none"),
        }

    def _navigates(self, scope: Scope, mode: Mode) -> bool:
        dest = b"iframe" if mode is Mode.FRAME else b"document"
        return fetch_metadata(scope).navigates_to(dest, scope["method"])

    def _frame_headers(self, mode: Mode) -> Headers:
        return [(b"content-security-policy", self.frame_ancestors)] if mode is Mode.FRAME else []

    # -- B: ask a peer ------------------------------------------------------------------

    async def pull(
        self, scope: Scope, cookies: bytes | None, issuer: str, chain: str, mode_name: str, checked: bool = False
    ) -> Reply:
        """A peer that has the session sent the browser here: set the bind cookie, ask it.

        In a frame, first a page that checks whether this frame's cookies are this
        site's own (``frame_check_page``); it comes back with ``checked`` set when they are."""
        site = self.site
        mode = Mode.FRAME if mode_name == Mode.FRAME else Mode.PAGE
        if not self._navigates(scope, mode):
            self.log.warning(
                "sign-in pull refused: not a %s navigation", "frame" if mode is Mode.FRAME else "top-level"
            )
            return text(400, "not a navigation", self._frame_headers(mode))
        entry = site.signin.peer(issuer)
        if entry is None:
            self.log.warning("sign-in pull refused: %s is not a peer of this site", issuer[:100] or "(no issuer)")
            return refused(EnvelopeFailure.WRONG_ISSUER)
        if issuer not in site.signin.accepts_from:
            self.log.warning("sign-in pull refused: login is not accepted from %s (network file)", issuer)
            return refused(EnvelopeFailure.WRONG_ISSUER)
        if not chain:
            return page(400, *NOT_VALID)
        if mode is Mode.FRAME and not checked:
            return check_reply(self.frame_ancestors, scope, site.origin, issuer)
        nonce, value = new_bind(find_cookie(cookies, self.bind_name))
        await site.health.offset(entry)  # the request is sealed in the asked site's time
        url = site.signin.request_url(
            entry, bind=bind_hash(nonce), chain=chain, return_url=None, mode=mode, ip=site.address.bind_value(scope)
        )
        cookie = self._bind_policy[mode].set(self.bind_name, value, BIND_LIFETIME)
        return redirect(url, [(b"set-cookie", cookie), *self._frame_headers(mode)])

    # -- A: answer with the session this browser has here --------------------------------

    async def authorize(self, scope: Scope, cookies: bytes | None, token: str) -> Reply:
        site = self.site
        ip = site.address.bind_value(scope)
        nobody = False
        try:
            claims = site.tokens.open(token, Purpose.REQUEST, ip=ip)
        except EnvelopeError as error:
            if error.claims is None or error.reason not in SKIPPABLE:
                self.log.warning("sign-in request refused: %s", error.reason)
                return refused(error.reason)
            self.log.info("sign-in request answered with nobody (%s)", error.reason)
            claims, nobody = error.claims, True
        request = RequestPayload.from_wire(claims.extra)
        entry = site.signin.peer(claims.issuer)
        if entry is None:
            return refused(EnvelopeFailure.WRONG_ISSUER)
        if request is None:
            return page(400, *NOT_VALID)
        if not self._navigates(scope, request.mode):
            self.log.warning("sign-in request refused: not a navigation")
            return text(400, "not a navigation", self._frame_headers(request.mode))
        network, asker = entry
        if asker.origin not in site.signin.sends_to and not nobody:
            self.log.info(
                "sign-in request of %s answered with nobody: login is not sent to it (network file)", asker.origin
            )
            nobody = True
        session = None if nobody else await self.current(scope, cookies)
        if session is not None and (
            not session.shared or (session.network is not None and session.network != network.name)
        ):
            session = None  # a login that stays here, or came from another network: not vouched for
        next_url = await self._onward_of_chain(request.chain, session, ip)
        headers = self._frame_headers(request.mode)
        if session is None and request.then is not None and not nobody:
            # Catch-up: nobody here; ask the next peer (a URL the asking peer sealed).
            onward = safe_return(request.then.url, self.members)
            if onward is not None:
                return redirect(f"{onward}?q={request.then.token}", headers)
        if session is not None:
            headers.append((b"set-cookie", site.cookies.delete(self.pending_name)))  # its sync is under way
        await site.health.offset(entry)  # the hop is sealed in the asking site's time
        url = site.signin.answer(
            asker,
            network.name,
            request=request,
            user=session.user if session else "",
            chain=session.chain if session else "",
            name=session.name if session else "",
            next_url=next_url,
            ip=ip,
            email_verified=session.email_verified if session else False,
        )
        if session is not None:
            await site.activity.login_sent(asker.origin, session.user)
        return redirect(url, headers)

    async def _onward_of_chain(self, chain_token: str | None, session: ActiveSession | None, ip: str) -> str | None:
        """For a sign-in this site is carrying: where the browser goes after the asking peer."""
        if not chain_token:
            return None
        try:
            claims = self.site.tokens.open(chain_token, Purpose.CHAIN, ip=ip)
        except EnvelopeError as error:
            self.log.info("sign-in chain note refused (%s); the chain ends at the asking site", error.reason)
            return None
        chain = ChainPayload.from_wire(claims.extra)
        if chain is None:
            return None
        if session is None or session.sid != chain.sid:
            # The session that started the chain is gone (signed out meanwhile): send the
            # browser home, signing no one in on the way.
            return safe_return(chain.return_url, self.site.origin)
        return await self.site.signin.onward(chain, session, ip)

    # -- B: the answer arrives --------------------------------------------------------

    async def hop(self, scope: Scope, cookies: bytes | None, token: str) -> Reply:
        site = self.site
        try:
            claims = site.tokens.open(token, Purpose.HOP, ip=site.address.bind_value(scope))
        except EnvelopeError as error:
            skipped = HopPayload.from_wire(error.claims.extra) if error.claims and error.reason in SKIPPABLE else None
            if skipped is not None and error.claims is not None:
                self.log.info("sign-in hop skipped here (%s); chain continues", error.reason)
                return self._go_on(skipped, error.claims.issuer, [])
            self.log.warning("sign-in hop refused: %s", error.reason)
            return refused(error.reason)
        hop = HopPayload.from_wire(claims.extra)
        if hop is None:
            return page(400, *NOT_VALID)
        if not self._navigates(scope, hop.mode):
            self.log.warning("sign-in hop refused: not a navigation; nobody signed in")
            return text(400, "not a navigation", self._frame_headers(hop.mode))
        bound, rest = take_bind(find_cookie(cookies, self.bind_name), hop.bind)
        policy = self._bind_policy[hop.mode]
        headers: Headers = [
            (b"set-cookie", policy.set(self.bind_name, rest, BIND_LIFETIME) if rest else policy.delete(self.bind_name))
        ]
        if not bound:
            self.log.warning("sign-in hop refused: this browser did not ask for it (bind cookie missing or other)")
            if claims.subject:
                await site.activity.login_unasked(claims.issuer, email_or_none(claims.subject) or "", claims.jti)
            if hop.next_url is None and hop.mode is Mode.PAGE:
                # Maybe a client that keeps no cookies: a link, not a redirect, so it cannot loop.
                onward = safe_return(hop.return_url, site.origin) or local_url(site.origin, "/")
                return page(200, "Continue", "Signing in on this site was skipped.", link=onward)
            return self._go_on(hop, claims.issuer, headers)
        if not await site.stores.replay.use(claims.jti, claims.expires_at + site.settings.clock_skew):
            self.log.info("sign-in hop skipped here (already used); chain continues")
            return self._go_on(hop, claims.issuer, headers)
        session = None
        if claims.subject:
            session, cookies_set, held = await self._sign_in_here(scope, cookies, claims, hop)
            headers += cookies_set
            if held and hop.mode is Mode.PAGE:
                # The code page, at once: this is a top-level step. (In a frame, the next
                # top-level visit shows it; the frame reports that nobody is signed in.)
                return redirect(self.verify_url, headers)
        return self._go_on(hop, claims.issuer, headers, signed_in=session is not None)

    def _go_on(self, hop: HopPayload, issuer: str, headers: Headers, *, signed_in: bool = False) -> Reply:
        if hop.mode is Mode.FRAME:
            return result_reply(self.frame_ancestors, signed_in, self.site.origin, issuer, headers)
        return redirect(self._onward(hop, issuer), headers)

    def _onward(self, hop: HopPayload, issuer: str) -> str:
        """Where a top-level hop sends the browser on: the issuer's next step, else back."""
        return (
            safe_return(hop.next_url, issuer)
            or self._next_pull(hop.next_url)
            or safe_return(hop.return_url, self.site.origin)
            or self.home
        )

    def onward(self, url: str | None, issuer: str) -> str | None:
        """``url`` when a sign-in step may send the browser there: a page of the issuer, the
        next peer's ``pull``, or a page of this site."""
        return safe_return(url, issuer) or self._next_pull(url) or safe_return(url, self.site.origin)

    def _next_pull(self, url: str | None) -> str | None:
        """The next step of a chain the issuer is carrying: another site's ``pull`` (maybe
        one this site does not know, in another of the issuer's networks). Nothing but a
        ``pull`` step, so that no peer can use this site as an open redirect."""
        if url is None or safe_return(url, origin_of(url)) is None:
            return None
        path = urlsplit(url).path
        return url if path.endswith(self.site.prefix + Endpoint.PULL) else None

    async def _sign_in_here(
        self, scope: Scope, cookies: bytes | None, claims: Claims, hop: HopPayload
    ) -> tuple[ActiveSession | None, Headers, bool]:
        """Make the user a peer vouches for signed in here; return the session, its
        cookies, and whether the sign-in is held instead, until this site has verified
        the address (the held cookie is then among the cookies)."""
        issuer = claims.issuer
        via = f"{'frame' if hop.mode is Mode.FRAME else 'hop'} from {issuer}"
        email = email_or_none(claims.subject)
        if email is None:
            self.log.warning("sign-in from %s refused: the peer vouched for something that is not an email", issuer)
            await self.site.activity.login_received(issuer, "", refused="not an email")
            return None, [], False
        arrival = Arrival(email, hop.name, issuer, claims.network, hop.chain, via, hop.email_verified)
        session, headers, hold = await self.arrive(scope, cookies, arrival)
        if hold:
            onward = None if hop.mode is Mode.FRAME else self._onward(hop, issuer)
            headers = [(b"set-cookie", self.holds.hold(scope, arrival, onward=onward, mode=hop.mode))]
        return session, headers, hold

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

    async def _arrive(
        self, scope: Scope, cookies: bytes | None, arrival: Arrival, *, code_checked: bool
    ) -> tuple[ActiveSession | None, Headers, bool, str]:
        """:meth:`arrive`, with why nobody was signed in (a few words; "" when signed in or held)."""
        site = self.site
        email, issuer = arrival.email, arrival.issuer
        if issuer not in site.signin.accepts_from:
            self.log.warning(
                "sign-in of %s from %s refused: login is not accepted from that peer (network file)", email, issuer
            )
            return None, [], False, "login not accepted from that peer"
        requirement = site.settings.require_verified_email
        verified = arrival.email_verified or code_checked or await site.marks.remembered(email)
        if requirement is RequireVerified.ISSUER and not verified:
            self.log.warning(
                "sign-in of %s from %s refused: that site did not say the address is verified "
                "(SESSIONSYNC_REQUIRE_VERIFIED_EMAIL=issuer)",
                email,
                issuer,
            )
            return None, [], False, "address not verified by the issuer"
        known = await site.stores.users.get(email)
        if known is None and not site.settings.auto_provision:
            self.log.info("sign-in from %s skipped: the user is unknown here and auto-provisioning is off", issuer)
            return None, [], False, "unknown user, auto-provisioning off"
        role = known.role if known is not None else site.settings.default_role
        if issuer not in site.settings.trusted_for_privileged and await self._privileged(email, role):
            self.log.warning(
                "sign-in of %s from %s refused: a privileged account here, and that peer is not trusted for it "
                "(SESSIONSYNC_TRUSTED_FOR_PRIVILEGED)",
                email,
                issuer,
            )
            return None, [], False, "privileged account, peer not trusted for it"
        current = await self.current(scope, cookies)
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
            self.log.info(
                "sign-in of %s from %s held: the address is to be verified here by a mailed code", email, issuer
            )
            return None, [], True, ""
        user = await site.sessions.ensure_user(email, name=arrival.name, vouched_by=issuer)
        if user is None:
            self.log.info("sign-in from %s skipped: the user is unknown here and auto-provisioning is off", issuer)
            return None, [], False, "unknown user, auto-provisioning off"
        via = arrival.via
        # The session policy: refused, nobody is signed in here and the chain goes on.
        admission = await site.governor.admit(
            user, scope=scope, via=via, chain=arrival.chain, replacing=(current.chain,) if current else ()
        )
        if admission.refusal is not None:
            return None, [], False, f"session policy ({admission.refusal.rule})"
        if current is not None:
            await site.sessions.end(current.sid, f"replaced by sign-in {via}")
        app_cookies: list[bytes] = []
        app_ref = None
        if self.app_login is not None:
            made = await self.app_login.login_cookies(scope, Account(user.email, user.name, user.role))
            if made is None:
                self.log.warning(
                    "sign-in of %s from %s skipped: the app cannot sign this account in", user.email, issuer
                )
                return None, [], False, "the app cannot sign this account in"
            app_cookies = made
            app_ref = self.app_login.response_app_ref([(b"set-cookie", c) for c in made])
        session, token = await site.sessions.start_synced(
            user,
            chain=arrival.chain,
            scope=scope,
            via=via,
            network=arrival.network,
            app_ref=app_ref,
            country=admission.country,
            device=admission.device,
            email_verified=verified,
        )
        cookie = site.cookies.set(self.cookie_name, token, int(site.settings.session_lifetime))
        return session, [(b"set-cookie", cookie), *((b"set-cookie", c) for c in app_cookies)], False, ""

    async def _privileged(self, email: str, role: str) -> bool:
        return role in self.site.settings.privileged_roles or await self.identity.is_privileged(email)

    # -- A, auto mode: the peers whose frame failed ----------------------------------------

    async def bounce(self, scope: Scope, cookies: bytes | None, token: str, peers: str) -> Reply:
        site = self.site
        ip = site.address.bind_value(scope)
        try:
            claims = site.tokens.open(token, Purpose.BOUNCE, ip=ip)
        except EnvelopeError as error:
            self.log.warning("bounce refused: %s", error.reason)
            return page(400, "This link is not valid", "Signing in on the other sites was skipped.")
        state = BouncePayload.from_wire(claims.extra)
        back = safe_return(state.return_url, site.origin) or local_url(site.origin, "/")
        current = await self.current(scope, cookies)
        if current is None or current.sid != state.sid:
            return redirect(back)
        wanted = [o for o in peers.split() if o]
        first = await site.signin.start_chain(current, return_url=back, ip=ip, origins=wanted)
        return redirect(first or back)

    async def current(self, scope: Scope, cookies: bytes | None) -> ActiveSession | None:
        """This browser's session here, if any."""
        token = find_cookie(cookies, self.cookie_name)
        if token is None:
            return None
        return await self.site.sessions.resolve(token, self.site.address.bind_value(scope))
