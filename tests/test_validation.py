"""Email addresses, text safe for a terminal or a log line, and private files."""

from __future__ import annotations

import os
import stat
import unicodedata
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from asgi_sessionsync.exceptions import InvalidEmail, SessionSyncError
from asgi_sessionsync.validation import email_or_none, printable, require_email, write_private_file

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"
UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


# --- email addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_text", "normalized"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice@Example.COM \n", "alice@example.com"),
        ("bob.builder+tag@mail.example.co.uk", "bob.builder+tag@mail.example.co.uk"),
        ("admin@localhost", "admin@localhost"),
        ("o'neil@example.com", "o'neil@example.com"),
        ("user@xn--bcher-kva.example", "user@xn--bcher-kva.example"),
        ("user@sub-domain.example-1.org", "user@sub-domain.example-1.org"),
        ("a" * 64 + "@example.com", "a" * 64 + "@example.com"),
    ],
)
def test_valid_addresses_are_normalized(given_text: str, normalized: str) -> None:
    assert email_or_none(given_text) == normalized
    assert require_email(given_text) == normalized


@pytest.mark.parametrize(
    "bad",
    [
        None,
        42,
        b"alice@example.com",
        "",
        "alice",
        "alice@",
        "@example.com",
        "alice@@example.com",
        "alice@bob@example.com",
        "alice @example.com",
        "alice@exa mple.com",
        "alice\t@example.com",
        "alice@example.com\r\nBcc: eve@example.com",
        "alice\x00@example.com",
        "alice\x1b[31m@example.com",
        "ali\u202ece@example.com",
        "alice@exam\u2066ple.com",
        "al\u200bice@example.com",
        "alice\x85@example.com",
        "alice@intranet",
        "alice@example.com.",
        "alice@.example.com",
        "alice@example..com",
        "alice@-example.com",
        "alice@example-.com",
        "alice@exa_mple.com",
        "alice@bücher.example",
        "alice@xn--.example",
        "alice@xn--zz-$.example",
        "alice@1.2.3.4",
        "alice@[127.0.0.1]",
        ".alice@example.com",
        "alice.@example.com",
        "al..ice@example.com",
        '"alice"@example.com',
        "al<ice>@example.com",
        "alice,bob@example.com",
        "ålice@example.com",
        "a" * 65 + "@example.com",
        "a@" + ".".join(["b" * 63] * 4) + ".com",
        "a@" + "b" * 64 + ".com",
    ],
)
def test_invalid_addresses_are_refused(bad: object) -> None:
    assert email_or_none(bad) is None
    with pytest.raises(InvalidEmail) as caught:
        require_email(bad)
    assert isinstance(caught.value, SessionSyncError)
    if isinstance(bad, str) and len(bad) > 3:
        assert bad not in str(caught.value)  # no personal data (or terminal escapes) in messages


def test_whole_address_is_at_most_254_characters() -> None:
    local = "a" * 64
    domain = ".".join(["b" * 61] * 3) + ".example"  # 193 characters
    assert len(f"{local}@{domain}") == 258
    assert email_or_none(f"{local}@{domain}") is None
    shorter = f"{local}@{domain[4:]}"
    assert len(shorter) == 254
    assert email_or_none(shorter) == shorter


@settings(max_examples=500)
@given(st.one_of(st.text(), st.emails().map(lambda e: e.upper()), st.integers(), st.none()))
@example("ALICE@EXAMPLE.COM")
@example("x@a.b\u202e")
def test_any_input_gives_none_or_a_clean_normalized_address(text: object) -> None:
    result = email_or_none(text)
    if result is None:
        with pytest.raises(InvalidEmail):
            require_email(text)
        return
    assert require_email(text) == result
    assert result == result.strip().lower()
    assert result.count("@") == 1
    local, domain = result.split("@")
    assert 1 <= len(local) <= 64 and len(result) <= 254
    assert domain == "localhost" or "." in domain
    assert all(unicodedata.category(c)[0] not in "CZ" for c in result)
    assert result.isascii()
    assert email_or_none(result) == result  # idempotent


@settings(max_examples=300)
@given(st.emails())
def test_ordinary_generated_addresses_are_accepted(address: str) -> None:
    local, _, domain = address.rpartition("@")
    if len(local) > 64 or local.startswith('"') or domain[-1].isdigit():
        return  # quoted locals, numeric TLDs: refused by policy
    assert email_or_none(address) == address.lower()


# --- printable -----------------------------------------------------------------------------


def test_printable_escapes_what_a_terminal_or_log_would_act_on() -> None:
    assert printable("plain text, ünïcödé ✓") == "plain text, ünïcödé ✓"
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("line\r\nFAKE 200 OK") == "line\\r\\nFAKE 200 OK"
    assert printable("tab\tend") == "tab\\tend"
    assert printable("c1\x9bcsi") == "c1\\x9bcsi"
    assert printable("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert printable("iso\u2066late") == "iso\\u2066late"
    assert printable("line\u2028sep") == "line\\u2028sep"
    assert printable("back\\slash") == "back\\\\slash"


def test_printable_truncates_with_an_ellipsis_and_never_splits_an_escape() -> None:
    assert printable("x" * 10, limit=10) == "x" * 10
    assert printable("x" * 11, limit=10) == "x" * 9 + "…"
    assert printable("xxxxxxxx\x1b", limit=10) == "xxxxxxxx…"
    with pytest.raises(ValueError, match="limit"):
        printable("x", limit=0)


@settings(max_examples=500)
@given(st.text(), st.integers(min_value=1, max_value=300))
@example("\x1b" * 50, 10)
@example("a" * 199 + "\u202e", 200)
def test_printable_output_is_safe_bounded_and_faithful(text: str, limit: int) -> None:
    out = printable(text, limit=limit)
    assert len(out) <= limit
    assert all(unicodedata.category(c) not in UNSAFE_CATEGORIES for c in out)
    assert not set(out) & set(BIDI + "\x1b\r\n\x85")
    full = printable(text, limit=10**9)
    if len(full) <= limit:
        assert out == full
    else:
        assert out.endswith("…") and full.startswith(out[:-1])
    if all(unicodedata.category(c) not in UNSAFE_CATEGORIES and c != "\\" for c in text):
        assert full == text


# --- private files -------------------------------------------------------------------------


def test_private_file_is_0600_from_its_first_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret"
    modes: list[int] = []
    real_write = os.write

    def spying_write(fd: int, data: bytes) -> int:
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))  # the mode while bytes go in
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spying_write)
    old_umask = os.umask(0)  # even a permissive umask must not widen it
    try:
        write_private_file(path, b"s3cret bytes")
    finally:
        os.umask(old_umask)
    assert modes and set(modes) == {0o600}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == b"s3cret bytes"


def test_private_file_is_never_written_over(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        write_private_file(path, b"new")
    assert path.read_bytes() == b"old"


def test_private_file_does_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    link = tmp_path / "secret"
    link.symlink_to(target)
    with pytest.raises(FileExistsError):
        write_private_file(link, b"s3cret")
    assert not target.exists()
