"""Client IP: peer address, trusted proxies, X-Forwarded-For, binding modes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from asgi_sessionsync.client_ip import (
    BindingMode,
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
