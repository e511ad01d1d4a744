"""One site's parts, built from its settings and closed together.

Each part is built complete, from what it uses: the tokens (keys and who may seal what),
the client address, the trust in each peer, users and sessions (resolving a cookie,
starting and ending sessions), the session policy (admissions, idle sessions), the peer
client with health and the back-channel courier, and the sign-in sync. What the identity
adapter contributes (its rule for privileged accounts, ending the app's own login) is
given to the constructor; nothing is wired in afterwards. Nothing here opens a connection
or a file before it is needed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from asgi_sessionsync.activity import ActivityRecorder, recorder
from asgi_sessionsync.client_ip import ClientAddress, IPBinding, TrustedProxies
from asgi_sessionsync.cookies import CookieNames, CookiePolicy
from asgi_sessionsync.endpoints.answering import SignInAnswering
from asgi_sessionsync.endpoints.asking import SignInAsking
from asgi_sessionsync.exceptions import ConfigError, StoreError
from asgi_sessionsync.governance.admission import Admissions, check_requirements
from asgi_sessionsync.governance.idle import IdleSessions
from asgi_sessionsync.hooks import Hooks
from asgi_sessionsync.logs import package_log, site_log, use_json_logs
from asgi_sessionsync.mail import Mailer, mailer_from_settings
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.peers import Courier, PeerClient, PeerHealth
from asgi_sessionsync.sessions import SessionEnder, SessionResolver, SessionStarter
from asgi_sessionsync.sessions.signout import SignOuts
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import Stores, open_stores
from asgi_sessionsync.stores.session_store import administers
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.trust import PeerTrust
from asgi_sessionsync.usersync import UserSync
from asgi_sessionsync.verification import Marks
from asgi_sessionsync.verified_addresses import VerifiedAddresses

_logger = package_log("asgi_sessionsync")


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
        end_app_login: Callable[[str], Awaitable[None]] | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        """``is_privileged``: the identity adapter's rule for privileged accounts (for
        :class:`PeerTrust`); ``end_app_login``: an ``AppLoginAdapter``'s, ending the app's
        own login with a session that ends here (None: the app has no login of its own);
        ``hooks``: the app's hooks (:mod:`asgi_sessionsync.hooks`), told by each flow."""
        check_requirements(settings)
        self.settings = settings
        self.hooks = hooks if hooks is not None else Hooks()
        self.origin = settings.origin  # what browsers compare (Origin, Sec-Fetch-Site)
        self.site_id = settings.site_id  # what names this site to its peers, in logs and records
        if settings.log_format == "json":
            use_json_logs()
        self.prefix = settings.path_prefix
        self.peers = tuple(settings.peers())
        # What this site sends to and accepts from each peer (SESSIONSYNC_NETWORK_FILE).
        self.rules = settings.user_sync.network_rules or NetworkRules()
        # What each peer may do to an account here: the one place that decides.
        self.trust = PeerTrust(settings, self.rules, is_privileged)
        self.tokens = Tokens(settings)
        self.address = ClientAddress(
            TrustedProxies(settings.trusted_proxies),
            IPBinding(settings.ip_binding, settings.ip_prefix_v4, settings.ip_prefix_v6),
        )
        self.cookies = CookiePolicy.from_settings(settings)
        # The name of every cookie the middleware writes (``__Host-`` on https), decided once.
        self.cookie_names = CookieNames.from_settings(settings)
        self.client = PeerClient(settings.peer_timeout, transport, ca_file=settings.peer_ca_file)
        self.health = PeerHealth(
            self.tokens,
            self.prefix,
            settings.peer_timeout,
            transport=transport,
            clock_skew=settings.clock_skew,
            peers=len(self.peers),
            ca_file=settings.peer_ca_file,
            hooks=self.hooks,
        )
        # A sign-in, both sides: carrying this site's to the peers (the answering side,
        # site A) and asking a peer for one (the asking side, site B).
        self.answering = SignInAnswering(settings, self.tokens, self.health, self.peers, self.rules)
        self.asking = SignInAsking(settings, self.tokens, self.health, self.peers, self.trust)
        # Verified emails: who mails this site's codes (None: it mails none).
        self.mailer = mailer if mailer is not None else mailer_from_settings(settings)
        # Stores opened here from the settings are opened again after a close; stores
        # given by the caller cannot be, and a closed site using them refuses to start.
        self._owns_stores = stores is None
        self._end_app_login = end_app_login
        self.log = site_log(_logger.name, self.site_id)
        self._use_stores(stores if stores is not None else open_stores(settings.store))
        self.closed = False

    @classmethod
    def existing(cls, settings: Settings) -> Site:
        """The site on stores that exist already, for the command line: a store that is
        not there (a relative ``sqlite:///`` path read in another directory) is a
        :class:`StoreError` naming what was looked for, never a new empty store."""
        return cls(settings, stores=open_stores(settings.store, create=False))

    def _use_stores(self, stores: Stores) -> None:
        """The parts that hold the stores, built (again, after a reopen) over ``stores``."""
        settings = self.settings
        if settings.governance.policy is not None and not administers(stores.sessions):
            raise ConfigError(
                "SESSIONSYNC_POLICY_FILE",
                "the session policy counts and ends sessions: its session store must implement "
                "SessionAdministration (this one implements only the request path)",
            )
        self.stores = stores
        if stores.activity is not None:  # kept within SESSIONSYNC_ACTIVITY_MAX_ROWS as it is written
            stores.activity.max_entries = self.settings.activity_max_rows
        # The activity log: every cross-site message and its outcome (SESSIONSYNC_ACTIVITY_LOG).
        self.activity: ActivityRecorder = recorder(self.site_id, stores.activity, enabled=settings.activity_log)
        self.answering.left_out.activity = self.activity  # peers a chain leaves out go to the activity log
        self.courier = Courier(
            settings, stores.outbox, self.tokens, self.client, self.health, self.peers, activity=self.activity
        )
        # Governance: idle limits (compared per request by the resolver) and ending idle
        # sign-ins everywhere; the session policy's admission at every session start.
        self.idle = IdleSessions(settings, stores, self.courier, self.hooks)
        self.admissions = Admissions(settings, stores, self.address, self.idle.end_chain)
        # Sessions: which one a cookie names, a new one's row and cookie, ending them.
        self.resolver = SessionResolver(
            settings,
            stores,
            self.tokens,
            self.log,
            idle_after=self.idle.idle_after,
            idle_default=self.idle.idle_default,
            on_idle=self.idle.session_idle,
        )
        self.starter = SessionStarter(settings, stores, self.tokens, self.address, self.log)
        self.endings = SessionEnder(stores, self.log, self._end_app_login, self.hooks)
        # The store's lines name this site; when it is back, what was held is written at once.
        stores.availability.log = site_log("asgi_sessionsync.stores", self.site_id)
        stores.availability.on_back.append(self.courier.wake)
        # Signing a browser, or a user everywhere, out: here and on every peer.
        self.sign_outs = SignOuts(self.endings, self.courier, self.site_id, self.hooks)
        self.users = UserSync(settings, stores, self.endings, self.courier, self.peers, self.trust, self.sign_outs)
        self.marks = Marks(self.tokens, stores.replay)
        issuers = (self.site_id, *(peer.site_id for _, peer in self.peers))
        self.verified = VerifiedAddresses(self.tokens, stores.verified, stores.replay, self.activity, issuers)

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
        self.admissions.close()
