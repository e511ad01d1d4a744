"""Client IP: peer address, trusted proxies, X-Forwarded-For, binding modes."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from asgi_sessionsync.client_ip import (
    BindingMode,
    ClientAddress,
    IPBinding,
    TrustedProxies,
    client_host,
    forwarded_for_header,
)
from asgi_sessionsync.exceptions import ConfigError


def host_for(scope: Mapping[str, Any], trusted: TrustedProxies) -> str | None:
    headers = scope.get("headers", [])
    return client_host(scope.get("client"), forwarded_for_header(headers), trusted)


def make_echo_app(trusted: TrustedProxies) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = (host_for(scope, trusted) or "-").encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    return app


async def seen_ip(trusted: TrustedProxies, peer: str, xff: str | None) -> str:
    transport = httpx.ASGITransport(app=make_echo_app(trusted), client=(peer, 4000))
    headers = {"X-Forwarded-For": xff} if xff is not None else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://site.test") as client:
        return (await client.get("/", headers=headers)).text


async def test_untrusted_peer_spoofed_forwarded_for_is_ignored() -> None:
    trusted = TrustedProxies(["10.0.0.1"])
    assert await seen_ip(trusted, "198.51.100.7", "1.2.3.4") == "198.51.100.7"


async def test_no_trusted_proxies_means_forwarded_for_is_never_read() -> None:
    assert await seen_ip(TrustedProxies(), "10.0.0.1", "1.2.3.4") == "10.0.0.1"


async def test_trusted_proxy_gives_right_most_untrusted_hop() -> None:
    trusted = TrustedProxies(["10.0.0.1", "10.1.0.0/16"])
    # The client can put anything on the left; only hops appended by our proxies count.
    assert await seen_ip(trusted, "10.0.0.1", "6.6.6.6, 203.0.113.9, 10.1.2.3") == "203.0.113.9"


async def test_trusted_proxy_chain_of_only_proxies_gives_left_most() -> None:
    trusted = TrustedProxies(["10.0.0.0/8"])
    assert await seen_ip(trusted, "10.0.0.1", "10.9.9.9, 10.1.1.1") == "10.9.9.9"


async def test_trusted_ipv6_proxy_network_and_ipv6_client() -> None:
    trusted = TrustedProxies(["fd00::/8"])
    assert await seen_ip(trusted, "fd00::1", "2001:db8::42") == "2001:db8::42"


async def test_trusted_proxy_without_forwarded_for_gives_the_peer() -> None:
    assert await seen_ip(TrustedProxies(["10.0.0.1"]), "10.0.0.1", None) == "10.0.0.1"


def test_several_forwarded_for_headers_are_joined_in_order() -> None:
    scope = {
        "client": ("10.0.0.1", 1),
        "headers": [(b"x-forwarded-for", b"6.6.6.6"), (b"x-forwarded-for", b"203.0.113.5")],
    }
    assert host_for(scope, TrustedProxies(["10.0.0.1"])) == "203.0.113.5"


def test_star_trusts_every_peer() -> None:
    scope = {"client": ("192.0.2.1", 1), "headers": [(b"x-forwarded-for", b"203.0.113.5")]}
    assert host_for(scope, TrustedProxies(["*"])) == "203.0.113.5"


def test_invalid_trusted_proxy_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"SESSIONSYNC_TRUSTED_PROXIES.*not-an-ip"):
        TrustedProxies(["not-an-ip"])


def test_exact_binding_is_the_address() -> None:
    binding = IPBinding(BindingMode.EXACT)
    assert binding.value("203.0.113.9") == "203.0.113.9"
    assert binding.value("203.0.113.9") != binding.value("203.0.113.10")


def test_prefix_binding_defaults_to_slash_24_and_slash_64() -> None:
    binding = IPBinding()
    assert binding.value("203.0.113.9") == binding.value("203.0.113.200") == "203.0.113.0/24"
    assert binding.value("203.0.114.9") != binding.value("203.0.113.9")
    assert binding.value("2001:db8:1:2::1") == binding.value("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"


def test_prefix_lengths_are_settable() -> None:
    binding = IPBinding(BindingMode.PREFIX, ipv4_prefix=16, ipv6_prefix=48)
    assert binding.value("203.0.1.1") == binding.value("203.0.250.3")
    assert binding.value("2001:db8:1:2::1") == binding.value("2001:db8:1:9::1")


def test_ipv4_mapped_ipv6_binds_like_ipv4() -> None:
    binding = IPBinding(BindingMode.EXACT)
    assert binding.value("::ffff:203.0.113.9") == binding.value("203.0.113.9")


def test_off_binding_matches_every_address_and_unknown_binds_to_nothing() -> None:
    assert IPBinding(BindingMode.OFF).value("203.0.113.9") == IPBinding(BindingMode.OFF).value(None) == ""
    assert IPBinding().value(None) not in ("", IPBinding().value("203.0.113.9"))


# --- red-team #20: what `*` means, and a unix-socket listener ------------------------------


def test_star_trusts_every_hop_so_the_left_most_address_is_the_client() -> None:
    """As uvicorn's ``--forwarded-allow-ips='*'``: every peer and every hop is a proxy, so
    the client is whatever the left-most entry says (hence only for a server that no
    client can reach but through its proxies; docs/configuration.md)."""
    scope = {"client": ("192.0.2.1", 1), "headers": [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.5")]}
    assert host_for(scope, TrustedProxies(["*"])) == "6.6.6.6"


UNIX_SCOPE = {"client": None, "headers": [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.9, 10.1.1.1")]}


def test_a_unix_entry_trusts_the_proxy_in_front_of_a_unix_socket() -> None:
    assert host_for(UNIX_SCOPE, TrustedProxies(["unix"])) == "10.1.1.1"
    assert host_for(UNIX_SCOPE, TrustedProxies(["unix", "10.0.0.0/8"])) == "203.0.113.9"
    assert host_for({**UNIX_SCOPE, "client": ["", 0]}, TrustedProxies(["unix"])) == "10.1.1.1"
    assert host_for(UNIX_SCOPE, TrustedProxies(["*"])) == "6.6.6.6"  # `*` trusts a socket's peer too
    # Without the entry a socket's peer is nobody's proxy; without the header, nothing is known.
    assert host_for(UNIX_SCOPE, TrustedProxies(["10.0.0.0/8"])) is None
    assert host_for({"client": None, "headers": []}, TrustedProxies(["unix"])) is None


def test_a_unix_entry_trusts_no_tcp_peer() -> None:
    scope = {"client": ("192.0.2.1", 1), "headers": [(b"x-forwarded-for", b"203.0.113.5")]}
    assert host_for(scope, TrustedProxies(["unix"])) == "192.0.2.1"


def test_forwarded_hops_with_a_port_are_read_as_uvicorn_reads_them() -> None:
    trusted = TrustedProxies(["10.0.0.1"])
    for hop, host in (
        ("203.0.113.9:4711", "203.0.113.9"),
        ("[2001:db8::1]:80", "2001:db8::1"),
        ("2001:db8::2", "2001:db8::2"),
    ):
        assert host_for({"client": ("10.0.0.1", 1), "headers": [(b"x-forwarded-for", hop.encode())]}, trusted) == host
    assert (
        host_for({"client": ("10.0.0.1", 1), "headers": [(b"x-forwarded-for", b"6.6.6.6, 10.0.0.1:8080")]}, trusted)
        == "6.6.6.6"
    )


def test_behind_a_unix_socket_envelopes_bind_to_the_forwarded_client_not_to_everyone() -> None:
    address = ClientAddress(TrustedProxies(["unix"]), IPBinding(BindingMode.EXACT))
    one = {"client": None, "headers": [(b"x-forwarded-for", b"203.0.113.9")]}
    other = {"client": None, "headers": [(b"x-forwarded-for", b"198.51.100.7")]}
    assert address.bind_value(one) == "203.0.113.9" != address.bind_value(other)


def test_a_real_uvicorn_on_a_unix_socket_gives_the_forwarded_client(tmp_path: Path) -> None:
    path = str(tmp_path / "site.sock")
    address = ClientAddress(TrustedProxies(["unix"]), IPBinding(BindingMode.EXACT))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = f"{scope.get('client')!r} {address.host(scope)}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    server = uvicorn.Server(uvicorn.Config(app, uds=path, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=path), base_url="http://site.test") as client:
            for _ in range(200):
                if os.path.exists(path) and server.started:
                    break
                time.sleep(0.05)
            answer = client.get("/", headers={"X-Forwarded-For": "203.0.113.9"}).text
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert answer == "None 203.0.113.9"


def test_the_unix_entry_is_spelled_one_way() -> None:
    with pytest.raises(ConfigError, match="not an IP address"):
        TrustedProxies(["/run/site.sock"])


def test_a_country_header_from_the_proxy_in_front_of_a_unix_socket_is_believed_with_unix() -> None:
    from asgi_sessionsync.governance.geo import Countries

    scope = {"client": None, "headers": [(b"cf-ipcountry", b"DE")]}
    assert Countries(None, "CF-IPCountry", TrustedProxies(["unix"])).of(scope, "") == "DE"
    assert Countries(None, "CF-IPCountry", TrustedProxies(["10.0.0.1"])).of(scope, "") == ""
