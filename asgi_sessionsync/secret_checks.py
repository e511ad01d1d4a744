"""Whether a secret looks made by a random generator or chosen by a person.

:func:`weakness` names why a secret (canonical base64url text and its bytes) does not
look random, or returns None. It refuses what a person chose rather than what a random
generator made: passphrases, hex, one character class, repeats, text, bytes that count
in equal steps, and the digests of a short list of common passwords.

Each entropy threshold is set so that random output (43 characters, 32 bytes) fails it
with a probability below about 1e-6 (most below 1e-8); ``generate_secret()`` draws again
in that case. A longer random secret passes the share and distinct-count checks more
easily, and fails the run checks a little more often (twice the length, about twice the
chance: still below 1e-6).

What no check can see: a digest of a word (``sha256("my dog's name")``) is as random
to every statistic as the output of a generator, and exactly as guessable as the word.
Only the words of the built-in list below are caught, by comparing digests; any other
is not, and the error says so. Names the kind of weakness only, never a character or a
byte of the secret.
"""

from __future__ import annotations

import functools
import hashlib
import itertools

__all__ = ["COMMON_PASSWORDS", "weakness"]

_MIN_DISTINCT_CHARS = 19  # random 43 characters: ~31.5 distinct; P(< 19) ~ 1e-9
_MAX_CLASS_RUN = 20  # a run of one character class (e.g. 20 lower-case letters): P ~ 4e-7
_REPEAT_CHARS = 6  # a stretch of 6 characters seen twice: P ~ 1.4e-8
_MIN_DISTINCT_BYTES = 20  # random 32 bytes: ~30 distinct; P(< 20) ~ 1.5e-10
_MAX_PRINTABLE_SHARE = 7 / 8  # 28 of 32 bytes printable ASCII: P ~ 5e-9
_MAX_PRINTABLE_RUN = 20  # 20 printable ASCII bytes in a row: P ~ 3e-8
# 6 bytes in one arithmetic progression (mod 256), taken every 1st, 2nd, 3rd or 4th byte
# (0..31, 31..0, steps of 7, two interleaved counters): 78 places in 32 bytes, each
# 256**-4: P ~ 1.8e-8.
_PROGRESSION_RUN = 6
_PROGRESSION_STRIDES = (1, 2, 3, 4)

# Passwords that top the published lists of leaked ones, and the words a developer
# reaches for when a setting wants "a secret". Each is checked as it is, capitalized and
# in upper case, with and without a trailing newline (`echo word | sha256sum`).
COMMON_PASSWORDS = (
    "",
    "123456", "password", "12345678", "qwerty", "123456789", "12345", "1234", "111111",
    "1234567", "dragon", "123123", "baseball", "abc123", "football", "monkey", "letmein",
    "696969", "shadow", "master", "666666", "qwertyuiop", "123321", "mustang",
    "1234567890", "michael", "654321", "superman", "1qaz2wsx", "7777777", "121212",
    "000000", "qazwsx", "123qwe", "killer", "trustno1", "jordan", "jennifer", "zxcvbnm",
    "asdfgh", "hunter", "hunter2", "buster", "soccer", "harley", "batman", "andrew",
    "tigger", "sunshine", "iloveyou", "charlie", "robert", "thomas", "hockey", "ranger",
    "daniel", "starwars", "112233", "george", "computer", "michelle", "jessica", "pepper",
    "1111", "zxcvbn", "555555", "11111111", "131313", "freedom", "777777", "pass",
    "maggie", "159753", "aaaaaa", "ginger", "princess", "joshua", "cheese", "amanda",
    "summer", "love", "ashley", "nicole", "chelsea", "matthew", "access", "yankees",
    "987654321", "dallas", "austin", "thunder", "taylor", "matrix", "welcome", "hello",
    "admin", "administrator", "root", "toor", "login", "passw0rd", "password1",
    "password123", "p@ssw0rd", "qwerty123", "1q2w3e4r", "abcdef", "abcd1234", "welcome1",
    "secret", "secrets", "changeme", "change-me", "changeit", "default", "guest", "test",
    "test123", "testing", "demo", "example", "development", "dev", "production", "prod",
    "staging", "key", "token", "mysecret", "mysecretkey", "supersecret", "topsecret",
    "secret_key", "secretkey", "secret-key", "secret key", "session", "sessionsync",
    "asgi-sessionsync", "asgi_sessionsync", "django-insecure", "wonderland", "builder",
)  # fmt: skip
_DIGESTS = ("sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512", "blake2b", "blake2s")
_DIGEST_PREFIX = 32  # bytes compared: a secret that is, or starts with, such a digest


def weakness(text: str, raw: bytes) -> str | None:
    """Why ``text`` (canonical base64url) and its bytes ``raw`` do not look random, or None."""
    classes = [_char_class(c) for c in text]
    if 0 not in classes or 1 not in classes:
        return "random base64url text has both upper- and lower-case letters"
    if len(set(text)) < _MIN_DISTINCT_CHARS:
        return "too few distinct characters"
    run = longest = 1
    for before, after in itertools.pairwise(classes):
        run = run + 1 if before == after else 1
        longest = max(longest, run)
    if longest >= _MAX_CLASS_RUN:
        return "a long run of one kind of character"
    seen: set[str] = set()
    for start in range(len(text) - _REPEAT_CHARS + 1):
        piece = text[start : start + _REPEAT_CHARS]
        if piece in seen:
            return "a repeated stretch of text"
        seen.add(piece)
    if len(set(raw)) < _MIN_DISTINCT_BYTES:
        return "too few distinct bytes"
    printable = [0x20 <= b < 0x7F for b in raw]
    if sum(printable) >= _MAX_PRINTABLE_SHARE * len(raw):
        return "it decodes to text"
    run = 0
    for is_printable in printable:
        run = run + 1 if is_printable else 0
        if run >= _MAX_PRINTABLE_RUN:
            return "it decodes to text"
    if _counts_in_steps(raw):
        return "bytes that count up or down in equal steps"
    if raw[:_DIGEST_PREFIX] in _common_digests():
        return (
            "it is a digest of a common password (SHA-2, SHA-3 or BLAKE2). A digest of any word "
            "looks random to every check and is as easy to guess as the word; only a short list of "
            "common words is checked here, so a digest of another word would pass"
        )
    return None


def _char_class(char: str) -> int:
    if char.isupper():
        return 0
    if char.islower():
        return 1
    if char.isdigit():
        return 2
    return 3


def _counts_in_steps(raw: bytes) -> bool:
    """Whether :data:`_PROGRESSION_RUN` bytes, one every ``stride``, differ by one step."""
    span = _PROGRESSION_RUN - 1
    for stride in _PROGRESSION_STRIDES:
        for start in range(len(raw) - span * stride):
            step = (raw[start + stride] - raw[start]) % 256
            if all((raw[start + (k + 1) * stride] - raw[start + k * stride]) % 256 == step for k in range(1, span)):
                return True
    return False


@functools.cache
def _common_digests() -> frozenset[bytes]:
    """The first 32 bytes of every digest of every variant of :data:`COMMON_PASSWORDS`
    (some 6,000 hashes, a few milliseconds, once a process, at the first secret checked)."""
    hashes = [getattr(hashlib, name) for name in _DIGESTS]
    found: set[bytes] = set()
    for word in COMMON_PASSWORDS:
        for variant in {word, word.capitalize(), word.upper()}:
            for data in (variant.encode(), variant.encode() + b"\n"):
                found.update(digest(data).digest()[:_DIGEST_PREFIX] for digest in hashes)
    return frozenset(found)
