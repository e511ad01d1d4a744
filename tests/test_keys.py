"""Secrets and key rings."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import string
import time
from collections.abc import Callable

import pytest

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.keys import Keychain, KeyRing, generate_secret, key_id, parse_secret
from asgi_sessionsync.protocol import Purpose


def test_generated_secret_decodes_to_32_random_bytes() -> None:
    text = generate_secret()
    assert len(parse_secret(text, variable="X")) == 32
    assert generate_secret() != text


def test_short_secret_is_refused_with_how_to_make_one() -> None:
    short = base64.urlsafe_b64encode(b"0123456789abcdef").decode()
    with pytest.raises(ConfigError) as caught:
        parse_secret(short, variable="SESSIONSYNC_SECRET_KEYS")
    message = str(caught.value)
    assert "SESSIONSYNC_SECRET_KEYS" in message
    assert "python -m asgi_sessionsync keys generate" in message
    assert short not in message


def test_passphrase_is_refused() -> None:
    with pytest.raises(ConfigError):
        parse_secret("correct horse battery staple", variable="X")


def test_repeated_pattern_of_enough_bytes_is_refused() -> None:
    pattern = base64.urlsafe_b64encode(b"ab" * 32).rstrip(b"=").decode()
    with pytest.raises(ConfigError, match="pattern"):
        parse_secret(pattern, variable="X")


def test_key_ids_differ_per_secret_and_do_not_contain_it() -> None:
    one, two = generate_secret(), generate_secret()
    ring = KeyRing([parse_secret(one, variable="X"), parse_secret(two, variable="X")])
    kids = [k.kid for k in ring.keys]
    assert kids[0] != kids[1]
    assert ring.sealing_key.kid == kids[0]
    assert one not in repr(ring) and two not in repr(ring)


def test_same_secret_in_two_networks_is_refused() -> None:
    shared = parse_secret(generate_secret(), variable="X")
    with pytest.raises(ConfigError, match="share a secret"):
        Keychain([KeyRing([shared], network="x"), KeyRing([shared], network="y")])


def test_empty_ring_is_refused() -> None:
    with pytest.raises(ConfigError):
        KeyRing([], network="x")


# --- strict secrets ---------------------------------------------------------------------

HINT = "python -m asgi_sessionsync keys generate"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _random_text_with(raw: bytes, replace: dict[int, str]) -> str:
    text = list(_b64url(raw))
    for index, char in replace.items():
        text[index] = char
    return "".join(text)


def _standard_b64_with_plus_and_slash() -> str:
    while True:
        text = base64.b64encode(os.urandom(32)).decode()
        if "+" in text or "/" in text:
            return text


def _non_canonical_trailing_bits() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    text = generate_secret()  # 32 bytes: 43 characters, the last one has 2 unused bits
    last = alphabet.index(text[-1])
    return text[:-1] + alphabet[last | 1]


REFUSED: dict[str, Callable[[], str]] = {
    "passphrase with spaces": lambda: "correct horse battery staple correct horse battery staple",
    "passphrase with punctuation": lambda: "Correct-Horse_Battery-Staple, Tr0ub4dor&3 and a few more words!",
    "hex string": lambda: os.urandom(32).hex(),
    "upper-case hex string": lambda: os.urandom(32).hex().upper(),
    "lower-case only": lambda: "".join(secrets.choice(string.ascii_lowercase) for _ in range(60)),
    "upper-case only": lambda: "".join(secrets.choice(string.ascii_uppercase) for _ in range(60)),
    "digits only": lambda: "".join(secrets.choice(string.digits) for _ in range(60)),
    "standard base64 with + and /": _standard_b64_with_plus_and_slash,
    "standard padded base64": lambda: base64.b64encode(os.urandom(32)).decode(),
    "padded base64url": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
    "31 bytes": lambda: _b64url(os.urandom(31)),
    "non-canonical trailing bits": _non_canonical_trailing_bits,
    "base64url of ASCII words": lambda: _b64url(b"correct horse battery staple, correct horse battery"),
    "base64url of a repeated pattern": lambda: _b64url(bytes(range(16)) * 3),
    "base64url of few distinct bytes": lambda: _b64url(bytes(secrets.choice(b"abcdefgh\x00\xff") for _ in range(48))),
    "a long run of one class": lambda: _random_text_with(os.urandom(32), dict.fromkeys(range(5, 30), "q")),
    "a repeated stretch of text": lambda: "Xy7_Qa9-" * 6,
    "random text with a word inside": lambda: _b64url(os.urandom(12)) + "mysecretpasswordforprod" + "MTIzNGFiY2Qh",
    "inner whitespace": lambda: _random_text_with(os.urandom(32), {20: " "}),
    "a newline inside": lambda: _random_text_with(os.urandom(32), {20: "\n"}),
    "non-ASCII": lambda: _random_text_with(os.urandom(32), {20: "é"}),
    "empty": lambda: "",
    # Red-team #20: patterns an entropy count misses, and digests of common passwords.
    "bytes 0..31": lambda: _b64url(bytes(range(32))),
    "bytes 31..0": lambda: _b64url(bytes(range(31, -1, -1))),
    "bytes in steps of 7": lambda: _b64url(bytes(i * 7 % 256 for i in range(32))),
    "random bytes with a counting stretch": lambda: _b64url(os.urandom(13) + bytes(range(100, 106)) + os.urandom(13)),
    "two interleaved counters": lambda: _b64url(bytes(b for i in range(16) for b in (i, 200 - 3 * i))),
    "sha256 of password": lambda: _b64url(hashlib.sha256(b"password").digest()),
    "sha256 of password and a newline": lambda: _b64url(hashlib.sha256(b"password\n").digest()),
    "sha512 of changeme": lambda: _b64url(hashlib.sha512(b"changeme").digest()),
    "sha3-256 of secret": lambda: _b64url(hashlib.sha3_256(b"secret").digest()),
    "blake2b of Password": lambda: _b64url(hashlib.blake2b(b"Password").digest()),
    "the first 32 bytes of sha512 of qwerty": lambda: _b64url(hashlib.sha512(b"qwerty").digest()[:32]),
    "sha256 of nothing": lambda: _b64url(hashlib.sha256(b"").digest()),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_weak_or_non_canonical_secrets_are_refused_without_showing_them(name: str) -> None:
    text = REFUSED[name]()
    with pytest.raises(ConfigError) as caught:
        parse_secret(text, variable="SESSIONSYNC_SECRET_KEYS")
    error = caught.value
    message = str(error)
    assert error.variable == "SESSIONSYNC_SECRET_KEYS"
    assert HINT in message
    for shown in (message, error.problem, error.example or ""):
        if text.strip():
            assert text not in shown and text.strip() not in shown
        # Not even a telling fragment of it.
        for start in range(0, max(len(text) - 8, 0)):
            fragment = text[start : start + 8]
            if fragment.strip() == fragment and any(c.isalnum() for c in fragment) and len(set(fragment)) > 2:
                assert fragment not in shown, fragment


def test_ten_thousand_generated_secrets_all_pass() -> None:
    for _ in range(10_000):
        text = generate_secret()
        assert len(text) == 43
        assert len(parse_secret(text, variable="X")) == 32


def test_surrounding_whitespace_of_a_good_secret_is_ignored() -> None:
    text = generate_secret()
    assert parse_secret(f"  {text}\n", variable="X") == parse_secret(text, variable="X")


def test_longer_random_secrets_are_accepted() -> None:
    for size in (33, 48, 64):
        raw = base64.urlsafe_b64decode(generate_secret() + "=")[:size] + os.urandom(max(size - 32, 0))
        assert parse_secret(_b64url(raw), variable="X") == raw


# --- wire v2 derivation: a key id and keys that cost a scrypt per guess ------------------


def _scrypt_counter(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from asgi_sessionsync import keys

    calls: list[int] = []
    real = keys.Scrypt  # type: ignore[attr-defined]

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(keys, "Scrypt", counting)
    return calls


def _fresh() -> bytes:
    return parse_secret(generate_secret(), variable="X")


def test_key_id_and_keys_come_from_a_scrypt_master_not_from_the_secret() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    from asgi_sessionsync import keys

    secret = _fresh()
    # The documented derivation, computed independently: scrypt first, then HKDF.
    assert (keys.SCRYPT_N, keys.SCRYPT_R, keys.SCRYPT_P) == (2**14, 8, 1)
    master = Scrypt(salt=b"asgi-sessionsync/v2 master", length=32, n=2**14, r=8, p=1).derive(secret)
    kid = HKDF(algorithm=hashes.SHA256(), length=9, salt=b"asgi-sessionsync/v2", info=b"key-id").derive(master)
    assert KeyRing([secret]).sealing_key.kid == base64.urlsafe_b64encode(kid).decode()
    assert key_id(secret) == base64.urlsafe_b64encode(kid).decode()
    # The v1 key id (one HKDF of the secret) is something else: it cannot be used to
    # test a guess of a v2 site's secret.
    old = HKDF(algorithm=hashes.SHA256(), length=9, salt=b"asgi-sessionsync/v1", info=b"key-id").derive(secret)
    assert KeyRing([secret]).sealing_key.v1_kid == base64.urlsafe_b64encode(old).decode()
    assert KeyRing([secret]).sealing_key.kid != base64.urlsafe_b64encode(old).decode()


def test_scrypt_parameters_are_costly_but_bounded() -> None:
    from asgi_sessionsync import keys

    memory = 128 * keys.SCRYPT_N * keys.SCRYPT_R * keys.SCRYPT_P
    assert memory <= 32 * 2**20
    started = time.perf_counter()
    keys.Key(_fresh()).kid  # noqa: B018 - derives
    assert time.perf_counter() - started > 0.005  # a guess is not one cheap hash


def test_building_rings_derives_nothing_and_derivation_is_cached_per_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from asgi_sessionsync.envelope import open_envelope, seal

    calls = _scrypt_counter(monkeypatch)
    secret, other = _fresh(), _fresh()
    ring = KeyRing([secret, other], network="n")
    chain = Keychain([ring, KeyRing([_fresh()], network="m")])
    repr(ring)
    assert calls == []
    token = seal(ring, Purpose.SESSION, issuer="a", audience="a", ttl=60)
    assert len(calls) == 1  # only the sealing key
    open_envelope(chain, token, purpose=Purpose.SESSION, audience="a", ip=None)
    assert len(calls) == 3  # finding a key id derives every key of the chain, once
    for _ in range(100):  # hundreds of middlewares built on the same secret pay nothing more
        again = Keychain([KeyRing([secret, other], network="n")])
        open_envelope(
            again,
            seal(again.rings[0], Purpose.SESSION, issuer="a", audience="a", ttl=60),
            purpose=Purpose.SESSION,
            audience="a",
            ip=None,
        )
    assert len(calls) == 3


def test_a_ring_listing_a_key_twice_is_refused_without_deriving(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _scrypt_counter(monkeypatch)
    secret = _fresh()
    with pytest.raises(ConfigError, match="twice"):
        KeyRing([secret, secret], network="x")
    assert calls == []


def test_new_purposes_exist_alongside_the_old_ones() -> None:
    assert {p.name: p.value for p in Purpose} == {
        "SESSION": "session",
        "HOP": "hop",
        "FRAME": "frame",
        "BACKCHANNEL": "backchannel",
        "STATE": "state",
        "REQUEST": "request",
        "PENDING": "pending",
        "FRAMECHECK": "framecheck",
        "BOUNCE": "bounce",
        "CHAIN": "chain",
        "PING": "ping",
    }


def test_a_token_of_one_purpose_never_opens_as_another() -> None:
    from asgi_sessionsync.envelope import open_envelope, seal
    from asgi_sessionsync.exceptions import EnvelopeError, EnvelopeFailure

    ring = KeyRing([_fresh()])
    chain = Keychain([ring])
    for sealed_as in Purpose:
        token = seal(ring, sealed_as, issuer="a", audience="b", ttl=60, ip="i", extra={"s": "x"})
        assert open_envelope(chain, token, purpose=sealed_as, audience="b", ip="i").purpose is sealed_as
        for opened_as in Purpose:
            if opened_as is sealed_as:
                continue
            with pytest.raises(EnvelopeError) as caught:
                open_envelope(chain, token, purpose=opened_as, audience="b", ip="i")
            assert caught.value.reason is EnvelopeFailure.WRONG_PURPOSE, (sealed_as, opened_as)


def test_every_purpose_has_its_own_key() -> None:
    key = KeyRing([_fresh()]).sealing_key
    nonce, data = b"\x00" * 12, b"same plaintext"
    sealed = {key.cipher(p).encrypt(nonce, data, None) for p in Purpose}
    assert len(sealed) == len(Purpose)


def test_a_keychain_can_derive_ahead_of_the_first_request(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _scrypt_counter(monkeypatch)
    chain = Keychain([KeyRing([_fresh(), _fresh()], network="n")])
    assert calls == []
    chain.derive()
    assert len(calls) == 2
    kid = chain.rings[0].sealing_key.kid
    assert chain.find(kid) == (chain.rings[0], chain.rings[0].sealing_key)
    assert len(calls) == 2


def test_a_digest_of_a_common_password_is_refused_saying_what_cannot_be_checked() -> None:
    """A digest looks random to every entropy check: only a list of known words can catch
    it, and the error says that a digest of any other word would not be caught."""
    with pytest.raises(ConfigError) as caught:
        parse_secret(_b64url(hashlib.sha256(b"letmein").digest()), variable="X")
    assert "digest of a common password" in str(caught.value)
    assert "letmein" not in str(caught.value)
    assert "not random" in str(caught.value)


def test_the_wire_fixtures_secret_still_passes() -> None:
    from tests.test_wire_compat import SECRET

    assert len(parse_secret(SECRET, variable="X")) == 32
