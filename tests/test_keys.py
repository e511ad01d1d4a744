"""Secrets and key rings."""

from __future__ import annotations

import base64

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
    pattern = base64.urlsafe_b64encode(b"ab" * 32).decode()
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
