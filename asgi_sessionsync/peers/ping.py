"""The authenticated ping of a peer, its answer, and what a failed ping means.

``POST <back-channel URL><prefix>ping`` carries an envelope of purpose ``ping`` sealed for the
peer; the peer answers with one of its own sealed for the asker, echoing the asker's nonce and
giving its time. A good answer proves that both sites hold the network's key, that the peer lists
the asker among its peers (it opens only envelopes of members) and how far apart the clocks are.
``GET ping`` stays a plain liveness answer (204).

A refused ping is one answer whatever the reason (``403 refused``), so the ping is no oracle of
what in a forged envelope was right; the reason goes to the peer's log. The asker diagnoses a
refusal from what it can see itself: every answer to a ``POST ping``, refused or not, names the
site (``x-sessionsync-site``) and the ids of the keys it holds (``x-sessionsync-keys``; a key id
is on every envelope a site seals, and costs an scrypt per guess of the secret). Another site at
that URL: ``other site``; this site's sealing key id not among the peer's: ``peer lacks key``;
otherwise the peer holds the key and still refused: ``not listed``.
"""

from __future__ import annotations

import enum
import os
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from asgi_sessionsync.exceptions import EnvelopeError, EnvelopeFailure
from asgi_sessionsync.peers.client import PeerEntry
from asgi_sessionsync.protocol import Endpoint, PingAnswer, Purpose
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.urls import endpoint_url

TIME_HEADER = "x-sessionsync-time"
SITE_HEADER = "x-sessionsync-site"
KEYS_HEADER = "x-sessionsync-keys"
# In an authenticated ping's answer: this site answers a browser's CORS probe of its plain
# ping (the catch-up's page, issue #23); older sites do not, and are probed without CORS.
PROBE_HEADER = "x-sessionsync-probe"
REFUSED_BODY = b"refused"
MAX_PING_BYTES = 16 * 1024


class Problem(enum.StrEnum):
    """Why a peer failed its ping. The first four mean down; the others, misconfigured
    (the ``TLS_*`` ones: the peer answers, but this server will not talk to it over TLS)."""

    REFUSED = "refused"
    UNRESOLVED = "unresolved"
    TIMEOUT = "timeout"
    SERVER_ERROR = "server error"
    NO_PING = "no ping"
    PEER_LACKS_KEY = "peer lacks key"
    SITE_LACKS_KEY = "site lacks key"
    NOT_LISTED = "not listed"
    OTHER_SITE = "other site"
    BAD_ANSWER = "bad answer"
    TLS_UNTRUSTED = "certificate not trusted"
    TLS_NAME = "certificate name mismatch"
    TLS_EXPIRED = "certificate expired"
    TLS_OTHER = "TLS error"

    @property
    def down(self) -> bool:
        return self in _DOWN

    @property
    def tls(self) -> bool:
        return self in _TLS


_DOWN = frozenset({Problem.REFUSED, Problem.UNRESOLVED, Problem.TIMEOUT, Problem.SERVER_ERROR})
_TLS = frozenset({Problem.TLS_UNTRUSTED, Problem.TLS_NAME, Problem.TLS_EXPIRED, Problem.TLS_OTHER})
# OpenSSL's X509_V_ERR_* codes (ssl.SSLCertVerificationError.verify_code) by what they mean.
_UNTRUSTED_CODES = frozenset({2, 18, 19, 20, 21, 27})  # no issuer here, self-signed, untrusted
_NAME_CODES = frozenset({62, 64})  # hostname mismatch, IP address mismatch
_EXPIRED_CODES = frozenset({10})


@dataclass(frozen=True, slots=True)
class PingResult:
    """One ping of one peer. ``problem`` None: both sites hold the key, the peer lists
    this site, and ``offset`` (the peer's clock minus ours, seconds) was measured.
    ``legacy``: the peer answers a plain ping only (an older version): up, unverified."""

    origin: str
    url: str  # the ping URL asked
    problem: Problem | None = None
    detail: str = ""
    offset: float | None = None  # authenticated when problem is None
    peer_site: str | None = None  # the site the peer says it is (x-sessionsync-site)
    seconds: float = 0.0
    legacy: bool = False
    cors_probe: bool = False  # the peer answers the catch-up page's CORS probe (PROBE_HEADER)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def explain(self, asker: str) -> tuple[str, str]:
        """(what is wrong, what to fix), in plain words."""
        return (
            explain(
                self.problem,
                url=self.url,
                origin=self.origin,
                asker=asker,
                detail=self.detail,
                peer_site=self.peer_site,
            )
            if self.problem
            else ("", "")
        )


def is_localhost_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def explain(
    problem: Problem, *, url: str, origin: str, asker: str, detail: str = "", peer_site: str | None = None
) -> tuple[str, str]:
    """What a :class:`Problem` means and what to fix, for logs and ``peers check``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    base = f"{parts.scheme}://{parts.netloc}"
    if parts.scheme == "https":
        # A site that serves https may serve nothing else: never propose plain http; a
        # back-channel URL must be https too, under a name its certificate covers.
        peers_example = (
            f'SESSIONSYNC_PEERS="{origin}|https://NAME:PORT" (https, under a name the peer\'s certificate covers)'
        )
    else:
        peers_example = f'SESSIONSYNC_PEERS="{origin}|http://127.0.0.1:PORT"'
    if problem is Problem.UNRESOLVED:
        if parts.scheme == "https":
            return (
                f"{host} does not resolve on this server",
                f"make {host} resolve here (DNS, /etc/hosts), or give a back-channel URL: {peers_example}",
            )
        if is_localhost_name(host):
            return (
                f"{host} does not resolve on this server (browsers resolve *.localhost themselves; "
                "Python's resolver does not)",
                f"give the peer a back-channel URL this server can reach: {peers_example}",
            )
        return (
            f"{host} does not resolve on this server",
            f"correct the host name, or give a back-channel URL: {peers_example}",
        )
    if problem.tls:
        return _explain_tls(problem, base, host, detail, peers_example)
    if problem is Problem.REFUSED:
        return (
            f"nothing answers at {base} (connection refused)",
            "start the peer, or correct its back-channel URL (SESSIONSYNC_PEERS=BROWSER_URL|BACKCHANNEL_URL)",
        )
    if problem is Problem.TIMEOUT:
        return (
            f"no answer from {base} in time ({detail or 'twice'})",
            "check that the peer is up and that this server can reach it (firewall, proxy), "
            "or raise SESSIONSYNC_PEER_TIMEOUT",
        )
    if problem is Problem.SERVER_ERROR:
        return (f"{base} answered {detail or 'a server error'}", "look at the peer's log")
    if problem is Problem.NO_PING:
        return (
            f"{base} answered {detail or 'an error'}: no asgi-sessionsync there",
            "point the back-channel URL at the peer's app, and use the same SESSIONSYNC_PATH_PREFIX on both sites",
        )
    if problem is Problem.PEER_LACKS_KEY:
        return (
            "the peer cannot open what this site seals: it does not hold this site's first secret key",
            "give both sites the same SESSIONSYNC_SECRET_KEYS (the first key seals, every key opens)",
        )
    if problem is Problem.SITE_LACKS_KEY:
        return (
            "this site cannot open what the peer seals: it does not hold the peer's first secret key",
            "give both sites the same SESSIONSYNC_SECRET_KEYS (the first key seals, every key opens)",
        )
    if problem is Problem.NOT_LISTED:
        return (
            f"the peer does not list this site ({asker}) among its peers",
            f"add {asker} to the peer's SESSIONSYNC_PEERS",
        )
    if problem is Problem.OTHER_SITE:
        return (
            f"the site at {base} is {peer_site or 'another site'}, not {origin}",
            f"list that site under its own SESSIONSYNC_SITE_URL, or point the back-channel URL of {origin} at it",
        )
    return (
        f"the peer's answer is not valid ({detail or 'unreadable'})",
        "run the same asgi-sessionsync version on both sites",
    )


def _explain_tls(problem: Problem, base: str, host: str, detail: str, peers_example: str) -> tuple[str, str]:
    said = f" ({detail})" if detail else ""
    if problem is Problem.TLS_UNTRUSTED:
        return (
            f"{base} answers, but its certificate is not trusted by this server{said}",
            "set SESSIONSYNC_PEER_CA_FILE to the CA that signed it (a PEM file, trusted beside the default CAs), "
            "or give the peer a certificate from a CA this server trusts",
        )
    if problem is Problem.TLS_NAME:
        return (
            f"{base} answers, but its certificate is not valid for {host}{said}",
            f"give the peer a certificate that covers {host}, or a back-channel URL under a name its certificate "
            f"covers: {peers_example}",
        )
    if problem is Problem.TLS_EXPIRED:
        return (f"{base} answers, but its certificate has expired{said}", "renew the peer's certificate")
    return (
        f"TLS with {base} failed{said}",
        "check that the peer serves https on that port (not plain http), with a certificate and TLS version "
        "this server accepts (SESSIONSYNC_PEER_CA_FILE for a private CA)",
    )


def transport_problem(error: httpx.HTTPError) -> tuple[Problem, str]:
    """What a failed request means: a :class:`Problem` and a detail, from the chain of
    causes (a TLS failure is a ``ConnectError`` whose cause is an ``ssl`` error)."""
    if isinstance(error, httpx.TimeoutException):
        return Problem.TIMEOUT, type(error).__name__
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return Problem.UNRESOLVED, str(cause)
        if isinstance(cause, ssl.SSLCertVerificationError):
            return _verify_problem(cause), cause.verify_message or cause.reason or str(cause)
        if isinstance(cause, ssl.SSLError):
            return Problem.TLS_OTHER, cause.reason or str(cause)
        cause = cause.__cause__ or cause.__context__
    text = str(error).lower()
    if "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
        return Problem.UNRESOLVED, str(error)
    return Problem.REFUSED, type(error).__name__


def _verify_problem(error: ssl.SSLCertVerificationError) -> Problem:
    code = error.verify_code
    if code in _UNTRUSTED_CODES:
        return Problem.TLS_UNTRUSTED
    if code in _NAME_CODES:
        return Problem.TLS_NAME
    if code in _EXPIRED_CODES:
        return Problem.TLS_EXPIRED
    return Problem.TLS_OTHER


async def ping(
    http: httpx.AsyncClient,
    tokens: Tokens,
    entry: PeerEntry,
    prefix: str,
    limit: float,
    *,
    url: str | None = None,
) -> PingResult:
    """One authenticated ping of ``entry`` at its back-channel URL (or ``url``)."""
    network, peer = entry
    target = endpoint_url(url or peer.backchannel_url, prefix, Endpoint.PING)
    nonce = os.urandom(16)
    token = tokens.seal_for_peer(
        network.name, peer.site_id, Purpose.PING, subject="", ttl=60, ip="", extra={}, jti=nonce
    )
    asked_at = tokens.clock()
    started = time.monotonic()
    try:
        response = await http.post(target, content=token, headers={"content-type": "text/plain"}, timeout=limit)
    except httpx.HTTPError as error:
        problem, detail = transport_problem(error)
        return PingResult(peer.site_id, target, problem, detail, seconds=time.monotonic() - started)
    seconds = time.monotonic() - started
    answered_at = tokens.clock()
    peer_site = response.headers.get(SITE_HEADER)
    told = _float(response.headers.get(TIME_HEADER))
    # Unauthenticated, shown when the ping fails: the midpoint of the round trip.
    offset = None if told is None else told - (asked_at + answered_at) / 2
    status = response.status_code

    def failed(problem: Problem, detail: str = "") -> PingResult:
        return PingResult(peer.site_id, target, problem, detail, offset, peer_site, seconds)

    if status >= 500:
        return failed(Problem.SERVER_ERROR, f"HTTP {status}")
    if status == 204:
        # A plain liveness answer to the authenticated ping: alive, nothing verified.
        return PingResult(peer.site_id, target, None, "", None, peer_site, seconds, legacy=True)
    if status == 405:
        # An older peer: it answers GET ping only. Up, but nothing could be verified.
        try:
            plain = await http.get(target, timeout=limit)
        except httpx.HTTPError as error:
            return failed(*transport_problem(error))
        if plain.status_code == 204:
            return PingResult(peer.site_id, target, None, "", None, peer_site, seconds, legacy=True)
        return failed(Problem.NO_PING, f"HTTP {plain.status_code}")
    if peer_site is not None and peer_site.rstrip("/") != peer.site_id:
        return failed(Problem.OTHER_SITE)
    if status == 403:
        return failed(*_refusal(response, tokens.rings[network.name].sealing_key.kid))
    if status != 200:
        return failed(Problem.NO_PING, f"HTTP {status}")
    try:
        claims = tokens.open(response.text.strip(), Purpose.PING, ip=None, any_time=True)
    except EnvelopeError as error:
        if error.reason in (EnvelopeFailure.UNKNOWN_KEY, EnvelopeFailure.BAD_TAG):
            return failed(Problem.SITE_LACKS_KEY, str(error.reason))
        if error.reason in (EnvelopeFailure.WRONG_ISSUER, EnvelopeFailure.WRONG_AUDIENCE):
            return failed(Problem.OTHER_SITE, str(error.reason))
        return failed(Problem.BAD_ANSWER, str(error.reason))
    answer = PingAnswer.from_wire(claims.extra)
    if claims.issuer != peer.site_id:
        return PingResult(peer.site_id, target, Problem.OTHER_SITE, "", offset, claims.issuer, seconds)
    if answer is None or answer.nonce != nonce:
        return failed(Problem.BAD_ANSWER, "not an answer to this ping")
    offset = answer.time - (asked_at + answered_at) / 2
    cors = response.headers.get(PROBE_HEADER) == "cors"
    return PingResult(peer.site_id, target, None, "", offset, peer_site, seconds, cors_probe=cors)


def _refusal(response: httpx.Response, sealing_kid: str) -> tuple[Problem, str]:
    """Why a peer refused this site's ping, from what this site can see (module docstring)."""
    reason = response.text.strip().removeprefix("refused").removeprefix(":").strip()
    if reason:  # a peer of a version before #20 still names the envelope failure
        if reason == EnvelopeFailure.WRONG_ISSUER:
            return Problem.NOT_LISTED, ""
        if reason == EnvelopeFailure.WRONG_AUDIENCE:
            return Problem.OTHER_SITE, ""
        return Problem.PEER_LACKS_KEY, reason
    held = response.headers.get(KEYS_HEADER)
    if held is None:
        return Problem.PEER_LACKS_KEY, "refused; the peer does not say which keys it holds"
    if sealing_kid not in held.split(","):
        return Problem.PEER_LACKS_KEY, f"its key ids {held} do not include {sealing_kid}"
    return Problem.NOT_LISTED, ""


def key_ids(tokens: Tokens) -> str:
    """The ids of every key this site holds, for ``x-sessionsync-keys`` (sorted)."""
    return ",".join(sorted(key.kid for ring in tokens.rings.values() for key in ring.keys))


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def answer_ping(tokens: Tokens, body: bytes) -> tuple[int, bytes, EnvelopeFailure | None]:
    """The answer to a ``POST ping``: (status, body, why it was refused). Every refusal
    is the same ``403 refused``; the reason is for this site's log only. (A site's own
    URL, time and key ids, in the answer's headers, are no secret.)"""
    try:
        token = body.decode("ascii").strip()
        claims = tokens.open(token, Purpose.PING, ip=None, any_time=True)
    except UnicodeDecodeError:
        return 403, REFUSED_BODY, EnvelopeFailure.MALFORMED
    except EnvelopeError as error:
        return 403, REFUSED_BODY, error.reason
    answer = PingAnswer(claims.jti, tokens.clock())
    sealed = tokens.seal_message_for_peer(claims.network, claims.issuer, answer, subject="", ttl=60, ip="")
    return 200, sealed.encode("ascii"), None
