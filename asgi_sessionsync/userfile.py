"""Users to and from JSON Lines files: ``python -m asgi_sessionsync users export|import``.

One user a line, one JSON object with these keys, in this order::

    {"email": "ann@example.com", "name": "Ann", "role": "member", "created_at": 1767225600.25,
     "provisioned_by": null, "metadata": {...}, "password_hash": "scrypt$..."}

``role`` is left out with ``--no-roles``; ``metadata`` is written only when asked and
only by a user store that keeps metadata; ``password_hash`` only with
``--password-hashes`` (``null`` for a user without one). A plain-text password never
exists here: an imported ``password_hash`` must look like a hash (``SCHEME$…``).

Export files are created readable by their owner only, and files are read and written a
batch at a time in a worker thread (:mod:`asgi_sessionsync.userio`); the store is
written a batch at a time (:meth:`UserStore.import_users`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from asgi_sessionsync.exceptions import InvalidEmail
from asgi_sessionsync.stores.base import ImportCounts, User, UserStore
from asgi_sessionsync.userio import MAX_LINE, LineReader, decode
from asgi_sessionsync.validation import printable, require_email

PAGE = 1000  # users read from the store per call when exporting
ROLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
MAX_HASH = 1024
MAX_NAME = 200
MAX_DEPTH = 32  # levels of arrays and objects in one line; a user needs two
FIELDS = ("email", "name", "role", "created_at", "provisioned_by", "metadata", "password_hash")
_HASH = re.compile(r"[\x21-\x7e]+")


def has_metadata() -> bool:
    """Whether this version's users carry metadata (``User.meta``, from user sync)."""
    return any(f.name == "meta" for f in dataclasses.fields(User))


def check_role(role: object) -> str:
    """``role`` if it is a valid role name (1-64 of ``A-Z a-z 0-9 _ . : -``, starting
    with a letter or digit), else :class:`ValueError` saying so."""
    if not isinstance(role, str) or not ROLE.fullmatch(role):
        raise ValueError("role must be 1-64 of A-Z a-z 0-9 _ . : - starting with a letter or digit")
    return role


# -- export --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportOptions:
    roles: tuple[str, ...] = ()  # only these roles (none: every role)
    with_roles: bool = True
    metadata: bool = False
    meta_keys: tuple[str, ...] | None = None  # with metadata: only these keys (None: every key)
    password_hashes: bool = False
    limit: int | None = None
    offset: int = 0


def user_line(user: User, options: ExportOptions) -> str:
    """One user as one JSON line (without the newline)."""
    row: dict[str, Any] = {"email": user.email, "name": user.name}
    if options.with_roles:
        row["role"] = user.role
    row["created_at"] = user.created_at
    row["provisioned_by"] = user.provisioned_by
    if options.metadata:
        metadata = getattr(user, "meta", None)
        if metadata and options.meta_keys is not None:
            metadata = {k: v for k, v in metadata.items() if k in options.meta_keys}
        if metadata:
            row["metadata"] = metadata
    if options.password_hashes:  # null for a user without one: said, not left out
        row["password_hash"] = user.password_hash
    return json.dumps(row, ensure_ascii=False, separators=(", ", ": "))


async def selected_users(store: UserStore, options: ExportOptions, page: int = PAGE) -> AsyncIterator[list[User]]:
    """The users ``options`` select, by email, a page at a time. One role (or none) is
    filtered and paged by the store; several roles are filtered here, over every user."""
    single = options.roles[0] if len(options.roles) == 1 else None
    wanted = set(options.roles) if len(options.roles) > 1 else None
    remaining = math.inf if options.limit is None else options.limit
    skip = options.offset if wanted is not None else 0
    position = options.offset if wanted is None else 0
    while remaining > 0:
        asked = page if wanted is not None else int(min(page, remaining))
        batch = await store.list_users(role=single, limit=asked, offset=position)
        position += len(batch)
        chosen = batch if wanted is None else [u for u in batch if u.role in wanted]
        if skip:
            dropped = min(skip, len(chosen))
            chosen, skip = chosen[dropped:], skip - dropped
        if remaining < len(chosen):
            chosen = chosen[: int(remaining)]
        remaining -= len(chosen)
        if chosen:
            yield chosen
        if len(batch) < asked:
            return


async def export_users(
    store: UserStore,
    options: ExportOptions,
    write: Callable[[str], Any],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the selected users with ``write`` (an async or plain callable taking text), a
    page at a time; return how many. ``progress`` is told how many so far."""
    count = 0
    async for batch in selected_users(store, options):
        text = "".join(user_line(u, options) + "\n" for u in batch)
        done = write(text)
        if done is not None and hasattr(done, "__await__"):
            await done
        count += len(batch)
        if progress is not None:
            progress(count)
    return count


# -- import --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


def parse_user(text: str, *, default_role: str, metadata: bool) -> User:
    """One line as a :class:`User`, or :class:`ValueError` naming the problem (never a
    password hash or the line itself). See :func:`parse_line` for which keys it had."""
    return parse_line(text, default_role=default_role, metadata=metadata)[0]


def parse_line(text: str, *, default_role: str, metadata: bool) -> tuple[User, frozenset[str]]:
    """One line as a :class:`User` (absent keys filled with defaults) and the keys the
    line had: an update keeps the stored value of every key a line leaves out."""
    if len(text) > MAX_LINE:
        raise ValueError(f"longer than {MAX_LINE} characters")
    if _too_deep(text):
        raise ValueError(f"nested too deeply (over {MAX_DEPTH} levels of arrays and objects)")
    try:
        row = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise ValueError(
            f"unknown field(s): {', '.join(printable(k, 40) for k in unknown)} (known: {', '.join(FIELDS)})"
        )
    if "email" not in row:
        raise ValueError("no email")
    try:
        email = require_email(row["email"])
    except InvalidEmail as error:
        raise ValueError(f"invalid email ({error})") from None
    name = row.get("name", "")
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise ValueError(f"name must be text of at most {MAX_NAME} characters")
    role = check_role(row.get("role", default_role))
    created_at = row.get("created_at", 0.0)
    if isinstance(created_at, bool) or not isinstance(created_at, int | float) or not 0 <= created_at < 1e11:
        raise ValueError("created_at must be epoch seconds (a number, 0 for now)")
    provisioned_by = row.get("provisioned_by")
    if provisioned_by is not None and (not isinstance(provisioned_by, str) or len(provisioned_by) > 300):
        raise ValueError("provisioned_by must be an origin (text) or null")
    password_hash = row.get("password_hash")
    if password_hash is not None and (
        not isinstance(password_hash, str)
        or len(password_hash) > MAX_HASH
        or not _HASH.fullmatch(password_hash)
        or "$" not in password_hash
    ):
        raise ValueError("password_hash must be a hash (SCHEME$..., printable ASCII, no spaces); never a password")
    extra: dict[str, Any] = {}
    if metadata and row.get("metadata") is not None:
        meta = row["metadata"]
        if not isinstance(meta, dict) or not all(isinstance(v, str) and len(v) <= 4096 for v in meta.values()):
            raise ValueError("metadata must be a JSON object of text values")
        extra["meta"] = meta
    user = User(
        email=email,
        role=role,
        name=name,
        password_hash=password_hash,
        created_at=float(created_at),
        provisioned_by=provisioned_by,
        **extra,
    )
    return user, frozenset(row)


def _too_deep(text: str) -> bool:
    """Whether ``text`` nests arrays and objects over :data:`MAX_DEPTH` levels, outside
    strings, as a JSON parser sees them (which would recurse that deep: a 30,000-deep
    line is a RecursionError). A user line needs two levels; counting is quick, and the
    walk runs only for a line with that many brackets at all."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False


@dataclass
class ImportReport:
    counts: ImportCounts = field(default_factory=ImportCounts)
    lines: int = 0
    errors: list[LineError] = field(default_factory=list)
    error_count: int = 0
    metadata_ignored: int = 0

    MAX_KEPT = 1000  # errors kept for the report (all are counted)

    def refuse(self, error: LineError) -> None:
        self.error_count += 1
        if len(self.errors) < self.MAX_KEPT:
            self.errors.append(error)


async def import_users(
    store: UserStore | None,
    reader: LineReader,
    *,
    batch: int = 1000,
    replace: bool = False,
    strict: bool = False,
    default_role: str = "member",
    on_error: Callable[[LineError], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Read users from ``reader`` and store them ``batch`` at a time (``store`` None:
    only check the lines).

    A bad line is reported (``on_error``) and skipped; with ``strict`` the first one
    stops the import before the batch it is in is written (the command checks a whole
    file first, so that nothing is written). An email seen on an earlier line is
    refused on the later one (the first wins). With ``replace``, a field a line leaves
    out keeps its stored value. ``progress`` is told the bytes read."""
    keeps_metadata = has_metadata()
    needed = _KEPT_ON_UPDATE | ({"metadata"} if keeps_metadata else set())
    report = ImportReport()
    seen: dict[str, int] = {}
    while True:
        lines = await reader.batch(batch)
        if not lines:
            break
        users: list[User] = []
        for number, raw in lines:
            report.lines += 1
            try:
                text = decode(raw)
                if not text:
                    continue  # blank lines are allowed
                user, present = parse_line(text, default_role=default_role, metadata=keeps_metadata)
                if user.email in seen:
                    raise ValueError(f"{user.email} is on line {seen[user.email]} already (the first is kept)")
            except ValueError as error:
                problem = LineError(number, str(error))
                report.refuse(problem)
                if on_error is not None:
                    on_error(problem)
                if strict:
                    return report
                continue
            if not keeps_metadata and b'"metadata"' in raw:
                report.metadata_ignored += 1
            seen[user.email] = number
            if replace and store is not None and not present >= needed:
                user = await _kept(store, user, present)
            users.append(user)
        if users and store is not None:
            report.counts += await store.import_users(users, replace=replace)
        if progress is not None:
            progress(reader.bytes_read)
    return report


_KEPT_ON_UPDATE = frozenset({"name", "role", "created_at", "provisioned_by", "password_hash"})


async def _kept(store: UserStore, user: User, present: frozenset[str]) -> User:
    """For an update: the stored values of the fields the line left out (an export made
    ``--no-roles`` or without ``--password-hashes`` must not reset roles or hashes)."""
    stored = await store.get(user.email)
    if stored is None:
        return user
    kept = {name: getattr(stored, name) for name in _KEPT_ON_UPDATE - present}
    if "metadata" not in present and has_metadata():
        kept["meta"] = getattr(stored, "meta", {})
    return dataclasses.replace(user, **kept)


__all__ = [
    "ExportOptions",
    "ImportReport",
    "LineError",
    "check_role",
    "export_users",
    "has_metadata",
    "import_users",
    "parse_line",
    "parse_user",
    "selected_users",
    "user_line",
]
