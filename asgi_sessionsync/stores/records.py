"""The records the stores keep: users, sessions, outbox messages, activity entries; and the ids and email
spelling every store uses. See :mod:`asgi_sessionsync.stores.base` for the conventions."""

from __future__ import annotations

import base64
import enum
import os
from dataclasses import dataclass, field
from typing import Any


def new_id() -> str:
    """A random 144-bit id, URL-safe: sessions, chains, messages. Never starting with
    ``-``, so that a command line takes it (or its beginning) as an argument, not an option."""
    while True:
        made = base64.urlsafe_b64encode(os.urandom(18)).decode("ascii")
        if made[0] != "-":
            return made


def normalize_email(email: str) -> str:
    """The one spelling of an email used as a key everywhere."""
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class User:
    """A user of this site.

    ``created_at`` of ``0.0`` means "not stamped yet": :meth:`UserStore.create` stamps
    the time of creation; any other value is stored exactly as given.
    """

    email: str
    role: str
    name: str = ""
    password_hash: str | None = field(default=None, repr=False)
    created_at: float = 0.0
    provisioned_by: str | None = None  # origin of the peer that vouched, for auto-provisioned users
    # User sync (see stores/versions.py): allow-listed metadata, and one version per field
    # group (``profile``, ``password``, ``role``, ``meta:<key>``): (clock in ms, origin of
    # the site that made the change). Empty for a user never changed through user sync.
    # (Compared, but not hashed: a user stays hashable.)
    meta: dict[str, str] = field(default_factory=dict, hash=False)
    versions: dict[str, tuple[int, str]] = field(default_factory=dict, repr=False, hash=False)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One session on this site. ``chain`` groups the sessions one browser sign-in made
    across sites, so signing out of one ends exactly those everywhere.

    ``expires_at`` is the absolute end of the session's life (``None``: no end of its
    own); ``ended_at``/``end_reason`` are set once, when it ends, and never change after.

    ``app_ref`` names the app's own login that goes with the session, for apps that have
    one (see docs/identity.md): an opaque string the identity adapter chose, such as a
    Django session key, so that ending the session can end that login too and a login
    whose session ended is never adopted again. ``None``: no app login of its own. It is
    as sensitive as the app's own session table: never logged.
    """

    sid: str
    user: str
    chain: str
    site: str
    ip: str
    user_agent: str
    created_at: float
    last_seen_at: float
    via: str = "login"  # "login", or "hop from ORIGIN", "frame from ORIGIN"
    ended_at: float | None = None
    end_reason: str | None = None
    expires_at: float | None = None
    app_ref: str | None = field(default=None, repr=False)
    # Governance: the country (ISO code) and device ("class/browser/os") the session
    # started from, "" when unknown; recorded at the start, never changed.
    country: str = ""
    device: str = ""

    @property
    def active(self) -> bool:
        """Not ended. (A session past ``expires_at`` stays active until
        :meth:`SessionRegistry.expire` ends it; see :meth:`live`.)"""
        return self.ended_at is None

    def live(self, now: float) -> bool:
        """Active and not past its lifetime at ``now``."""
        return self.ended_at is None and (self.expires_at is None or now <= self.expires_at)


class MessageStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A back-channel message waiting for (or done with) delivery to one peer.

    ``finished_at`` is when it was delivered or abandoned (``None`` while pending);
    :meth:`Outbox.purge` deletes by it.
    """

    id: str
    network: str
    peer: str  # the peer's origin: the audience of the envelope
    url: str  # the peer's back-channel base URL
    kind: str
    payload: dict[str, Any]
    created_at: float
    next_attempt_at: float
    attempts: int = 0
    status: MessageStatus = MessageStatus.PENDING
    last_error: str | None = None
    delivered_at: float | None = None
    finished_at: float | None = None


def finish_time(message: OutboxMessage) -> float:
    """When a finished message finished, for messages stored before ``finished_at``
    existed too: ``finished_at``, else ``delivered_at``, else ``created_at``."""
    if message.finished_at is not None:
        return message.finished_at
    return message.delivered_at if message.delivered_at is not None else message.created_at


DROPPED_BY_OPERATOR = "dropped by operator"
EXPIRED = "expired"


class Direction(enum.StrEnum):
    SENT = "sent"
    RECEIVED = "received"
    HERE = "here"  # no message: a change made on this site (an operator's or the app's verified mark)


class Outcome(enum.StrEnum):
    """What became of one cross-site message, as the activity log says it."""

    SENT = "sent"  # handed over with no answer to wait for (a sign-in hop, through the browser)
    DELIVERED = "delivered"  # the peer confirmed a back-channel message
    FAILED = "failed"  # one attempt failed; the courier tries again
    ABANDONED = "abandoned"  # given up: too old, peer removed, dropped by an operator
    APPLIED = "applied"  # received and applied here
    ALREADY_APPLIED = "already applied"  # received again (a retry): nothing more done
    STALE = "stale"  # received, but older than what this site holds: nothing changed
    HELD = "held"  # a sign-in received, held until this site has verified the address by code
    REFUSED = "refused"  # received and refused (the reason says why)
    # A sign-in its chain did not carry to a peer (the reason says why: down, too late);
    # the peer's first-visit catch-up signs the browser in there at its next page view.
    LEFT_OUT = "left out"


@dataclass(frozen=True, slots=True)
class ActivityEntry:
    """One cross-site message, sent or received, and what became of it.

    ``site`` is this site's origin (a log read from a shared store names its site),
    ``peer`` the other site's origin ("" when a refused message named none that could be
    trusted), ``kind`` what the message was (``login``, ``logout``, ``user.create``, …),
    ``user`` the normalized email it was about ("" when none), ``reason`` a short
    explanation ("HTTP 503", "bad tag", "2 session(s) ended"), ``message_id`` the outbox
    id of a back-channel message (the same on both sites; "" for sign-in hops).

    Never a token, a cookie, a password hash or a secret: callers put none in, and the
    stores keep exactly what they are given.
    """

    id: str
    at: float
    site: str
    direction: Direction
    peer: str
    kind: str
    user: str
    outcome: Outcome
    reason: str = ""
    message_id: str = ""

    @property
    def said(self) -> str:
        """The outcome with its reason: ``refused: bad tag``."""
        return f"{self.outcome}: {self.reason}" if self.reason else str(self.outcome)


@dataclass(frozen=True, slots=True)
class ActivityFilter:
    """Which entries :meth:`ActivityLog.list` returns; every field given must match.

    ``since <= at < until``; ``peer``, ``direction``, ``outcome`` exactly; ``user``
    normalized, exactly; ``kind`` exactly or as the part before a dot (``user``
    matches ``user.create`` and ``user.delete``)."""

    since: float | None = None
    until: float | None = None
    peer: str | None = None
    user: str | None = None
    kind: str | None = None
    direction: Direction | None = None
    outcome: Outcome | None = None

    def matches(self, entry: ActivityEntry) -> bool:
        """The one definition of the filter, for backends that filter in Python."""
        return (
            (self.since is None or entry.at >= self.since)
            and (self.until is None or entry.at < self.until)
            and (self.peer is None or entry.peer == self.peer)
            and (self.user is None or entry.user == normalize_email(self.user))
            and (self.kind is None or entry.kind == self.kind or entry.kind.startswith(self.kind + "."))
            and (self.direction is None or entry.direction == self.direction)
            and (self.outcome is None or entry.outcome == self.outcome)
        )


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """What :meth:`UserStore.import_users` did: users created, overwritten, left alone."""

    created: int = 0
    updated: int = 0
    skipped: int = 0

    def __add__(self, other: ImportCounts) -> ImportCounts:
        return ImportCounts(self.created + other.created, self.updated + other.updated, self.skipped + other.skipped)
