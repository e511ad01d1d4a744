"""How much work a password hash from a peer asks of this site: bounded per scheme.

A hash carries its own cost parameters (scrypt's N, r, p; PBKDF2's iterations; Argon2's
memory, time and lanes; bcrypt's rounds), and the app verifies a login with whatever the
hash says. A peer could therefore send a hash that ties up every login of the user here
for minutes (an scrypt hash with a huge N took 28 minutes), or exhausts memory. A hash
from a peer is taken only when its parameters can be read and are within the bounds
below: generous for what Django and the usual libraries make today (Django 5.x: scrypt
N=2^14 r=8 p=1, PBKDF2 870,000-1,000,000 iterations, Argon2 m=100 MiB t=2 p=8, bcrypt 12
rounds), small enough that no hash costs more than about a second.

Schemes not listed here have no known layout: they are taken as the network file's
``password_formats`` says, and their cost is the operator's to judge. Nothing here runs
per request; only a peer's user message is checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable

SCRYPT_MAX_WORK = 2**20  # N * r * p: 8 times Django's default (2^14 * 8 * 1)
SCRYPT_MAX_MEMORY = 2**20  # N * r: 128 * N * r bytes, 128 MiB
PBKDF2_MAX_ITERATIONS = 3_000_000
ARGON2_MAX_MEMORY_KIB = 256 * 1024
ARGON2_MAX_TIME = 10
ARGON2_MAX_LANES = 16
BCRYPT_MAX_ROUNDS = 14

_ARGON2 = re.compile(r"m=(\d{1,10}),t=(\d{1,4}),p=(\d{1,4})")
_BCRYPT = re.compile(r"\$2[abxy]?\$(\d{1,2})\$")


def _int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else None


def _scrypt(parts: list[str]) -> str | None:
    # scrypt$N$r$p$salt$hash (hashlib's order, the demo's) or scrypt$N$salt$r$p$hash (Django's)
    if len(parts) != 6:
        return "an scrypt hash has six $-separated fields"
    n = _int(parts[1])
    r, p = (_int(parts[2]), _int(parts[3])) if _int(parts[2]) is not None else (_int(parts[3]), _int(parts[4]))
    if n is None or r is None or p is None or n < 2 or n & (n - 1) or r < 1 or p < 1:
        return "its scrypt parameters cannot be read"
    if n * r > SCRYPT_MAX_MEMORY or n * r * p > SCRYPT_MAX_WORK:
        return f"its scrypt cost (N={n}, r={r}, p={p}) is beyond what this site verifies"
    return None


def _pbkdf2(parts: list[str]) -> str | None:
    # pbkdf2_sha256$iterations$salt$hash (Django, passlib's django_ formats)
    iterations = _int(parts[1]) if len(parts) == 4 else None
    if iterations is None or iterations < 1:
        return "its PBKDF2 iterations cannot be read"
    if iterations > PBKDF2_MAX_ITERATIONS:
        return f"its PBKDF2 cost ({iterations} iterations) is beyond what this site verifies"
    return None


def _argon2(parts: list[str]) -> str | None:
    # argon2$argon2id$v=19$m=102400,t=2,p=8$salt$hash (Django), or the PHC string after argon2
    found = _ARGON2.search("$".join(parts[1:]))
    if found is None:
        return "its Argon2 parameters cannot be read"
    memory, time_cost, lanes = (int(v) for v in found.groups())
    if memory > ARGON2_MAX_MEMORY_KIB or time_cost > ARGON2_MAX_TIME or lanes > ARGON2_MAX_LANES:
        return f"its Argon2 cost (m={memory}, t={time_cost}, p={lanes}) is beyond what this site verifies"
    return None


def _bcrypt(parts: list[str]) -> str | None:
    # bcrypt$$2b$12$… and bcrypt_sha256$$2b$12$… (Django)
    found = _BCRYPT.search("$" + "$".join(parts[1:]))
    if found is None:
        return "its bcrypt rounds cannot be read"
    rounds = int(found.group(1))
    if rounds > BCRYPT_MAX_ROUNDS:
        return f"its bcrypt cost ({rounds} rounds) is beyond what this site verifies"
    return None


_CHECKS: dict[str, Callable[[list[str]], str | None]] = {
    "scrypt": _scrypt,
    "pbkdf2_sha256": _pbkdf2,
    "pbkdf2_sha1": _pbkdf2,
    "argon2": _argon2,
    "bcrypt": _bcrypt,
    "bcrypt_sha256": _bcrypt,
}

#: The schemes whose cost is checked.
BOUNDED_SCHEMES = tuple(_CHECKS)


def cost_problem(password_hash: str) -> str | None:
    """Why a peer's hash is not taken for what it would cost to verify, or None."""
    parts = password_hash.split("$")
    check = _CHECKS.get(parts[0])
    return check(parts) if check is not None else None
