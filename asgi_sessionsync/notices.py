"""New-sign-in notices (``SESSIONSYNC_NEW_SIGN_IN_NOTICE``): the user is mailed when a
sign-in made here comes from a kind of device (desktop, mobile, tablet, …) or a country
not seen for them before.

- Only a sign-in made on this site (its app's login, or its own login adopted) counts: a
  peer's sign-in arriving here (a hop, a catch-up, a code) was made on the peer, whose own
  notice is the one to send; so one sign-in carried to every site is one message.
- The first sign-in ever seen here for a user sends nothing (it is what the later ones
  are compared with); neither does one whose device and country are both unknown (no
  ua-parser, no GeoIP database or country header).
- What was seen is kept as single-use marks (HMACs of the address and the value: the
  store learns neither) for :data:`REMEMBERED` seconds; a kind of device or country not
  seen in that time counts as new again.
- Mailed in the background (the call is a ``signed_in`` hook, run by
  :class:`~asgi_sessionsync.hooks.Hooks` off the request), bounded by the SMTP timeout; a
  failure is logged (never the message), nothing is retried. The message is the
  ``new_sign_in.txt`` template (replaceable, ``SESSIONSYNC_TEMPLATE_DIR``): no link, no
  token, no address of the client.
"""

from __future__ import annotations

import time
from email.message import EmailMessage
from pathlib import Path

import anyio

from asgi_sessionsync.governance.devices import available as devices_available
from asgi_sessionsync.hooks import SignedIn
from asgi_sessionsync.i18n import gettext as _
from asgi_sessionsync.i18n import template_dir, use
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores.records import device_parts
from asgi_sessionsync.templates import render_text
from asgi_sessionsync.urls import origin_of

logger = package_log("asgi_sessionsync.notices")

REMEMBERED = 365 * 86400.0
_LABEL = "sign-in-notice"
_MADE_HERE = frozenset({"login", "adopted"})


class SignInNotices:
    """The ``signed_in`` hook that mails one site's new-sign-in notices."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.log = site_log(logger.name, site.site_id)
        self.site_name = origin_of(site.settings.site_url).partition("://")[2]
        self.template_dir = Path(site.settings.template_dir) if site.settings.template_dir else None
        governance = site.settings.governance
        if not devices_available() and not governance.geoip_database and not governance.country_header:
            self.log.warning(
                "SESSIONSYNC_NEW_SIGN_IN_NOTICE is on, but this site can tell neither the kind of device (ua-parser "
                "is not installed: pip install 'asgi-sessionsync[governance]') nor the country "
                "(SESSIONSYNC_GEOIP_DATABASE, SESSIONSYNC_COUNTRY_HEADER): no notice will ever be sent"
            )
        self.sender = site.settings.mail.mail_from or f"no-reply@{self.site_name.partition(':')[0]}"

    async def __call__(self, event: SignedIn) -> None:
        if event.site != self.site.site_id or event.how not in _MADE_HERE:
            return
        device_class = device_parts(event.device)[0]
        new = await self.new_to(event.email, device_class, event.country)
        if not new:
            return
        words = new[0] if len(new) == 1 else _("{first} and {second}").format(first=new[0], second=new[1])
        await self._mail(event, device_class, words)

    async def new_to(self, email: str, device_class: str, country: str) -> list[str]:
        """What of this sign-in was not seen for ``email`` before (remembered now), in
        words; empty for the user's first sign-in seen here."""
        until = time.time() + REMEMBERED
        first = await self._first_time(b"user", email, "", until)
        new = []
        if device_class and await self._first_time(b"device", email, device_class, until):
            new.append(_("a new kind of device ({device})").format(device=device_class))
        if country and await self._first_time(b"country", email, country, until):
            new.append(_("a new country ({country})").format(country=country))
        return [] if first else new

    async def _first_time(self, kind: bytes, email: str, value: str, until: float) -> bool:
        """Whether ``value`` of ``kind`` is seen for ``email`` for the first time (it is
        remembered now); a mark under a retired secret still counts as seen."""
        replay = self.site.stores.replay
        data = b"\x00".join((kind, email.encode("utf-8"), value.encode("utf-8")))
        marks = [mac[:16] for mac in self.site.tokens.macs(_LABEL, data)]
        first = await replay.use(marks[0], until)
        for older in marks[1:]:
            if first and await replay.seen(older):
                first = False
        return first

    async def _mail(self, event: SignedIn, device_class: str, new: str) -> None:
        site = self.site
        mailer = site.mailer
        if mailer is None:
            self.log.error("new-sign-in notice for %s not sent: no mailer is configured", event.email)
            return
        if template_dir() is None and self.template_dir is not None:
            use(None, self.template_dir)  # called where the request's context did not follow
        parts = event.device.split("/")
        unknown = _("unknown")
        subject, body = render_text(
            "new_sign_in.txt",
            {
                "subject": _("New sign-in to {site}").format(site=self.site_name),
                "intro": _("Someone (we hope you) signed in to {site} with this address, from {new}.").format(
                    site=self.site_name, new=new
                ),
                "when_label": _("When:"),
                "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "device_label": _("Kind of device:"),
                "device": device_class or unknown,
                "client_label": _("Browser and system:"),
                "client": _("{browser} on {system}").format(browser=parts[1], system=parts[2])
                if len(parts) >= 3
                else unknown,
                "country_label": _("Country:"),
                "country": event.country or unknown,
                "advice": _(
                    "If this was you, there is nothing to do. If it was not, change your password on {site} and "
                    "sign out everywhere (your account page lists your sessions)."
                ).format(site=self.site_name),
                "about": _(
                    "This message is sent once for each kind of device and each country a sign-in comes from for "
                    "the first time. It holds no link and asks for nothing: never type a password or a code in "
                    "answer to a message like it."
                ),
            },
        )
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = event.email
        message["Subject"] = subject
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body)
        try:
            with anyio.fail_after(site.settings.mail.smtp_timeout + 1.0):
                await mailer.send(message)
        except Exception as error:  # any failure of the mailer: said, never raised
            self.log.error(
                "new-sign-in notice for %s not sent: %s: %s", event.email, type(error).__name__, str(error)[:300]
            )
            return
        self.log.info("new-sign-in notice sent to %s (%s)", event.email, new)
