"""The app's failed-login signal (issue #26): what the login success rate is computed from.

The middleware sees the logins that succeed (a session starts) and the sign-ins its policy
refuses; a login form that refuses a wrong password is the app's own, so the app says so::

    from asgi_sessionsync import record_failed_login

    async def login(request):
        user = await check_password(form["email"], form["password"])
        if user is None:
            await record_failed_login(request, form["email"])
            return render_form(error="wrong email or password")

Privacy: only a count per UTC day is kept, split by whether the email names an account of
this site (``known account``) or not (``unknown account``): never the email, the address
or the password, and nothing is logged.
"""

from __future__ import annotations

from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.logs import site_log
from asgi_sessionsync.site_counts import count
from asgi_sessionsync.stores.event_counts import KNOWN, LOGIN_FAILED, UNKNOWN
from asgi_sessionsync.users import Target, site_of
from asgi_sessionsync.validation import email_or_none


async def record_failed_login(target: Target, email: str | None = None) -> None:
    """Count one failed login on this site (a wrong password, an unknown account, a
    refused second factor): ``target`` as for :func:`~asgi_sessionsync.sign_in` (a
    request, websocket or scope through the middleware, the middleware, its site).
    ``email``, when given, is only looked up to tell a known account from an unknown one.
    Never raises for the store: a count that cannot be written is a WARNING."""
    site = site_of(target)
    log = site_log(__name__, site.site_id)
    address = email_or_none(email) if email else None
    try:
        known = address is not None and await site.stores.users.get(address) is not None
    except StoreError as error:  # the login failed already: the app's page is not ours to break
        log.warning("could not count a failed login: %s", error)
        return
    await count(site.stores, log, LOGIN_FAILED, KNOWN if known else UNKNOWN)
