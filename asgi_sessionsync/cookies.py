"""Reading one cookie fast and writing Set-Cookie values; no general-purpose jar."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def cookie_header(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """All ``Cookie`` headers of a request joined, or None (the common anonymous case)."""
    found: bytes | None = None
    for key, value in headers:
        if key == b"cookie":
            found = value if found is None else found + b"; " + value
    return found


def find_cookie(header: bytes | None, name: str | bytes) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, without parsing the rest.

    ``name`` may be given pre-encoded as ``b"name="`` (the per-request path does)."""
    if not header:
        return None
    needle = name if isinstance(name, bytes) else name.encode("latin-1") + b"="
    start = 0
    while True:
        index = header.find(needle, start)
        if index < 0:
            return None
        if index == 0 or header[index - 1] in b" ;":
            end = header.find(b";", index)
            raw = header[index + len(needle) : end if end >= 0 else None].strip()
            if raw[:1] == b'"':
                raw = raw.strip(b'"')
            return raw.decode("latin-1")
        start = index + 1


def without_cookie(headers: list[tuple[bytes, bytes]], name: str) -> list[tuple[bytes, bytes]]:
    """Request headers with cookie ``name`` removed, so the app never sees it."""
    prefix = name.encode("latin-1") + b"="
    result: list[tuple[bytes, bytes]] = []
    for key, value in headers:
        if key == b"cookie":
            kept = [p for p in (c.strip() for c in value.split(b";")) if p and not p.startswith(prefix)]
            if kept:
                result.append((key, b"; ".join(kept)))
        else:
            result.append((key, value))
    return result


def response_cookie(headers: Iterable[tuple[bytes, bytes]], name: str) -> tuple[bool, str | None]:
    """Whether a response sets cookie ``name``, and its value (None when it deletes it)."""
    prefix = name.encode("latin-1") + b"="
    for key, value in headers:
        if key.lower() == b"set-cookie" and value.startswith(prefix):
            cookie = value.split(b";", 1)[0][len(prefix) :].strip().strip(b'"').decode("latin-1")
            attributes = value.lower()
            if not cookie or b"max-age=0" in attributes or b"1970 " in attributes:
                return True, None
            return True, cookie
    return False, None


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    """Attributes of every cookie the middleware writes, computed once."""

    path: str = "/"
    domain: str | None = None
    secure: bool = True
    samesite: str = "lax"
    httponly: bool = True  # False only for an app's own cookie whose settings say so

    def _attributes(self) -> str:
        parts = [f"Path={self.path}", "HttpOnly", f"SameSite={self.samesite.capitalize()}"]
        if not self.httponly:
            del parts[1]
        if self.secure:
            parts.append("Secure")
        if self.domain:
            parts.append(f"Domain={self.domain}")
        return "; ".join(parts)

    def set(self, name: str, value: str, max_age: int | None) -> bytes:
        """A Set-Cookie value; ``max_age`` None makes a browser-session cookie."""
        lifetime = "" if max_age is None else f"Max-Age={max_age}; "
        return f"{name}={value}; {lifetime}{self._attributes()}".encode("latin-1")

    def delete(self, name: str) -> bytes:
        return f'{name}=""; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; {self._attributes()}'.encode("latin-1")
