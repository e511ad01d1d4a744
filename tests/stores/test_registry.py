"""SESSIONSYNC_STORE URLs: one table decides what settings accept and what opens."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from asgi_sessionsync.exceptions import ConfigError, StoreError
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import User, check_store_url, open_stores, redact
from asgi_sessionsync.stores.memory import MemoryUserStore
from asgi_sessionsync.stores.sqlite import SQLiteUserStore

KEY = generate_secret()


def settings_accept(url: str) -> bool:
    env = {"SESSIONSYNC_SITE_URL": "https://a.example", "SESSIONSYNC_SECRET_KEYS": KEY, "SESSIONSYNC_STORE": url}
    try:
        Settings.from_env(env, env_file=None)
    except ConfigError as error:
        variable = error.variable
    else:
        return True
    assert variable == "SESSIONSYNC_STORE"
    return False


def check_accepts(url: str) -> bool:
    try:
        check_store_url(url)
    except ConfigError:
        return False
    return True


URLS = [
    "memory://",
    "sqlite:///site.sqlite3",
    "sqlite:///data/site.sqlite3",
    "sqlite:////tmp/sessionsync-registry-test/site.sqlite3",
    "sqlite:///:memory:",
    "memory://elsewhere",
    "sqlite://",
    "sqlite:///",
    "sqlite://host/site.sqlite3",
    "sqlite:///site.sqlite3?mode=ro",
    "postgres://db/sessions",
    "sessionsync.sqlite3",
    "",
]


@pytest.mark.parametrize("url", URLS)
def test_settings_accept_exactly_the_urls_the_registry_accepts(url: str) -> None:
    assert settings_accept(url) == check_accepts(url)


@pytest.mark.parametrize("url", [u for u in URLS if not check_accepts(u)])
def test_open_stores_refuses_what_the_check_refuses(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_stores(url)
    assert caught.value.variable == "SESSIONSYNC_STORE"
    assert "example:" in str(caught.value)


def test_an_unknown_scheme_is_not_a_store_location() -> None:
    with pytest.raises(ConfigError, match="not a store location"):
        check_store_url("postgres://db/x")


def test_errors_never_show_the_password_of_a_store_url() -> None:
    with pytest.raises(ConfigError) as caught:
        check_store_url("postgres://admin:hunter2@db/x")
    assert "hunter2" not in str(caught.value) and "admin" not in str(caught.value)
    assert redact("redis://:hunter2@h:6379/0?prefix=a") == "redis://***@h:6379/0?prefix=a"
    assert redact("redis://h:6379") == "redis://h:6379"


async def test_memory_url_opens_memory_stores() -> None:
    stores = open_stores("memory://")
    assert isinstance(stores.users, MemoryUserStore)


async def test_a_relative_sqlite_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    stores = open_stores("sqlite:///data/site.sqlite3")
    assert isinstance(stores.users, SQLiteUserStore)
    await stores.users.create(User("ann@example.com", "member"))
    await stores.close()
    assert (tmp_path / "data" / "site.sqlite3").is_file()


async def test_an_absolute_sqlite_path_takes_four_slashes(tmp_path: Path) -> None:
    path = tmp_path / "abs" / "site.sqlite3"
    stores = open_stores(f"sqlite:///{path}")
    await stores.close()
    assert str(path).startswith("/") and path.is_file()


async def test_sqlite_memory_database_is_private_and_works() -> None:
    stores = open_stores("sqlite:///:memory:")
    await stores.users.create(User("ann@example.com", "member"))
    assert await stores.users.get("ann@example.com") is not None
    await stores.close()


def test_a_parent_that_is_a_file_is_a_config_error_naming_the_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "blocker").write_text("not a directory")
    url = "sqlite:///blocker/sub/site.sqlite3"
    for attempt in (check_store_url, open_stores):
        with pytest.raises(ConfigError) as caught:
            attempt(url)
        assert caught.value.variable == "SESSIONSYNC_STORE"
        assert str(tmp_path / "blocker" / "sub") in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_a_path_that_is_a_directory_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    url = f"sqlite:///{tmp_path / 'db'}"
    assert not settings_accept(url)
    with pytest.raises(ConfigError, match="is a directory") as caught:
        open_stores(url)
    assert str(tmp_path / "db") in str(caught.value)


def test_checking_a_url_creates_nothing(tmp_path: Path) -> None:
    check_store_url(f"sqlite:///{tmp_path / 'new' / 'site.sqlite3'}")
    assert list(tmp_path.iterdir()) == []


def test_read_only_open_refuses_a_missing_database_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError) as caught:
        open_stores("sqlite:///missing/site.sqlite3", create=False)
    assert str(tmp_path / "missing" / "site.sqlite3") in str(caught.value)
    assert list(tmp_path.iterdir()) == []


async def test_read_only_open_reads_an_existing_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'site.sqlite3'}"
    stores = open_stores(url)
    await stores.users.create(User("ann@example.com", "member"))
    await stores.close()
    again = open_stores(url, create=False)
    assert await again.users.get("ann@example.com") is not None
    await again.close()


async def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "site.sqlite3"
    path.touch()
    os.chmod(path, 0o640)
    await open_stores(f"sqlite:///{path}").close()
    assert path.stat().st_mode & 0o777 == 0o640
