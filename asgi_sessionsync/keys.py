"""Secrets, key rings and per-purpose keys.

A network's ring holds one or more secrets: the first seals, all of them open, so a
key can be rotated without signing anyone out. From each secret one AEAD key per
purpose is derived with HKDF-SHA256, so a key that seals hops can never open a
session cookie, and a short public key id names the secret inside every envelope.
"""

from __future__ import annotations

import base64
import binascii
import enum
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from asgi_sessionsync.exceptions import ConfigError

SECRET_MIN_BYTES = 32
# A generated secret of 32 random bytes has ~30 distinct byte values; a pasted
# passphrase or a repeated pattern has far fewer.
_MIN_DISTINCT_BYTES = 16
_HKDF_SALT = b"asgi-sessionsync/v1"
GENERATE_HINT = "make one with: python -m asgi_sessionsync keys generate"


class Purpose(enum.StrEnum):
    """What an envelope is for; each purpose has its own derived key."""

    SESSION = "session"  # this site's own session cookie
    HOP = "hop"  # one step of a top-level sign-in redirect chain
    FRAME = "frame"  # a hidden iframe sign-in
    BACKCHANNEL = "backchannel"  # a server-to-server message
    STATE = "state"  # short-lived state a site keeps for itself (pending sync, frame checks)


def generate_secret() -> str:
    """Return a new secret: 32 random bytes, base64url without padding."""
    return base64.urlsafe_b64encode(os.urandom(SECRET_MIN_BYTES)).rstrip(b"=").decode("ascii")


def parse_secret(text: str, *, variable: str) -> bytes:
    """Decode a secret given as base64url (or base64) text and check its strength.

    Never puts the secret itself into an error message.
    """
    cleaned = text.strip()
    try:
        raw = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if not raw:
        try:
            raw = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
    if len(raw) < SECRET_MIN_BYTES:
        raise ConfigError(
            variable,
            f"a secret key must be base64url text of at least {SECRET_MIN_BYTES} random bytes "
            f"(got {len(raw)} bytes); {GENERATE_HINT}",
            f"{variable}=<output of 'python -m asgi_sessionsync keys generate'>",
        )
    if len(set(raw)) < _MIN_DISTINCT_BYTES:
        raise ConfigError(
            variable,
            f"a secret key looks like a pattern, not random bytes; {GENERATE_HINT}",
        )
    return raw


def _derive(secret: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=_HKDF_SALT, info=info).derive(secret)


def key_id(secret: bytes) -> str:
    """A short public name of a secret: reveals nothing about it, differs between secrets."""
    digest = _derive(secret, b"key-id", 9)
    return base64.urlsafe_b64encode(digest).decode("ascii")


@dataclass(frozen=True, slots=True)
class Key:
    """One secret with its id and its per-purpose AEAD ciphers."""

    kid: str
    ciphers: dict[Purpose, AESGCM] = field(repr=False)

    @classmethod
    def from_secret(cls, secret: bytes) -> Key:
        ciphers = {p: AESGCM(_derive(secret, b"purpose:" + p.value.encode())) for p in Purpose}
        return cls(kid=key_id(secret), ciphers=ciphers)


class KeyRing:
    """The keys of one network: ``keys[0]`` seals, every key opens."""

    __slots__ = ("_by_id", "keys", "network")

    def __init__(self, secrets: Sequence[bytes], *, network: str = "default") -> None:
        if not secrets:
            raise ConfigError("SESSIONSYNC_SECRET_KEYS", f"network {network!r} has no secret key; {GENERATE_HINT}")
        self.network = network
        self.keys: tuple[Key, ...] = tuple(Key.from_secret(s) for s in secrets)
        self._by_id = {k.kid: k for k in self.keys}
        if len(self._by_id) != len(self.keys):
            raise ConfigError("SESSIONSYNC_SECRET_KEYS", f"network {network!r} lists a key twice")

    @property
    def sealing_key(self) -> Key:
        return self.keys[0]

    def get(self, kid: str) -> Key | None:
        return self._by_id.get(kid)

    def __repr__(self) -> str:
        kids = ", ".join(k.kid for k in self.keys)
        return f"KeyRing(network={self.network!r}, keys=[{kids}])"


class Keychain:
    """Every ring this site holds, searchable by key id across networks."""

    __slots__ = ("_by_id", "rings")

    def __init__(self, rings: Iterable[KeyRing]) -> None:
        self.rings = tuple(rings)
        self._by_id: dict[str, tuple[KeyRing, Key]] = {}
        for ring in self.rings:
            for key in ring.keys:
                if key.kid in self._by_id:
                    other = self._by_id[key.kid][0].network
                    raise ConfigError(
                        "SESSIONSYNC_SECRET_KEYS",
                        f"networks {other!r} and {ring.network!r} share a secret key; give every network its own",
                    )
                self._by_id[key.kid] = (ring, key)

    def find(self, kid: str) -> tuple[KeyRing, Key] | None:
        return self._by_id.get(kid)
