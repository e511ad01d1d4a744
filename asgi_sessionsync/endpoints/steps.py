"""The sign-in steps a browser takes through a site (protocol v2): pull, authorize, hop,
and auto mode's bounce. See :mod:`asgi_sessionsync.signin` and docs/design.md.

One class per step (``pull.py``, ``authorize.py``, ``hop.py``, ``bounce.py``), an
arriving sign-in's rules in ``arrival.py`` (from a hop, or after a code), what they share
in ``step_kit.py``; :class:`SignInSteps` offers them as one.
"""

from __future__ import annotations

from asgi_sessionsync.endpoints.arrival import Arrivals
from asgi_sessionsync.endpoints.authorize import Authorize
from asgi_sessionsync.endpoints.bounce import Bounce
from asgi_sessionsync.endpoints.hop import Hop
from asgi_sessionsync.endpoints.pull import Pull
from asgi_sessionsync.endpoints.step_kit import MISMATCH, NOT_SET_UP, NOT_VALID, SKIPPABLE, StepKit, refused
from asgi_sessionsync.identity.base import IdentityAdapter
from asgi_sessionsync.site import Site

__all__ = ["MISMATCH", "NOT_SET_UP", "NOT_VALID", "SKIPPABLE", "SignInSteps", "StepKit", "refused"]


class SignInSteps:
    """Every sign-in step of one site, and what the code page (``verify.py``) uses of them."""

    def __init__(self, site: Site, identity: IdentityAdapter) -> None:
        self.kit = kit = StepKit(site, identity)
        self.site = site
        self.identity = identity
        self.app_login = kit.app_login
        self.log = kit.log
        self.names = kit.names
        self.members = kit.members
        self.frame_ancestors = kit.frame_ancestors
        self.holds = kit.holds
        self.home = kit.home
        self.verify_url = kit.verify_url
        arrivals = Arrivals(kit)
        hop = Hop(kit, arrivals)
        # The steps, bound once.
        self.pull = Pull(kit).pull
        self.authorize = Authorize(kit).authorize
        self.hop = hop.hop
        self.bounce = Bounce(kit).bounce
        self.arrive = arrivals.arrive
        self.onward = hop.onward
        self.current = kit.current
