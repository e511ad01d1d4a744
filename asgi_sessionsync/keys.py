"""Secrets, key rings and per-purpose keys.

A network's ring holds one or more secrets: the first seals, all of them open, so a
key can be rotated without signing anyone out.

Wire v2: from each secret a master key is derived with scrypt (N=2**14, r=8, p=1:
16 MiB and some 40 ms), and from the master, with HKDF-SHA256, one AEAD key per
purpose (a key that seals hops can never open a session cookie) and the short public
key id that names the secret inside every envelope. So the key id and every tag on
the wire cost a scrypt per guess of the secret, not one hash. Derivation is lazy (a
ring costs nothing to build; the first seal or open derives) and cached per process
by secret.

Wire v1 (HKDF straight from the secret) is still derived, on demand, to open the v1
envelopes of the two purposes that must survive an upgrade (see envelope.py); v1 is
never sealed.
"""

from __future__ import annotations

import base64
import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.protocol.base import Purpose as Purpose  # its home is the protocol; importable here as before
from asgi_sessionsync.secret_checks import weakness as _weakness

SECRET_MIN_BYTES = 32
_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_B64URL_INDEX = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}
# v2: scrypt(secret) -> master; HKDF(master) -> per-purpose keys and the key id.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # 128 * N * r = 16 MiB; measured 38-43 ms (see docs/design.md)
_SCRYPT_SALT = b"asgi-sessionsync/v2 master"
_V2_HKDF_SALT = b"asgi-sessionsync/v2"
# v1 (open only): HKDF straight from the secret.
_V1_HKDF_SALT = b"asgi-sessionsync/v1"
_KID_BYTES = 9
GENERATE_HINT = "make one with: python -m asgi_sessionsync keys generate"


# The v1 purposes a v2 site still opens: sessions (signed-in users stay signed in across
# the upgrade) and back-channel messages (sign-outs from peers not yet upgraded).
V1_PURPOSES = frozenset({Purpose.SESSION, Purpose.BACKCHANNEL})


def generate_secret() -> str:
    """Return a new secret: 32 random bytes, base64url without padding.

    Always passes :func:`parse_secret`: the rare random draw that its low-entropy
    checks would refuse (about one in a million) is replaced by a new one.
    """
    while True:
        text = base64.urlsafe_b64encode(os.urandom(SECRET_MIN_BYTES)).rstrip(b"=").decode("ascii")
        if _weakness(text, base64.urlsafe_b64decode(text + "=")) is None:
            return text


def parse_secret(text: str, *, variable: str) -> bytes:
    """Decode a secret given as canonical base64url text and check that it looks random.

    Accepted: the URL-safe alphabet only, no padding, no set unused bits in the last
    character, at least 32 bytes, and nothing that looks chosen by a person (a
    passphrase, hex, one character class, repeats, text that decodes to ASCII, bytes
    counting in equal steps, a digest of a common password: :mod:`.secret_checks`).
    Surrounding whitespace (a newline from a file) is ignored. Never puts the secret,
    or any part of it, into an error message.
    """
    cleaned = text.strip()

    def refuse(problem: str) -> ConfigError:
        return ConfigError(
            variable,
            f"{problem}; {GENERATE_HINT}",
            f"{variable}=<output of 'python -m asgi_sessionsync keys generate'>",
        )

    if not cleaned:
        raise refuse("the secret key is empty")
    if not _B64URL.issuperset(cleaned):
        raise refuse(_alphabet_problem(cleaned))
    if len(cleaned) % 4 == 1:
        raise refuse("a secret key must be base64url text; this one has an impossible length")
    unused = (0, 0, 0x0F, 0x03)[len(cleaned) % 4]
    if _B64URL_INDEX[cleaned[-1]] & unused:
        raise refuse("a secret key must be canonical base64url: the unused low bits of its last character are set")
    raw = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    if len(raw) < SECRET_MIN_BYTES:
        raise refuse(
            f"a secret key must be base64url text of at least {SECRET_MIN_BYTES} random bytes (got {len(raw)} bytes)"
        )
    weakness = _weakness(cleaned, raw)
    if weakness is not None:
        raise refuse(f"a secret key looks like a pattern or chosen text, not random bytes ({weakness})")
    return raw


def _alphabet_problem(text: str) -> str:
    if "=" in text:
        return "a secret key must be base64url without padding ('=')"
    if "+" in text or "/" in text:
        return "a secret key must use the base64url alphabet ('-' and '_'), not standard base64 ('+' and '/')"
    if any(c.isspace() for c in text):
        return "a secret key must be base64url text; this one has spaces in it, like a passphrase"
    return "a secret key must be base64url text (A-Z, a-z, 0-9, '-', '_'); this one has other characters"


def _hkdf(material: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(material)


def _kid_text(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode("ascii")


# Keys for HMACs (not envelopes), one per label, derived like the purpose keys: ``verify``
# hashes the codes this site mails and names its verification records.
MAC_LABELS = ("verify", "console-csrf", "sign-in-notice")


class _Derived(NamedTuple):
    kid: str
    ciphers: Mapping[Purpose, AESGCM]
    macs: Mapping[str, bytes] = MappingProxyType({})


@functools.lru_cache(maxsize=1024)
def _derive_v2(secret: bytes) -> _Derived:
    """The v2 key id and per-purpose ciphers of a secret: one scrypt, then HKDF."""
    master = Scrypt(salt=_SCRYPT_SALT, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(secret)
    ciphers = {p: AESGCM(_hkdf(master, _V2_HKDF_SALT, b"purpose:" + p.value.encode())) for p in Purpose}
    macs = {label: _hkdf(master, _V2_HKDF_SALT, b"mac:" + label.encode()) for label in MAC_LABELS}
    return _Derived(
        _kid_text(_hkdf(master, _V2_HKDF_SALT, b"key-id", _KID_BYTES)),
        MappingProxyType(ciphers),
        MappingProxyType(macs),
    )


@functools.lru_cache(maxsize=1024)
def _derive_v1(secret: bytes) -> _Derived:
    """The v1 key id and ciphers (HKDF of the secret), for the purposes v1 still opens."""
    ciphers = {p: AESGCM(_hkdf(secret, _V1_HKDF_SALT, b"purpose:" + p.value.encode())) for p in V1_PURPOSES}
    return _Derived(_kid_text(_hkdf(secret, _V1_HKDF_SALT, b"key-id", _KID_BYTES)), MappingProxyType(ciphers))


def key_id(secret: bytes) -> str:
    """The public name of a secret on the wire (v2): reveals nothing about it, differs
    between secrets, and costs a scrypt to compute (cached per process)."""
    return _derive_v2(secret).kid


class Key:
    """One secret; its key id and per-purpose AEAD ciphers are derived on first use."""

    __slots__ = ("_secret", "_v1", "_v2")

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._v2: _Derived | None = None
        self._v1: _Derived | None = None

    @classmethod
    def from_secret(cls, secret: bytes) -> Key:
        return cls(secret)

    def v2(self) -> _Derived:
        """The v2 key id and ciphers (derived on the first call)."""
        derived = self._v2
        if derived is None:
            derived = self._v2 = _derive_v2(self._secret)
        return derived

    @property
    def kid(self) -> str:
        return self.v2().kid

    def cipher(self, purpose: Purpose) -> AESGCM:
        return self.v2().ciphers[purpose]

    def mac_key(self, label: str) -> bytes:
        """The HMAC key of ``label`` (one of :data:`MAC_LABELS`), derived from the master key."""
        return self.v2().macs[label]

    @property
    def v1_kid(self) -> str:
        """The key id this secret had on the v1 wire (only to find v1 envelopes)."""
        return self.v1().kid

    def v1_cipher(self, purpose: Purpose) -> AESGCM | None:
        """The v1 cipher of ``purpose``, or None for a purpose v1 envelopes no longer open as."""
        return self.v1().ciphers.get(purpose)

    def v1(self) -> _Derived:
        """The v1 key id and the ciphers of the purposes v1 still opens (on demand)."""
        derived = self._v1
        if derived is None:
            derived = self._v1 = _derive_v1(self._secret)
        return derived

    def __repr__(self) -> str:
        return f"Key(kid={self._v2.kid if self._v2 else '<not derived>'})"


class KeyRing:
    """The keys of one network: ``keys[0]`` seals, every key opens."""

    __slots__ = ("keys", "network")

    def __init__(self, secrets: Sequence[bytes], *, network: str = "default") -> None:
        if not secrets:
            raise ConfigError("SESSIONSYNC_SECRET_KEYS", f"network {network!r} has no secret key; {GENERATE_HINT}")
        self.network = network
        self.keys: tuple[Key, ...] = tuple(Key(s) for s in secrets)
        if len(set(secrets)) != len(self.keys):
            raise ConfigError("SESSIONSYNC_SECRET_KEYS", f"network {network!r} lists a key twice")

    @property
    def sealing_key(self) -> Key:
        return self.keys[0]

    def get(self, kid: str) -> Key | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None

    def __repr__(self) -> str:
        kids = ", ".join(repr(k) for k in self.keys)
        return f"KeyRing(network={self.network!r}, keys=[{kids}])"


class Keychain:
    """Every ring this site holds, searchable by key id across networks.

    Building one derives nothing; the first :meth:`find` derives every key (one
    scrypt per secret, cached per process), :meth:`find_v1` only the cheap v1 ids.
    """

    __slots__ = ("_by_id", "_by_v1_id", "rings")

    def __init__(self, rings: Iterable[KeyRing]) -> None:
        self.rings = tuple(rings)
        self._by_id: dict[str, tuple[KeyRing, Key]] | None = None
        self._by_v1_id: dict[str, tuple[KeyRing, Key]] | None = None
        owner: dict[bytes, KeyRing] = {}
        for ring in self.rings:
            for key in ring.keys:
                other = owner.setdefault(key._secret, ring)
                if other is not ring:
                    raise ConfigError(
                        "SESSIONSYNC_SECRET_KEYS",
                        f"networks {other.network!r} and {ring.network!r} share a secret key; "
                        "give every network its own",
                    )

    def derive(self) -> None:
        """Derive every key now (e.g. at start-up, off the request path)."""
        self.find("")

    def find(self, kid: str) -> tuple[KeyRing, Key] | None:
        by_id = self._by_id
        if by_id is None:
            by_id = self._by_id = {key.kid: (ring, key) for ring in self.rings for key in ring.keys}
        return by_id.get(kid)

    def find_v1(self, kid: str) -> tuple[KeyRing, Key] | None:
        """The key a v1 envelope names by its v1 key id."""
        by_id = self._by_v1_id
        if by_id is None:
            by_id = self._by_v1_id = {key.v1_kid: (ring, key) for ring in self.rings for key in ring.keys}
        return by_id.get(kid)
