"""Checks and helpers for untrusted text and private files.

- :func:`email_or_none` / :func:`require_email`: one normalized spelling of an email
  address (a user's identity on every site), or nothing.
- :func:`printable`: text made safe for a terminal or a log line.
- :func:`csv_cell`: a CSV value a spreadsheet will not run as a formula.
- :func:`write_private_file`: a file readable by its owner only, from its first byte.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from pathlib import Path

from asgi_sessionsync.exceptions import InvalidEmail

__all__ = ["csv_cell", "csv_row", "email_or_none", "printable", "require_email", "write_private_file"]

MAX_EMAIL = 254  # RFC 5321 path limit, less the angle brackets
MAX_LOCAL = 64
MAX_DOMAIN = 253
# RFC 5322 atext, lower case (the local part is normalized to lower case): no quotes,
# no specials ("(),:;<>@[\]), no spaces. Dots only between atoms.
_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~-")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)


def email_or_none(text: object) -> str | None:
    """``text`` as a normalized email address (stripped, lower case), or None.

    Accepted: ASCII only; exactly one ``@``; a local part of 1-64 characters of RFC 5322
    atext and single inner dots; a domain that is ``localhost`` or has at least two
    dot-separated labels (letters, digits, inner hyphens; 1-63 characters each; IDNA
    ``xn--`` labels that decode as punycode), whose last label is not all digits; 254
    characters at most in all. Never: whitespace, control characters, bidi overrides or
    any other invisible character, quoted local parts, address literals, Unicode domains.
    """
    address, _ = _check_email(text)
    return address


def require_email(text: object) -> str:
    """Like :func:`email_or_none`, but raise :class:`InvalidEmail` (naming the problem,
    never the text) instead of returning None."""
    address, problem = _check_email(text)
    if address is None:
        raise InvalidEmail(f"not a valid email address: {problem}")
    return address


def _check_email(text: object) -> tuple[str | None, str]:
    if not isinstance(text, str):
        return None, "not text"
    return _check_email_text(text)


@functools.lru_cache(maxsize=4096)
def _check_email_text(text: str) -> tuple[str | None, str]:
    """The check itself, remembered: a sign-in asks it of one address several times."""
    stripped = text.strip()
    if any(unicodedata.category(c)[0] in "CZ" for c in stripped):
        return None, "it contains spaces, control or invisible characters"
    if not stripped.isascii():
        return None, "it contains characters outside ASCII (use the xn-- form of a Unicode domain)"
    address = stripped.lower()
    if len(address) > MAX_EMAIL:
        return None, f"longer than {MAX_EMAIL} characters"
    if address.count("@") != 1:
        return None, "it must contain exactly one @"
    local, domain = address.split("@")
    problem = _local_problem(local) or _domain_problem(domain)
    if problem:
        return None, problem
    return address, ""


def _local_problem(local: str) -> str:
    if not local:
        return "nothing before the @"
    if len(local) > MAX_LOCAL:
        return f"more than {MAX_LOCAL} characters before the @"
    if not _ATEXT.issuperset(local.replace(".", "")):
        return "a character that is not allowed before the @"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "a misplaced dot before the @"
    return ""


def _domain_problem(domain: str) -> str:
    if domain == "localhost":
        return ""
    if not domain:
        return "nothing after the @"
    if len(domain) > MAX_DOMAIN:
        return f"a domain longer than {MAX_DOMAIN} characters"
    labels = domain.split(".")
    if len(labels) < 2:
        return "a domain without a dot (only localhost may have none)"
    for label in labels:
        if not _LABEL.fullmatch(label):
            return "a domain label that is empty, too long, or has characters not allowed"
        if label[2:4] == "--" and not _is_punycode(label):
            return "a domain label that is not valid IDNA (xn--) punycode"
    if labels[-1].isdigit():
        return "a domain that looks like an IP address"
    return ""


def _is_punycode(label: str) -> bool:
    if not label.startswith("xn--"):
        return False  # "ab--": reserved for IDNA
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return False
    return bool(decoded) and not decoded.isascii()


# --- printable text -----------------------------------------------------------------------

# Escaped: C0/C1 controls (ESC, CR, LF, ...), format characters (bidi overrides and
# isolates, zero-width characters), surrogates, private-use and unassigned code points,
# line and paragraph separators; and the backslash, so that an escape in the output
# always means an escaped character.
_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
ELLIPSIS = "…"


def _escaped(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    if unicodedata.category(char) not in _UNSAFE:
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str, limit: int = 200) -> str:
    """``text`` safe to print on a terminal or write into one log line.

    Control, escape and invisible characters (ESC, CR, LF, C1 controls, bidi
    overrides, ...) and the backslash are shown as Python-style escapes; the result is
    at most ``limit`` characters, cut with an ellipsis (never inside an escape).
    """
    if limit < 1:
        raise ValueError("printable() needs a limit of at least 1")
    if len(text) <= limit and text.isprintable() and "\\" not in text:
        return text
    pieces: list[str] = []
    length = 0
    for char in text:
        piece = _escaped(char)
        if length + len(piece) > limit:
            while length > limit - len(ELLIPSIS):
                length -= len(pieces.pop())
            return "".join(pieces) + ELLIPSIS
        pieces.append(piece)
        length += len(piece)
    return "".join(pieces)


# --- CSV cells ----------------------------------------------------------------------------

# What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """``value`` for one cell of CSV output: text that a spreadsheet would take for a
    formula (starting with ``= + - @``, a tab or a carriage return) gets a leading ``'``,
    as OWASP advises; numbers and other text are left as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_row(row: dict[str, object]) -> dict[str, object]:
    """:func:`csv_cell` of every value of ``row``."""
    return {key: csv_cell(value) for key, value in row.items()}


# --- private files ------------------------------------------------------------------------


def write_private_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Create ``path`` with mode 0600 and write ``data`` into it.

    The file is created by ``open(O_CREAT | O_EXCL, 0o600)``, so it is never readable by
    others, not even between creation and a chmod; an existing file or a planted
    symlink at ``path`` is refused (:class:`FileExistsError`), never written through.
    A file left half-written by an error is removed.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # an odd umask (e.g. 0o200) could have narrowed it oddly
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        Path(path).unlink(missing_ok=True)
        raise
    os.close(fd)
