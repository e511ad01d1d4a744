"""Secrets and key rings."""

from __future__ import annotations

import base64
import os
import secrets
import string

import pytest

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.keys import Keychain, KeyRing, generate_secret, parse_secret


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


REFUSED = {
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
