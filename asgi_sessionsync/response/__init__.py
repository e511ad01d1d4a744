"""What happens when a response shows a change of identity (rare): a sign-in, a sign-out.

A sign-out ends this browser's sessions here and tells the peers; a sign-in starts a
session and the sync to the peers from this very response (a redirect becomes the
first step of the chain, an HTML page gets the snippet), or, when the response cannot
carry it, from the next navigation (the pending cookie).

One part per job: ``state.py`` what the request came in as; ``change.py`` the response
that changed (the sign-out); ``login.py`` the sign-in (session policy, session, refusal);
``sync.py`` starting the sync from the response.
"""

from __future__ import annotations

from asgi_sessionsync.response.change import IdentityChange
from asgi_sessionsync.response.login import LoginHere, SignedIn
from asgi_sessionsync.response.state import PENDING_LIFETIME, Headers, RequestState, no_store
from asgi_sessionsync.response.sync import SyncStart

__all__ = [
    "PENDING_LIFETIME",
    "Headers",
    "IdentityChange",
    "LoginHere",
    "RequestState",
    "SignedIn",
    "SyncStart",
    "no_store",
]
