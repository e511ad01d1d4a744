"""Email addresses, text safe for a terminal or a log line, private files, redacted logs."""

from __future__ import annotations

import io
import logging
import os
import stat
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from uvicorn.logging import AccessFormatter

from asgi_sessionsync.envelope import seal
from asgi_sessionsync.exceptions import InvalidEmail, SessionSyncError
from asgi_sessionsync.keys import KeyRing, generate_secret, parse_secret
from asgi_sessionsync.logfilter import RedactTokens, install_redaction
from asgi_sessionsync.protocol import Purpose
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


# --- log redaction (logfilter.py) ----------------------------------------------------------

RING = KeyRing([parse_secret(generate_secret(), variable="T")])
TOKEN = seal(RING, Purpose.HOP, issuer="https://a.example", audience="https://b.example", ttl=30, ip="x")
V1_TOKEN = "v1.0aYWIr9ym4bu.r1AlHzsakwaV4x-safaaP64bb2kAkFY2PstnkjYiUSHplb0MemDBFwY6rZ9RNyXyS"


@pytest.fixture
def access_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger set up as uvicorn sets up its access log, writing into a string."""
    logger = logging.getLogger("uvicorn.access")
    saved = (logger.handlers[:], logger.filters[:], logger.level, logger.propagate)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False))
    logger.handlers[:] = [handler]
    logger.filters[:] = []
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.handlers[:], logger.filters[:], logger.level, logger.propagate = saved


def log_request(logger: logging.Logger, path: str) -> None:
    # Exactly uvicorn's call (uvicorn/protocols/http/h11_impl.py).
    logger.info('%s - "%s %s HTTP/%s" %d', "203.0.113.7:5123", "GET", path, "1.1", 303)


def test_uvicorn_access_lines_lose_envelopes_and_token_parameters(
    access_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = access_log
    install_redaction()
    log_request(logger, f"/_sessionsync/hop?e={TOKEN}")
    log_request(logger, f"/_sessionsync/bounce?t={TOKEN}&peers=b")
    log_request(logger, "/search?q=alice%40example.com&page=2")
    log_request(logger, "/x?a=1&k=some-key;t=abc&e=")
    log_request(logger, f"/account?next=/path/{V1_TOKEN}")
    log_request(logger, "/plain?page=2&sort=name")
    lines = stream.getvalue().splitlines()
    assert lines == [
        '203.0.113.7:5123 - "GET /_sessionsync/hop?e=[redacted] HTTP/1.1" 303 See Other',
        '203.0.113.7:5123 - "GET /_sessionsync/bounce?t=[redacted]&peers=b HTTP/1.1" 303 See Other',
        '203.0.113.7:5123 - "GET /search?q=[redacted]&page=2 HTTP/1.1" 303 See Other',
        '203.0.113.7:5123 - "GET /x?a=1&k=[redacted];t=[redacted]&e=[redacted] HTTP/1.1" 303 See Other',
        '203.0.113.7:5123 - "GET /account?next=/path/[redacted] HTTP/1.1" 303 See Other',
        '203.0.113.7:5123 - "GET /plain?page=2&sort=name HTTP/1.1" 303 See Other',
    ]
    assert TOKEN not in stream.getvalue()


def test_install_is_idempotent_and_names_its_loggers() -> None:
    names = ("test.redaction.one", "test.redaction.two")
    install_redaction(names)
    install_redaction(names)
    for name in names:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactTokens) for f in filters) == 1
        logging.getLogger(name).filters[:] = []


def test_a_filter_installed_before_uvicorn_configures_logging_survives_it() -> None:
    import uvicorn

    logger = logging.getLogger("uvicorn.access")
    saved = logger.filters[:]
    try:
        install_redaction()
        uvicorn.Config(app=lambda scope: None, log_level="info")  # runs logging.config.dictConfig
        assert any(isinstance(f, RedactTokens) for f in logger.filters)
    finally:
        logger.filters[:] = saved


def test_messages_and_mapping_args_are_redacted_too() -> None:
    record = logging.LogRecord("hypercorn.access", logging.INFO, __file__, 1, "%(h)s %(r)s %(s)s", None, None)
    # hypercorn passes one dict of atoms; the request line and the query string appear in it.
    record.args = {"h": "203.0.113.7", "r": f"GET /_sessionsync/hop?e={TOKEN} HTTP/1.1", "q": f"e={TOKEN}", "s": 303}
    assert RedactTokens().filter(record)
    assert record.getMessage() == "203.0.113.7 GET /_sessionsync/hop?e=[redacted] HTTP/1.1 303"
    assert isinstance(record.args, dict)
    assert record.args["q"] == "e=[redacted]"

    plain = logging.LogRecord("x", logging.INFO, __file__, 1, f"hop to https://b.example/hop?e={TOKEN} done", (), None)
    assert RedactTokens().filter(plain)
    assert plain.getMessage() == "hop to https://b.example/hop?e=[redacted] done"


def test_nothing_else_changes() -> None:
    args = ("203.0.113.7:5123", "GET", "/static/app.v2.css?ver=3&type=x", "1.1", 200)
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None)
    assert RedactTokens().filter(record)
    assert record.args == args


# --- the demo's secret file ----------------------------------------------------------------


def test_demo_secret_file_is_created_0600_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from demo.__main__ import demo_secret

    modes: list[int] = []
    real_write = os.write

    def spying_write(fd: int, data: bytes) -> int:
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spying_write)
    old_umask = os.umask(0o022)  # the usual umask: a plain write would make it 0644
    try:
        first = demo_secret(tmp_path / "data")
    finally:
        os.umask(old_umask)
    path = tmp_path / "data" / "network-secret"
    assert modes and set(modes) == {0o600}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert parse_secret(first, variable="X")
    assert demo_secret(tmp_path / "data") == first  # a restart keeps it (and its sessions)


def test_demo_secret_file_left_readable_by_an_older_demo_is_made_private(tmp_path: Path) -> None:
    from demo.__main__ import demo_secret

    path = tmp_path / "network-secret"
    path.write_text(generate_secret() + "\n")
    path.chmod(0o644)
    demo_secret(tmp_path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
