"""The middleware's own endpoints, under the path prefix (default ``/_sessionsync/``).

- ``routes.py``: :class:`~.routes.Endpoints`, the route table (each endpoint, the methods it
  answers, its handler) and the one place an endpoint's failure becomes a page;
- the asking side of a sign-in (site B, which needs a login): ``asking.py`` (the bind
  cookie, the requests sealed for a peer, catch-up), ``pull.py`` and ``hop.py`` (the
  steps), ``arrival.py`` (the rules an arriving sign-in passes), ``verify.py`` with
  ``held.py``, ``code_send.py`` and ``code_view.py`` (a sign-in held for a mailed code);
- the answering side (site A, which has the session): ``answering.py`` (the chain note, the
  next peer, the hop sealed for the asker) and ``authorize.py`` (the step), ``bounce.py``
  (auto mode's chain through the peers whose frames failed), ``frames.py`` (a sign-in
  frame's storage check);
- what the steps share: ``step_kit.py``; the back-channel: ``receiver.py``; replies:
  ``reply.py``.

Nothing is imported here, so that ``site.py`` can build the two sides without importing
the route table.
"""
