"""The bundle format of WP Remote Users Sync (docs/design.md, "WP Remote Users Sync").

A bundle is ``base64(iv || mac || ciphertext)`` with ``/`` written as ``_`` (``+`` and
the ``=`` padding stay as they are): the ciphertext is AES-256-CBC with PKCS#7 padding
under the SHA-256 digest of the encryption secret (the secret's text as is), ``iv`` is
16 random bytes, and ``mac`` is HMAC-SHA256 over ``iv || ciphertext`` keyed with the
signature secret's text as is. The plaintext is JSON. The MAC is checked (in constant
time) before anything is decrypted; nothing here reads a bundle whose MAC is wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from asgi_sessionsync.exceptions import WprusRefused

IV_BYTES = 16
MAC_BYTES = 32
MAX_BUNDLE_CHARS = 64 * 1024  # a user's profile with its metadata is far below this


def _key(encryption_secret: str) -> bytes:
    return hashlib.sha256(encryption_secret.encode("utf-8")).digest()


def _mac(signature_secret: str, data: bytes) -> bytes:
    return hmac.new(signature_secret.encode("utf-8"), data, hashlib.sha256).digest()


def seal(data: Any, encryption_secret: str, signature_secret: str, *, iv: bytes | None = None) -> str:
    """``data`` as JSON in a bundle the plugin opens (``iv``: tests only)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    iv = os.urandom(IV_BYTES) if iv is None else iv
    padder = padding.PKCS7(128).padder()
    padded = padder.update(text) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_key(encryption_secret)), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    raw = iv + _mac(signature_secret, iv + ciphertext) + ciphertext
    return base64.b64encode(raw).decode("ascii").replace("/", "_")


def open_bundle(bundle: str, encryption_secret: str, signature_secret: str) -> Any:
    """The JSON value in ``bundle``; :class:`WprusRefused` when it does not open (bad
    encoding, a MAC that is not the signature secret's, bad padding, not JSON)."""
    if not bundle or len(bundle) > MAX_BUNDLE_CHARS:
        raise WprusRefused("bundle missing or too large")
    try:
        raw = base64.b64decode(bundle.replace("_", "/").replace(" ", "+"), validate=True)
    except (binascii.Error, ValueError):
        raise WprusRefused("bundle is not base64") from None
    if len(raw) < IV_BYTES + MAC_BYTES + 16 or (len(raw) - IV_BYTES - MAC_BYTES) % 16:
        raise WprusRefused("bundle too short")
    iv, mac, ciphertext = raw[:IV_BYTES], raw[IV_BYTES : IV_BYTES + MAC_BYTES], raw[IV_BYTES + MAC_BYTES :]
    if not hmac.compare_digest(mac, _mac(signature_secret, iv + ciphertext)):
        raise WprusRefused("bundle signature does not match")
    decryptor = Cipher(algorithms.AES(_key(encryption_secret)), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        text = unpadder.update(padded) + unpadder.finalize()
        return json.loads(text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise WprusRefused("bundle does not decrypt to JSON") from None
