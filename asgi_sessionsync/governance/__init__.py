"""Governance: the session policy applied when a session starts, and idle sessions ended.

``Site`` builds :class:`~.admission.Admissions` (the policy at a session's start) and
:class:`~.idle.IdleSessions` (idle limits, ending sign-ins everywhere, the worker's pass).
Admission is asked in one place, :class:`~asgi_sessionsync.sessions.opening.SessionOpening`,
which both ways a session starts on a site go through:

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

Nothing here runs on the per-request path: ``SessionResolver.resolve`` compares one time
(``last_seen_at`` against the role's idle limit, precomputed).
"""
