"""One site's parts, built from its settings and closed together.

Each part takes only what it uses: the tokens (keys and who may seal what), the client
address, users and sessions, the peer client with health and the back-channel courier,
and the sign-in sync. Nothing here opens a connection or a file before it is needed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import httpx

from asgi_sessionsync.activity import ActivityRecorder, recorder
from asgi_sessionsync.client_ip import ClientAddress, IPBinding, TrustedProxies
from asgi_sessionsync.cookies import CookieNames, CookiePolicy
from asgi_sessionsync.exceptions import StoreError, StoreUnavailable
from asgi_sessionsync.governance.governor import Governor
from asgi_sessionsync.logs import site_log, use_json_logs
from asgi_sessionsync.mail import Mailer, mailer_from_settings
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.peers import Courier, PeerClient, PeerHealth
from asgi_sessionsync.sessions import Sessions
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.signin import SignInSync
from asgi_sessionsync.stores import Stores, open_stores
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.trust import PeerTrust
from asgi_sessionsync.usersync import UserSync
from asgi_sessionsync.verification import Marks


class Site:
    """Everything one site needs to take part in the protocol."""

    def __init__(
        self,
        settings: Settings,
        *,
        stores: Stores | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        mailer: Mailer | None = None,
        is_privileged: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        """``is_privileged``: the identity adapter's rule for privileged accounts (Django's
        flags), asked by :class:`PeerTrust` beside ``SESSIONSYNC_PRIVILEGED_ROLES``."""
        self.settings = settings
        self.origin = settings.origin
        if settings.log_format == "json":
            use_json_logs()
        self.prefix = settings.path_prefix
        self.peers = tuple(settings.peers())
        # What this site sends to and accepts from each peer (SESSIONSYNC_NETWORK_FILE).
        self.rules = settings.network_rules or NetworkRules()
        # What each peer may do to an account here: the one place that decides.
        self.trust = PeerTrust(settings, self.rules, is_privileged)
        self.tokens = Tokens(settings)
        self.address = ClientAddress(
            TrustedProxies(settings.trusted_proxies),
            IPBinding(settings.ip_binding, settings.ip_prefix_v4, settings.ip_prefix_v6),
        )
        self.cookies = CookiePolicy(
            path=settings.cookie_path,
            domain=settings.cookie_domain,
            secure=settings.secure,
            samesite=settings.samesite,
        )
        # The name of every cookie the middleware writes (``__Host-`` on https), decided once.
        self.cookie_names = CookieNames.from_settings(settings)
        self.client = PeerClient(settings.peer_timeout, transport)
        self.health = PeerHealth(
            self.tokens,
            self.prefix,
            settings.peer_timeout,
            transport=transport,
            clock_skew=settings.clock_skew,
            peers=len(self.peers),
        )
        self.signin = SignInSync(settings, self.tokens, self.health, self.peers)
        # Verified emails: who mails this site's codes (None: it mails none).
        self.mailer = mailer if mailer is not None else mailer_from_settings(settings)
        # Stores opened here from the settings are opened again after a close; stores
        # given by the caller cannot be, and a closed site using them refuses to start.
        self._owns_stores = stores is None
        self._end_app_login: Callable[[str], Awaitable[None]] | None = None
        self._use_stores(stores if stores is not None else open_stores(settings.store))
        self.closed = False

    @classmethod
    def existing(cls, settings: Settings) -> Site:
        """The site on stores that exist already, for the command line: a store that is
        not there (a relative ``sqlite:///`` path read in another directory) is a
        :class:`StoreError` naming what was looked for, never a new empty store."""
        return cls(settings, stores=open_stores(settings.store, create=False))

    def ends_app_logins_with(self, end: Callable[[str], Awaitable[None]]) -> None:
        """Ending a session here ends the app's own login that goes with it, by its
        reference (an ``AppLoginAdapter``'s ``end_app_login``): kept across a reopen."""
        self._end_app_login = end
        self.sessions.end_app_login = end

    def _use_stores(self, stores: Stores) -> None:
        self.stores = stores
        if stores.activity is not None:  # kept within SESSIONSYNC_ACTIVITY_MAX_ROWS as it is written
            stores.activity.max_entries = self.settings.activity_max_rows
        # The activity log: every cross-site message and its outcome (SESSIONSYNC_ACTIVITY_LOG).
        self.activity: ActivityRecorder = recorder(self.origin, stores.activity, enabled=self.settings.activity_log)
        self.sessions = Sessions(self.settings, stores, self.tokens, self.address)
        self.courier = Courier(self.settings, stores.outbox, self.tokens, self.client, self.health, self.peers)
        self.courier.activity = self.activity
        # The store's lines name this site; when it is back, what was held is written at once.
        stores.availability.log = site_log("asgi_sessionsync.stores", self.origin)
        stores.availability.on_back.append(self.courier.wake)
        self.users = UserSync(self.settings, stores, self.sessions, self.courier, self.peers, self.trust)
        # Governance: the session policy at every session start; idle limits per request.
        self.governor = Governor(self.settings, stores, self.address, self.courier)
        self.sessions.idle_after = self.governor.idle_after
        self.sessions.idle_default = self.governor.idle_default
        self.sessions.on_idle = self.governor.session_idle
        self.marks = Marks(self.tokens, stores.replay)
        self.sessions.end_app_login = self._end_app_login

    def reopen(self) -> None:
        """Before serving again after :meth:`aclose`: open the stores again.

        Stores with nothing to close (memory) carry on as they are. Stores this site
        opened from ``SESSIONSYNC_STORE`` are opened again; stores given to it that it
        closed cannot be, and :class:`StoreError` says so."""
        if not self.closed:
            return
        if self.stores.closer is not None:
            if not self._owns_stores:
                raise StoreError(
                    "the stores given to SessionSyncMiddleware(stores=...) were closed when it shut down "
                    "and cannot be opened again: build the middleware again with new stores to serve again"
                )
            self._use_stores(open_stores(self.settings.store))
        self.closed = False

    async def sign_out(self, email: str, chain: str, *, reason: str = "signed out") -> None:
        """End this browser's sessions (one chain) here, and tell every peer to end theirs."""
        now = time.time()
        try:
            await self.stores.sessions.end_user(email, reason=reason, when=now, chain=chain)
        except StoreUnavailable as error:
            await self._tell_peers_anyway(error, email, chain, now)
            raise
        await self.courier.broadcast_logout(email, chain=chain, when=now)

    async def sign_out_everywhere(self, email: str, *, reason: str) -> int:
        """End every session of a user here (all browsers) and on every peer, and make
        every sign-in of the user made until now void (:meth:`Sessions.void`; peers do the
        same when the sign-out arrives). ``reason`` goes to the peers' history too.

        Peers that do not confirm within ``logout_wait`` get the message from the outbox
        later (the site's running worker retries it)."""
        now = time.time()
        # Every earlier sign-in of the user is void here too: a peer that has not heard
        # of this yet (or may not end sessions) cannot bring one back by a catch-up.
        try:
            await self.sessions.void(email, now, self.origin)
            count = await self.sessions.end_user(email, reason=reason, when=now)
        except StoreUnavailable as error:
            await self._tell_peers_anyway(error, email.strip().lower(), None, now)
            raise
        await self.courier.broadcast_logout(email.strip().lower(), chain=None, when=now, reason=reason)
        return count

    async def _tell_peers_anyway(self, error: StoreUnavailable, email: str, chain: str | None, when: float) -> None:
        """Ending the sessions here failed, but may have been done all the same (a store
        that did not answer in time may still carry it out): the peers are told, from the
        process if the outbox cannot take it, so that what may have ended here ends there
        too; the browser is told its sign-out could not be confirmed (outage.py)."""
        if error.maybe_done:
            await self.courier.broadcast_logout(email, chain=chain, when=when, wait=False)

    async def purge_history(self, now: float) -> dict[str, int]:
        """The hourly housekeeping: :meth:`Stores.purge` with this site's retention periods
        (history, and the activity log's own)."""
        s = self.settings
        return await self.stores.purge(
            now, s.retention, activity_retention=s.activity_retention, activity_max=s.activity_max_rows
        )

    async def aclose(self) -> None:
        """Close the HTTP client and the stores (the worker is stopped by its owner).

        The HTTP client is made again when next needed; see :meth:`reopen` for the stores."""
        self.closed = True
        await self.client.aclose()
        await self.health.aclose()
        await self.stores.close()
        self.governor.close()
