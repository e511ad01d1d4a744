"""Store protocols and the records they keep.

Four stores, each a :class:`typing.Protocol`: users, the session registry, the
replay cache of used envelope ids, and the outbox of back-channel messages. Every
implementation (memory, SQLite, Redis) keeps the same contracts, so callers never
change with the backend.
"""

from __future__ import annotations

import base64
import enum
import os
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


def new_id() -> str:
    """A random 144-bit id, URL-safe: sessions, chains, messages."""
    return base64.urlsafe_b64encode(os.urandom(18)).decode("ascii")


def normalize_email(email: str) -> str:
    """The one spelling of an email used as a key everywhere."""
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class User:
    email: str
    role: str
    name: str = ""
    password_hash: str | None = field(default=None, repr=False)
    created_at: float = 0.0
    provisioned_by: str | None = None  # origin of the peer that vouched, for auto-provisioned users


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One session on this site. ``chain`` groups the sessions one browser sign-in made
    across sites, so signing out of one ends exactly those everywhere."""

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

    @property
    def active(self) -> bool:
        return self.ended_at is None


class MessageStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A back-channel message waiting for (or done with) delivery to one peer."""

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


@runtime_checkable
class UserStore(Protocol):
    async def get(self, email: str) -> User | None: ...

    async def create(self, user: User) -> User:
        """Insert ``user``; if the email exists already, return the stored user unchanged."""
        ...

    async def list(self, limit: int = 1000) -> list[User]: ...


@runtime_checkable
class SessionRegistry(Protocol):
    async def create(self, record: SessionRecord) -> None: ...

    async def get(self, sid: str) -> SessionRecord | None: ...

    async def touch(self, sid: str, when: float) -> None: ...

    async def end(self, sid: str, *, reason: str, when: float) -> bool:
        """End one active session; False when it was not active."""
        ...

    async def end_user(
        self, user: str, *, reason: str, when: float, chain: str | None = None, created_before: float | None = None
    ) -> int:
        """End the user's active sessions (only ``chain``'s, only those created before
        ``created_before``, when given); return how many ended."""
        ...

    async def list(
        self, *, user: str | None = None, include_ended: bool = False, limit: int = 1000
    ) -> list[SessionRecord]: ...


@runtime_checkable
class ReplayCache(Protocol):
    async def use(self, jti: bytes, expires_at: float) -> bool:
        """Record ``jti`` as used until ``expires_at``; True only the first time."""
        ...

    async def seen(self, jti: bytes) -> bool: ...


@runtime_checkable
class Outbox(Protocol):
    async def add(self, messages: list[OutboxMessage]) -> None: ...

    async def claim_due(self, now: float, lease: float, limit: int = 100) -> list[OutboxMessage]:
        """Pending messages due by ``now``; each is leased (hidden from other claimers)
        for ``lease`` seconds so that several workers do not send it at once."""
        ...

    async def claim(self, ids: list[str], now: float, lease: float) -> list[OutboxMessage]:
        """Lease these pending messages (a subset when others hold them)."""
        ...

    async def delivered(self, message_id: str, when: float) -> None: ...

    async def failed(self, message_id: str, *, error: str, next_attempt_at: float, abandon: bool = False) -> None: ...

    async def pending(self) -> list[OutboxMessage]: ...


@dataclass
class Stores:
    """The four stores of one site, closed together."""

    users: UserStore
    sessions: SessionRegistry
    replay: ReplayCache
    outbox: Outbox
    closer: Any = None

    async def close(self) -> None:
        closer = getattr(self.closer, "close", None)
        if closer is not None:
            await closer()
