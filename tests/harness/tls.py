"""A private CA made in the test, its leaf certificates, and uvicorn serving over TLS in a thread.

:class:`PrivateCA` (``trustme``) writes its certificate to ``ca.pem`` and issues leaf
certificates for any names and addresses, valid now or expired; nothing is installed
anywhere. :func:`serving_tls` runs ASGI apps under uvicorn (real sockets, real TLS) in one
background thread until the block ends.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp


@dataclass(frozen=True)
class Leaf:
    """A leaf certificate: ``cert`` holds the chain a server sends (the leaf, then the CA)."""

    cert: Path
    key: Path

    @property
    def spki_hash(self) -> str:
        """The leaf's public key as Chromium names it (``--ignore-certificate-errors-spki-list``):
        base64 of the SHA-256 of its SubjectPublicKeyInfo."""
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        key = x509.load_pem_x509_certificate(self.cert.read_bytes()).public_key()
        info = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(info).digest()).decode("ascii")


class PrivateCA:
    """A throwaway certificate authority in ``folder`` (its certificate: :attr:`ca`)."""

    def __init__(self, folder: Path) -> None:
        import trustme

        self.folder = folder
        self._authority = trustme.CA(organization_name="asgi-sessionsync test CA")
        self.ca = folder / "ca.pem"
        self._authority.cert_pem.write_to_path(str(self.ca))
        self._issued = 0

    def issue(self, *identities: str, expired: bool = False) -> Leaf:
        """A leaf for ``identities`` (host names, IP addresses); ``expired``: it ran out yesterday."""
        now = datetime.datetime.now(datetime.UTC)
        times: dict[str, Any] = {}
        if expired:
            times = {"not_before": now - datetime.timedelta(days=30), "not_after": now - datetime.timedelta(days=1)}
        issued = self._authority.issue_cert(*identities, **times)
        self._issued += 1
        leaf = Leaf(self.folder / f"leaf-{self._issued}.pem", self.folder / f"leaf-{self._issued}.key")
        chain = b"".join(blob.bytes() for blob in issued.cert_chain_pems)
        leaf.cert.write_bytes(chain + self._authority.cert_pem.bytes())
        issued.private_key_pem.write_to_path(str(leaf.key))
        return leaf

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


@contextmanager
def serving_tls(apps: Mapping[int, tuple[ASGIApp, Leaf]], *, timeout: float = 20.0) -> Iterator[None]:
    """Serve each app on ``127.0.0.1:port`` with uvicorn over TLS (its leaf's certificate),
    lifespan on, in one background thread, until the block ends. Waits until each accepts
    TLS connections (whatever its certificate: a test may serve a bad one on purpose)."""
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="on",
                ssl_certfile=str(leaf.cert),
                ssl_keyfile=str(leaf.key),
            )
        )
        for port, (app, leaf) in apps.items()
    ]

    async def run() -> None:
        await asyncio.gather(*(s.serve() for s in servers))

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        for port in apps:
            while True:
                try:
                    httpx.get(f"https://127.0.0.1:{port}/_sessionsync/ping", verify=False, timeout=1)  # noqa: S501 - any certificate: only up or not
                    break
                except httpx.HTTPError:
                    if not thread.is_alive() or time.monotonic() > deadline:
                        raise RuntimeError(f"https://127.0.0.1:{port} did not answer") from None
                    time.sleep(0.1)
        yield
    finally:
        for server in servers:
            server.should_exit = True
        thread.join(timeout=10)
