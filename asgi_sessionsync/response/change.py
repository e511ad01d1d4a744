"""One response whose identity changed, or that has pending work: the sign-out of the user
before, the sign-in of the user after (:mod:`.login`), and what goes out."""

from __future__ import annotations

from starlette.types import Message, Scope, Send

from asgi_sessionsync.identity.session import sign_out_everywhere_asked
from asgi_sessionsync.injection import HTMLInjector, is_injectable
from asgi_sessionsync.request_context import RequestContext
from asgi_sessionsync.response.login import LoginHere, SignedIn
from asgi_sessionsync.response.state import Headers, RequestState, no_store
from asgi_sessionsync.response.sync import SyncStart


class IdentityChange:
    """Handles one response whose identity changed, or that has pending work."""

    __slots__ = ("context", "raw_send", "scope", "state")

    def __init__(self, context: RequestContext, scope: Scope, send: Send, state: RequestState) -> None:
        self.context = context
        self.scope = scope
        self.raw_send = send
        self.state = state

    async def changed(
        self, message: Message, before: str | None, after: str | None, name: str, *, renewed: bool = False
    ) -> Send:
        """Handle a sign-in or sign-out seen at the response start; send the start
        (or hand it to an injector) and return the ``send`` for the rest of the body."""
        context, site, scope, state = self.context, self.context.site, self.scope, self.state
        headers: Headers = list(message.get("headers", ()))
        cookies = [(b"set-cookie", c) for c in state.forgotten]
        snippet: bytes | None = None
        fallback: Headers = []
        clear_pending = state.pending is not None

        await self._sign_out(cookies, before, after, renewed)
        if after is not None and (after != before or renewed):
            login = LoginHere(context, scope, self.raw_send, state)
            signed_in = await login.sign_in(message, headers, cookies, after, name)
            if not isinstance(signed_in, SignedIn):
                return signed_in  # refused by the session policy: the refusal is sent
            headers, snippet, pending = signed_in
            if pending is not None:
                # With a snippet, the pending cookie is plan B: dropped when the
                # snippet is in the body (an HTML fragment may have no </body>).
                (fallback if snippet is not None else cookies).append((b"set-cookie", pending))
                clear_pending = False
        elif state.pending is not None and state.session is not None and after == before:
            # A sign-in earlier could not start frames; this HTML page can.
            if is_injectable(headers) and scope["method"] != "HEAD":
                snippet = await SyncStart(context, scope).frames(state.session, headers)
            else:
                clear_pending = False

        if after is None and state.session is not None and before is not None:
            # Signed out here: the WordPress sites that take logouts from this one (wprus/outgoing.py).
            status, user = int(message["status"]), state.session.user
            headers, snippet = await context.wordpress.after(scope, status, headers, snippet, "logout", user)
        if clear_pending:
            cookies.append((b"set-cookie", site.cookies.delete(context.names.pending)))
        if snippet is None:
            await self.raw_send({**message, "headers": headers + cookies})
            return self.raw_send
        # Frame or bounce URLs go into this page: never cached.
        return HTMLInjector(self.raw_send, {**message, "headers": no_store(headers) + cookies}, snippet, fallback)

    async def _sign_out(self, cookies: Headers, before: str | None, after: str | None, renewed: bool) -> None:
        """The user the request came in as is gone (signed out, or another user signed in):
        end this browser's sessions here and on the peers (every session, with "sign out
        everywhere"); the session cookie is cleared (also for a stale one)."""
        names, site, state = self.context.names, self.context.site, self.state
        if state.session is not None and renewed:
            # The same user signed in again: a new session id (and chain), never the old one.
            await site.endings.end(state.session.sid, "signed in again")
        elif state.session is not None and after != before:
            if site.settings.sign_out_everywhere or sign_out_everywhere_asked(self.scope):
                # Every session of the user, every browser, here and on every peer (the
                # app logins that went with them here too).
                await site.sign_outs.everywhere(state.session.user, reason="signed out everywhere")
            else:
                await site.sign_outs.this_browser(state.session.user, state.session.chain)
            cookies.append((b"set-cookie", site.cookies.delete(names.session)))
        elif state.stale and after is None:
            cookies.append((b"set-cookie", site.cookies.delete(names.session)))
