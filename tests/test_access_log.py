"""Red-team #20: a plain ``uvicorn app:app`` wrote every sign-in token into its access log,
since the redaction filter was opt-in. The middleware installs it itself: at lifespan
start-up, or at the first request without lifespan; ``SESSIONSYNC_REDACT_ACCESS_LOG=false``
leaves the access log alone."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.protocol import Purpose
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.tokens import Tokens
from tests.harness.env_site import serve_site_from_env
from tests.harness.processes import free_ports


def envelope_urls(env: dict[str, str], base: str) -> tuple[list[str], list[str]]:
    """URLs carrying real envelopes of this site, and the envelopes."""
    tokens = Tokens(Settings.from_env(env, env_file=None))
    peer = env["SESSIONSYNC_PEERS"]
    hop = tokens.seal_for_peer("default", peer, Purpose.HOP, subject="", ttl=60, ip="", extra={})
    bounce = tokens.seal_for_self(Purpose.BOUNCE, subject="", ttl=60, ip="", extra={})
    return [f"{base}/_sessionsync/hop?e={hop}", f"{base}/_sessionsync/bounce?t={bounce}", f"{base}/?next={hop}"], [
        hop,
        bounce,
    ]


@pytest.mark.parametrize(
    ("lifespan", "redact"), [("on", None), ("off", None), ("on", "false")], ids=["lifespan", "no-lifespan", "off"]
)
def test_uvicorn_access_log_holds_no_envelope(tmp_path: Path, lifespan: str, redact: str | None) -> None:
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    env = {
        "SESSIONSYNC_SITE_URL": base,
        "SESSIONSYNC_SECRET_KEYS": generate_secret(),
        "SESSIONSYNC_PEERS": "http://127.0.0.2:9",
        "SESSIONSYNC_STORE": "memory://",
    }
    if redact is not None:
        env["SESSIONSYNC_REDACT_ACCESS_LOG"] = redact
    urls, envelopes = envelope_urls(env, base)
    log = tmp_path / "server.log"
    with (
        serve_site_from_env(env, "127.0.0.1", port, log, extra_args=("--lifespan", lifespan)),
        httpx.Client(timeout=10) as client,
    ):
        for url in urls:
            client.get(url)
    text = log.read_text()
    assert "GET /_sessionsync/hop?e=" in text, text  # the access log was written
    if redact is None:
        assert "e=[redacted]" in text and "t=[redacted]" in text
        assert not [e for e in envelopes if e in text], text
    else:
        assert all(e in text for e in envelopes)  # the operator turned it off
