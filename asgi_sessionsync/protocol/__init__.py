"""The protocol's vocabulary: every message's payload, typed, in one place.

An envelope (see :mod:`asgi_sessionsync.envelope`) carries a fixed claims header and one
``extra`` mapping whose keys are single letters on the wire, to keep URLs and cookies
short. This package is the only place those letters are spelled: each message kind has
one payload class with its purpose (hence its key: ``purpose()``), ``to_wire()`` and
``from_wire()``, sealed and opened by ``Tokens.seal_message`` / ``open_message``;
``from_wire`` never raises on a well-formed envelope of an older or newer peer, it returns
``None`` for a payload that lacks what the message needs. The outbox's stored form of a
back-channel message is spelled here too.

- ``base.py``: purposes, endpoints, modes, :class:`Payload` (what every kind offers);
- ``signin.py``: a site's notes to itself and the steps of a sign-in (session, chain,
  request, hop, pending, bounce, held, declined);
- ``backchannel.py``: server to server (sign-outs, user changes, the app's own messages,
  the ping's answer, the outbox form).

It imports nothing from the rest of the package, so every other module can depend on it.
"""

from asgi_sessionsync.protocol.backchannel import (
    ANSWERS,
    APP_PREFIX,
    LOGOUT,
    OUTCOME_HEADER,
    USER,
    AppMessagePayload,
    LogoutPayload,
    PingAnswer,
    UserAction,
    UserActionPayload,
    from_outbox_form,
    message_kind,
    outbox_form,
    user_action_of,
)
from asgi_sessionsync.protocol.base import Endpoint, Mode, Payload, Purpose, Wire
from asgi_sessionsync.protocol.signin import (
    BouncePayload,
    ChainPayload,
    DeclinedPayload,
    HeldPayload,
    HopPayload,
    Onward,
    PendingPayload,
    RequestPayload,
    SessionPayload,
)

__all__ = [
    "ANSWERS",
    "APP_PREFIX",
    "LOGOUT",
    "OUTCOME_HEADER",
    "USER",
    "AppMessagePayload",
    "BouncePayload",
    "ChainPayload",
    "DeclinedPayload",
    "Endpoint",
    "HeldPayload",
    "HopPayload",
    "LogoutPayload",
    "Mode",
    "Onward",
    "Payload",
    "PendingPayload",
    "PingAnswer",
    "Purpose",
    "RequestPayload",
    "SessionPayload",
    "UserAction",
    "UserActionPayload",
    "Wire",
    "from_outbox_form",
    "message_kind",
    "outbox_form",
    "user_action_of",
]
