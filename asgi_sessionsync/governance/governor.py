"""The governor: the session policy applied when a session starts, and idle sessions ended.

``Site`` builds one :class:`Governor`; it is asked in exactly two places, the two ways a
session starts on a site:

- a login here (``response.LoginHere``: the app signed someone in, or its own
  login was adopted): a refusal turns the response into the block page (or the
  redirect) and undoes the app's login; no session, no cookie;
- a sign-in arriving from a peer (``endpoints.arrival``, from a hop): a refusal signs
  nobody in here, and the chain goes on to the next site.

Counting is by **sign-in, not by row**: one sign-in synced to five sites is one chain
(five rows with one chain id, one per site), and limits count the distinct chains of
the user's active sessions in this site's registry. Every shared sign-in reaches every
live site of the network during its chain (or at the browser's first visit, catch-up),
so each site counts the sign-ins of the whole network; what it cannot see is a login
kept on one other site (adopted, or made cross-site) and a sign-in that has not reached
it yet (it was down). Each site applies its own policy with its own roles (roles never
come from a peer), so with one policy file everywhere, every site decides alike.

Nothing here runs on the per-request path: ``Sessions.resolve`` compares one time
(``last_seen_at`` against the role's idle limit, precomputed).
"""

from __future__ import annotations

from asgi_sessionsync.client_ip import ClientAddress
from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.governance.admission import COUNT_AT_MOST, MESSAGES, Admission, Admissions, Refusal
from asgi_sessionsync.governance.devices import available as devices_available
from asgi_sessionsync.governance.idle import IDLE_PASS_EVERY, PAGE, IdleSessions
from asgi_sessionsync.governance.policy import VARIABLE, Dimension, Policy
from asgi_sessionsync.peers import Courier
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import Stores

__all__ = [
    "COUNT_AT_MOST",
    "IDLE_PASS_EVERY",
    "MESSAGES",
    "PAGE",
    "Admission",
    "Admissions",
    "Governor",
    "IdleSessions",
    "Refusal",
    "check_requirements",
]


def check_requirements(settings: Settings) -> None:
    """Refuse (ConfigError) a policy whose rules this installation cannot apply."""
    policy = settings.policy
    if policy is None:
        return
    device_rules = (Dimension.DEVICE_CLASS, Dimension.CLIENT_TYPE, Dimension.BROWSER, Dimension.OS)
    if policy.uses(*device_rules) and not devices_available():
        raise ConfigError(
            VARIABLE, f"{policy.source}: device rules need ua-parser: pip install 'asgi-sessionsync[governance]'"
        )
    if policy.uses(Dimension.COUNTRY) and not (
        settings.geoip_database or (settings.country_header and settings.trusted_proxies)
    ):
        raise ConfigError(
            VARIABLE,
            f"{policy.source}: country rules need SESSIONSYNC_GEOIP_DATABASE, or SESSIONSYNC_COUNTRY_HEADER"
            " with SESSIONSYNC_TRUSTED_PROXIES",
        )


class Governor:
    """Applies the policy of one site; see the module docstring. Two collaborators, whose
    methods it offers as its own: :class:`Admissions` (a session starts) and
    :class:`IdleSessions` (sessions end: idle, or to make room)."""

    def __init__(self, settings: Settings, stores: Stores, address: ClientAddress, courier: Courier) -> None:
        self.settings = settings
        self.policy: Policy | None = settings.policy
        self.stores = stores
        self.address = address
        self.courier = courier
        self.origin = settings.origin
        self.idle = idle = IdleSessions(settings, stores, courier)
        self.admissions = admissions = Admissions(settings, stores, address, idle.end_chain)
        check_requirements(settings)
        self.devices = admissions.devices
        self.countries = admissions.countries
        self.idle_after = idle.idle_after
        self.idle_default = idle.idle_default
        # -- start-up, a session starts
        self.start = admissions.start
        self.admit = admissions.admit
        # -- a session ends
        self.idle_limit = idle.idle_limit
        self.end_chain = idle.end_chain
        self.session_idle = idle.session_idle
        self.end_idle = idle.end_idle
        self.run = idle.run

    def close(self) -> None:
        self.admissions.close()
