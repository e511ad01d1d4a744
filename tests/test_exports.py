"""What the package root exports (#21): exactly what :class:`SessionSyncMiddleware` takes, plus
``sign_in``/``sign_out``, ``mark_verified``, ``record_failed_login``, ``exit_on_config_error`` and the
exceptions; and one exception hierarchy, every class of it in ``exceptions.py``."""

from __future__ import annotations

import ast
import builtins
import importlib
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest

import asgi_sessionsync
from asgi_sessionsync.exceptions import SessionSyncError
from asgi_sessionsync.identity import IdentityAdapter
from asgi_sessionsync.settings import MiddlewareOptions

PACKAGE_DIR = Path(asgi_sessionsync.__file__).resolve().parent
EXCEPTIONS = "asgi_sessionsync.exceptions"

TYPES = {
    # the constructor's parameters and keyword options
    "SessionSyncMiddleware", "Settings", "MiddlewareOptions", "IdentityAdapter", "Stores", "Mailer", "Hooks",
    "BindingMode", "Network", "NetworkRules", "Peer", "Policy", "RequireVerified", "Secret", "SyncMode",
    # what adapters are written in, and the built-in ones
    "AppLoginAdapter", "Account", "ActiveSession", "SessionIdentity",
    # the stores' factories and the SMTP mailer
    "memory_stores", "sqlite_stores", "open_stores", "SMTPMailer",
    # the operator's console and a user's own page (docs/console.md), what list_sessions gives
    "Console", "AccountPage", "OwnSession",
}  # fmt: skip
FUNCTIONS = {
    "sign_in",
    "sign_out",
    "exit_on_config_error",
    "list_sessions",
    "end_session",
    "end_other_sessions",
    "mark_verified",
    "record_failed_login",
}
ERRORS = {
    "SessionSyncError", "ConfigError", "ConfigErrors", "StartupRefused", "EnvelopeError", "StoreError", "InvalidEmail",
    "StoreUnavailable", "StoreDamaged", "MailError", "UserNotFound", "UserDeleted", "EmailChangeRefused",
    "WprusRefused", "MessageRefused",
}  # fmt: skip
# Each needs an extra: named at the root, imported when first used.
OPTIONAL = {
    "DjangoIdentity": "asgi_sessionsync.identity.django",
    "LitestarSessionIdentity": "asgi_sessionsync.identity.litestar",
    "QuartSessionIdentity": "asgi_sessionsync.identity.quart",
    "StarletteSessionIdentity": "asgi_sessionsync.identity.starlette_session",
    "redis_stores": "asgi_sessionsync.stores.redis",
}


def test_the_root_exports_the_constructors_types_the_sign_in_calls_and_the_exceptions() -> None:
    assert set(asgi_sessionsync.__all__) == TYPES | FUNCTIONS | ERRORS
    assert asgi_sessionsync.OPTIONAL_EXPORTS == OPTIONAL
    for name, module in OPTIONAL.items():
        assert getattr(asgi_sessionsync, name) is getattr(importlib.import_module(module), name)
        assert name in dir(asgi_sessionsync)
    with pytest.raises(AttributeError):
        _ = asgi_sessionsync.create_user  # its home: asgi_sessionsync.users


def _package_classes(hint: Any) -> set[type]:
    """The package's classes a type hint names, through unions, generics and ``Unpack``."""
    found: set[type] = set()
    if isinstance(hint, type) and hint.__module__.startswith("asgi_sessionsync"):
        found.add(hint)
    for arg in typing.get_args(hint):
        found |= _package_classes(arg)
    return found


def test_every_type_the_constructor_takes_is_exported() -> None:
    hints = typing.get_type_hints(asgi_sessionsync.SessionSyncMiddleware.__init__)
    taken = set().union(*map(_package_classes, hints.values()))
    taken |= set().union(*map(_package_classes, typing.get_type_hints(MiddlewareOptions).values()))
    for method in ("expose", "signed_in_after", "email_verified"):  # what an adapter is written in
        written_in = typing.get_type_hints(getattr(IdentityAdapter, method), localns=vars(asgi_sessionsync))
        taken |= set().union(*map(_package_classes, written_in.values()))
    assert MiddlewareOptions in taken
    exported = {getattr(asgi_sessionsync, name) for name in asgi_sessionsync.__all__}
    assert not {c.__qualname__ for c in taken - exported}


def test_internals_left_the_root_and_stay_importable_from_their_modules() -> None:
    from asgi_sessionsync.exceptions import EnvelopeFailure
    from asgi_sessionsync.keys import Purpose, generate_secret
    from asgi_sessionsync.users import EmailChangeRefused, UserDeleted, UserNotFound, create_user

    for name in ("Purpose", "EnvelopeFailure", "generate_secret", "create_user", "SyncUser"):
        assert name not in asgi_sessionsync.__all__ and not hasattr(asgi_sessionsync, name)
    assert Purpose.SESSION.value == "session" and EnvelopeFailure.EXPIRED.value == "expired"
    assert callable(generate_secret) and callable(create_user)
    assert (EmailChangeRefused, UserDeleted, UserNotFound) == (
        asgi_sessionsync.EmailChangeRefused,
        asgi_sessionsync.UserDeleted,
        asgi_sessionsync.UserNotFound,
    )


def test_importing_the_package_imports_no_optional_dependency() -> None:
    probe = "import sys, asgi_sessionsync; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    for extra in ("django", "quart", "litestar", "redis", "itsdangerous", "aiosmtplib"):
        assert f"'{extra}'" not in loaded


# -- one exception hierarchy -------------------------------------------------------------


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(["asgi_sessionsync", *parts])] = path
    return found


def _base_names(node: ast.ClassDef) -> set[str]:
    return {b.id if isinstance(b, ast.Name) else b.attr for b in node.bases if isinstance(b, ast.Name | ast.Attribute)}


BUILTIN_EXCEPTIONS = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}


def test_every_exception_class_of_the_package_is_in_exceptions_py_under_session_sync_error() -> None:
    defined_elsewhere: list[str] = []
    outside_the_hierarchy: list[str] = []
    for name, path in _modules().items():
        if name.endswith("__main__"):
            continue  # runs the command line
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
        module = importlib.import_module(name)
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            if node.name in top_level:
                cls = getattr(module, node.name)
                is_exception = isinstance(cls, type) and issubclass(cls, BaseException)
            else:  # a class inside a function or a class: judged by its bases' names
                is_exception = bool(_base_names(node) & (BUILTIN_EXCEPTIONS | ERRORS))
            if not is_exception:
                continue
            if name != EXCEPTIONS:
                defined_elsewhere.append(f"{name}.{node.name}")
            elif not issubclass(cls, SessionSyncError):
                outside_the_hierarchy.append(node.name)
    assert not defined_elsewhere, f"exception classes defined outside exceptions.py: {defined_elsewhere}"
    assert not outside_the_hierarchy, f"exceptions not under SessionSyncError: {outside_the_hierarchy}"


def test_the_exception_scan_sees_the_hierarchy() -> None:
    exceptions = importlib.import_module(EXCEPTIONS)
    classes = {n for n, v in vars(exceptions).items() if isinstance(v, type) and issubclass(v, BaseException)}
    assert classes == ERRORS
    assert issubclass(asgi_sessionsync.UserDeleted, asgi_sessionsync.UserNotFound)
