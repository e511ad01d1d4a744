"""The register of verified addresses (issue #26): which address is verified, or marked
not verified, for sign-ins carried by which issuer, by whom and until when.

A mark names an address *and* an issuer (the origin whose sign-ins it covers: a peer, or
this site for its own logins), never the address alone (issue #20: a code Carol typed
for a sign-in from A says nothing of whoever signs up as Carol on C). It is kept in the
clear, unlike the code limits (HMAC marks in the replay cache), because an operator
lists and revokes marks: the register holds what the user store holds already, an
address. One contract for every backend (``tests/stores/test_contract_verified.py``).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, replace
from typing import Protocol

from asgi_sessionsync.stores.records import normalize_email


class VerifiedBy(enum.StrEnum):
    """Who made a mark."""

    CODE = "code"  # the user typed the code this site mailed
    APP = "app"  # this site's app said so at a login here (``email_verified``)
    REGISTRATION = "registration"  # the app verified the address at registration (``mark_verified``)
    OPERATOR = "operator"  # by hand (``python -m asgi_sessionsync verified mark``)


@dataclass(frozen=True, slots=True)
class VerifiedMark:
    """``email`` is verified (``verified``), or marked *not* verified (``verified`` false:
    the issuer's own word is then not taken), for sign-ins ``issuer`` carries, from ``at``
    until ``until`` (epoch seconds)."""

    email: str
    issuer: str
    verified: bool
    by: VerifiedBy
    at: float
    until: float


class VerifiedStore(Protocol):
    """The marks, one per (address, issuer): a new one replaces the old. A mark past its
    ``until`` is as if never made (never returned, deleted by :meth:`purge` or by the
    backend itself). Emails are normalized like every store's."""

    async def put(self, mark: VerifiedMark) -> None:
        """Keep ``mark``, replacing the one of its (address, issuer)."""
        ...

    async def get(self, email: str, issuer: str) -> VerifiedMark | None:
        """The mark of (``email``, ``issuer``) in force now (reads the clock), or None."""
        ...

    async def list(self, email: str | None = None, *, limit: int = 1000) -> list[VerifiedMark]:
        """Marks in force now (reads the clock), of ``email`` only when given, ordered by
        address then issuer; at most ``limit``."""
        ...

    async def delete(self, email: str, issuer: str | None = None) -> int:
        """Delete the mark of (``email``, ``issuer``), or every mark of ``email`` when
        ``issuer`` is None; how many in force were deleted. Idempotent."""
        ...

    async def purge(self, now: float) -> int:
        """Delete marks past their ``until`` before ``now``; how many this call deleted
        (``0`` where the backend deletes them by itself)."""
        ...


def normalized(mark: VerifiedMark) -> VerifiedMark:
    return replace(mark, email=normalize_email(mark.email))


class MemoryVerifiedStore:
    """The register in this process's memory (lost at restart: tests, one-process demos)."""

    def __init__(self) -> None:
        self._marks: dict[tuple[str, str], VerifiedMark] = {}

    async def put(self, mark: VerifiedMark) -> None:
        mark = normalized(mark)
        self._marks[(mark.email, mark.issuer)] = mark

    async def get(self, email: str, issuer: str) -> VerifiedMark | None:
        mark = self._marks.get((normalize_email(email), issuer))
        return mark if mark is not None and mark.until >= time.time() else None

    async def list(self, email: str | None = None, *, limit: int = 1000) -> list[VerifiedMark]:
        now = time.time()
        wanted = None if email is None else normalize_email(email)
        marks = [m for k, m in sorted(self._marks.items()) if m.until >= now and wanted in (None, m.email)]
        return marks[:limit]

    async def delete(self, email: str, issuer: str | None = None) -> int:
        address, now = normalize_email(email), time.time()
        keys = [k for k in self._marks if k[0] == address and issuer in (None, k[1])]
        return sum(1 for k in keys if self._marks.pop(k).until >= now)

    async def purge(self, now: float) -> int:
        old = [k for k, m in self._marks.items() if m.until < now]
        for k in old:
            del self._marks[k]
        return len(old)
