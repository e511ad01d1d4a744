"""Sealed envelopes: the one format for everything that crosses a trust boundary.

Text form: ``v2.<key id>.<base64url(nonce || ciphertext+tag)>``, safe in a URL, a
cookie and a form field. AES-256-GCM with a per-purpose key; the version, key id,
purpose and audience are the associated data, so an envelope sealed for one purpose
or one site opens nowhere else. The payload is a msgpack array of claims.

v1 envelopes (the same layout, with keys and key id derived straight from the secret
by HKDF) are still opened, but only as ``session`` (users signed in before an upgrade
stay signed in) and ``backchannel`` (sign-outs from peers not yet upgraded); a v1
envelope of any other purpose is ``malformed``. v1 is never sealed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import time
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

import msgpack
from cryptography.exceptions import InvalidTag

from asgi_sessionsync.claims import Claims as Claims  # its home is claims.py; importable here as before
from asgi_sessionsync.exceptions import EnvelopeError, EnvelopeFailure
from asgi_sessionsync.keys import V1_PURPOSES, Key, Keychain, KeyRing
from asgi_sessionsync.protocol import Purpose

VERSION = "v2"
V1 = "v1"  # opened for V1_PURPOSES only, never sealed
NONCE_BYTES = 12
JTI_BYTES = 16
_TAG_BYTES = 16
# Larger than any envelope we make (a 5-peer hop chain is ~2 KB); refuses junk early.
MAX_ENVELOPE_CHARS = 16384
_PURPOSES = tuple(Purpose)
_V1_PURPOSES = tuple(p for p in Purpose if p in V1_PURPOSES)
_b64encode = base64.urlsafe_b64encode
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_PADDING = (b"", b"===", b"==", b"=")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64_VALUE = bytes(_ALPHABET.find(bytes([c])) & 0x3F for c in range(256))
# Low bits of the last character that carry no data, by length modulo 4.
_UNUSED_BITS = (0, 0, 0x0F, 0x03)


@lru_cache(maxsize=4096)
def _aad_v2(kid: str, purpose: str, audience: str) -> bytes:
    return b"v2.%s.%s\x00%s" % (kid.encode(), purpose.encode(), audience.encode())


def _aad(version: str, kid: str, purpose: str, audience: str) -> bytes:
    if version == VERSION:
        return _aad_v2(kid, purpose, audience)
    return b"%s.%s.%s\x00%s" % (version.encode(), kid.encode(), purpose.encode(), audience.encode())


def seal(
    ring: KeyRing,
    purpose: Purpose,
    *,
    issuer: str,
    audience: str,
    ttl: float,
    subject: str = "",
    ip: str = "",
    extra: Mapping[str, Any] | None = None,
    jti: bytes | None = None,
    now: float | None = None,
) -> str:
    """Seal claims for ``audience`` with the ring's sealing key; return the text form.

    ``ip`` is the client-IP binding value (see :mod:`asgi_sessionsync.client_ip`), or
    ``""`` for an envelope that is not bound to a client (server-to-server messages).
    """
    key = ring.sealing_key
    issued_at = int(time.time() if now is None else now)
    randomness = os.urandom(NONCE_BYTES + (0 if jti is not None else JTI_BYTES))
    nonce = randomness[:NONCE_BYTES]
    payload = msgpack.packb(
        [
            issuer,
            subject,
            issued_at,
            issued_at + int(ttl),
            jti if jti is not None else randomness[NONCE_BYTES:],
            ip,
            dict(extra) if extra else {},
        ]
    )
    kid, ciphers = key.v2()[:2]
    sealed = ciphers[purpose].encrypt(nonce, payload, _aad_v2(kid, purpose, audience))
    body = _b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
    return f"{VERSION}.{kid}.{body}"


def open_envelope(
    keychain: Keychain,
    token: str,
    *,
    purpose: Purpose,
    audience: str,
    ip: str | None,
    clock_skew: float = 0.0,
    now: float | None = None,
    audiences_of: Callable[[str], Iterable[str]] | None = None,
) -> Claims:
    """Open and check an envelope; raise :class:`EnvelopeError` with a precise reason.

    ``ip`` is the binding value of the current client, or ``None`` to skip the IP
    check (server-to-server). ``audiences_of(network)`` lists a network's other
    audiences; it is only used after a failed tag, to tell "wrong audience" apart
    from "bad tag". Either way the envelope is refused.
    """
    if not isinstance(token, str) or len(token) > MAX_ENVELOPE_CHARS:
        raise EnvelopeError(EnvelopeFailure.MALFORMED)
    parts = token.split(".")
    if len(parts) != 3:
        raise EnvelopeError(EnvelopeFailure.MALFORMED)
    version, kid, body = parts
    if not kid or not body:
        raise EnvelopeError(EnvelopeFailure.MALFORMED)
    if version == VERSION:
        found = keychain.find(kid)
    elif version == V1 and purpose in V1_PURPOSES:
        found = keychain.find_v1(kid)
    else:
        raise EnvelopeError(EnvelopeFailure.MALFORMED)
    if found is None:
        raise EnvelopeError(EnvelopeFailure.UNKNOWN_KEY)
    ring, key = found
    raw = _decode_body(body)

    nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
    # (A v1 envelope got here only for a purpose that v1 still has a key for.)
    if version == VERSION:
        cipher, aad = key.v2().ciphers[purpose], _aad_v2(kid, purpose, audience)
    else:
        cipher, aad = key.v1().ciphers[purpose], _aad(version, kid, purpose, audience)
    try:
        payload = cipher.decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise EnvelopeError(_diagnose(key, ring, version, nonce, sealed, purpose, audience, audiences_of)) from None

    claims = _unpack(payload, purpose, ring.network, audience)
    moment = time.time() if now is None else now
    if moment > claims.expires_at + clock_skew:
        raise EnvelopeError(EnvelopeFailure.EXPIRED, claims)
    if moment < claims.issued_at - clock_skew:
        raise EnvelopeError(EnvelopeFailure.NOT_YET_VALID, claims)
    if ip is not None and not hmac.compare_digest(claims.ip.encode(), ip.encode()):
        raise EnvelopeError(EnvelopeFailure.IP_MISMATCH, claims)
    return claims


def _decode_body(body: str) -> bytes:
    try:
        encoded = body.encode("ascii")
        # Only the URL-safe alphabet, and no unused low bits set in the last character:
        # the one canonical spelling, so that no two texts open to the same envelope.
        if encoded.translate(None, _ALPHABET) or _UNUSED_BITS[len(encoded) % 4] & _B64_VALUE[encoded[-1]]:
            raise EnvelopeError(EnvelopeFailure.MALFORMED)
        raw = binascii.a2b_base64(encoded.translate(_TO_STANDARD) + _PADDING[len(encoded) % 4], strict_mode=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise EnvelopeError(EnvelopeFailure.MALFORMED) from None
    if len(raw) < NONCE_BYTES + _TAG_BYTES:
        raise EnvelopeError(EnvelopeFailure.MALFORMED)
    return raw


def _decrypt(key: Key, version: str, purpose: Purpose, nonce: bytes, sealed: bytes, audience: str) -> bytes | None:
    """The payload, or None when the tag fails (or v1 has no key for ``purpose``)."""
    if version == VERSION:
        kid, ciphers = key.v2()[:2]
    else:
        kid, ciphers = key.v1()[:2]
    cipher = ciphers.get(purpose)
    if cipher is None:
        return None
    try:
        payload: bytes = cipher.decrypt(nonce, sealed, _aad(version, kid, purpose, audience))
    except InvalidTag:
        return None
    return payload


def _diagnose(
    key: Key,
    ring: KeyRing,
    version: str,
    nonce: bytes,
    sealed: bytes,
    purpose: Purpose,
    audience: str,
    audiences_of: Callable[[str], Iterable[str]] | None,
) -> EnvelopeFailure:
    """Name why a tag failed; bounded work (purposes + audiences), failure path only."""
    for other in _PURPOSES if version == VERSION else _V1_PURPOSES:
        if other is not purpose and _decrypt(key, version, other, nonce, sealed, audience) is not None:
            return EnvelopeFailure.WRONG_PURPOSE
    if audiences_of is not None:
        for other_audience in audiences_of(ring.network):
            if other_audience == audience:
                continue
            if _decrypt(key, version, purpose, nonce, sealed, other_audience) is not None:
                return EnvelopeFailure.WRONG_AUDIENCE
    return EnvelopeFailure.BAD_TAG


def _unpack(payload: bytes, purpose: Purpose, network: str, audience: str) -> Claims:
    # Only our own key can have produced an authentic payload, so a bad shape here
    # means a bug or a leaked key; refuse it all the same.
    try:
        issuer, subject, issued_at, expires_at, jti, ip, extra = msgpack.unpackb(payload)
    except (ValueError, TypeError, msgpack.UnpackException):
        raise EnvelopeError(EnvelopeFailure.MALFORMED) from None
    if not (
        isinstance(issuer, str)
        and isinstance(subject, str)
        and type(issued_at) is int
        and type(expires_at) is int
        and isinstance(jti, bytes)
        and isinstance(ip, str)
        and isinstance(extra, dict)
    ):
        raise EnvelopeError(EnvelopeFailure.MALFORMED)
    return Claims(purpose, network, issuer, audience, subject, issued_at, expires_at, jti, ip, extra)
