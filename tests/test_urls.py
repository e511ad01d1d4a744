"""The URL rules every redirect passes through (pure functions)."""

from __future__ import annotations

import pytest

from asgi_sessionsync.urls import local_url, request_url, safe_return

A = "https://a.example"


@pytest.mark.parametrize(
    "url",
    [
        "https://a.example/ok\r\nSet-Cookie: x=1",
        "https://a.example/ok\nLocation: https://evil.example",
        "https://a.example/\x00",
        "https://a.example/\x7f",
        "https://a.example/\\evil.example",
        "https://a.example/" + "x" * 5000,
        "javascript:alert(1)",
        "//evil.example/",
        "https://evil.example/",
        "https://a.example.evil.example/",
        "https://a.example@evil.example/",
        "http://a.example/",
        42,
        None,
    ],
)
def test_a_return_url_that_is_not_plainly_on_the_site_is_refused(url: object) -> None:
    assert safe_return(url, A) is None


def test_a_plain_return_url_on_the_site_is_kept() -> None:
    assert safe_return("https://a.example/account?tab=2#x", A) == "https://a.example/account?tab=2#x"
    assert safe_return("https://A.EXAMPLE/x", A) == "https://A.EXAMPLE/x"


def test_local_urls_never_leave_the_site_nor_carry_control_characters() -> None:
    assert local_url(A, "//evil.example/") == f"{A}/"
    assert local_url(A, "/a\r\nb") == f"{A}/"
    assert local_url(A, "relative") == f"{A}/"
    assert local_url(A, "/x?y=1") == f"{A}/x?y=1"


def test_request_url_includes_the_root_path_once() -> None:
    scope = {"path": "/shop/cart", "root_path": "/shop", "query_string": b"a=1"}
    assert request_url(A, scope) == f"{A}/shop/cart?a=1"
    assert request_url(A, {"path": "/cart", "root_path": "/shop", "query_string": b""}) == f"{A}/shop/cart"
