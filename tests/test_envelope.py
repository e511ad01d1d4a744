"""Sealed envelopes: round trips, every failure reason, rotation, networks."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_sessionsync.envelope import open_envelope, seal
from asgi_sessionsync.exceptions import EnvelopeError, EnvelopeFailure
from asgi_sessionsync.keys import Keychain, KeyRing, generate_secret, parse_secret
from asgi_sessionsync.protocol import Purpose

A, B, C = "https://a.example", "https://b.example", "https://c.example"


def secret() -> bytes:
    return parse_secret(generate_secret(), variable="TEST")


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing([secret()], network="main")


@pytest.fixture
def chain(ring: KeyRing) -> Keychain:
    return Keychain([ring])


def refusal(chain: Keychain, token: str, **kwargs: object) -> EnvelopeFailure:
    options: dict[str, object] = {"purpose": Purpose.HOP, "audience": B, "ip": "203.0.113.0/24"}
    options.update(kwargs)
    with pytest.raises(EnvelopeError) as caught:
        open_envelope(chain, token, **options)  # type: ignore[arg-type]
    return caught.value.reason


@pytest.mark.parametrize("purpose", list(Purpose))
def test_every_purpose_round_trips_all_claims(ring: KeyRing, chain: Keychain, purpose: Purpose) -> None:
    token = seal(
        ring,
        purpose,
        issuer=A,
        audience=B,
        subject="alice@example.com",
        ttl=30,
        ip="203.0.113.0/24",
        extra={"ret": "https://a.example/x", "n": [1, 2]},
    )
    claims = open_envelope(chain, token, purpose=purpose, audience=B, ip="203.0.113.0/24")
    assert claims.purpose is purpose
    assert claims.network == "main"
    assert (claims.issuer, claims.audience, claims.subject) == (A, B, "alice@example.com")
    assert claims.expires_at - claims.issued_at == 30
    assert abs(claims.issued_at - time.time()) < 2
    assert len(claims.jti) == 16
    assert claims.ip == "203.0.113.0/24"
    assert claims.extra == {"ret": "https://a.example/x", "n": [1, 2]}


def test_text_form_is_version_key_id_and_urlsafe_body(ring: KeyRing) -> None:
    token = seal(ring, Purpose.HOP, issuer=A, audience=B, ttl=30)
    version, kid, body = token.split(".")
    assert version == "v2"
    assert kid == ring.sealing_key.kid
    assert set(body) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_two_seals_of_the_same_claims_differ_and_have_unique_ids(ring: KeyRing, chain: Keychain) -> None:
    one = seal(ring, Purpose.HOP, issuer=A, audience=B, ttl=30, ip="x")
    two = seal(ring, Purpose.HOP, issuer=A, audience=B, ttl=30, ip="x")
    assert one != two
    jti1 = open_envelope(chain, one, purpose=Purpose.HOP, audience=B, ip="x").jti
    jti2 = open_envelope(chain, two, purpose=Purpose.HOP, audience=B, ip="x").jti
    assert jti1 != jti2


def test_every_single_byte_flip_is_rejected(ring: KeyRing, chain: Keychain) -> None:
    token = seal(ring, Purpose.HOP, issuer=A, audience=B, subject="alice@example.com", ttl=30, ip="203.0.113.0/24")
    reasons = set()
    for index in range(len(token)):
        for flip in (1, 2, 4, 32):
            mutated = token[:index] + chr(ord(token[index]) ^ flip) + token[index + 1 :]
            if mutated == token:
                continue
            reasons.add(refusal(chain, mutated))
    # Flips in the version or separators are malformed, in the key id unknown, in the
    # body a failed tag (or malformed base64): never accepted.
    assert reasons <= {EnvelopeFailure.MALFORMED, EnvelopeFailure.UNKNOWN_KEY, EnvelopeFailure.BAD_TAG}
    assert EnvelopeFailure.BAD_TAG in reasons


def test_non_canonical_base64_spelling_is_malformed(ring: KeyRing, chain: Keychain) -> None:
    # Find a token whose last character carries unused bits, then set them.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for _ in range(50):
        token = seal(ring, Purpose.HOP, issuer=A, audience=B, ttl=30, ip="x")
        body = token.rsplit(".", 1)[1]
        if len(body) % 4 in (2, 3):
            last = alphabet.index(body[-1])
            sibling = alphabet[last ^ 1]
            assert refusal(chain, token[:-1] + sibling, ip="x") is EnvelopeFailure.MALFORMED
            return
    pytest.fail("no token with unused trailing bits was produced")


def test_truncated_and_junk_texts_are_malformed(ring: KeyRing, chain: Keychain) -> None:
    token = seal(ring, Purpose.HOP, issuer=A, audience=B, ttl=30, ip="x")
    kid = ring.sealing_key.kid
    junk_texts = ["", "v2", "v2..", "v3." + token[3:], "V2." + token[3:], token + ".x", f"v2.{kid}.", f"v2.{kid}.AAAA"]
    # A v1 hop (or any v1 envelope but a session or a back-channel message) is refused.
    junk_texts += ["v1." + token[3:], "x" * 20000]
    for junk in junk_texts:
        assert refusal(chain, junk, ip="x") is EnvelopeFailure.MALFORMED, junk[:20]


def test_unknown_key_id_is_reported(ring: KeyRing) -> None:
    token = seal(ring, Purpose.HOP, issuer=A, audience=B, ttl=30, ip="x")
    other = Keychain([KeyRing([secret()], network="main")])
    assert refusal(other, token, ip="x") is EnvelopeFailure.UNKNOWN_KEY


def test_wrong_purpose_is_reported(ring: KeyRing, chain: Keychain) -> None:
    token = seal(ring, Purpose.SESSION, issuer=A, audience=B, ttl=30, ip="x")
    assert refusal(chain, token, purpose=Purpose.HOP, ip="x") is EnvelopeFailure.WRONG_PURPOSE


def test_wrong_audience_is_reported_when_the_network_is_known(ring: KeyRing, chain: Keychain) -> None:
    token = seal(ring, Purpose.HOP, issuer=A, audience=C, ttl=30, ip="x")
    audiences = {"main": [A, B, C]}
    assert refusal(chain, token, ip="x", audiences_of=audiences.__getitem__) is EnvelopeFailure.WRONG_AUDIENCE
    # Without knowing the network's audiences it is still refused, as a bad tag.
    assert refusal(chain, token, ip="x") is EnvelopeFailure.BAD_TAG


def test_expired_envelope_is_refused_but_its_authentic_claims_are_kept(ring: KeyRing, chain: Keychain) -> None:
    token = seal(ring, Purpose.HOP, issuer=A, audience=B, ttl=10, ip="x", now=time.time() - 100)
    with pytest.raises(EnvelopeError) as caught:
        open_envelope(chain, token, purpose=Purpose.HOP, audience=B, ip="x")
    assert caught.value.reason is EnvelopeFailure.EXPIRED
    assert caught.value.claims is not None and caught.value.claims.issuer == A


def test_clock_skew_allowance_applies_to_expiry_and_issue_time(ring: KeyRing, chain: Keychain) -> None:
    now = time.time()
    token = seal(ring, Purpose.HOP, issuer=A, audience=B, ttl=10, ip="x", now=now)
    late = now + 13
    assert refusal(chain, token, ip="x", now=late) is EnvelopeFailure.EXPIRED
    assert open_envelope(chain, token, purpose=Purpose.HOP, audience=B, ip="x", now=late, clock_skew=5)
    early = now - 3
    assert refusal(chain, token, ip="x", now=early) is EnvelopeFailure.NOT_YET_VALID
    assert open_envelope(chain, token, purpose=Purpose.HOP, audience=B, ip="x", now=early, clock_skew=5)


def test_ip_mismatch_is_reported(ring: KeyRing, chain: Keychain) -> None:
    token = seal(ring, Purpose.HOP, issuer=A, audience=B, ttl=30, ip="203.0.113.0/24")
    assert refusal(chain, token, ip="198.51.100.0/24") is EnvelopeFailure.IP_MISMATCH


def test_unbound_envelope_does_not_open_where_a_binding_is_expected(ring: KeyRing, chain: Keychain) -> None:
    token = seal(ring, Purpose.HOP, issuer=A, audience=B, ttl=30, ip="")
    assert refusal(chain, token, ip="203.0.113.0/24") is EnvelopeFailure.IP_MISMATCH
    assert open_envelope(chain, token, purpose=Purpose.HOP, audience=B, ip=None).issuer == A


def test_rotation_old_key_opens_after_new_key_is_put_first_and_fails_once_removed() -> None:
    old, new = secret(), secret()
    token = seal(KeyRing([old]), Purpose.SESSION, issuer=A, audience=A, ttl=60, ip="x")
    rotated = Keychain([KeyRing([new, old])])
    assert open_envelope(rotated, token, purpose=Purpose.SESSION, audience=A, ip="x").issuer == A
    fresh = seal(rotated.rings[0], Purpose.SESSION, issuer=A, audience=A, ttl=60, ip="x")
    assert fresh.split(".")[1] == KeyRing([new]).sealing_key.kid
    removed = Keychain([KeyRing([new])])
    assert refusal(removed, token, purpose=Purpose.SESSION, audience=A, ip="x") is EnvelopeFailure.UNKNOWN_KEY


def test_envelope_of_one_network_does_not_open_in_another() -> None:
    x, y = KeyRing([secret()], network="x"), KeyRing([secret()], network="y")
    token = seal(x, Purpose.HOP, issuer=A, audience=B, ttl=30, ip="i")
    assert refusal(Keychain([y]), token, ip="i") is EnvelopeFailure.UNKNOWN_KEY
    both = Keychain([x, y])
    assert open_envelope(both, token, purpose=Purpose.HOP, audience=B, ip="i").network == "x"


def test_error_message_names_the_reason_and_holds_no_envelope(ring: KeyRing, chain: Keychain) -> None:
    token = seal(ring, Purpose.HOP, issuer=A, audience=B, ttl=30, ip="203.0.113.0/24")
    with pytest.raises(EnvelopeError) as caught:
        open_envelope(chain, token, purpose=Purpose.HOP, audience=B, ip="198.51.100.0/24")
    assert str(caught.value) == "envelope refused: ip mismatch"


_RING = KeyRing([parse_secret(generate_secret(), variable="T")], network="p")
_CHAIN = Keychain([_RING])
_GOOD = seal(_RING, Purpose.HOP, issuer=A, audience=B, ttl=30, ip="x", subject="s")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_random_text_only_ever_raises_the_typed_error(text: str) -> None:
    with pytest.raises(EnvelopeError):
        open_envelope(_CHAIN, text, purpose=Purpose.HOP, audience=B, ip="x")


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutated_envelopes_only_ever_raise_the_typed_error(data: st.DataObject) -> None:
    chars = list(_GOOD)
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(chars) - 1), st.characters()), min_size=1, max_size=5))
    for index, char in edits:
        chars[index] = char
    cut = data.draw(st.integers(0, len(chars)))
    mutated = "".join(chars)[: cut if data.draw(st.booleans()) else None]
    if mutated == _GOOD:
        return
    with pytest.raises(EnvelopeError):
        open_envelope(_CHAIN, mutated, purpose=Purpose.HOP, audience=B, ip="x")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bodies_under_a_real_key_id_only_ever_raise_the_typed_error(body: bytes) -> None:
    import base64

    text = f"v2.{_RING.sealing_key.kid}." + base64.urlsafe_b64encode(body).rstrip(b"=").decode()
    with pytest.raises(EnvelopeError) as caught:
        open_envelope(_CHAIN, text, purpose=Purpose.HOP, audience=B, ip="x")
    assert caught.value.reason in {EnvelopeFailure.MALFORMED, EnvelopeFailure.BAD_TAG}


# --- wire v2 and the v1 transition -------------------------------------------------------


def _seal_v1(secret: bytes, purpose: Purpose, *, audience: str, ip: str = "x", ttl: int = 60) -> str:
    """A v1 envelope exactly as v1 sites sealed them (written out here, independently)."""
    import base64
    import os

    import msgpack
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    def hkdf(info: bytes, length: int = 32) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=b"asgi-sessionsync/v1", info=info).derive(secret)

    kid = base64.urlsafe_b64encode(hkdf(b"key-id", 9)).decode()
    now = int(time.time())
    payload = msgpack.packb([A, "alice@example.com", now, now + ttl, os.urandom(16), ip, {"s": "sid"}])
    nonce = os.urandom(12)
    aad = f"v1.{kid}.{purpose.value}\x00{audience}".encode()
    sealed = AESGCM(hkdf(b"purpose:" + purpose.value.encode())).encrypt(nonce, payload, aad)
    return f"v1.{kid}." + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()


def test_every_purpose_seals_v2_only(ring: KeyRing) -> None:
    for purpose in Purpose:
        assert seal(ring, purpose, issuer=A, audience=B, ttl=30).startswith(f"v2.{ring.sealing_key.kid}.")


def test_v1_sessions_and_backchannel_messages_still_open_with_the_old_or_a_rotated_key() -> None:
    old, new = secret(), secret()
    rotated = Keychain([KeyRing([new, old], network="main")])
    for purpose, audience in ((Purpose.SESSION, A), (Purpose.BACKCHANNEL, B)):
        for key in (old, new):
            token = _seal_v1(key, purpose, audience=audience)
            claims = open_envelope(rotated, token, purpose=purpose, audience=audience, ip="x")
            assert (claims.purpose, claims.network, claims.subject, claims.extra) == (
                purpose,
                "main",
                "alice@example.com",
                {"s": "sid"},
            )


@pytest.mark.parametrize("purpose", [p for p in Purpose if p not in (Purpose.SESSION, Purpose.BACKCHANNEL)])
def test_authentic_v1_envelopes_of_other_purposes_are_refused(ring: KeyRing, chain: Keychain, purpose: Purpose) -> None:
    token = _seal_v1(ring.sealing_key._secret, purpose, audience=B)
    assert refusal(chain, token, purpose=purpose, ip="x") is EnvelopeFailure.MALFORMED


def test_v1_checks_still_apply(ring: KeyRing, chain: Keychain) -> None:
    key = ring.sealing_key._secret
    session = _seal_v1(key, Purpose.SESSION, audience=A)
    assert refusal(chain, session, purpose=Purpose.SESSION, audience=B, ip="x") is EnvelopeFailure.BAD_TAG
    assert refusal(chain, session, purpose=Purpose.BACKCHANNEL, audience=A, ip="x") is EnvelopeFailure.WRONG_PURPOSE
    assert refusal(chain, session, purpose=Purpose.SESSION, audience=A, ip="y") is EnvelopeFailure.IP_MISMATCH
    expired = _seal_v1(key, Purpose.SESSION, audience=A, ttl=-10)
    assert refusal(chain, expired, purpose=Purpose.SESSION, audience=A, ip="x") is EnvelopeFailure.EXPIRED
    stranger = _seal_v1(secret(), Purpose.SESSION, audience=A)
    assert refusal(chain, stranger, purpose=Purpose.SESSION, audience=A, ip="x") is EnvelopeFailure.UNKNOWN_KEY


def test_key_ids_do_not_cross_versions(ring: KeyRing, chain: Keychain) -> None:
    # A v2 envelope relabelled v1 (or a v1 one relabelled v2) names no key.
    v2 = seal(ring, Purpose.SESSION, issuer=A, audience=A, ttl=30, ip="x")
    assert refusal(chain, "v1." + v2[3:], purpose=Purpose.SESSION, audience=A, ip="x") is EnvelopeFailure.UNKNOWN_KEY
    v1 = _seal_v1(ring.sealing_key._secret, Purpose.SESSION, audience=A)
    assert refusal(chain, "v2." + v1[3:], purpose=Purpose.SESSION, audience=A, ip="x") is EnvelopeFailure.UNKNOWN_KEY
