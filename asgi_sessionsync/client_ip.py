"""The client address that envelopes are bound to.

The ASGI peer address, or, when that peer is a trusted proxy, the right-most hop of
``X-Forwarded-For`` that is not itself a trusted proxy (as uvicorn's proxy-headers
middleware does). ``X-Forwarded-For`` from an untrusted peer is never read.

The entries of ``SESSIONSYNC_TRUSTED_PROXIES``, as uvicorn's ``--forwarded-allow-ips``
reads them:

- an address or a CIDR network: a peer (or a hop) there is a proxy;
- ``unix``: the peer of a unix-socket listener (the ASGI ``client`` is ``None``: uvicorn
  and Hypercorn give no address for it) is a proxy, so the ``X-Forwarded-For`` of the
  proxy in front of the socket is read; without it, everyone behind the socket is one
  unknown client;
- ``*``: every peer (a socket's too) and every hop is a proxy, so the client is the
  left-most address of ``X-Forwarded-For``, whatever a client wrote there: only for a
  server that no client can reach except through its proxies.

A hop written ``host:port`` or ``[v6]:port`` counts as its host.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from starlette.types import Scope

from asgi_sessionsync.exceptions import ConfigError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BindingMode(enum.StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    OFF = "off"


UNIX = "unix"  # the entry trusting a unix-socket listener's peer


class TrustedProxies:
    """A set of proxy addresses and networks; ``unix`` trusts a unix socket's peer,
    ``*`` every peer and every hop (module docstring)."""

    __slots__ = ("_addresses", "_networks", "entries", "everyone", "unix")

    def __init__(self, entries: Iterable[str] = (), *, variable: str = "SESSIONSYNC_TRUSTED_PROXIES"):
        self.entries = tuple(e.strip() for e in entries if e.strip())
        self.everyone = "*" in self.entries
        self.unix = UNIX in self.entries
        self._addresses: set[str] = set()
        self._networks: list[IPNetwork] = []
        for entry in self.entries:
            if entry in ("*", UNIX):
                continue
            try:
                if "/" in entry:
                    self._networks.append(ipaddress.ip_network(entry, strict=False))
                else:
                    self._addresses.add(str(ipaddress.ip_address(entry)))
            except ValueError:
                raise ConfigError(
                    variable,
                    f"{entry!r} is not an IP address or CIDR network (or `unix`, for a unix socket's peer)",
                    f"{variable}=127.0.0.1,10.0.0.0/8,fd00::/8 (or {variable}=unix)",
                ) from None

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __contains__(self, host: str) -> bool:
        if self.everyone or host in self._addresses:
            return True
        if not self._networks:
            return False
        address = _parse(host)
        return address is not None and any(address in net for net in self._networks)

    def trusts_peer(self, peer: str | None) -> bool:
        """Whether the connection's peer (``None``: a unix socket's) is a proxy."""
        return (self.everyone or self.unix) if not peer else peer in self


@lru_cache(maxsize=4096)
def _parse(host: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(host.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class IPBinding:
    """How tightly an envelope is tied to the client address."""

    mode: BindingMode = BindingMode.PREFIX
    ipv4_prefix: int = 24
    ipv6_prefix: int = 64

    def value(self, host: str | None) -> str:
        """The binding value for a client address: what an envelope stores and compares."""
        if self.mode is BindingMode.OFF:
            return ""
        if not host:
            return "?"  # no client address known: binds to "unknown", never to "any"
        return _binding_value(host, self.mode, self.ipv4_prefix, self.ipv6_prefix)


@lru_cache(maxsize=4096)
def _binding_value(host: str, mode: BindingMode, v4: int, v6: int) -> str:
    address = _parse(host)
    if address is None:
        return "?" + host  # a unix socket path or a test client name; exact by nature
    if mode is BindingMode.EXACT:
        return str(address)
    prefix = v4 if address.version == 4 else v6
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def client_host(
    client: tuple[str, int] | list[object] | None,
    forwarded_for: bytes | None,
    trusted: TrustedProxies,
) -> str | None:
    """The client address for a connection.

    ``client`` is the ASGI scope's ``client``; ``forwarded_for`` the raw
    ``X-Forwarded-For`` header value (all such headers joined), or ``None``.
    """
    peer = str(client[0]) if client and client[0] else None  # None: a unix socket
    if not trusted or forwarded_for is None or not trusted.trusts_peer(peer):
        return peer
    hops = [_host_of(h.strip()) for h in forwarded_for.decode("latin-1").split(",")]
    if not trusted.everyone:
        for hop in reversed(hops):
            if hop and hop not in trusted:
                return hop
    # Every hop is a trusted proxy: the left-most is the closest to the client.
    return hops[0] or peer


def _host_of(hop: str) -> str:
    """The host of one forwarded hop: ``1.2.3.4:80`` and ``[::1]:80`` lose their port, as
    uvicorn reads them; anything else is kept as it is (and trusted only if listed)."""
    if hop.startswith("["):
        end = hop.find("]")
        rest = hop[end + 1 :] if end > 0 else "?"
        return hop[1:end] if rest == "" or (rest[:1] == ":" and rest[1:].isdigit()) else hop
    if hop.count(":") == 1:
        host, port = hop.split(":")
        return host if port.isdigit() else hop
    return hop


def forwarded_for_header(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    values = [v for k, v in headers if k == b"x-forwarded-for"]
    if not values:
        return None
    return b",".join(values)


class ClientAddress:
    """The client address of a request and its binding value, with one small cache.

    Without trusted proxies the binding depends only on the ASGI peer address, so it is
    computed once per address; behind proxies ``X-Forwarded-For`` is read every time.
    """

    __slots__ = ("_behind_proxies", "_bindings", "binding", "trusted")

    _CACHE_MAX = 4096

    def __init__(self, trusted: TrustedProxies, binding: IPBinding) -> None:
        self.trusted = trusted
        self._behind_proxies = bool(trusted)  # asked on every signed-in request
        self.binding = binding
        self._bindings: dict[str | None, str] = {}

    def host(self, scope: Scope) -> str | None:
        """The client's address: the peer, or the right-most untrusted forwarded hop."""
        forwarded = forwarded_for_header(scope["headers"]) if self.trusted else None
        return client_host(scope.get("client"), forwarded, self.trusted)

    def bind_value(self, scope: Scope) -> str:
        """The binding value of the request's client (what envelopes store and compare)."""
        if self._behind_proxies:
            return self.binding.value(self.host(scope))
        client = scope.get("client")
        host = str(client[0]) if client and client[0] else None
        value = self._bindings.get(host)
        if value is None:
            if len(self._bindings) >= self._CACHE_MAX:
                self._bindings.clear()
            value = self._bindings[host] = self.binding.value(host)
        return value
