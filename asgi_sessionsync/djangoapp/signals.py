"""Django signals for the middleware's hooks (:mod:`asgi_sessionsync.hooks`), where
Django is the identity (``DjangoIdentity``)::

    from django.dispatch import receiver
    from asgi_sessionsync.djangoapp.signals import signed_in

    @receiver(signed_in)
    def welcome(sender, event, **kwargs):  # event: asgi_sessionsync.hooks.SignedIn
        ...

One signal per event, each sent with ``sender`` the event's class and ``event`` the
event, after the fact, in a worker thread (receivers may use the ORM); an exception in
a receiver is logged once, and the request goes on.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from asgi_sessionsync.hooks import EVENTS, Hooks

signed_in = Signal()
signed_out = Signal()
user_change = Signal()
sign_in_blocked = Signal()
peer_unreachable = Signal()
app_message = Signal()

SIGNALS: dict[str, Signal] = {
    "signed_in": signed_in,
    "signed_out": signed_out,
    "user_change": user_change,
    "sign_in_blocked": sign_in_blocked,
    "peer_unreachable": peer_unreachable,
    "app_message": app_message,
}
assert set(SIGNALS) == set(EVENTS)


def connect(hooks: Hooks) -> None:
    """Send each signal from its event's hook (a plain callable: a worker thread)."""
    for name, signal in SIGNALS.items():

        def send(event: Any, signal: Signal = signal) -> None:
            signal.send(sender=type(event), event=event)

        send.__qualname__ = f"django signal {name}"
        hooks.on(name, send)


__all__ = [
    "SIGNALS",
    "app_message",
    "connect",
    "peer_unreachable",
    "sign_in_blocked",
    "signed_in",
    "signed_out",
    "user_change",
]
