"""An HTTP client for peers, and the one TLS context every client of the process shares."""

from __future__ import annotations

import functools
import ssl

import httpx

from asgi_sessionsync.settings import Network, Peer

PeerEntry = tuple[Network, Peer]


class PeerClient:
    """An HTTP client for peers, made on first use (building one costs tens of ms)."""

    def __init__(
        self,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        limits: httpx.Limits | None = None,
        *,
        ca_file: str | None = None,
    ) -> None:
        """``ca_file``: a PEM bundle of CAs trusted for peers beside the default ones
        (``SESSIONSYNC_PEER_CA_FILE``)."""
        self._timeout = timeout
        self._ca_file = ca_file
        self._transport = transport
        self._limits = limits
        self._client: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._client is None:
            if self._transport is not None:
                self._client = httpx.AsyncClient(transport=self._transport, timeout=self._timeout)
            else:
                self._client = httpx.AsyncClient(
                    verify=tls_context(self._ca_file), timeout=self._timeout, limits=self._limits or httpx.Limits()
                )
        return self._client

    def prepare(self) -> None:
        """Build the client now: at start-up, in a worker thread (its TLS context loads the
        CA bundle, and its first build imports and probes the system: at the first peer
        request of a burst that held a loaded event loop for up to 0.6 s, issue #23)."""
        self.http  # noqa: B018 - built on first use

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


@functools.cache
def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """One TLS context for every client of the process (per ``ca_file``): loading the CA
    bundle costs tens of milliseconds, and a site has two clients (deliveries, health).
    The default CAs (httpx's: certifi's bundle, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``
    when set) and, when given, those of ``ca_file`` (``SESSIONSYNC_PEER_CA_FILE``, a PEM
    file checked by the settings) are trusted."""
    context = httpx.create_ssl_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context
