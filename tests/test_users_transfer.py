"""``users export|import``: JSON Lines, filters, private files, per-line errors, round trip."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest

from asgi_sessionsync.stores import ImportCounts, User, UserStore, memory_stores
from asgi_sessionsync.userfile import ExportOptions, LineError, export_users, import_users, parse_user
from asgi_sessionsync.userio import LineReader, PrivateFile

T0 = 1_767_225_600.123456


def people() -> list[User]:
    return [
        User("ann@example.com", "admin", "Ann Ö", "scrypt$1$abc", T0, None),
        User("bob@example.com", "member", "Bob", None, T0 + 1, "https://b.example"),
        User("cy@example.com", "editor", "Cy", "pbkdf2_sha256$9$xyz", T0 + 2, None),
        User("dee@example.com", "member", "", "scrypt$1$def", T0 + 3, None),
    ]


async def filled() -> UserStore:
    store = memory_stores().users
    await store.import_users(people())
    return store


async def exported(store: UserStore, options: ExportOptions | None = None) -> str:
    out = io.StringIO()
    await export_users(store, options or ExportOptions(), out.write)
    return out.getvalue()


async def imported(store: UserStore, text: str, **options: object) -> tuple[ImportCounts, list[LineError]]:
    errors: list[LineError] = []
    report = await import_users(
        store,
        LineReader(io.BytesIO(text.encode())),
        on_error=errors.append,
        **options,  # type: ignore[arg-type]
    )
    return report.counts, errors


async def test_export_writes_one_json_object_a_line_ordered_by_email_without_hashes() -> None:
    lines = (await exported(await filled())).splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["email"] for r in rows] == ["ann@example.com", "bob@example.com", "cy@example.com", "dee@example.com"]
    assert list(rows[0]) == ["email", "name", "role", "created_at", "provisioned_by"]
    assert rows[0]["created_at"] == T0 and rows[1]["provisioned_by"] == "https://b.example"
    assert not any("password_hash" in r for r in rows)
    assert "scrypt$" not in "\n".join(lines)


async def test_password_hashes_are_exported_only_when_asked() -> None:
    rows = [json.loads(x) for x in (await exported(await filled(), ExportOptions(password_hashes=True))).splitlines()]
    assert [r["password_hash"] for r in rows] == ["scrypt$1$abc", None, "pbkdf2_sha256$9$xyz", "scrypt$1$def"]


async def test_filters_by_role_roles_limit_and_offset() -> None:
    store = await filled()

    async def emails(**options: object) -> list[str]:
        text = await exported(store, ExportOptions(**options))  # type: ignore[arg-type]
        return [json.loads(x)["email"] for x in text.splitlines()]

    assert await emails(roles=("member",)) == ["bob@example.com", "dee@example.com"]
    assert await emails(roles=("member", "admin")) == ["ann@example.com", "bob@example.com", "dee@example.com"]
    assert await emails(limit=2) == ["ann@example.com", "bob@example.com"]
    assert await emails(limit=2, offset=1) == ["bob@example.com", "cy@example.com"]
    assert await emails(roles=("member", "editor"), limit=1, offset=1) == ["cy@example.com"]
    assert await emails(roles=("member",), offset=1) == ["dee@example.com"]
    assert await emails(limit=0) == []
    no_roles = await exported(store, ExportOptions(with_roles=False))
    assert '"role"' not in no_roles


async def test_batches_of_limit_and_offset_cover_every_user_once() -> None:
    store = memory_stores().users
    await store.import_users([User(f"u{n:04d}@example.com", "member", created_at=T0) for n in range(2345)])
    parts = [await exported(store, ExportOptions(limit=1000, offset=o)) for o in (0, 1000, 2000)]
    assert "".join(parts) == await exported(store)


async def test_round_trip_export_import_export_gives_the_same_file() -> None:
    options = ExportOptions(password_hashes=True)
    first = await exported(await filled(), options)
    fresh = memory_stores().users
    counts, errors = await imported(fresh, first)
    assert errors == [] and counts == ImportCounts(created=4)
    assert await exported(fresh, options) == first
    assert await fresh.get("ann@example.com") == people()[0]


async def test_bad_lines_are_reported_with_their_number_and_do_not_stop_the_rest() -> None:
    text = "\n".join(
        [
            '{"email": "ann@example.com", "role": "member"}',
            "not json",
            '{"email": "not an email", "role": "member"}',
            '{"email": "bob@example.com", "role": "bad role!"}',
            '{"email": "cy@example.com", "password_hash": "hunter2"}',
            '{"email": "ANN@example.com"}',
            '{"email": "dee@example.com", "emial": "x"}',
            "",
            "[1, 2]",
            '{"email": "eve@example.com", "created_at": "yesterday"}',
            '{"email": "fay@example.com"}',
        ]
    )
    store = memory_stores().users
    counts, errors = await imported(store, text, default_role="guest")
    assert counts == ImportCounts(created=2)
    problems = {e.line: e.problem for e in errors}
    assert sorted(problems) == [2, 3, 4, 5, 6, 7, 9, 10]
    assert problems[2].startswith("not JSON")
    assert problems[3].startswith("invalid email")
    assert problems[4].startswith("role must be")
    assert "never a password" in problems[5] and "hunter2" not in problems[5]
    assert "line 1" in problems[6]
    assert "emial" in problems[7]
    assert str(errors[0]) == "line 2: " + problems[2]
    fay = await store.get("fay@example.com")
    assert fay is not None and fay.role == "guest"


async def test_strict_stops_at_the_first_bad_line_before_writing_its_batch() -> None:
    store = memory_stores().users
    text = '{"email": "ann@example.com"}\nnope\n{"email": "bob@example.com"}\n'
    counts, errors = await imported(store, text, strict=True)
    assert counts == ImportCounts() and [e.line for e in errors] == [2]
    assert await store.list_users() == []


async def test_update_overwrites_existing_users_and_without_it_they_are_kept() -> None:
    store = await filled()
    text = '{"email": "bob@example.com", "role": "editor", "name": "Robert"}\n'
    counts, _ = await imported(store, text)
    assert counts == ImportCounts(skipped=1)
    counts, _ = await imported(store, text, replace=True)
    assert counts == ImportCounts(updated=1)
    bob = await store.get("bob@example.com")
    assert bob is not None and (bob.role, bob.name) == ("editor", "Robert")


def test_parse_user_accepts_a_minimal_line_and_never_echoes_a_hash() -> None:
    user = parse_user('{"email": " Ann@Example.com "}', default_role="member", metadata=False)
    assert user == User("ann@example.com", "member", "", None, 0.0, None)
    with pytest.raises(ValueError, match="password_hash") as caught:
        parse_user('{"email": "a@example.com", "password_hash": "with space$x"}', default_role="m", metadata=False)
    assert "with space" not in str(caught.value)


async def test_export_file_is_created_0600_and_never_overwritten_without_force(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # even a permissive umask gives an owner-only file
    try:
        target = tmp_path / "users.jsonl"
        out = PrivateFile(target, force=False)
        assert stat.S_IMODE(target.stat().st_mode) == 0o600  # from creation, before any write
        await out.write("one\n")
        await out.close()
        with pytest.raises(FileExistsError, match="--force"):
            PrivateFile(target, force=False)
        assert target.read_text() == "one\n"
        replaced = PrivateFile(target, force=True)
        await replaced.write("two\n")
        assert target.read_text() == "one\n"  # replaced only when the export ends
        await replaced.close()
        assert target.read_text() == "two\n"
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert sorted(os.listdir(tmp_path)) == ["users.jsonl"]
    finally:
        os.umask(old_umask)


async def test_a_failed_export_with_force_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "users.jsonl"
    target.write_text("old\n")
    out = PrivateFile(target, force=True)
    await out.write("partial")
    await out.close(keep=False)
    assert target.read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["users.jsonl"]


async def test_update_keeps_the_stored_value_of_every_field_a_line_leaves_out() -> None:
    store = await filled()
    partial = await exported(store, ExportOptions(with_roles=False))  # no roles, no hashes
    changed = partial.replace('"name": "Ann Ö"', '"name": "Ann B"')
    counts, errors = await imported(store, changed, replace=True, default_role="guest")
    assert errors == [] and counts == ImportCounts(updated=4)
    ann = await store.get("ann@example.com")
    assert ann == User("ann@example.com", "admin", "Ann B", "scrypt$1$abc", T0, None)
    assert [u.role for u in await store.list_users()] == ["admin", "member", "editor", "member"]
    # Said explicitly, a value is taken: null removes a hash.
    await imported(store, '{"email": "ann@example.com", "password_hash": null}\n', replace=True)
    ann = await store.get("ann@example.com")
    assert ann is not None and ann.password_hash is None and ann.role == "admin"


async def test_metadata_is_exported_when_asked_and_imported_back() -> None:
    store = memory_stores().users
    await store.import_users([User("ann@example.com", "member", "Ann", None, T0, None, meta={"team": "blue"})])
    plain = await exported(store)
    assert "metadata" not in plain
    with_meta = await exported(store, ExportOptions(metadata=True))
    assert json.loads(with_meta)["metadata"] == {"team": "blue"}
    fresh = memory_stores().users
    counts, errors = await imported(fresh, with_meta)
    assert errors == [] and counts == ImportCounts(created=1)
    ann = await fresh.get("ann@example.com")
    assert ann is not None and ann.meta == {"team": "blue"}
    _, errors = await imported(fresh, '{"email": "bob@example.com", "metadata": {"n": 1}}\n')
    assert [e.problem for e in errors] == ["metadata must be a JSON object of text values"]


async def test_a_deeply_nested_line_is_refused_and_the_import_goes_on() -> None:
    """Red-team #20: a 30,000-deep JSON line raised RecursionError out of the import."""
    text = "\n".join(['{"email": "ann@example.com"}', "[" * 30_000 + "]" * 30_000, '{"email": "bob@example.com"}'])
    store = memory_stores().users
    counts, errors = await imported(store, text)
    assert counts == ImportCounts(created=2)
    assert [str(e) for e in errors] == ["line 2: nested too deeply (over 32 levels of arrays and objects)"]


def test_brackets_inside_strings_are_not_nesting() -> None:
    user = parse_user('{"email": "ann@example.com", "name": "' + "[{" * 40 + '\\"]"}', default_role="m", metadata=False)
    assert user.name == "[{" * 40 + '"]'


async def test_export_chooses_metadata_keys_and_the_chosen_ones_import_back() -> None:
    """#26: ``users export --meta team,locale`` writes those keys only (a user with none of
    them has no ``metadata``); the file imports back into a fresh site with them."""
    store = memory_stores().users
    await store.import_users(
        [
            User("ann@example.com", "member", "Ann", None, T0, None, meta={"team": "blue", "ssn": "x", "locale": "de"}),
            User("bob@example.com", "member", "Bob", None, T0, None, meta={"ssn": "y"}),
        ]
    )
    chosen = await exported(store, ExportOptions(metadata=True, meta_keys=("team", "locale")))
    rows = [json.loads(line) for line in chosen.splitlines()]
    assert rows[0]["metadata"] == {"team": "blue", "locale": "de"} and "metadata" not in rows[1]
    assert "ssn" not in chosen
    fresh = memory_stores().users
    counts, errors = await imported(fresh, chosen)
    assert errors == [] and counts == ImportCounts(created=2)
    ann = await fresh.get("ann@example.com")
    assert ann is not None and ann.meta == {"team": "blue", "locale": "de"}


def test_the_command_line_takes_meta_keys_and_leaves_hashes_out_unless_asked() -> None:
    from asgi_sessionsync.cli import build_parser

    args = build_parser().parse_args(["users", "export", "--meta", "team, locale,team"])
    assert args.meta == ("team", "locale") and not args.password_hashes
    assert build_parser().parse_args(["users", "export", "--with-hashes"]).password_hashes
