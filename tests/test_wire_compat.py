"""Wire compatibility: envelopes sealed by earlier versions, recorded in tests/fixtures/."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from asgi_sessionsync.envelope import Claims, open_envelope
from asgi_sessionsync.exceptions import EnvelopeError, EnvelopeFailure
from asgi_sessionsync.keys import Keychain, KeyRing, parse_secret
from asgi_sessionsync.protocol import Purpose

# The fixed secret the fixtures were sealed with (a test constant, never a real key).
SECRET = "Lngh246h3F-CVoYCkgQKdG1X4uBniRd_lpuER2yDgb8"
NETWORK = "default"
A, B, C = "https://a.example.com", "https://b.example.com", "https://c.example.com"
IP = "203.0.113.0/24"
NOW = 1767225600  # 2026-01-01T00:00:00Z: when the fixtures say they were sealed

FIXTURES = Path(__file__).with_name("fixtures")


def untagged(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$b64"}:
            text = value["$b64"]
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return {k: untagged(v) for k, v in value.items()}
    if isinstance(value, list):
        return [untagged(v) for v in value]
    return value


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return document


V1_NAMES = ("session", "hop-last", "hop", "frame", "backchannel", "state")
# What a v2 site still opens of v1: sessions (users stay signed in across the upgrade)
# and back-channel messages (sign-outs from peers not yet upgraded). Nothing else.
V1_OPENED = ("session", "backchannel")
V1_REFUSED = ("hop-last", "hop", "frame", "state")


def v1_entry(name: str) -> tuple[dict[str, Any], float]:
    document = load("wire_v1.json")
    (entry,) = (e for e in document["envelopes"] if e["name"] == name)
    return entry, document["now"]


def chain() -> Keychain:
    return Keychain([KeyRing([parse_secret(SECRET, variable="FIXTURE")], network=NETWORK)])


def expected(entry: dict[str, Any]) -> Claims:
    fields = untagged(entry["claims"])
    fields["purpose"] = Purpose(fields["purpose"])
    return Claims(**fields)


def test_the_v1_fixture_holds_one_envelope_of_every_v1_purpose() -> None:
    document = load("wire_v1.json")
    assert [e["name"] for e in document["envelopes"]] == ["session", "hop-last", "hop", "frame", "backchannel", "state"]
    assert all(e["token"].startswith(f"v1.{document['kid']}.") for e in document["envelopes"])


@pytest.mark.parametrize("name", V1_OPENED)
def test_v1_sessions_and_backchannel_messages_open_to_exactly_their_claims(name: str) -> None:
    entry, now = v1_entry(name)
    want = expected(entry)
    claims = open_envelope(
        chain(), entry["token"], purpose=want.purpose, audience=want.audience, ip=want.ip, now=now + 1
    )
    assert claims == want


@pytest.mark.parametrize("name", V1_REFUSED)
def test_v1_hops_frames_and_state_are_refused(name: str) -> None:
    entry, now = v1_entry(name)
    want = expected(entry)
    with pytest.raises(EnvelopeError) as caught:
        open_envelope(chain(), entry["token"], purpose=want.purpose, audience=want.audience, ip=want.ip, now=now + 1)
    assert caught.value.reason is EnvelopeFailure.MALFORMED
    assert caught.value.claims is None


V2_NAMES = (
    "session",
    "hop-last",
    "hop",
    "frame",
    "backchannel",
    "state",
    "request",
    "pending",
    "framecheck",
    "bounce",
    "chain",
    "ping",
)


def test_the_v2_fixture_holds_one_envelope_of_every_purpose() -> None:
    document = load("wire_v2.json")
    assert tuple(e["name"] for e in document["envelopes"]) == V2_NAMES
    assert {e["purpose"] for e in document["envelopes"]} == {p.value for p in Purpose}
    assert all(e["token"].startswith(f"v2.{document['kid']}.") for e in document["envelopes"])
    # The v2 key id is not the v1 one: it is derived from the scrypt master key.
    assert document["kid"] != load("wire_v1.json")["kid"]


@pytest.mark.parametrize("name", V2_NAMES)
def test_v2_fixtures_open_to_exactly_their_claims(name: str) -> None:
    document = load("wire_v2.json")
    (entry,) = (e for e in document["envelopes"] if e["name"] == name)
    want = expected(entry)
    claims = open_envelope(
        chain(), entry["token"], purpose=want.purpose, audience=want.audience, ip=want.ip, now=document["now"] + 1
    )
    assert claims == want
